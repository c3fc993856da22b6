"""TSO outlier detection kernels: numpy in, numpy out, no I/O and no metadata.

These reproduce jwst 3.0.0 ``outlier_detection`` in ``tso`` mode (stcal ``compute_rolling_median``,
``moving_median_over_zeroth_axis``, ``nanmedian3D`` and ``flag_crs``; jwst ``match_nans_and_flags``) bit for
bit, but work on any contiguous block of integrations of a segment so that dask can map them over chunks.
"""

from __future__ import annotations

import bottleneck as bn
import numpy as np
from astropy.nddata.bitmask import bitfield_to_boolean_mask, interpret_bit_flags

from .. import dqflags


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
    bits = interpret_bit_flags(good_bits, flag_name_map=dqflags.PIXEL)
    good = bitfield_to_boolean_mask(dq, bits, good_mask_value=1, dtype=np.uint8)
    return good == 0


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


def rolling_median(block: np.ndarray, block_start: int, starts: np.ndarray, width: int) -> np.ndarray:
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

    Returns
    -------
    ndarray of float64, shape (len(starts), ny, nx)
        The median of each window; NaN where any sample in the window is NaN.
    """
    lo, hi = int(starts.min()) - block_start, int(starts.max()) - block_start + width
    if lo < 0 or hi > block.shape[0]:
        raise ValueError("rolling windows reach outside the block")
    moving = bn.move_median(block[lo:hi], width, axis=0, min_count=width)
    # row j of ``moving`` holds the window that ends at row j, i.e. starts at lo + j - width + 1
    return moving[starts - block_start - lo + width - 1].astype(np.float64)


def flag_outliers(sci: np.ndarray, err: np.ndarray, median: np.ndarray, snr: float) -> np.ndarray:
    """Pixels deviating from the median by more than ``snr`` times their error (strict ``>``).

    NaN in ``sci`` or ``median`` never flags; NaN in ``err`` counts as 0 (any difference flags).
    """
    return np.greater(np.abs(sci - median), snr * np.nan_to_num(err))


def invalid_pixels(dq: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
    """Pixels that are NaN in any of ``arrays`` or carry DO_NOT_USE (jwst ``match_nans_and_flags``)."""
    invalid = (dq & dqflags.DO_NOT_USE).astype(bool)
    for array in arrays:
        invalid |= np.isnan(array)
    return invalid
