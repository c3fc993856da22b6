"""notebooks/quickstart.ipynb runs top to bottom in a fresh kernel, in under a minute, and its key cells
produce what they promise, and it leaves nothing behind."""

from __future__ import annotations

import re
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
    opened = cells["open"].outputs[0]["text"]
    assert opened.startswith("spectroscopy product, 120 integrations") and "<xarray.Dataset>" in opened
    depth = float(re.search(r"transit depth ~ ([0-9.]+)", cells["depth"].outputs[0]["text"]).group(1))
    assert 0.002 < depth < 0.05
    mismatch = re.search(r"largest relative difference (\S+)", cells["binned"].outputs[0]["text"]).group(1)
    assert float(mismatch) < 1e-12
    for tag in ("white-light", "binned", "waterfall"):
        data = next(out["data"] for out in cells[tag].outputs if "data" in out)
        assert "image/png" in data and len(data["image/png"]) > 20_000, tag
    store = cells["store"].outputs[0]["text"]
    differences = [float(v) for v in re.findall(r"largest difference (\S+)", store)]
    assert len(differences) == 2 and max(differences) < 1e-12
    assert "binned_flux" in store
    workdir = Path(cells["setup"].outputs[0]["text"].strip())
    assert workdir.name.startswith("tso3x-quickstart-") and not workdir.exists()
    assert cells["cleanup"].outputs[0]["text"].strip().endswith("True")
