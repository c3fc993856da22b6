"""Parity of whole NIS_SOSS runs (box path, ``soss_atoca=False``) with jwst 3.0.0 calwebb_tso3.

tso3x and jwst run on the very same simulated files (``tso3x.simulate`` writes the SOSS reference files in
their real formats). The x1dints are compared as the other modes' (``tests/test_extract_parity.py``): HDU
layout, PRIMARY, HDRTAB, every column of every order and segment; the whtlt column by column with its meta.
The skipped set-ups (F277W, FULL) go through the ``tso3x run`` command: only the crfints, with jwst's messages.

Each jwst run takes about 10 s (SUBSTRIP96, 16 integrations in 2 segments).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
from astropy.io import fits
from test_extract_parity import assert_same_whtlt, assert_same_x1dints
from test_outlier_parity import assert_same_crfints

import tso3x
from tso3x import dqflags
from tso3x.cli import main

pytestmark = pytest.mark.slow  # jwst oracle (calwebb_tso3) against whole tso3x runs

S96 = {"nints": 16, "nseg": 2, "seed": 5}
S256 = {"nints": 8, "nseg": 2, "seed": 6, "subarray": "SUBSTRIP256"}
S96_SHORT = {"nints": 6, "nseg": 2, "seed": 5}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _references(exp, photom, wavelengthrange: bool) -> dict:
    """``tso3x.run``'s reference-file keywords for the files jwst gets from :func:`jwst_oracle.soss_step_pars`."""
    refs = {f"override_{k}": str(v) for k, v in exp.soss_references.items()}
    refs["override_photom"] = str(exp.photom if photom is True else photom or "N/A")
    if not wavelengthrange:
        refs["override_wavelengthrange"] = "N/A"
    return {**refs, "override_area": "N/A", "override_gain": str(exp.gain)}


def run_both(exp, tmp_path, *, photom=True, wavelengthrange=True, photom_pars=None, replace_pars=None, **params):
    """jwst calwebb_tso3 and ``tso3x.run`` on ``exp``, with ``extract_1d`` parameters ``params``, ``photom``
    parameters ``photom_pars`` and, when given, ``pixel_replace`` run with ``replace_pars``; returns ((x1dints,
    whtlt) of tso3x, the jwst run)."""
    from jwst_oracle import run_soss_tso3

    photom_pars = photom_pars or {}
    steps = {"photom": photom_pars} if photom_pars else {}
    ours_replace = {}
    if replace_pars is not None:
        steps["pixel_replace"] = {"skip": False, **replace_pars}
        ours_replace = {"pixel_replace": True, **replace_pars}
    oracle = _quiet(
        run_soss_tso3,
        exp,
        tmp_path / "jwst",
        photom=photom,
        wavelengthrange=wavelengthrange,
        steps=steps or None,
        **params,
    )
    refs = _references(exp, photom, wavelengthrange)
    products = tso3x.run(exp.asn, tmp_path / "tso3x", chunk_mb=0.5, **refs, **params, **photom_pars, **ours_replace)
    ours = [p for p in products if not p.name.endswith("_crfints.fits")]
    assert [p.name for p in ours] == [oracle.x1dints.name, oracle.whtlt.name]
    return ours, oracle


def assert_same(ours, oracle) -> list[int]:
    """x1dints and whtlt as jwst's; returns the SPORDER of every EXTRACT1D table."""
    assert_same_x1dints(ours[0], oracle.x1dints)
    assert_same_whtlt(ours[1], oracle.whtlt)
    with fits.open(ours[0]) as h:
        return [x.header["SPORDER"] for x in h if x.name == "EXTRACT1D"]


def _photom_rows(exp, path):
    """A PHOTOM file with rows for several set-ups per order, shuffled (CLEAR, F277W; GR700XD and another
    PUPIL), and linear and power-law time-dependence tables: only the CLEAR/GR700XD rows apply."""
    from stdatamodels.jwst import datamodels

    with datamodels.NisSossPhotomModel(str(exp.photom)) as src:
        base = np.array(src.phot_table)
        meta = src.meta.instance
    clear = base[base["filter"] == b"CLEAR"] if base["filter"].dtype.kind == "S" else base[base["filter"] == "CLEAR"]
    rows = []
    for filt, pupil, scale in [("F277W", "GR700XD", 2.0), ("CLEAR", "GR700XD", 1.0), ("CLEAR", "CLEARP", 3.0)]:
        block = clear.copy()
        block["filter"], block["pupil"] = filt, pupil
        block["photmj"] *= scale
        rows.append(block)
    table = np.concatenate(rows)[np.array([3, 7, 0, 4, 8, 1, 5, 2, 6])]
    n = len(table)
    t0 = np.linspace(59000.0, 59500.0, n).astype(np.float32)
    linear = np.zeros(n, [("filter", "S12"), ("pupil", "S15"), ("order", "<i2"), ("t0", "<f4"), ("lossperyear", "<f4")])
    power = np.zeros(
        n,
        [
            ("filter", "S12"),
            ("pupil", "S15"),
            ("order", "<i2"),
            ("t0", "<f4"),
            ("year1value", "<f4"),
            ("tsoft", "<f4"),
            ("alpha", "<f4"),
        ],
    )
    for t in (linear, power):
        t["filter"], t["pupil"], t["order"], t["t0"] = table["filter"], table["pupil"], table["order"], t0
    linear["lossperyear"] = np.linspace(0.01, 0.05, n)
    power["year1value"], power["tsoft"], power["alpha"] = 0.97, 30.0, np.linspace(-0.3, -0.1, n)
    m = datamodels.NisSossPhotomModel(phot_table=table, timecoeff_linear=linear, timecoeff_powerlaw=power)
    m.meta.instance.update(meta)
    m.save(str(path))
    return path


def _photom_without_order_2(exp, path):
    """The simulated PHOTOM file without its CLEAR order-2 row: jwst's photom stops at order 2 (order 1 in MJy,
    the others left in DN/s)."""
    from stdatamodels.jwst import datamodels

    with datamodels.NisSossPhotomModel(str(exp.photom)) as src:
        table = np.array(src.phot_table)
        meta = src.meta.instance
    m = datamodels.NisSossPhotomModel(phot_table=table[table["order"] != 2])
    m.meta.instance.update(meta)
    m.save(str(path))
    return path


@pytest.fixture(scope="module")
def s96(simulated):
    return simulated("nis_soss", **S96)


@pytest.fixture(scope="module")
def s256(simulated):
    return simulated("nis_soss", **S256)


def test_box_with_background_matches_jwst(s96, tmp_path):
    ours, oracle = run_both(s96, tmp_path, soss_atoca=False, subtract_background=True)
    assert assert_same(ours, oracle) == [1, 2, 1, 2]
    # open_products reads jwst's SOSS products as tso3x's: one variable set per order
    theirs, mine = tso3x.open_products(oracle.x1dints).compute(), tso3x.open_products(ours[0]).compute()
    assert theirs.attrs["orders"] == mine.attrs["orders"] == [1, 2]
    assert sorted(theirs.variables) == sorted(mine.variables) and "FLUX_order_2" in mine
    for name in mine.variables:
        np.testing.assert_array_equal(theirs[name].values, mine[name].values, err_msg=name)


def test_box_photom_and_wavelengthrange_na_matches_jwst(s96, tmp_path):
    """photom N/A (spectra in DN/s, S_PHOTOM SKIPPED), no white-light range, subtract_background unset."""
    ours, oracle = run_both(s96, tmp_path, photom=False, wavelengthrange=False, soss_atoca=False)
    assert assert_same(ours, oracle) == [1, 2, 1, 2]
    assert fits.getval(ours[0], "S_PHOTOM") == "SKIPPED"


def test_substrip256_with_order_3_matches_jwst(s256, tmp_path):
    ours, oracle = run_both(s256, tmp_path, soss_atoca=False, subtract_background=True)
    assert assert_same(ours, oracle) == [1, 2, 3, 1, 2, 3]


@pytest.mark.parametrize("apply_time_correction", [True, pytest.param(False, marks=pytest.mark.extended)])
def test_photom_rows_and_time_correction_match_jwst(s96, tmp_path, apply_time_correction):
    photom = _photom_rows(s96, tmp_path / "photom_rows.fits")
    pars = {"apply_time_correction": apply_time_correction}
    ours, oracle = run_both(s96, tmp_path, photom=photom, photom_pars=pars, soss_atoca=False, subtract_background=True)
    assert assert_same(ours, oracle) == [1, 2, 1, 2]
    from jwst.photom.time_dependence import get_correction_table
    from stdatamodels.jwst import datamodels

    with datamodels.NisSossPhotomModel(str(photom)) as m:  # the correction matters (jwst applied it, as tso3x)
        correction = get_correction_table(m, fits.getval(s96.segments[0], "EXPMID"))
    assert np.all(correction < 0.95)


@pytest.mark.parametrize(
    ("sim", "replace_pars"),
    [(S96_SHORT, {}), (S96_SHORT, {"algorithm": "trace_model"})],
)
def test_pixel_replace_matches_jwst(simulated, tmp_path, caplog, sim, replace_pars):
    """pixel_replace (mingrad, jwst's default) on each crfints segment before the box extraction, as jwst's
    calwebb_tso3 runs it on the SOSS CubeModel: the replaced pixels (no longer NaN, DO_NOT_USE cleared) enter the
    segment statistics, the imputation and the box sums; S_PXREPL COMPLETE. trace_model: jwst's
    adaptive_trace_model fails on the CubeModel and pixel_replace falls back to mingrad, with the same warnings.
    fit_profile goes the same way (jwst's takes ~6 s per SOSS integration): its replacement of SOSS integrations is
    compared with jwst's below."""
    from tso3x.io.calints import open_segment
    from tso3x.steps.pixel_replace import TRACE_MODEL_FALLBACK

    exp = simulated("nis_soss", **sim)
    with caplog.at_level(logging.WARNING):
        ours, oracle = run_both(exp, tmp_path, replace_pars=replace_pars, soss_atoca=False, subtract_background=True)
    assert assert_same(ours, oracle) == [1, 2, 1, 2]
    if replace_pars.get("algorithm") == "trace_model":
        for who in ("jwst", "tso3x"):
            said = [r.getMessage() for r in caplog.records if r.name.startswith(who)]
            assert all(any(m in text for text in said) for m in TRACE_MODEL_FALLBACK), (who, said)
        replace_pars = {}  # what the replacement is
    assert fits.getval(ours[0], "S_PXREPL") == fits.getval(oracle.x1dints, "S_PXREPL") == "COMPLETE"
    crf = open_segment(oracle.crfints[0])  # the replacement had work to do
    replaced = tso3x.pixel_replace(crf, **replace_pars)
    assert int(((replaced.dq.values & dqflags.FLUX_ESTIMATED) != 0).sum()) > 100


def test_fit_profile_on_soss_integrations_matches_jwst(simulated):
    """fit_profile on SOSS crfints integrations (DISPAXIS 1: profiles are columns) as jwst's PixelReplacement on
    the CubeModel, bit for bit."""
    from jwst.pixel_replace.pixel_replace import PixelReplacement
    from stdatamodels.jwst import datamodels

    from tso3x.io.calints import open_segment

    exp = simulated("nis_soss", **S96_SHORT)
    seg = open_segment(exp.segments[0]).isel(integration=slice(0, 2))
    ours = tso3x.pixel_replace(seg, algorithm="fit_profile", n_adjacent_cols=2).compute()
    with datamodels.CubeModel(str(exp.segments[0])) as model:
        model.data, model.dq, model.err = model.data[:2], model.dq[:2], model.err[:2]
        for var in ("var_poisson", "var_rnoise", "var_flat"):
            setattr(model, var, getattr(model, var)[:2])
        assert model.meta.wcsinfo.dispersion_direction == 1
        _quiet(PixelReplacement(model, algorithm="fit_profile", n_adjacent_cols=2).replace)
        assert int(((model.dq & dqflags.FLUX_ESTIMATED) != 0).sum()) > 100
        for var, theirs in (("sci", model.data), ("dq", model.dq), ("err", model.err), ("var_flat", model.var_flat)):
            np.testing.assert_array_equal(ours[var].values, theirs, err_msg=var)


def test_photom_missing_order_matches_jwst(s96, tmp_path):
    photom = _photom_without_order_2(s96, tmp_path / "photom_no2.fits")
    ours, oracle = run_both(s96, tmp_path, photom=photom, soss_atoca=False)
    assert assert_same(ours, oracle) == [1, 2, 1, 2]
    with fits.open(ours[0]) as h:
        assert [x.columns["FLUX"].unit for x in h if x.name == "EXTRACT1D"] == ["MJy", "DN/s"] * 2


@pytest.mark.parametrize(
    ("sim", "message"),
    [
        ({"filter": "F277W"}, "The SOSS extraction is implemented for the CLEAR filter only"),
        ({"subarray": "FULL", "shape": (64, 256)}, "implemented for the SUBSTRIP256 and SUBSTRIP96 subarrays only"),
    ],
)
def test_skipped_set_ups_write_the_crfints_as_jwst(simulated, tmp_path, caplog, capsys, sim, message):
    """``tso3x run`` (no SOSS reference file needed) writes jwst's crfints and messages, no x1dints."""
    from jwst_oracle import run_soss_tso3

    exp = simulated("nis_soss", nints=6, nseg=2, seed=2, **sim)
    with caplog.at_level(logging.WARNING):
        oracle = _quiet(run_soss_tso3, exp, tmp_path / "jwst", soss_atoca=False)
    assert oracle.x1dints is None and oracle.whtlt is None
    jwst_says = [r.getMessage() for r in caplog.records if r.name.startswith("jwst")]
    caplog.clear()
    out = tmp_path / "tso3x"
    with caplog.at_level(logging.WARNING):
        assert main(["run", str(exp.asn), "--output-dir", str(out), "--soss-atoca", "false"]) == 0
    ours = sorted(out.glob("*_crfints.fits"))
    assert [p.name for p in ours] == sorted(p.name for p in oracle.crfints)
    assert not list(out.glob("*_x1dints.fits")) and not list(out.glob("*_whtlt.ecsv"))
    for a, b in zip(ours, sorted(oracle.crfints), strict=True):
        assert_same_crfints(a, b)
    ours_say = [r.getMessage() for r in caplog.records if r.name.startswith("tso3x")]
    for text in (message, "x1dints products will not be created."):
        assert any(text in m for m in jwst_says) and any(text in m for m in ours_say), text
