"""ATOCA's line-spread kernels and convolution matrices (jwst 3.0.0 ``atoca_utils.WebbKernel``,
``get_c_matrix``).

The SPECKERNEL reference file tabulates the line spread on an oversampled pixel axis for a set of central
wavelengths. Along an order's trace the pixel axis is mapped to wavelength by a straight-line fit of the
trace wavelengths of the 2·halfwidth + 1 columns nearest each kernel's centre; the kernel is then a bicubic
spline in (pixel, central wavelength), clipped below at its smallest positive tabulated value and zero beyond
± halfwidth pixels.

A convolution matrix C (N_k_convolved × N_k, sparse) applies that kernel to a spectrum sampled on a wavelength
grid, with trapezoidal integration weights, each row normalised to a sum of 1. Wavelengths in micron.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import Polynomial
from scipy.interpolate import RectBivariateSpline
from scipy.sparse import csr_matrix, diags


@dataclass(frozen=True)
class LineSpread:
    """One order's line-spread function of (wavelength, central wavelength) (jwst ``WebbKernel``)."""

    n_pix: int  #: detector pixels spanned (2·halfwidth + 1)
    wave_center: np.ndarray  #: (m,) central wavelengths kept [micron]
    poly: np.ndarray  #: (m, 2) slope [micron/pixel] and intercept [micron] around each centre
    spline: RectBivariateSpline  #: kernel of (pixel offset, central wavelength)
    min_value: float  #: smallest positive tabulated kernel value

    def __call__(self, wave: np.ndarray, wave_c: np.ndarray) -> np.ndarray:
        """Kernel value at ``wave`` for kernels centred on ``wave_c`` (same shape) [micron]."""
        centers, poly = self.wave_center, self.poly
        i = np.searchsorted(centers, wave_c) - 1
        i = np.clip(i, 0, len(centers) - 2)
        step = centers[i + 1] - centers[i]
        a = (centers[i + 1] - wave_c) / step
        b = (wave_c - centers[i]) / step
        slope = a * poly[i, 0] + b * poly[i + 1, 0]
        offset = -(a * poly[i, 1] + b * poly[i + 1, 1])
        offset /= slope
        pix = (1 / slope) * wave + offset
        out = np.clip(self.spline(pix, wave_c, grid=False), self.min_value, None)
        half = self.n_pix // 2
        out[pix > half] = 0
        out[pix < -half] = 0
        return out


def line_spread(wave_kernels: np.ndarray, kernels: np.ndarray, wave_trace: np.ndarray, n_pix: int) -> LineSpread:
    """Build an order's :class:`LineSpread` from the SPECKERNEL tables and the trace wavelengths.

    Parameters
    ----------
    wave_kernels, kernels : ndarray (n_os_pix, n_wave)
        SPECKERNEL WAVELENGTHS [micron] (row 0: each kernel's centre) and KERNELS.
    wave_trace : ndarray (nx,)
        Trace wavelength of every detector column [micron], 0 where undefined.
    n_pix : int
        2 · HALFWIDT + 1.
    """
    valid = wave_trace != 0
    trace = np.asarray(wave_trace, dtype=float)
    steps = np.diff(trace)[valid[1:] & valid[:-1]]
    if steps.mean() < 0:
        trace, valid = trace[::-1], valid[::-1]
    pixels = np.linspace(-(n_pix // 2), n_pix // 2, wave_kernels.shape[0])
    centers = wave_kernels[0, :]
    positive = trace[valid & (trace > 0)]
    i_min = np.searchsorted(centers, positive.min())
    i_max = np.searchsorted(centers, positive.max()) - 1
    bbox = [None, None, centers[max(i_min - 1, 0)], centers[min(i_max + 1, len(centers) - 1)]]
    kept = kernels[:, i_min : i_max + 1].copy()
    centers = np.array(wave_kernels[0, i_min : i_max + 1])
    min_value = float(np.min(kept[kept > 0]))
    surround = np.arange(-(n_pix // 2), n_pix // 2 + 1)
    distance_fill = np.where(valid, 0.0, np.inf)
    poly = []
    for k, center in enumerate(centers.copy()):
        col = int(np.argmin(np.abs(trace - center) + distance_fill))
        centers[k] = trace[col]
        index = col + surround
        good = (index >= 0) & (index < trace.size)
        good[good] = valid[index[good]]
        fit = Polynomial.fit(surround[good], trace[index[good]], 1).convert()
        poly.append(fit.coef[::-1])
    spline = RectBivariateSpline(pixels, centers, kept, bbox=bbox)
    return LineSpread(n_pix, centers, np.array(poly), spline, min_value)


def _wings(fct, grid: np.ndarray, h_len: int, i_a: int, i_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel values ``h_len`` grid points left and right of each convolved point (jwst ``_get_wings``)."""
    n_kc = i_b - i_a
    left, right = np.zeros(n_kc), np.zeros(n_kc)
    grid_new = grid[max(0, i_a - h_len) : i_b - h_len]
    n = len(grid_new)
    left[-n:] = fct(grid_new, grid[i_b - n : i_b])
    grid_new = grid[i_a + h_len : min(len(grid), i_b + h_len)]
    n = len(grid_new)
    right[:n] = fct(grid_new, grid[i_a : i_a + n])
    return left, right


def _trapezoid_weights(grid: np.ndarray, length: int, shape: tuple[int, int], i_a: int, i_b: int) -> np.ndarray:
    """Trapezoidal-integration weights of a compact (length, N_kc) kernel array (jwst ``_trpz_weight``)."""
    offsets = np.indices(shape)[0] - (length // 2)
    index = np.arange(i_a, i_b)[None, :] + offsets[:-1, :]
    bad = (index < 0) | (index >= len(grid) - 1)
    index[bad] = -1
    weight = 0.5 * np.diff(grid)[index]
    weight[bad] = 0
    out = np.zeros(shape)
    out[:-1] += weight
    out[1:] += weight
    return out


def compact_kernel(fct, grid: np.ndarray, i_a: int, i_b: int, thresh: float) -> np.ndarray:
    """(N_ker, N_kc) kernel of ``fct`` on ``grid`` for the convolved points ``grid[i_a:i_b]``, widened until
    both wings fall below ``thresh`` everywhere (values below it set to 0), times the trapezoid weights."""
    out = fct(grid[i_a:i_b], grid[i_a:i_b])[np.newaxis, :]
    length, h_len = 1, 0
    while True:
        h_len += 1
        left, right = _wings(fct, grid, h_len, i_a, i_b)
        if (left < thresh).all() and (right < thresh).all():
            break
        length += 2
        left[left < thresh] = 0.0
        right[right < thresh] = 0.0
        out = np.vstack([left, out, right])
    return out * _trapezoid_weights(grid, length, out.shape, i_a, i_b)


def convolution_matrix(kernel, grid: np.ndarray, i_bounds: tuple[int, int], thresh: float = 1e-5) -> csr_matrix:
    """Sparse (N_kc, N_k) convolution matrix (jwst ``get_c_matrix``).

    Parameters
    ----------
    kernel : callable, ndarray or None
        A :class:`LineSpread` (or any f(wave, wave_c)), a constant (size-1 array) or None (identity), or a
        compact (N_ker, N_kc) array.
    grid : ndarray (N_k,)
        Wavelength grid [micron].
    i_bounds : (int, int)
        The convolved grid is ``grid[i_bounds[0]:i_bounds[1]]``.
    thresh : float
        Wing truncation of a callable kernel.
    """
    a, b = int(i_bounds[0]), int(i_bounds[1])
    if kernel is None:
        kernel = np.array([1.0])
    if callable(kernel):
        compact = compact_kernel(kernel, grid, a, b, thresh)
    elif np.size(kernel) == 1:
        compact = np.tile(np.atleast_1d(kernel), (b - a, 1)).T
    else:
        compact = np.asarray(kernel)
    compact = compact / np.nansum(compact, axis=0)
    return _banded(compact, len(grid), a)


def _banded(compact: np.ndarray, n_k: int, i_zero: int) -> csr_matrix:
    """Compact (N_ker odd, N_kc) kernel → sparse (N_kc, N_k) with its centre on diagonal ``i_zero``."""
    n_ker, n_kc = compact.shape
    if n_ker % 2 != 1:
        raise ValueError("Length of the convolution kernel should be odd.")
    h_len = (n_ker - 1) // 2
    values, offsets = [], []
    for row, shift in enumerate(range(-h_len, h_len + 1)):
        k = i_zero + shift
        values.append(compact[row, -k:] if k < 0 else compact[row, :])
        offsets.append(k)
    return diags(values, offsets, shape=(n_kc, n_k), format="csr")
