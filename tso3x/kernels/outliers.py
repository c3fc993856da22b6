"""TSO outlier detection kernels: numpy in, numpy out, no I/O and no metadata.

These reproduce jwst 3.0.0 ``outlier_detection`` in ``tso`` mode (stcal ``compute_rolling_median``,
``moving_median_over_zeroth_axis``, ``nanmedian3D`` and ``flag_crs``; jwst ``match_nans_and_flags``) bit for
bit, but work on any contiguous block of integrations of a segment so that dask can map them over chunks.

Each numba kernel ``_name`` has a numpy twin ``_name_np`` with the same arguments and bit-identical results
(for a run on a cold kernel cache, :mod:`tso3x.jit`); the public functions take ``kernels="numba"|"numpy"``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import dqflags
from ..jit import NUMBA, check, frozen, njit

DO_NOT_USE_OUTLIER = dqflags.DO_NOT_USE | dqflags.OUTLIER


def bad_pixel_mask(dq: np.ndarray, good_bits: str | int | None) -> np.ndarray:
    """Pixels whose DQ has a bit outside ``good_bits`` (jwst ``build_mask`` inverted).

    Parameters
    ----------
    dq : ndarray of uint32
        Data-quality flags.
    good_bits : str, int or None
        DQ bits that count as good, in astropy's bit-flag syntax with JWST flag names
        (``"~DO_NOT_USE"``: every bit but DO_NOT_USE is good).

    Returns
    -------
    ndarray of bool
        True where the pixel gets weight 0.
    """
    # astropy.nddata pulls in astropy.wcs, coordinates and table: import it only when needed
    from astropy.nddata.bitmask import bitfield_to_boolean_mask, interpret_bit_flags

    bits = interpret_bit_flags(good_bits, flag_name_map=dqflags.PIXEL)
    good = bitfield_to_boolean_mask(dq, bits, good_mask_value=1, dtype=np.uint8)
    return good == 0


def bad_bits(good_bits: str | int | None) -> int:
    """The DQ bits that make a pixel bad under ``good_bits`` (jwst syntax), as one uint32 mask."""
    probe = np.array([1 << b for b in range(32)], dtype=np.uint32)
    return int(np.bitwise_or.reduce(probe[bad_pixel_mask(probe, good_bits)], initial=0))


@njit(nogil=True)
def _masked_copy(values, dq, bits, out):
    nan = np.float32(np.nan)
    for i in range(values.size):
        out[i] = nan if dq[i] & bits else values[i]


def _masked_copy_np(values, dq, bits, out):
    out[:] = values
    out[(dq & bits) != 0] = np.nan


def masked_copy(values: np.ndarray, dq: np.ndarray, bits: int, out: np.ndarray, kernels: str = NUMBA) -> None:
    """Copy ``values`` into ``out`` (float32, C-contiguous) with NaN where ``dq & bits`` is non-zero."""
    impl = _masked_copy if check(kernels) == NUMBA else _masked_copy_np
    impl(_flat(values), _flat(dq), np.uint32(bits), out.reshape(-1))


def window_starts(n: int, width: int) -> np.ndarray:
    """First integration of the rolling window used for each of ``n`` integrations.

    Follows jwst's edge rule: interior integration ``i`` uses the window starting at ``i - width // 2``;
    the first and last integrations copy their nearest computed neighbour. With ``width == 2`` jwst fills
    the whole output with the last window (an upstream bug kept for parity).

    Parameters
    ----------
    n : int
        Integrations in the segment; requires ``1 < width < n``.
    width : int
        ``rolling_window_width``, in integrations.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    if not 1 < width < n:
        raise ValueError(f"rolling window {width} needs 1 < width < n={n}")
    if width == 2:
        return np.full(n, n - 2, dtype=np.int64)
    return np.clip(np.arange(n, dtype=np.int64) - width // 2, 0, n - width)


@njit(nogil=True)
def _sorted_window_medians(values, width, out, tile):  # pragma: no cover - numba
    # For a tile of pixels, keep each pixel's window sorted along axis 0 of ``buf`` (NaN held as +inf and
    # counted apart). Each step removes the leaving sample and inserts the arriving one in one branch-free
    # pass over the window, the same operations for every pixel, so the pixel loop vectorises:
    #   t[k] = s[k] if s[k] < leaving else s[k + 1]          (remove one copy of ``leaving``)
    #   s'[k] = min(t[k], max(t[k - 1], arriving))           (insert ``arriving``)
    n, npix = values.shape
    half = width // 2
    odd = width % 2 == 1
    inf = np.float32(np.inf)
    nan = np.float32(np.nan)
    zero = np.float32(0)
    buf = np.empty((width, tile), np.float32)
    carry = np.empty(tile, np.float32)
    leaving = np.empty(tile, np.float32)
    arriving = np.empty(tile, np.float32)
    nans = np.empty(tile, np.int64)
    for p0 in range(0, npix, tile):
        q = min(tile, npix - p0)
        nans[:q] = 0
        for k in range(width):
            for i in range(q):
                v = values[k, p0 + i]
                if v != v:
                    nans[i] += 1
                    v = inf
                buf[k, i] = v
        for i in range(q):  # insertion sort of each pixel's first window
            for k in range(1, width):
                v = buf[k, i]
                j = k - 1
                while j >= 0 and buf[j, i] > v:
                    buf[j + 1, i] = buf[j, i]
                    j -= 1
                buf[j + 1, i] = v
        for t in range(width - 1, n):
            if t >= width:
                for i in range(q):
                    a = values[t - width, p0 + i]
                    b = values[t, p0 + i]
                    nans[i] += (b != b) - (a != a)
                    leaving[i] = inf if a != a else a
                    arriving[i] = inf if b != b else b
                    carry[i] = -inf
                for k in range(width):
                    row = buf[k]
                    for i in range(q):
                        s = row[i]
                        nxt = buf[k + 1, i] if k + 1 < width else inf
                        tk = s if s < leaving[i] else nxt
                        c = carry[i] if carry[i] > arriving[i] else arriving[i]
                        carry[i] = tk
                        row[i] = tk if tk < c else c
            r = t - width + 1
            for i in range(q):
                if nans[i]:
                    out[r, p0 + i] = nan
                elif odd:  # + 0: np.median of -0.0 is +0.0 (numpy's sum starts at +0.0)
                    out[r, p0 + i] = buf[half, i] + zero
                else:  # np.median: the mean of the middle two, in float64, as one float32 rounding
                    mid = (np.float64(buf[half - 1, i]) + np.float64(buf[half, i])) * 0.5
                    out[r, p0 + i] = np.float32(mid + 0.0)


#: Window values the numpy twin partitions at once (bounds its memory whatever the chunk) [bytes]
_NP_WINDOW_BYTES = 4 * 2**20


def _sorted_window_medians_np(values, width, out, tile):
    """The numba kernel's medians by ``np.partition`` of every window (the same order statistics, the same
    float64 mean of the middle two rounded once, +0.0 for zero, NaN for a window with a NaN); ``tile`` unused."""
    n, npix = values.shape
    half, odd = width // 2, width % 2 == 1
    nans = np.zeros((n + 1, npix), np.int32)
    np.cumsum(np.isnan(values), axis=0, out=nans[1:])
    step = max(1, _NP_WINDOW_BYTES // (4 * width * (n - width + 1)))
    for p0 in range(0, npix, step):
        windows = sliding_window_view(values[:, p0 : p0 + step], width, axis=0)
        part = np.partition(windows, (half,) if odd else (half - 1, half), axis=-1)
        if odd:
            out[:, p0 : p0 + step] = part[..., half] + np.float32(0)
        else:
            out[:, p0 : p0 + step] = (part[..., half - 1].astype(np.float64) + part[..., half]) * 0.5 + 0.0
    out[nans[width:] != nans[:-width]] = np.nan


def moving_median(values: np.ndarray, width: int, tile: int = 256, kernels: str = NUMBA) -> np.ndarray:
    """Median of every window of ``width`` consecutive planes along axis 0, NaN if the window has a NaN.

    Parameters
    ----------
    values : ndarray of float32, shape (n, ...)
    width : int
        Window length, ``1 <= width <= n``.
    tile : int
        Pixels processed together (their windows stay in the CPU cache).
    kernels : {"numba", "numpy"}
        The compiled kernel or its numpy twin (same results).

    Returns
    -------
    ndarray of float32, shape (n - width + 1, ...)
        Row ``j`` is the median of planes ``j .. j + width - 1`` (``np.median`` semantics: the middle value,
        or the mean of the middle two for an even width); ±inf sort as values.
    """
    n = values.shape[0]
    if not 1 <= width <= n:
        raise ValueError(f"window {width} needs 1 <= width <= n={n}")
    flat = frozen(np.ascontiguousarray(values, dtype=np.float32).reshape(n, -1))
    out = np.empty((n - width + 1, flat.shape[1]), np.float32)
    impl = _sorted_window_medians if check(kernels) == NUMBA else _sorted_window_medians_np
    impl(flat, width, out, tile)
    return out.reshape((n - width + 1, *values.shape[1:]))


def rolling_median(
    block: np.ndarray, block_start: int, starts: np.ndarray, width: int, kernels: str = NUMBA
) -> np.ndarray:
    """NaN-propagating rolling median along axis 0 (``np.median`` semantics).

    Parameters
    ----------
    block : ndarray, shape (m, ny, nx)
        Integrations ``block_start .. block_start + m - 1`` of a segment; bad pixels already NaN.
    block_start : int
        Segment-relative index of ``block[0]``.
    starts : ndarray of int
        Segment-relative window start of each output integration (from :func:`window_starts`); every
        window must lie inside the block.
    width : int
        Window width.
    kernels : {"numba", "numpy"}
        Compiled kernels or their numpy twins (same results).

    Returns
    -------
    ndarray of float32, shape (len(starts), ny, nx)
        The median of each window; NaN where any sample in the window is NaN. jwst holds these values
        in float64; they are float32 values either way (a sample, or the float32 mean of two).
    """
    lo, hi = int(starts.min()) - block_start, int(starts.max()) - block_start + width
    if lo < 0 or hi > block.shape[0]:
        raise ValueError("rolling windows reach outside the block")
    moving = moving_median(block[lo:hi], width, kernels=kernels)
    # row j of ``moving`` holds the window that starts at lo + j
    rows = starts - block_start - lo
    if np.all(np.diff(rows) == 1):
        return moving[rows[0] : rows[-1] + 1]
    return moving[rows]


@njit(inline="always")
def _is_outlier(sci, err, median, snr, wide):
    # jwst: |sci - median| > snr * nan_to_num(err); float32 threshold; the difference in float64 when
    # jwst's median is float64 (rolling branch, ``wide``), in float32 otherwise (full-median branch)
    if err != err:
        err = np.float32(0)
    elif err == np.inf:
        err = np.finfo(np.float32).max
    elif err == -np.inf:
        err = -np.finfo(np.float32).max
    if wide:
        return abs(np.float64(sci) - np.float64(median)) > snr * err
    return abs(sci - median) > snr * err


def _is_outlier_np(sci, err, median, snr, wide):
    """:func:`_is_outlier` on whole arrays, the same operations in the same precisions."""
    big = np.finfo(np.float32).max
    with np.errstate(over="ignore", invalid="ignore"):
        threshold = snr * np.nan_to_num(err, nan=0.0, posinf=big, neginf=-big)  # float32, as the kernel's
        if wide:
            return np.abs(sci.astype(np.float64) - median.astype(np.float64)) > threshold
        return np.abs(sci - median) > threshold


@njit(nogil=True)
def _flag_dq(sci, err, dq, median, snr, wide, floats, out):
    n = 0
    for i in range(sci.size):
        flags = dq[i]
        if _is_outlier(sci[i], err[i], median[i], snr, wide):
            flags |= np.uint32(DO_NOT_USE_OUTLIER)
            n += 1
        for array in floats:
            if array[i] != array[i]:
                flags |= np.uint32(1)
        out[i] = flags
    return n


def _flag_dq_np(sci, err, dq, median, snr, wide, floats, out):
    outlier = _is_outlier_np(sci, err, median, snr, wide)
    np.bitwise_or(dq, outlier * np.uint32(DO_NOT_USE_OUTLIER), out=out)
    for array in floats:
        out |= np.isnan(array).astype(np.uint32)
    return int(np.count_nonzero(outlier))


@njit(nogil=True)
def _count(sci, err, median, snr, wide):
    n = 0
    for i in range(sci.size):
        n += _is_outlier(sci[i], err[i], median[i], snr, wide)
    return n


def _count_np(sci, err, median, snr, wide):
    return int(np.count_nonzero(_is_outlier_np(sci, err, median, snr, wide)))


@njit(nogil=True)
def _nan_where_unusable(values, dq, out):
    nan = np.float32(np.nan)
    for i in range(values.size):
        out[i] = nan if dq[i] & np.uint32(1) else values[i]


def _nan_where_unusable_np(values, dq, out):
    out[:] = values
    out[(dq & np.uint32(1)) != 0] = np.nan


def _flat(a: np.ndarray) -> np.ndarray:
    """A kernel input: flat, C-contiguous, read-only (one compiled version for every kind of block)."""
    return frozen(np.ascontiguousarray(a).reshape(-1))


def flag_outliers_dq(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    median: np.ndarray,
    snr: float,
    *variances: np.ndarray,
    wide: bool = True,
    kernels: str = NUMBA,
) -> np.ndarray:
    """Updated DQ: outliers get DO_NOT_USE|OUTLIER, and every invalid pixel gets DO_NOT_USE.

    An outlier deviates from ``median`` by more than ``snr`` times its error (strict ``>``; NaN in
    ``sci`` or ``median`` never flags, NaN ``err`` counts as 0, ±inf as ±float32 max). A pixel is invalid
    when it is NaN in SCI, ERR or any of ``variances`` (VAR_*) or carries DO_NOT_USE (jwst
    ``flag_crs`` + ``match_nans_and_flags``).

    Parameters
    ----------
    sci, err : ndarray of float32, shape (m, ny, nx)
    dq : ndarray of uint32, same shape
    median : ndarray of float32, same shape
        Median cube.
    snr : float
        Threshold in units of ``err``.
    *variances : ndarray of float32
        VAR_POISSON, VAR_RNOISE, VAR_FLAT (those present); their NaNs also mark invalid pixels.
    wide : bool
        Take the difference in float64, as jwst does with its float64 rolling median; False for the
        float32 difference of jwst's full-median branch.
    kernels : {"numba", "numpy"}
        The compiled kernel or its numpy twin (same results).

    Returns
    -------
    ndarray of uint32
    """
    out = np.empty(dq.shape, np.uint32)
    impl = _flag_dq if check(kernels) == NUMBA else _flag_dq_np
    impl(
        _flat(sci),
        _flat(err),
        _flat(dq),
        _flat(median),
        np.float32(snr),
        bool(wide),
        tuple(_flat(f) for f in (sci, err, *variances)),
        out.reshape(-1),
    )
    return out


def count_outliers(
    sci: np.ndarray, err: np.ndarray, median: np.ndarray, snr: float, wide: bool = True, kernels: str = NUMBA
) -> np.ndarray:
    """Outliers per integration (axis 0), by the rule of :func:`flag_outliers_dq`; shape (m,), int64."""
    snr32 = np.float32(snr)
    impl = _count if check(kernels) == NUMBA else _count_np
    counts = [impl(_flat(s), _flat(e), _flat(m), snr32, bool(wide)) for s, e, m in zip(sci, err, median, strict=True)]
    return np.array(counts, dtype=np.int64)


def nan_where_unusable(values: np.ndarray, dq: np.ndarray, kernels: str = NUMBA) -> np.ndarray:
    """A copy of ``values`` with NaN wherever ``dq`` has DO_NOT_USE (``kernels``: compiled or numpy twin)."""
    out = np.empty(values.shape, values.dtype)
    impl = _nan_where_unusable if check(kernels) == NUMBA else _nan_where_unusable_np
    impl(_flat(values), _flat(dq), out.reshape(-1))
    return out
