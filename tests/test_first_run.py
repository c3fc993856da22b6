"""First contact (issue 13): a run on a cold kernel cache uses the numpy twins and compiles nothing itself, one
background process makes the cache ready, and later runs load every kernel they use from it (nothing compiled
in the run, on imaging and on spectroscopy with horizontal and vertical dispersion). The products of the
numpy twins equal those of the compiled kernels: bit-identical, the PSF-fit columns to 1e-7 relative."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import tso3x
from tso3x import jit
from tso3x.jit import background, cache

pytestmark = pytest.mark.slow  # whole runs, and one compilation of every kernel

ROOT = Path(__file__).resolve().parent.parent
SIM = {"nints": 30, "nseg": 2, "seed": 1}
BACKGROUND_LINE = "compiling tso3x's kernels in the background for later runs (once; cache: "

RUNNER = """
import json, logging, sys
import tso3x
from tso3x import jit
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
tso3x.run(sys.argv[1], sys.argv[2], scheduler="threads", quiet=True, **json.loads(sys.argv[3]))
versions = sum(len(d.signatures) for d in jit.dispatchers())
print(json.dumps({"compiled": jit.compiled_in_process(), "versions": versions}))
"""


def _params(exp) -> dict:
    return {"override_gain": str(exp.gain), "override_extract1d": exp.extract1d and str(exp.extract1d)}


def _manifest(out: Path) -> dict:
    (path,) = out.glob("*_manifest.json")
    return json.loads(path.read_text())


def _run(exp, out: Path, env: dict) -> tuple[dict, str]:
    """``tso3x.run`` in a fresh process: (compiled kernel versions, versions in the process), its stderr."""
    cmd = [sys.executable, "-c", RUNNER, str(exp.asn), str(out), json.dumps(_params(exp))]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _wait_until_ready(folder: Path, timeout: float = 900.0) -> None:
    deadline = time.time() + timeout
    while not cache.ready():
        log = folder / background.LOG_NAME
        gone = not (folder / background.LOCK_NAME).exists()
        assert not gone or cache.ready(), f"the background compilation ended without the marker:\n{log.read_text()}"
        assert time.time() < deadline, "the background compilation takes too long"
        time.sleep(2)


def test_cold_cache_run_compiles_in_the_background_and_warm_runs_compile_nothing(simulated, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("TSO3X_CACHE_DIR", str(folder))
    monkeypatch.setenv("TSO3X_KERNELS", "auto")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    exposures = {mode: simulated(mode, **SIM) for mode in ("nrc_tsimage_wlp8", "nrs_brightobj", "mir_lrs")}

    report, stderr = _run(exposures["nrc_tsimage_wlp8"], tmp_path / "cold", env)
    assert report == {"compiled": 0, "versions": 0}  # the numpy twins only: no kernel compiled or even loaded
    assert stderr.count(BACKGROUND_LINE) == 1 and stderr.count("tso3x.jit") == 1, stderr
    assert _manifest(tmp_path / "cold")["kernels"] == "numpy"

    _wait_until_ready(folder)
    assert "kernel versions compiled into" in (folder / background.LOG_NAME).read_text()
    assert not (folder / background.LOCK_NAME).exists()
    assert list(folder.glob("kernels_*/*.nbi")) and list(folder.glob("io_*/*.nbi"))

    for mode, exp in exposures.items():
        report, stderr = _run(exp, tmp_path / f"warm-{mode}", env)
        assert report["compiled"] == 0 and report["versions"] > 0, (mode, report)  # all loaded from the cache
        assert "tso3x.jit" not in stderr, stderr
        manifest = _manifest(tmp_path / f"warm-{mode}")
        assert manifest["kernels"] == "numba"
        assert {p["kernels"] for p in manifest["products"].values()} == {"numba"}


def test_warm_up_compiles_every_kernel():
    """Every kernel module's numba functions get a compiled version (so the marker never lies)."""
    from tso3x.jit import warmup

    assert warmup.warm_up() > 0
    assert warmup._not_compiled() == []


# --- the numpy twins give the compiled kernels' products -------------------------------------------------------


def _versions() -> tuple[int, int]:
    return sum(len(d.signatures) for d in jit.dispatchers()), jit.compiled_in_process()


def _both(exp, tmp_path, monkeypatch) -> dict[str, Path]:
    outs = {}
    for kernels in ("numba", "numpy"):
        monkeypatch.setenv("TSO3X_KERNELS", kernels)
        before = _versions()
        outs[kernels] = tmp_path / kernels
        tso3x.run(exp.asn, outs[kernels], **_params(exp))
        if kernels == "numpy":
            assert _versions() == before  # not one compiled kernel called
        assert _manifest(outs[kernels])["kernels"] == kernels
    return outs


def _same_fits(a: Path, b: Path) -> None:
    """Every array and table column bit-identical (the crfints' DATE column aside)."""
    with fits.open(a) as ha, fits.open(b) as hb:
        assert [h.name for h in ha] == [h.name for h in hb]
        for x, y in zip(ha, hb, strict=True):
            if x.name == "ASDF" or x.data is None:
                continue
            if isinstance(x, fits.BinTableHDU):
                for col in set(x.columns.names) - {"DATE"}:
                    assert x.data[col].tobytes() == y.data[col].tobytes(), (a.name, x.name, col)
            else:
                assert x.data.tobytes() == y.data.tobytes(), (a.name, x.name)


def _same_table(a: Path, b: Path, close: dict[str, float]) -> None:
    ta, tb = Table.read(a), Table.read(b)
    assert ta.colnames == tb.colnames and ta.meta == tb.meta
    for col in ta.colnames:
        u, v = np.asarray(ta[col]), np.asarray(tb[col])
        if col in close:
            np.testing.assert_allclose(u, v, rtol=close[col], atol=0, equal_nan=True, err_msg=col)
        else:
            assert u.tobytes() == v.tobytes(), col


@pytest.mark.parametrize("mode", ["nrc_tsimage_wlp8", "mir_image", "nrs_brightobj", "mir_lrs"])
def test_numpy_twins_give_the_same_products(simulated, tmp_path, monkeypatch, mode):
    exp = simulated(mode, **SIM)
    outs = _both(exp, tmp_path, monkeypatch)
    names = sorted(p.name for p in outs["numba"].iterdir() if p.suffix in (".fits", ".ecsv"))
    assert names == sorted(p.name for p in outs["numpy"].iterdir() if p.suffix in (".fits", ".ecsv"))
    for name in names:
        a, b = outs["numba"] / name, outs["numpy"] / name
        if name.endswith(".fits"):
            _same_fits(a, b)  # crfints (flags, NaNs, checksummed bytes) and x1dints: bit-identical
        else:  # phot: the PSF fit is scipy's TRF against its compiled port (libm's erf against scipy's)
            _same_table(a, b, {"psf_width_x": 1e-7, "psf_width_y": 1e-7, "psf_flux": 1e-7})
