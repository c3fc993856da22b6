"""pixel_replace (mingrad, fit_profile) against jwst 3.0.0: kernels, the dask step, the pipeline and the CLI.

jwst's ``PixelReplacement`` is run on the same synthetic arrays (a 3-D SlitModel, as calwebb_tso3 passes a
segment); tso3x reproduces its arithmetic in the same dtypes, so the kernels are compared bit for bit.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits

import tso3x
from tso3x import dqflags
from tso3x.config import PixelReplace
from tso3x.kernels import pixel_replace as kern
from tso3x.steps.pixel_replace import check_pixel_replace

NAMES = ("sci", "err", "dq", "var_poisson", "var_rnoise", "var_flat")


def synthetic_cube(seed: int, dispaxis: int, noise: float = 1.0, n: int = 5, ncross: int = 14, ndisp: int = 24):
    """A trace with DO_NOT_USE/NaN pixels everywhere jwst has a special case (edges, whole bad profile, whole
    bad integration, NON_SCIENCE, NaN without DO_NOT_USE, inf, FLUX_ESTIMATED already set, negative data)."""
    rng = np.random.default_rng(seed)
    y, x = np.arange(ncross)[:, None], np.arange(ndisp)[None, :]
    trace = np.exp(-0.5 * ((y - ncross / 2) / 1.5) ** 2) * (100.0 + 5.0 * x)
    sci = (trace[None] + rng.normal(0.0, noise, (n, ncross, ndisp))).astype(np.float32)
    sci[1] *= -1
    sci[3, :, 11] = 0.0
    if dispaxis == 2:
        sci = np.ascontiguousarray(sci.transpose(0, 2, 1))
    shape = sci.shape
    err = (noise * (1.0 + 0.1 * rng.random(shape))).astype(np.float32)
    var_poisson, var_rnoise, var_flat = ((f * err**2).astype(np.float32) for f in (0.5, 0.3, 0.2))
    dq = np.zeros(shape, np.uint32)
    dq[rng.random(shape) < 0.08] |= dqflags.DO_NOT_USE
    dq[rng.random(shape) < 0.02] |= dqflags.NON_SCIENCE
    dq[:, 0, :] |= dqflags.DO_NOT_USE  # bad edge row
    dq[:, :, -1] |= dqflags.DO_NOT_USE  # bad edge column
    dq[1, :, 3] |= dqflags.DO_NOT_USE  # a whole bad column
    dq[1, 4, :] |= dqflags.DO_NOT_USE  # a whole bad row
    dq[2] |= dqflags.DO_NOT_USE  # no good pixel at all
    dq[3, 5, 7] |= dqflags.FLUX_ESTIMATED | dqflags.DO_NOT_USE
    dq[3, 6, 8] |= dqflags.DO_NOT_USE  # DO_NOT_USE with finite values (not NaN-synced)
    bad = (dq & dqflags.DO_NOT_USE) != 0
    bad[3, 6, 8] = False
    for a in (sci, err, var_poisson, var_rnoise, var_flat):
        a[bad] = np.nan
    sci[0, 6, 9] = np.nan  # NaN without DO_NOT_USE
    sci[0, 6, 10] = np.inf
    sci[4, 2:5, 2:5] = np.nan  # a NaN block: its centre has no usable pair
    sci[4, -2, 5] = sci[4, 5, -2] = sci[4, 1, 6] = sci[4, 2, 1] = np.nan  # at the edge of the mingrad region
    return sci, err, dq, var_poisson, var_rnoise, var_flat


def jwst_replace(arrays, dispaxis: int, **pars):
    from jwst.pixel_replace.pixel_replace import PixelReplacement
    from stdatamodels.jwst import datamodels

    model = datamodels.SlitModel(**{n if n != "sci" else "data": a.copy() for n, a in zip(NAMES, arrays, strict=True)})
    model.meta.wcsinfo.dispersion_direction = dispaxis
    PixelReplacement(model, **pars).replace()
    return model.data, model.err, model.dq, model.var_poisson, model.var_rnoise, model.var_flat


def assert_identical(ours, theirs, changed_at_least=1, before=None):
    for name, a, b in zip(NAMES, ours, theirs, strict=True):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name, strict=True)  # NaN positions included
    if before is not None:
        changed = np.count_nonzero(~((ours[0] == before[0]) | (np.isnan(ours[0]) & np.isnan(before[0]))))
        assert changed >= changed_at_least


@pytest.mark.parametrize("dispaxis", [1, 2])
@pytest.mark.parametrize("seed", [0, 1])
def test_mingrad_kernel_matches_jwst(seed, dispaxis):
    pytest.importorskip("jwst")
    arrays = synthetic_cube(seed, dispaxis)
    copies = [a.copy() for a in arrays]
    ours = kern.mingrad(*arrays)
    assert_identical(ours, jwst_replace(arrays, dispaxis, algorithm="mingrad"), 50, before=arrays)
    for a, b in zip(arrays, copies, strict=True):  # inputs untouched
        np.testing.assert_array_equal(a, b)
    flagged = ((ours.dq & ~arrays[2]) & dqflags.FLUX_ESTIMATED) != 0  # newly estimated
    assert np.all(np.isfinite(ours.sci[flagged]))
    assert not flagged[:, :2].any() and not flagged[:, -1].any() and not flagged[:, :, :2].any()


@pytest.mark.parametrize("dispaxis", [1, 2])
@pytest.mark.parametrize(
    ("noise", "n_adjacent_cols"),
    # jwst's fit_profile is slow: the unit layer keeps the default n_adjacent_cols at high S/N
    [(1.0, 3), *(pytest.param(*p, marks=pytest.mark.slow) for p in [(30.0, 1), (300.0, 3), (1.0, 40)])],
)
def test_fit_profile_kernel_matches_jwst(noise, n_adjacent_cols, dispaxis, monkeypatch):
    """High S/N (Nelder–Mead scaling), S/N < 5 (unit scaling), one neighbour, more neighbours than profiles."""
    pytest.importorskip("jwst")
    fits_done = []
    fit_scale = kern._fit_scale
    monkeypatch.setattr(kern, "_fit_scale", lambda *a: fits_done.append(1) or fit_scale(*a))
    for seed in range(3):
        arrays = synthetic_cube(seed, dispaxis, noise=noise)
        ours = kern.fit_profile(*arrays, dispaxis=dispaxis, n_adjacent_cols=n_adjacent_cols)
        theirs = jwst_replace(arrays, dispaxis, algorithm="fit_profile", n_adjacent_cols=n_adjacent_cols)
        assert_identical(ours, theirs, 50, before=arrays)
    if noise < 100:  # at S/N < 5 most profiles take the unit scaling (only the inf pixel's neighbours fit)
        assert len(fits_done) > 50


def test_fit_profile_batches_do_not_matter(monkeypatch):
    arrays = synthetic_cube(4, 1)
    whole = kern.fit_profile(*arrays, dispaxis=1)
    monkeypatch.setattr(kern, "FIT_BATCH", 7)
    for a, b in zip(kern.fit_profile(*arrays, dispaxis=1), whole, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_kernels_without_variances():
    sci, err, dq, *_ = synthetic_cube(0, 1)
    for out in (kern.mingrad(sci, err, dq), kern.fit_profile(sci, err, dq, dispaxis=1)):
        assert out.var_poisson is None and out.var_flat is None
        assert np.count_nonzero(out.dq & dqflags.FLUX_ESTIMATED) > np.count_nonzero(dq & dqflags.FLUX_ESTIMATED)


# --- the dask step ---------------------------------------------------------------------------------------


def _exposure(exp, chunk_mb):
    (ds,) = tso3x.open_exposures(tso3x.open_asn(exp.asn).members, chunk_mb)
    return ds


@pytest.mark.slow  # the step over whole exposures, twice
@pytest.mark.parametrize(("mode", "algorithm"), [("nrs_brightobj", "mingrad"), ("mir_lrs", "fit_profile")])
def test_step_is_chunk_size_independent(mode, algorithm, simulated):
    exp = simulated(mode, nints=12, nseg=2, seed=7, shape=(32, 64) if mode == "nrs_brightobj" else (64, 40))
    small, large = _exposure(exp, 0.01), _exposure(exp, 1000.0)
    assert small.sci.data.numblocks[0] == 12 and large.sci.data.numblocks[0] == 2  # one per segment
    a = tso3x.pixel_replace(small, algorithm=algorithm)
    b = tso3x.pixel_replace(large, algorithm=algorithm)
    assert a.attrs["S_PXREPL"] == "COMPLETE" and "S_PXREPL" not in small.attrs
    assert a.sci.data.chunks == small.sci.data.chunks and a.sci.dims == small.sci.dims
    a, b = a.compute(), b.compute()
    for var in ("sci", "err", "dq", "var_poisson", "var_rnoise", "var_flat"):
        assert a[var].dtype == small[var].dtype
        np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var, strict=True)
    # the same as the kernel on the whole cube
    raw = [small[v].values for v in NAMES]
    whole = kern.mingrad(*raw) if algorithm == "mingrad" else kern.fit_profile(*raw, dispaxis=small.attrs["DISPAXIS"])
    for var, arr in zip(NAMES, whole, strict=True):
        np.testing.assert_array_equal(a[var].values, arr, err_msg=var)
    assert np.count_nonzero(a.dq.values & dqflags.FLUX_ESTIMATED) > 0


# --- the pipeline against calwebb_tso3 ---------------------------------------------------------------------

E2E = [
    ("nrs_brightobj", "mingrad"),
    pytest.param("nrs_brightobj", "fit_profile", marks=pytest.mark.extended),
    ("mir_lrs", "fit_profile"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "algorithm"), E2E)
def test_pipeline_matches_calwebb_tso3(mode, algorithm, tso3_oracle, tmp_path):
    """Bad pixels inside the aperture (static and cosmic rays flagged by outlier detection)."""
    from test_extract_parity import assert_same, run_tso3x, sim_kwargs

    sim = sim_kwargs(mode, bad_pixel_fraction=0.03, cosmic_ray_rate=2e-3)
    oracle = tso3_oracle(mode, steps={"pixel_replace": {"skip": False, "algorithm": algorithm}}, **sim)
    ext = oracle.exposure.extract1d
    products = run_tso3x(oracle.exposure.asn, tmp_path / "on", ext, pixel_replace=True, algorithm=algorithm)
    assert_same(products, oracle.one("x1dints"), oracle.one("whtlt"))
    with fits.open(products[0]) as on:
        assert on[0].header["S_PXREPL"] == "COMPLETE"
        assert list(on["HDRTAB"].data["S_PXREPL"]) == ["COMPLETE", "COMPLETE"]
        flux_on = on["EXTRACT1D"].data["FLUX"].copy()
    # the replacement changed the extracted spectra (bad pixels do fall in the aperture)
    (off_x1d, _) = run_tso3x(oracle.exposure.asn, tmp_path / "off", ext)
    with fits.open(off_x1d) as off:
        assert off[0].header["S_PXREPL"] == "SKIPPED"
        assert not np.array_equal(off["EXTRACT1D"].data["FLUX"], flux_on, equal_nan=True)


# --- parameters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--algorithm", "foo"], "tso3x: error: algorithm must be mingrad, fit_profile or trace_model, not 'foo'"),
        (["--algorithm", "trace_model"], "tso3x: error: algorithm trace_model is not supported"),
        (["--n-adjacent-cols", "0"], "tso3x: error: n_adjacent_cols must be an integer >= 1, not '0'"),
        (["--n-adjacent-cols", "2.5"], "tso3x: error: n_adjacent_cols must be an integer >= 1, not '2.5'"),
    ],
)
@pytest.mark.slow  # a tso3x command per case (subprocess)
def test_bad_parameters_exit_2_before_writing(option, message, simulated, tmp_path):
    exp = simulated("nrs_brightobj", nints=8, nseg=1, seed=5, shape=(16, 32))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tso3x.cli", "run", str(exp.asn), "--output-dir", str(out), "--pixel-replace"]
    proc = subprocess.run(cmd + option, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(message)
    assert not out.exists()


@pytest.mark.parametrize("value", [3.0, True, "three", -1, None])
def test_bad_n_adjacent_cols_in_python(value):
    with pytest.raises(tso3x.Tso3xInputError, match="n_adjacent_cols"):
        PixelReplace.from_user(algorithm="mingrad", n_adjacent_cols=value)


def test_parameters_accepted():
    assert PixelReplace.from_user(algorithm="fit_profile", n_adjacent_cols="5") == PixelReplace(False, "fit_profile", 5)
    assert PixelReplace.from_user() == PixelReplace(False, "mingrad", 3)


def test_fit_profile_needs_dispaxis(simulated, tmp_path):
    exp = simulated("nrs_brightobj", nints=8, nseg=1, seed=5, shape=(16, 32))
    ds = _exposure(exp, 1.0)
    del ds.attrs["DISPAXIS"]
    params = PixelReplace(False, "fit_profile", 3)
    with pytest.raises(tso3x.Tso3xInputError, match="DISPAXIS") as err:
        check_pixel_replace([ds], params)
    assert str(err.value).startswith(str(exp.segments[0].resolve()))
    check_pixel_replace([ds], PixelReplace(False, "mingrad", 3))  # mingrad does not use it


def test_trace_model_only_for_soss(simulated):
    """trace_model needs adaptive_trace_model: refused, but for NIS_SOSS, where jwst falls back to mingrad."""
    exp = simulated("nrs_brightobj", nints=8, nseg=1, seed=5, shape=(16, 32))
    ds = _exposure(exp, 1.0)
    params = PixelReplace(True, "trace_model", 3)
    with pytest.raises(tso3x.Tso3xInputError, match="algorithm trace_model is not supported"):
        check_pixel_replace([ds], params)
    with pytest.raises(tso3x.Tso3xInputError, match="algorithm trace_model is not supported"):
        tso3x.pixel_replace(ds, params)
    soss = ds.assign_attrs(EXP_TYPE="NIS_SOSS")
    check_pixel_replace([soss], params)
    replaced = tso3x.pixel_replace(soss, params)
    mingrad = tso3x.pixel_replace(soss, algorithm="mingrad")
    assert replaced.attrs["S_TRCMOD"] == "FAILED" and "S_TRCMOD" not in mingrad.attrs
    xr.testing.assert_identical(replaced.drop_attrs(), mingrad.drop_attrs())
