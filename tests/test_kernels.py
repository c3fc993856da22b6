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
        out[s + hw] = np.median(x[s : s + w], axis=0)
    out[:hw] = out[hw]
    if w % 2:
        out[-hw:] = out[-hw - 1]
    else:
        out[-hw + 1 :] = out[-hw]
    return out


@pytest.mark.parametrize(
    "w, expected",
    [
        (3, [1, 1, 2, 3, 4, 5, 6, 7, 8, 8]),
        (4, [1.5, 1.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 7.5]),
        (2, [8.5] * 10),  # jwst's w=2 edge bug: the last window everywhere
    ],
)
def test_rolling_median_matches_jwst_unit_test_values(w, expected):
    x = np.arange(10, dtype=np.float32)[:, None, None]
    starts = k.window_starts(10, w)
    got = k.rolling_median(x, 0, starts, w)[:, 0, 0]
    assert got.dtype == np.float32
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


@pytest.mark.parametrize("w", [1, 2, 3, 4, 24, 25, 30])
@pytest.mark.parametrize("tile", [1, 7, 256])
def test_moving_median_equals_numpy_median_of_every_window(w, tile):
    """The sorted-window kernel against np.median window by window: ties, ±inf, NaN runs, a pixel count
    that is not a multiple of the tile, windows whose NaN leaves again."""
    rng = np.random.default_rng(w * 10 + tile)
    x = rng.normal(size=(45, 3, 7)).astype(np.float32)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[:, 0, 1] = np.round(2 * x[:, 0, 1])  # many ties
    x[:, 0, 2] = 1.5  # constant
    x[3, 1, 1], x[9, 1, 1], x[11, 1, 2] = np.inf, -np.inf, np.inf
    x[20:23, 2, 3] = np.nan
    windows = np.lib.stride_tricks.sliding_window_view(x, w, axis=0)
    ref = np.median(windows.astype(np.float64), axis=-1).astype(np.float32)
    got = k.moving_median(x, w, tile=tile)
    assert got.dtype == np.float32 and got.shape == (45 - w + 1, 3, 7)
    np.testing.assert_array_equal(got, ref)


def test_window_starts_rejects_full_median_cases():
    with pytest.raises(ValueError):
        k.window_starts(10, 10)
    with pytest.raises(ValueError):
        k.window_starts(10, 1)


def test_bad_pixel_mask_default_good_bits():
    dq = np.array([0, 1, 2, 3, 4, 16, 512, 2**31], dtype=np.uint32)
    assert k.bad_pixel_mask(dq, "~DO_NOT_USE").tolist() == [False, True, False, True, False, False, False, False]
    assert k.bad_pixel_mask(dq, 0).tolist() == [False] + [True] * 7


def test_outlier_rule_strict_and_nan():
    sci = np.array([10.0, 10.0, np.nan, 10.0, 10.0, 10.0], dtype=np.float32)[:, None, None]
    err = np.array([1.0, 2.0, 1.0, np.nan, 1.0, np.inf], dtype=np.float32)[:, None, None]
    med = np.array([0.0, 0.0, 0.0, 9.0, np.nan, 0.0])[:, None, None]
    dq = np.zeros(sci.shape, np.uint32)
    # |10-0| > 5*1 yes; |10-0| > 5*2 no (strict); NaN sci no; NaN err → 0 → yes; NaN median no; inf err no
    expected = [True, False, False, True, False, False]
    assert k.count_outliers(sci, err, med, 5.0).tolist() == [int(e) for e in expected]
    new = k.flag_outliers_dq(sci, err, dq, med, 5.0)[:, 0, 0]
    assert ((new & dqflags.OUTLIER) > 0).tolist() == expected
    assert (new[np.array(expected)] == dqflags.DO_NOT_USE | dqflags.OUTLIER).all()


@pytest.mark.parametrize("wide", [True, False])
def test_flag_outliers_dq_equals_numpy_transcription(wide):
    rng = np.random.default_rng(5)
    shape = (6, 7, 8)
    sci = (rng.normal(size=shape) * 10).astype(np.float32)
    err = np.abs(rng.normal(size=shape)).astype(np.float32)
    err.flat[::17], err.flat[5], err.flat[6] = np.nan, np.inf, -np.inf
    sci.flat[::23] = np.nan
    var = np.abs(rng.normal(size=shape)).astype(np.float32)
    var.flat[::29] = np.nan
    dq = rng.integers(0, 8, size=shape).astype(np.uint32)
    median = rng.normal(size=shape).astype(np.float32)
    median.flat[::31] = np.nan
    with np.errstate(over="ignore"):
        # jwst's rolling median is float64 (wide), its full median float32
        jwst_median = median.astype(np.float64) if wide else median
        flag = np.greater(np.abs(sci - jwst_median), 5.0 * np.nan_to_num(err))  # stcal flag_crs
    expected = dq | (flag * np.uint32(17))
    invalid = (expected & 1).astype(bool) | np.isnan(sci) | np.isnan(err) | np.isnan(var)
    expected[invalid] |= 1  # match_nans_and_flags
    got = k.flag_outliers_dq(sci, err, dq, median, 5.0, var, wide=wide)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(k.count_outliers(sci, err, median, 5.0, wide=wide), flag.sum(axis=(1, 2)))
    np.testing.assert_array_equal(k.nan_where_unusable(var, got), np.where(invalid, np.nan, var))


def test_difference_precision_follows_jwst_branch():
    """|1e8 - (-0.5)| is 100000000.5 in float64 (> 1e8, flagged) but rounds to 1e8 in float32 (not)."""
    sci = np.full((1, 1, 1), 1e8, np.float32)
    err = np.full((1, 1, 1), 2e7, np.float32)
    median = np.full((1, 1, 1), -0.5, np.float32)
    assert k.count_outliers(sci, err, median, 5.0, wide=True).tolist() == [1]
    assert k.count_outliers(sci, err, median, 5.0, wide=False).tolist() == [0]


# --- numpy twins (tso3x.jit: a run on a cold kernel cache uses them): bit-identical ------------------------------


def _awkward_cube(rng, shape=(40, 5, 6)):
    """float32 data with NaN, ±inf, ties and huge values."""
    x = rng.normal(size=shape).astype(np.float32)
    x[rng.random(shape) < 0.03] = np.nan
    x[:, 0, 1] = np.round(2 * x[:, 0, 1])  # ties, and -0.0 next to 0.0
    x[3, 1, 1], x[9, 1, 1], x[11, 1, 2] = np.inf, -np.inf, np.inf
    x[5, 2, 2] = 3e38
    x[7, 2, 3] = -3e38
    return x


@pytest.mark.parametrize("w", [2, 3, 4, 25])
def test_median_twins_are_bit_identical(w):
    rng = np.random.default_rng(w)
    x = _awkward_cube(rng)
    dq = rng.integers(0, 4, size=x.shape).astype(np.uint32)
    copies = []
    for kernels in ("numba", "numpy"):
        out = np.empty_like(x)
        k.masked_copy(x, dq, 2, out, kernels=kernels)
        copies.append(out)
    assert copies[0].tobytes() == copies[1].tobytes()
    starts = k.window_starts(len(x), w)
    ours = k.rolling_median(copies[0], 0, starts, w, kernels="numba")
    twin = k.rolling_median(copies[0], 0, starts, w, kernels="numpy")
    assert ours.dtype == twin.dtype == np.float32 and ours.tobytes() == twin.tobytes()


def test_median_twin_bounds_its_memory(monkeypatch):
    monkeypatch.setattr(k, "_NP_WINDOW_BYTES", 1000)  # a few pixels at a time
    x = _awkward_cube(np.random.default_rng(0))
    assert k.moving_median(x, 5, kernels="numpy").tobytes() == k.moving_median(x, 5, kernels="numba").tobytes()


@pytest.mark.parametrize("wide", [True, False])
@pytest.mark.parametrize("n_variances", [0, 3])
def test_flag_twins_are_bit_identical(wide, n_variances):
    rng = np.random.default_rng(n_variances + 10 * wide)
    sci = _awkward_cube(rng)
    err = np.abs(_awkward_cube(rng))
    err[0, 0, 0], err[1, 0, 0] = -np.inf, np.inf
    median = _awkward_cube(rng)
    variances = [np.abs(_awkward_cube(rng)) for _ in range(n_variances)]
    dq = rng.integers(0, 8, size=sci.shape).astype(np.uint32)
    # the threshold is a float32 product: |0.5000000046| > 5 * 0.1f (0.5 in float32, 0.50000000745 in float64)
    sci[2, 3, 3], median[2, 3, 3], err[2, 3, 3] = np.nextafter(np.float32(0.5), 1), 5.5e-8, 0.1
    results = {}
    for kernels in ("numba", "numpy"):
        with np.errstate(over="ignore", invalid="ignore"):
            flags = k.flag_outliers_dq(sci, err, dq, median, 5.0, *variances, wide=wide, kernels=kernels)
            counts = k.count_outliers(sci, err, median, 5.0, wide=wide, kernels=kernels)
        results[kernels] = (flags, counts, k.nan_where_unusable(sci, flags, kernels=kernels))
    for ours, twin in zip(results["numba"], results["numpy"], strict=True):
        assert ours.dtype == twin.dtype and ours.tobytes() == twin.tobytes()
    assert results["numba"][1].sum() > 0 and bool(results["numba"][0][2, 3, 3] & dqflags.OUTLIER) == wide
