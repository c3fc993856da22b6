"""Outlier-detection kernels against a direct transcription of jwst's rules (no jwst needed)."""

import numpy as np
import pytest

from tso3x import dqflags
from tso3x.kernels import outliers as k


def jwst_moving_median(x: np.ndarray, w: int) -> np.ndarray:
    """stcal ``moving_median_over_zeroth_axis`` as the spec describes it, including the edge fill."""
    out = np.full(x.shape, np.nan)
    hw = w // 2
    for s in range(x.shape[0] - w + 1):
        out[s + hw] = np.median(x[s:s + w], axis=0)
    out[:hw] = out[hw]
    if w % 2:
        out[-hw:] = out[-hw - 1]
    else:
        out[-hw + 1:] = out[-hw]
    return out


@pytest.mark.parametrize("w, expected", [
    (3, [1, 1, 2, 3, 4, 5, 6, 7, 8, 8]),
    (4, [1.5, 1.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 7.5]),
    (2, [8.5] * 10),  # jwst's w=2 edge bug: the last window everywhere
])
def test_rolling_median_matches_jwst_unit_test_values(w, expected):
    x = np.arange(10, dtype=np.float32)[:, None, None]
    starts = k.window_starts(10, w)
    got = k.rolling_median(x, 0, starts, w)[:, 0, 0]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("w", [3, 4, 5, 24, 25])
@pytest.mark.parametrize("n", [26, 40, 61])
def test_rolling_median_equals_reference_with_nans(w, n):
    rng = np.random.default_rng(w * 100 + n)
    x = rng.normal(size=(n, 4, 5)).astype(np.float32)
    x[rng.random(x.shape) < 0.02] = np.nan
    x[:, 0, 0] = np.round(x[:, 0, 0])  # ties
    ref = jwst_moving_median(x, w)
    starts = k.window_starts(n, w)
    np.testing.assert_array_equal(k.rolling_median(x, 0, starts, w), ref)
    # any contiguous block holding the windows gives the same rows
    for a, b in [(0, 7), (7, 19), (n - 5, n)]:
        lo, hi = starts[a:b].min(), starts[a:b].max() + w
        np.testing.assert_array_equal(k.rolling_median(x[lo:hi], lo, starts[a:b], w), ref[a:b])


def test_window_starts_rejects_full_median_cases():
    with pytest.raises(ValueError):
        k.window_starts(10, 10)
    with pytest.raises(ValueError):
        k.window_starts(10, 1)


def test_bad_pixel_mask_default_good_bits():
    dq = np.array([0, 1, 2, 3, 4, 16, 512, 2**31], dtype=np.uint32)
    assert k.bad_pixel_mask(dq, "~DO_NOT_USE").tolist() == [False, True, False, True, False, False, False, False]
    assert k.bad_pixel_mask(dq, 0).tolist() == [False] + [True] * 7


def test_flag_outliers_strict_and_nan_rules():
    sci = np.array([10.0, 10.0, np.nan, 10.0, 10.0], dtype=np.float32)
    err = np.array([1.0, 2.0, 1.0, np.nan, 1.0], dtype=np.float32)
    med = np.array([0.0, 0.0, 0.0, 9.0, np.nan])
    # |10-0| > 5*1 yes; |10-0| > 5*2 no (strict); NaN sci no; NaN err → 0 → yes; NaN median no
    assert k.flag_outliers(sci, err, med, 5.0).tolist() == [True, False, False, True, False]


def test_invalid_pixels_combines_nan_and_do_not_use():
    dq = np.array([0, dqflags.DO_NOT_USE, 0, dqflags.HOT], dtype=np.uint32)
    a = np.array([1, 1, np.nan, 1], dtype=np.float32)
    b = np.array([1, 1, 1, np.nan], dtype=np.float32)
    assert k.invalid_pixels(dq, a, b).tolist() == [False, True, True, True]
