"""Photometry kernels against their references: numpy's nanmedian, scipy's least_squares (the path jwst
takes through astropy/photutils), photutils' ApertureStats and centroid_sources."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture

from tso3x.kernels import centroid as cen
from tso3x.kernels import photometry as phot
from tso3x.kernels import psf_fit


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    n, ny, nx = 60, 40, 44
    yy, xx = np.mgrid[:ny, :nx]
    cx = 21.3 + rng.normal(0, 0.05, n)
    cy = 19.6 + rng.normal(0, 0.05, n)
    data = np.empty((n, ny, nx), np.float32)
    for i in range(n):
        s = (0.6, 1.0, 1.9, 3.0)[i % 4]
        amp = (1e-3, 1.0, 1e3)[i % 3]  # Jy-like values stop TRF early (absolute gtol), others do not
        psf = np.exp(-((xx - cx[i]) ** 2 + (yy - cy[i]) ** 2) / (2 * s * s)) / (2 * np.pi * s * s)
        data[i] = amp * psf + rng.normal(0, amp * (1e-4 + 1e-2 * (i % 5 == 0)), (ny, nx))
    mask = np.zeros(data.shape, bool)
    mask[3, 18:22, 19:23] = True  # masked source core
    mask[5, :, :30] = True  # whole fit box masked
    data[7] = rng.normal(0, 1, (ny, nx))  # noise only (negative starting flux → no fit)
    data[8, 20, 21] = np.nan
    data[11] = np.nan
    mask |= np.isnan(data)  # as jwst's (and tso3x's) mask: DO_NOT_USE or NaN
    return data, mask, cx, cy


def test_nanmedians_are_numpys(frames):
    data, *_ = frames
    data = data.copy()
    data[:, ::5, ::3] = 0.25  # many ties
    data[2, ::2] = -np.inf
    outside = ~cen.source_mask(data.shape[1:], 21.0, 19.0, 4.0)
    for odd in (False, True):
        out = outside.copy()
        out[0, 0] = odd
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = np.array([np.nanmedian(f[out]) for f in data], dtype=np.float32)
        np.testing.assert_array_equal(cen._nanmedians(data, out), ref, strict=True)


def test_compiled_trf_follows_scipy(frames):
    data, mask, cx, cy = frames
    ours = psf_fit.fit_gaussian_prf(data, mask, cx, cy, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = np.array([psf_fit.fit_one(data[i], mask[i], cx[i], cy[i], 11) for i in range(len(cx))])
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    assert np.isnan(ours[[5, 7, 11]]).all() and np.isfinite(ours[[0, 1, 2, 3, 8]]).all()
    np.testing.assert_allclose(ours, ref, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize(("x", "y"), [(21.3, 19.6), (1.2, 38.9), (-2.5, 10.0), (60.0, 10.0)])
def test_aperture_sums_are_aperture_stats(frames, x, y):
    data, _, _, _ = frames
    err = np.abs(data) * 0.1 + np.float32(0.01)
    n = len(data)
    ours = phot.aperture_sums(data, err, np.full(n, x), np.full(n, y), 3.0, 4.0, 5.0)
    for i in range(n):
        for k, aperture in enumerate((CircularAperture((x, y), r=3.0), CircularAnnulus((x, y), r_in=4.0, r_out=5.0))):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                st = ApertureStats(data[i], aperture, error=err[i])
                ref = [st.sum, st.sum_err, st.sum_aper_area.value]
            np.testing.assert_allclose(ours[i, 3 * k : 3 * k + 3], ref, rtol=1e-12, equal_nan=True)


def test_centroid_box_outside_start_gives_nan(frames):
    data, mask, *_ = frames
    cx, cy = cen.centroid_box(data[:3], mask[:3], -0.5, 10.0, 11)
    assert np.isnan(cx).all() and np.isnan(cy).all()
    cx, cy = cen.centroid_box(data[:3], mask[:3], 21.0, 19.0, 11)
    assert np.isfinite(cx).all()


# --- numpy twins (tso3x.jit: a run on a cold kernel cache uses them) --------------------------------------------


def test_background_twin_is_bit_identical(frames):
    data, *_ = frames
    data = data.copy()
    data[:, ::5, ::3] = 0.25  # ties
    data[2, ::2] = -np.inf
    data[4, 10:30] = -0.0  # a zero median: +0.0, as numpy's
    data[11] = np.nan
    outside = ~cen.source_mask(data.shape[1:], 21.0, 19.0, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = cen.subtract_background(data, outside, kernels="numba")
        twin = cen.subtract_background(data, outside, kernels="numpy")
    assert ours.tobytes() == twin.tobytes()
    assert np.isnan(twin[11]).all()  # every outside pixel NaN  # every outside pixel NaN


def test_psf_fit_twin_is_scipy_within_1e7(frames):
    """The numba TRF and scipy's differ by libm's erf against scipy's (an ulp): measured ≤ 4e-8 relative."""
    data, mask, cx, cy = frames
    ours = psf_fit.fit_gaussian_prf(data, mask, cx, cy, 11, kernels="numba")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the twin warns about nothing (it runs in dask's threads)
        twin = psf_fit.fit_gaussian_prf(data, mask, cx, cy, 11, kernels="numpy")
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(twin))
    np.testing.assert_allclose(ours, twin, rtol=1e-7, atol=0, equal_nan=True)
