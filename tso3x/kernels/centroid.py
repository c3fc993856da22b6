"""Source centroiding of jwst's TSO photometry (``tso_source_centroid`` / ``_fit_source``) on a block.

Per integration: subtract the median of the frame outside a circle around the current guess, then take
photutils' flux-weighted centre of mass (``centroid_sources`` with ``centroid_com``) in a box around
the guess, with DO_NOT_USE and NaN pixels masked. Everything is float32 where jwst is float32 (the
converted data, the median and the subtracted frame), so the centroids are jwst's to rounding.

The background median is a numba kernel; its numpy twin (``kernels="numpy"``, for a run on a cold kernel
cache, :mod:`tso3x.jit`) is numpy's own ``nanmedian``, which jwst calls: the results are bit-identical.
"""

from __future__ import annotations

import warnings

import numpy as np
from photutils.centroids import centroid_sources

from .. import dqflags
from ..jit import NUMBA, check, frozen, njit


def bad_pixels(sci: np.ndarray, dq: np.ndarray) -> np.ndarray:
    """Pixels left out of centroiding and the PSF fit: DO_NOT_USE set or NaN data.

    Parameters
    ----------
    sci : ndarray of float32, shape (n, ny, nx)
    dq : ndarray of uint32, shape (n, ny, nx)

    Returns
    -------
    ndarray of bool
    """
    return ((dq & dqflags.DO_NOT_USE) != 0) | np.isnan(sci)


def source_mask(shape: tuple[int, int], xc: float, yc: float, radius: float) -> np.ndarray:
    """True within ``radius`` [pix] (strictly) of ``(xc, yc)`` [pix, 0-based]; shape (ny, nx)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((xx - xc) ** 2 + (yy - yc) ** 2) < radius**2


@njit(nogil=True)
def _kth_keys(keys, m, k, hist):
    """The k-th smallest (0-based) of ``keys[:m]`` by a two-level 16-bit radix select."""
    hist[:] = 0
    for j in range(m):
        hist[keys[j] >> np.uint32(16)] += 1
    high, below = 0, 0
    while below + hist[high] <= k:
        below += hist[high]
        high += 1
    hist[:] = 0
    for j in range(m):
        if keys[j] >> np.uint32(16) == high:
            hist[keys[j] & np.uint32(0xFFFF)] += 1
    low = 0
    while below + hist[low] <= k:
        below += hist[low]
        low += 1
    return np.uint32((high << 16) | low)


@njit(nogil=True)
def _nanmedians(sci, outside):
    """NaN-median of each frame over the ``outside`` pixels, rounded to float32 as numpy's float32 median.

    Exact order statistics by radix selection on the float32 bit patterns (no sorting, no copies of the
    frame beyond one key buffer); the even-count midpoint is rounded once to float32, as numpy's is, and a
    zero median is +0.0, as numpy's is.
    """
    n = sci.shape[0]
    flat_mask = outside.ravel()
    out = np.empty(n, np.float32)
    keys = np.empty(flat_mask.sum(), np.uint32)
    hist = np.zeros(65536, np.int64)
    sign = np.uint32(0x80000000)
    for i in range(n):
        bits = sci[i].ravel().view(np.uint32)
        m = 0
        for j in range(bits.size):
            b = bits[j]
            if flat_mask[j] and (b & np.uint32(0x7FFFFFFF)) <= np.uint32(0x7F800000):  # not NaN
                keys[m] = (b ^ sign) if (b & sign) == 0 else ~b
                m += 1
        if m == 0:
            out[i] = np.nan
            continue
        k = m // 2
        upper = _kth_keys(keys, m, k, hist)
        vals = np.empty(2, np.uint32)
        vals[0] = (upper ^ sign) if (upper & sign) != 0 else ~upper
        if m % 2:  # + 0: numpy's median of -0.0 is +0.0
            out[i] = vals[:1].view(np.float32)[0] + np.float32(0)
        else:
            lower = _kth_keys(keys, m, k - 1, hist)
            vals[1] = (lower ^ sign) if (lower & sign) != 0 else ~lower
            f = vals.view(np.float32)
            out[i] = np.float32((np.float64(f[1]) + np.float64(f[0])) / 2.0 + 0.0)
    return out


def _nanmedians_np(sci, outside):
    """numpy's NaN-median of each frame over the ``outside`` pixels (float32; NaN where none is finite)."""
    out = np.full(sci.shape[0], np.nan, np.float32)
    for i, frame in enumerate(sci):
        values = frame[outside]
        if not np.isnan(values).all():
            out[i] = np.nanmedian(values)
    return out


def subtract_background(sci: np.ndarray, outside: np.ndarray, kernels: str = NUMBA) -> np.ndarray:
    """Each frame minus the NaN-median of its pixels where ``outside`` is True (float32, as jwst).

    Parameters
    ----------
    sci : ndarray of float32, shape (n, ny, nx)
        Frames in data units.
    outside : ndarray of bool, shape (ny, nx)
        Pixels the background median is taken over (the whole frame outside the source circle).
    kernels : {"numba", "numpy"}
        The compiled median or numpy's (bit-identical).

    Returns
    -------
    ndarray of float32, shape (n, ny, nx)
        NaN frames where every outside pixel is NaN.
    """
    if not outside.any():
        return np.full_like(sci, np.nan)
    impl = _nanmedians if check(kernels) == NUMBA else _nanmedians_np
    background = impl(frozen(np.ascontiguousarray(sci, dtype=np.float32)), frozen(np.ascontiguousarray(outside)))
    return sci - background[:, None, None]


def centroid_box(
    data: np.ndarray, mask: np.ndarray, xc: float, yc: float, box_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass of every frame in a ``box_size`` box around ``(xc, yc)``, as jwst's ``_fit_source``.

    Parameters
    ----------
    data : ndarray of float32, shape (n, ny, nx)
        Background-subtracted frames.
    mask : ndarray of bool, shape (n, ny, nx)
        Pixels to ignore.
    xc, yc : float
        Box centre [pix, 0-based].
    box_size : int
        Odd box width [pix].

    Returns
    -------
    cx, cy : ndarray of float64, shape (n,)
        Centroids [pix, 0-based]; NaN where photutils fails (start outside the frame, all pixels masked,
        zero total) or the centroid falls outside the frame.
    """
    n, ny, nx = data.shape
    cx = np.full(n, np.nan)
    cy = np.full(n, np.nan)
    if not (0 <= xc <= nx - 1 and 0 <= yc <= ny - 1):  # photutils refuses the start position
        return cx, cy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            try:
                x, y = centroid_sources(data[i], xc, yc, mask=mask[i], box_size=box_size)
            except ValueError:
                continue
            cx[i], cy[i] = x[0], y[0]
    outside = ~((cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny))
    cx[outside] = np.nan
    cy[outside] = np.nan
    return cx, cy
