"""Parity of tso3x spectroscopic products (x1dints, whtlt) with jwst 3.0.0 calwebb_tso3 on simulated data.

tso3x runs as the pipeline will: ``detect_outliers`` on every exposure of the association, then
``tso3x.run``. jwst runs the whole calwebb_tso3 on the same calints.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import tso3x

pytestmark = pytest.mark.slow  # jwst oracle (calwebb_tso3) against whole tso3x runs

SHAPES = {"nrs_brightobj": (32, 128), "nrc_tsgrism": (32, 160), "mir_lrs": (96, 40), "mir_lrs_cube": (96, 40)}
EXACT = (
    "DQ",
    "NPIXELS",
    "INT_NUM",
    "N_ALONGDISP",
    "SEGMENT",
    "MJD-BEG",
    "MJD-AVG",
    "MJD-END",
    "TDB-BEG",
    "TDB-MID",
    "TDB-END",
)
#: PRIMARY keywords that legitimately differ (creation time; jwst's CRDS client state)
PRIMARY_SKIP = {"DATE", "CRDS_VER", "CRDS_CTX"}
#: Added by tso3x to every HDU (jwst writes none); checked by ``fits.open(checksum=True)``
CHECKSUM_CARDS = {"CHECKSUM", "DATASUM"}


def sim_kwargs(mode, **kw):
    return {"nints": 20, "nseg": 2, "seed": 3, "shape": SHAPES[mode], **kw}


def run_tso3x(asn_path, out, override_extract1d=None, **params):
    """The whole tso3x pipeline (as ``tso3x run``); returns the x1dints and whtlt paths."""
    products = tso3x.run(asn_path, out, chunk_mb=0.05, override_extract1d=override_extract1d, **params)
    return [p for p in products if not p.name.endswith("_crfints.fits")]


def _close(ours, theirs, name, rtol):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{name}: NaN pattern")
    finite = np.isfinite(theirs)
    if not finite.any():
        return
    floor = 1e-6 * np.max(np.abs(theirs[finite]))
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=rtol, atol=floor, err_msg=name)


def _cards(hdu) -> dict:
    return {k: v for k, v in hdu.header.items() if k not in CHECKSUM_CARDS}


def assert_same_x1dints(ours, theirs):
    with fits.open(ours, checksum=True) as a, fits.open(theirs) as b:
        assert [h.name for h in a] == [h.name for h in b]
        assert all("CHECKSUM" in h.header and "DATASUM" in h.header for h in a)
        prim_a, prim_b = dict(a[0].header), dict(b[0].header)
        keys = (set(prim_a) | set(prim_b)) - PRIMARY_SKIP - CHECKSUM_CARDS
        assert {k: prim_a.get(k) for k in keys} == {k: prim_b.get(k) for k in keys}
        for ha, hb in zip(a[1:], b[1:], strict=True):
            if ha.name == "ASDF":
                continue
            if ha.name == "HDRTAB":  # one row per segment; jwst's CRDS client state is not reproduced
                names = [c for c in hb.columns.names if c not in PRIMARY_SKIP]
                assert [c for c in ha.columns.names if c not in PRIMARY_SKIP] == names
                for col in names:
                    if col != "DATE":
                        assert ha.columns[col].format == hb.columns[col].format, col
                        np.testing.assert_array_equal(ha.data[col], hb.data[col], err_msg=col)
                continue
            assert ha.columns.names == hb.columns.names, ha.name
            assert ha.columns.formats == hb.columns.formats, ha.name
            assert ha.columns.units == hb.columns.units, ha.name
            assert _cards(ha) == _cards(hb), ha.name
            for col in ha.columns.names:
                x, y = ha.data[col], hb.data[col]
                if col in EXACT or x.dtype.kind != "f":
                    np.testing.assert_array_equal(x, y, err_msg=col, strict=True)
                elif col == "WAVELENGTH":
                    _close(x, y, col, 1e-9)
                else:
                    _close(x, y, col, 1e-6)


def assert_same_whtlt(ours, theirs):
    a, b = Table.read(ours, format="ascii.ecsv"), Table.read(theirs, format="ascii.ecsv")
    assert a.colnames == b.colnames
    assert dict(a.meta) == dict(b.meta)
    for col in a.colnames:
        assert a[col].unit == b[col].unit, col
        assert a[col].dtype == b[col].dtype, col
        _close(a[col], b[col], col, 1e-6)


def assert_same(products, oracle_x1d, oracle_whtlt):
    x1d, whtlt = products
    assert x1d.name == oracle_x1d.name and whtlt.name == oracle_whtlt.name
    assert_same_x1dints(x1d, oracle_x1d)
    assert_same_whtlt(whtlt, oracle_whtlt)


@pytest.mark.parametrize("mode", list(SHAPES))
def test_modes_match_jwst(mode, tso3_oracle, tmp_path):
    """Simulator's reference file: box ± background (poly order 0); BOTS with the source-position shift."""
    oracle = tso3_oracle(mode, **sim_kwargs(mode))
    products = run_tso3x(oracle.exposure.asn, tmp_path, override_extract1d=oracle.exposure.extract1d)
    assert_same(products, oracle.one("x1dints"), oracle.one("whtlt"))


def _oracle(exp, out, extract1d, steps=None):
    from jwst_oracle import products_by_suffix, run_calwebb_tso3

    found = products_by_suffix(run_calwebb_tso3(exp.asn, out, steps=steps, override_extract1d=extract1d))
    return found["x1dints"][0], found["whtlt"][0]


def _write_ref(exp, tmp_path, **changes):
    ref = json.loads(exp.extract1d.read_text())
    ap = ref["apertures"][0]
    for key, value in changes.items():
        if value is None:
            ap.pop(key, None)
        else:
            ap[key] = value
    path = tmp_path / "extract1d_custom.json"
    path.write_text(json.dumps(ref))
    return path


CASES = {
    "no-reference-file": ("nrc_tsgrism", None, {}, {}),
    "bkg-order-1": ("nrc_tsgrism", {}, {"bkg_order": 1}, {}),
    "no-background": ("mir_lrs", {}, {"subtract_background": False}, {}),
    "fractional-limits-median-smoothing": (
        "nrc_tsgrism",
        {"ystart": 12.3, "ystop": 19.6, "bkg_fit": "median", "smoothing_length": 4},
        {},
        {},
    ),
    "src-coeff-poly2-bkg": (
        "mir_lrs",
        {"src_coeff": [[15.7, 0.01], [23.2, 0.01]], "bkg_order": 2, "xstart": None, "xstop": None},
        {},
        {},
    ),
    "bots-width-trace-offset": ("nrs_brightobj", {"extract_width": 5.5}, {"position_offset": 0.7}, {}),
    "bots-no-source-posn": ("nrs_brightobj", {}, {"use_source_posn": False}, {}),
    "bad-pixels-in-aperture": ("mir_lrs_cube", {}, {}, {"bad_pixel_fraction": 0.03, "cosmic_ray_rate": 2e-3}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_reference_and_parameters_match_jwst(case, simulated, tmp_path):
    mode, ref_changes, params, sim = CASES[case]
    exp = simulated(mode, **sim_kwargs(mode, **sim))
    ref = "N/A" if ref_changes is None else _write_ref(exp, tmp_path, **ref_changes)
    oracle = _oracle(exp, tmp_path / "jwst", str(ref), steps={"extract_1d": params} if params else None)
    products = run_tso3x(exp.asn, tmp_path / "tso3x", override_extract1d=None if ref == "N/A" else ref, **params)
    assert_same(products, *oracle)


def test_nrs1_nrs2_one_product(tso3_oracle, tmp_path):
    oracle = tso3_oracle("nrs_brightobj", **sim_kwargs("nrs_brightobj", detectors=["NRS1", "NRS2"]))
    products = run_tso3x(oracle.exposure.asn, tmp_path, override_extract1d=oracle.exposure.extract1d)
    assert_same(products, oracle.one("x1dints"), oracle.one("whtlt"))
    cols = Table.read(products[1], format="ascii.ecsv").colnames
    assert cols == ["MJD_UTC_NRS1", "BJD_TDB_NRS1", "whitelight_flux_NRS1"] + [
        "MJD_UTC_NRS2",
        "BJD_TDB_NRS2",
        "whitelight_flux_NRS2",
    ]


def test_white_light_wavelength_range(simulated, tmp_path):
    exp = simulated("nrc_tsgrism", **sim_kwargs("nrc_tsgrism"))
    steps = {"white_light": {"min_wavelength": 3.5, "max_wavelength": 4.0}}
    oracle = _oracle(exp, tmp_path / "jwst", str(exp.extract1d), steps=steps)
    products = run_tso3x(exp.asn, tmp_path / "tso3x", exp.extract1d, min_wavelength=3.5, max_wavelength=4.0)
    assert_same(products, *oracle)


def test_product_opens_as_tsomultispecmodel(tso3_oracle, tmp_path):
    from stdatamodels.jwst import datamodels

    oracle = tso3_oracle("nrs_brightobj", **sim_kwargs("nrs_brightobj"))
    x1d, _ = run_tso3x(oracle.exposure.asn, tmp_path, override_extract1d=oracle.exposure.extract1d)
    with datamodels.open(x1d) as m:
        assert isinstance(m, datamodels.TSOMultiSpecModel)
        assert len(m.spec) == 2 and len(m.int_times) == 20
        assert m.spec[0].spec_table["FLUX"].shape == (10, 128)
