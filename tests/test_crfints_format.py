"""The crfints product: layout, headers, checksums, atomic writing, inputs untouched, chunk independence."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
from astropy.io import fits
from stdatamodels.jwst import datamodels

import tso3x
from tso3x import product_names
from tso3x.simulate import simulate

UPDATED = {"FILENAME", "DATE", "S_OUTLIR", "ASNPOOL", "ASNTABLE", "T3X_VER", "CHECKSUM", "DATASUM", "HISTORY"}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def grism(tmp_path_factory):
    return simulate("nrc_tsgrism", tmp_path_factory.mktemp("grism"), nints=70, nseg=2, seed=11, shape=(32, 64))


@pytest.fixture(scope="module")
def products(grism, tmp_path_factory):
    before = {p: sha256(p) for p in grism.segments}
    out = tmp_path_factory.mktemp("out")
    paths = tso3x.run(grism.asn, out, chunk_mb=0.1)
    assert {p: sha256(p) for p in grism.segments} == before, "inputs must never change"
    assert [p.name for p in paths[2:]] == [f"{grism.product_name}_x1dints.fits", f"{grism.product_name}_whtlt.ecsv"]
    return paths[:2]


@pytest.mark.slow
def test_names_and_nothing_else_written(grism, products):
    assert [p.name for p in products] == [product_names.crfints(s.name, "o001") for s in grism.segments]
    assert products[0].name == "jw01234001001_04101_00001-seg001_nrcalong_o001_crfints.fits"
    written = sorted(p.name for p in products[0].parent.iterdir())
    asn = tso3x.open_asn(grism.asn)
    manifest = f"{asn.product_name}_manifest.json"  # the run manifest (tests/test_reliability.py)
    stage3 = [product_names.x1dints(asn.product_name), product_names.whtlt(asn.product_name)]
    assert written == sorted([*(p.name for p in products), *stage3, manifest])


@pytest.mark.slow
def test_same_hdus_and_headers_as_input(grism, products):
    for src, dst in zip(grism.segments, products, strict=True):
        with fits.open(src) as a, fits.open(dst) as b:
            assert [h.name for h in a] == [h.name for h in b]
            for ha, hb in zip(a, b, strict=True):
                keys_a = {k for k in ha.header if k not in UPDATED}
                keys_b = {k for k in hb.header if k not in UPDATED}
                assert keys_a == keys_b, ha.name
                for key in keys_a:
                    if key not in ("COMMENT", ""):
                        assert ha.header[key] == hb.header[key], (ha.name, key)
            assert a["ASDF"].data.tobytes() == b["ASDF"].data.tobytes()
            assert a["INT_TIMES"].data.tobytes() == b["INT_TIMES"].data.tobytes()
            primary = b[0].header
            assert primary["S_OUTLIR"] == "COMPLETE"
            assert primary["FILENAME"] == dst.name
            assert primary["ASNTABLE"] == grism.asn.name
            assert primary["T3X_VER"] == tso3x.__version__
            assert any("rolling_window_width" in str(h) for h in primary["HISTORY"])


@pytest.mark.slow
def test_checksums_verify(products):
    for path in products:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # astropy warns on a checksum mismatch
            with fits.open(path, checksum=True) as hdul:
                for hdu in hdul:
                    assert "CHECKSUM" in hdu.header and "DATASUM" in hdu.header
                    hdu.data  # noqa: B018 - reading verifies DATASUM


@pytest.mark.slow
def test_stdatamodels_opens_it(products):
    with datamodels.open(products[0]) as model:
        assert type(model).__name__ == "SlitModel"
        assert model.meta.cal_step.outlier_detection == "COMPLETE"
        assert model.meta.filename == products[0].name
        assert model.data.ndim == 3 and model.meta.wcs is not None


@pytest.mark.slow
def test_result_does_not_depend_on_chunk_size(grism, products, tmp_path):
    other = tso3x.run(grism.asn, tmp_path, chunk_mb=1000.0)[:2]
    for a, b in zip(products, other, strict=True):
        with fits.open(a) as x, fits.open(b) as y:
            for ext in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
                np.testing.assert_array_equal(x[ext].data, y[ext].data, strict=True)


@pytest.mark.slow
def test_skip_outlier_detection_writes_no_crfints(grism, tmp_path):
    products = tso3x.run(grism.asn, tmp_path / "out", skip_outlier_detection=True)
    product = tso3x.open_asn(grism.asn).product_name
    assert [p.name for p in products] == [product_names.x1dints(product), product_names.whtlt(product)]
    written = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.endswith("_manifest.json"))
    assert written == sorted(p.name for p in products)


@pytest.mark.slow  # outlier detection over a whole exposure at tiny chunks
def test_lazy_dataset(grism):
    asn = tso3x.open_asn(grism.asn)
    (ds,) = tso3x.open_exposures(asn.members, chunk_mb=0.05)
    assert ds.sci.dims == ("integration", "y", "x")
    assert ds.sizes["integration"] == 70 and ds.integration.values[0] == 1
    assert set(ds.data_vars) >= {"sci", "err", "dq", "var_poisson", "var_rnoise", "var_flat", "wavelength"}
    assert all(len(c) == 1 for c in ds.sci.data.chunks[1:]) and len(ds.sci.data.chunks[0]) > 2
    assert ds.dq.dtype == np.uint32 and ds.sci.dtype == np.float32
    assert sorted(set(ds.segment.values)) == [1, 2]
    assert np.all(np.diff(ds.bjd_tdb_mid.values) > 0)
    with fits.open(grism.segments[1]) as hdul:
        np.testing.assert_array_equal(ds.sci.sel(integration=slice(37, 40)).values, hdul["SCI"].data[1:5])
        np.testing.assert_array_equal(ds.dq.isel(integration=40).values, hdul["DQ"].data[5])
    flagged = tso3x.detect_outliers(ds)
    assert int(flagged.n_outliers.sum()) > 0
    assert flagged.attrs["S_OUTLIR"] == "COMPLETE"


def test_wcs_on_demand(grism):
    asn = tso3x.open_asn(grism.asn)
    (ds,) = tso3x.open_exposures(asn.members)
    wcs = tso3x.load_wcs(ds)
    assert "world" in wcs.available_frames
    *_, wave = wcs(20, 10)
    np.testing.assert_allclose(wave, ds.wavelength.values[10, 20], rtol=1e-6)
