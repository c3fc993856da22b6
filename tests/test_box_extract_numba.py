"""The fused numba box-extraction kernel against the numpy reference kernel (which follows jwst step by step)."""

from __future__ import annotations

import numpy as np
import pytest

from tso3x.kernels import box_extract as kern
from tso3x.kernels.box_extract_numba import extract_block_fused


def _cube(transposed: bool):
    rng = np.random.default_rng(7)
    n, ncross, ndisp = 5, 17, 40
    shape = (n, ndisp, ncross) if transposed else (n, ncross, ndisp)
    sci = rng.normal(100.0, 3.0, shape).astype(np.float32)
    err = np.abs(rng.normal(1.0, 0.1, shape)).astype(np.float32)
    dq = np.zeros(shape, np.uint32)
    var = [np.abs(rng.normal(1.0, 0.1, shape)).astype(np.float32) for _ in range(3)]
    if transposed:  # vertical dispersion: the caller passes transposed views, as the step does
        sci, err, dq = (a.transpose(0, 2, 1) for a in (sci, err, dq))
        var = [v.transpose(0, 2, 1) for v in var]
    sci[0, 8, 3] = np.nan
    sci[1, 2, 5] = np.inf
    err[2, 9, 7] = np.nan
    dq[3, 7, 11] = 1  # DO_NOT_USE
    dq[3, 6, 11] = 4  # another flag: still used
    var[1][4, 3, 13] = np.nan
    sci[4, :, 20] = np.nan  # a whole column gone: NaN sum, zero npixels
    profile = np.zeros((ncross, ndisp))
    profile[6:11] = 1.0
    profile[5] = 0.25
    profile[11] = 0.6
    bg = np.zeros((ncross, ndisp))
    bg[0:3] = 1.0
    bg[14:17] = 1.0
    bg[:, 30] = 0.0  # a column with no background pixels: singular fit
    return sci, err, dq, var, profile, bg


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("background,order", [(False, 0), (True, 0), (True, 1)])
def test_fused_matches_reference(transposed, background, order):
    sci, err, dq, var, profile, bg = _cube(transposed)
    bg = bg if background else None
    bad = np.isnan(sci) | np.isnan(err) | ((dq & 1) != 0) | np.isnan(var[0]) | np.isnan(var[1]) | np.isnan(var[2])
    masked = [np.where(bad, np.float32(np.nan), a) for a in (sci, *var)]
    ref = kern.extract_block(*masked, profile, bg, bkg_fit="poly", bkg_order=order)
    got = extract_block_fused(sci, err, dq, *var, profile, bg, bkg_order=order, do_not_use=1)
    assert set(got) == set(ref)
    for name in ref:
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(ref[name]), err_msg=name)
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.isnan(got["sum"][4, 20]) and got["npixels"][4, 20] == 0


def test_fused_refuses_other_orders():
    sci, err, dq, var, profile, bg = _cube(False)
    with pytest.raises(ValueError, match="orders"):
        extract_block_fused(sci, err, dq, *var, profile, bg, bkg_order=2)


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("background,order", [(False, 0), (True, 0), (True, 1)])
def test_numpy_twin_is_bit_identical(transposed, background, order):
    """The twin a run on a cold kernel cache uses (tso3x.jit): the same sums in the same order."""
    sci, err, dq, var, profile, bg = _cube(transposed)
    bg = bg if background else None
    sci[2, 0, 4] = -0.0
    var[2][3, 0, 0] = np.inf  # infinite total variance: left out of the background fit only
    ours = extract_block_fused(sci, err, dq, *var, profile, bg, bkg_order=order, kernels="numba")
    twin = extract_block_fused(sci, err, dq, *var, profile, bg, bkg_order=order, kernels="numpy")
    for name in ours:
        assert ours[name].tobytes() == twin[name].tobytes(), name
