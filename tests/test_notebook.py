"""notebooks/quickstart.ipynb runs top to bottom in a fresh kernel, in under a minute, and its key cells
produce what they promise (the notebook also asserts on its own results)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the quick-start notebook end to end

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"


def _by_tag(nb) -> dict:
    return {tag: cell for cell in nb.cells if cell.cell_type == "code" for tag in cell.metadata.get("tags", [])}


def test_quickstart_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"the quickstart took {elapsed:.0f} s"
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", "".join(out.get("traceback", []))
    cells = _by_tag(nb)
    run = cells["run"].outputs[0]["data"]["text/plain"]
    for suffix in ("_x1dints.fits", "_whtlt.ecsv", "_speclc.ecsv", "store.zarr"):
        assert suffix in run
    assert "<xarray.Dataset>" in cells["open"].outputs[0]["text"]
    assert "transit depth" in cells["depth"].outputs[0]["text"]
    for tag in ("white-light", "binned", "waterfall"):
        data = cells[tag].outputs[0]["data"]
        assert "image/png" in data and len(data["image/png"]) > 20_000, tag
    assert "binned_flux" in cells["store"].outputs[0]["text"]
