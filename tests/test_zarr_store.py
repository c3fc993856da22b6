"""The zarr integration store (``--zarr``): contents equal the FITS/ECSV products, reruns, appends, bad paths."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from astropy.table import Table

import tso3x
from tso3x import dqflags

pytestmark = pytest.mark.slow  # whole tso3x runs


def _subset_asn(asn: Path, members: int, dest: Path) -> Path:
    """A copy of the association (next to the original, members relative) with its first ``members``."""
    data = json.loads(asn.read_text())
    data["products"][0]["members"] = data["products"][0]["members"][:members]
    dest.write_text(json.dumps(data))
    return dest


def _digest(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest() for p in store.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def spectro(simulated, tmp_path_factory):
    exp = simulated("nrs_brightobj", nints=30, nseg=3, seed=11, shape=(32, 80))
    out = tmp_path_factory.mktemp("zarr-spec")
    store = out / "store.zarr"
    products = tso3x.run(exp.asn, out / "products", chunk_mb=0.05, override_extract1d=exp.extract1d, zarr=store)
    return exp, out, store, products


def test_spectra_equal_the_x1dints(spectro):
    exp, out, store, products = spectro
    assert products[-1] == store
    ds = xr.open_zarr(store)
    x1d = next(p for p in products if p.name.endswith("_x1dints.fits"))
    with fits.open(x1d) as hdul:
        tables = [h.data for h in hdul if h.name == "EXTRACT1D"]
        rows = {c: np.concatenate([t[c] for t in tables]) for c in tables[0].names}
    order = np.argsort(rows["INT_NUM"])
    np.testing.assert_array_equal(ds["integration"].values, rows["INT_NUM"][order])
    for col in ("FLUX", "FLUX_ERROR", "BACKGROUND", "NPIXELS", "DQ"):
        np.testing.assert_array_equal(ds[col].values, rows[col][order], err_msg=col)
    assert ds["DQ"].dtype == np.uint32 and ds["FLUX"].attrs["units"] == "Jy"
    np.testing.assert_array_equal(ds["wavelength"].values, rows["WAVELENGTH"][order])
    np.testing.assert_array_equal(ds["mjd_utc_mid"].values, rows["MJD-AVG"][order])
    whtlt = Table.read(next(p for p in products if p.name.endswith("_whtlt.ecsv")))
    flux_col = next(c for c in whtlt.colnames if c.startswith("whitelight_flux"))
    np.testing.assert_allclose(ds["whitelight_flux"].values, np.asarray(whtlt[flux_col]), rtol=1e-12)


def test_outlier_counts_match_the_crfints(spectro):
    exp, out, store, products = spectro
    ds = xr.open_zarr(store)
    counted = []
    for crf, cal in zip(sorted(p for p in products if p.name.endswith("_crfints.fits")), exp.segments, strict=True):
        new = (fits.getdata(crf, "DQ") & dqflags.OUTLIER) & ~(fits.getdata(cal, "DQ") & dqflags.OUTLIER)
        counted.append((new != 0).sum(axis=(1, 2)))
    counted = np.concatenate(counted)
    assert counted.sum() > 0
    np.testing.assert_array_equal(ds["n_outliers"].values, counted)


def test_rerun_changes_nothing(spectro):
    exp, out, store, _ = spectro
    before = _digest(store)
    tso3x.run(exp.asn, out / "again", chunk_mb=0.05, override_extract1d=exp.extract1d, zarr=store)
    assert _digest(store) == before


def test_added_segments_are_appended(spectro, tmp_path):
    exp, _, full_store, _ = spectro
    store = tmp_path / "grown.zarr"
    first = _subset_asn(exp.asn, 1, exp.asn.with_name("first_segment_asn.json"))
    tso3x.run(first, tmp_path / "a", chunk_mb=0.05, override_extract1d=exp.extract1d, zarr=store)
    assert xr.open_zarr(store).sizes["integration"] == 10
    tso3x.run(exp.asn, tmp_path / "b", chunk_mb=0.05, override_extract1d=exp.extract1d, zarr=store)
    grown, full = xr.open_zarr(store), xr.open_zarr(full_store)
    assert grown.sizes["integration"] == 30
    xr.testing.assert_identical(grown.drop_attrs().compute(), full.drop_attrs().compute())


def test_imaging_columns_and_cube(simulated, tmp_path):
    exp = simulated("nrc_tsimage_clear", nints=12, nseg=2, seed=4, shape=(64, 64))
    store = tmp_path / "phot.zarr"
    products = tso3x.run(exp.asn, tmp_path / "out", chunk_mb=0.05, override_gain=exp.gain, zarr=store, zarr_cube=True)
    ds = xr.open_zarr(store)
    table = Table.read(next(p for p in products if p.name.endswith("_phot.ecsv")))
    for col in ("aperture_sum", "net_aperture_sum", "MJD", "centroid_x"):
        np.testing.assert_array_equal(ds[col].values, np.asarray(table[col]), err_msg=col)
    crf = sorted(p for p in products if p.name.endswith("_crfints.fits"))
    sci = np.concatenate([fits.getdata(p, "SCI") for p in crf])
    np.testing.assert_array_equal(ds["sci"].values, sci)
    assert ds["sci"].dims == ("integration", "y", "x")


def test_a_file_is_not_a_store(simulated, tmp_path):
    exp = simulated("nrs_brightobj", nints=30, nseg=3, seed=11, shape=(32, 80))
    bogus = tmp_path / "store.zarr"
    bogus.write_text("not a store")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tso3x", "run", str(exp.asn), "--output-dir", str(out), "--zarr", str(bogus)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tso3x: error: {bogus}") and "zarr" in last
    assert not out.exists() and bogus.read_text() == "not a store"
