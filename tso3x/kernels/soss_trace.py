"""NIRISS SOSS trace positions and wavelengths at an exposure's pupil-wheel position (jwst 3.0.0 pastasoss).

The PASTASOSS reference file holds, per order, the trace (x, y) at the commanded pupil-wheel position
``pwcpos_cmd``, a pivot point and a wavelength-calibration polynomial in (x, PWCPOS offset). At the exposure's
PWCPOS the reference trace is rotated by (PWCPOS − pwcpos_cmd) degrees about the pivot (SUBSTRIP96: y first
shifted by −10 rows), interpolated back onto the reference columns, and given the polynomial's wavelengths.
The extraction then uses the trace resampled on the wavelength grid of the file (``wavemap_wlmin`` …
``wavemap_wlmax``) and splined on the detector columns 0 … cutoff − 1.

Plain numpy/scipy on small 1-D arrays; pixel coordinates are 0-based, wavelengths in micron.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline, interp1d

#: Rows SUBSTRIP96 traces are shifted by relative to SUBSTRIP256.
SUBSTRIP96_SHIFT = 10.0


def rotate_trace(x: np.ndarray, y: np.ndarray, angle: float, origin: tuple[float, float]) -> tuple:
    """Rotate a trace about ``origin`` and resample it on its own columns (jwst ``pastasoss._rotate``).

    Parameters
    ----------
    x, y : ndarray (n,)
        Reference trace [pixel].
    angle : float
        Rotation [degree], counter-clockwise.
    origin : (float, float)
        Pivot (x, y) [pixel].

    Returns
    -------
    x, y : ndarray
        The columns whose rotated y is <= 255, and that y [pixel].
    """
    center = np.atleast_2d(origin).T
    xy = np.vstack([x, y])
    radians = np.radians(angle)
    c, s = np.cos(radians), np.sin(radians)
    x_new, y_new = np.array([[c, -s], [s, c]]) @ (xy - center) + center
    y_new = interp1d(x_new, y_new, fill_value="extrapolate")(x)
    keep = np.where(y_new <= 255.0)
    return x[keep], y_new[keep]


def polynomial_2d(coefficients: np.ndarray):
    """The astropy ``Polynomial2D`` of PASTASOSS coefficients ordered C00, C10, C01, C20, C11, C02, …."""
    from astropy.modeling.polynomial import Polynomial2D

    degree = int(np.sqrt(2 * len(coefficients))) - 1
    poly = Polynomial2D(degree=degree)
    for name in poly.param_names:
        xord, yord = (int(n) for n in name.strip("c").split("_"))
        total = xord + yord
        setattr(poly, name, coefficients[total * (total + 1) // 2 + yord])
    return poly


def trace_wavelengths(
    x: np.ndarray, pwcpos: float, pwcpos_cmd: float, coefficients: np.ndarray, scale_extents: np.ndarray
) -> np.ndarray:
    """Wavelengths [micron] of trace columns ``x`` at ``pwcpos`` (jwst ``pastasoss._get_wavelengths``).

    ``scale_extents`` is [[x_min, offset_min], [x_max, offset_max]]: x and the PWCPOS offset [degree] are
    scaled to 0…1 before the polynomial.
    """
    x_scaled = (x - scale_extents[0][0]) / (scale_extents[1][0] - scale_extents[0][0])
    offset = np.ones_like(x) * (pwcpos - pwcpos_cmd)
    offset_scaled = (offset - scale_extents[0][1]) / (scale_extents[1][1] - scale_extents[0][1])
    return polynomial_2d(coefficients)(x_scaled, offset_scaled)


def extrapolate_to_grid(grid: np.ndarray, wavelength: np.ndarray, quantity: np.ndarray) -> np.ndarray:
    """``quantity`` resampled on the wavelength ``grid``, linearly extrapolated beyond its ends
    (jwst ``pastasoss._extrapolate_to_wavegrid``)."""
    order = np.argsort(wavelength)
    q, w = quantity[order], wavelength[order]
    slope_right = (q[-1] - q[-2]) / (w[-1] - w[-2])
    right = np.where(grid > w[-1])[0]
    q_right = q[-1] + (grid[right] - w[-1]) * slope_right
    slope_left = (q[1] - q[0]) / (w[1] - w[0])
    left = np.where(grid < w[0])[0]
    q_left = q[0] + (grid[left] - w[0]) * slope_left
    w = np.concatenate((grid[left], w, grid[right]))
    q = np.concatenate((q_left, q, q_right))
    return np.interp(grid, w, q)


def spectrace(
    trace_xy: np.ndarray,
    pivot: tuple[float, float],
    pwcpos: float,
    pwcpos_cmd: float,
    coefficients: np.ndarray,
    scale_extents: np.ndarray,
    grid: np.ndarray,
    substrip96: bool,
) -> np.ndarray:
    """One order's trace on the wavelength ``grid`` at ``pwcpos``: rows x, y [pixel], wavelength [micron]
    (jwst ``get_soss_wavemaps``' spectrace)."""
    x, y = np.array(trace_xy, dtype=np.float64).T.copy()
    if substrip96:
        y -= SUBSTRIP96_SHIFT
    x_new, y_new = rotate_trace(x, y, pwcpos - pwcpos_cmd, pivot)
    wavelengths = trace_wavelengths(x_new, pwcpos, pwcpos_cmd, coefficients, scale_extents)
    return np.array(
        [extrapolate_to_grid(grid, wavelengths, x_new), extrapolate_to_grid(grid, wavelengths, y_new), grid]
    )


def column_trace(trace: np.ndarray, cutoff: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trace on columns 0 … cutoff − 1: (x, y [pixel], wavelength [micron]) by cubic splines of a
    :func:`spectrace` (jwst ``DetectorModelOrder.trace``)."""
    x = np.arange(cutoff)
    if trace[0][0] - trace[0][1] > 0:
        trace = np.flip(trace, axis=1)
    return x, CubicSpline(trace[0], trace[1])(x), CubicSpline(trace[0], trace[2])(x)


def wave_map(spectrace_: np.ndarray, dimx: int, dimy: int, ymin: int, nrows: int, maxiter: int = 5) -> np.ndarray:
    """An order's 2-D wavelength map on a subarray (jwst ``pastasoss._calc_2d_wave_map`` with zero tilt and
    no oversampling, then trimmed as ``get_soss_wavemaps``).

    With zero tilt every row is the same: the wavelength of each column is the trace's, found by iterating the
    column → wavelength → column round trip ``maxiter`` times (stopping when within 0.01 pixel everywhere),
    NaN beyond the trace's ends.

    Parameters
    ----------
    spectrace_ : ndarray (3, n)
        The trace x, y [pixel] and wavelength [micron] of :func:`spectrace`.
    dimx, dimy : int
        PASTASOSS ``soss_xdim`` and ``soss_ydim``.
    ymin : int
        PASTASOSS ``subarray_ymin`` (first row of the subarray in the map).
    nrows : int
        Rows of the subarray (96, or ``dimx − ymin``).

    Returns
    -------
    ndarray (nrows, dimx) [micron]
    """
    x_dms, wave = spectrace_[0], spectrace_[2]
    x = np.arange(dimx, dtype=np.float64)
    delta = 0.0
    for _ in range(maxiter):
        guess = np.interp(x - delta, x_dms[::-1], wave[::-1])
        x_new = np.interp(guess, wave, x_dms) + 0.0
        delta = delta + (x_new - x)
        if np.all(np.abs(x_new - x) < 1e-2):
            break
    row = np.interp(x - delta, x_dms[::-1], wave[::-1], left=np.nan, right=np.nan)
    full = np.full((dimx, dimx), np.nan)
    full[-dimy:] = row
    full[:ymin, :] = full[ymin]
    return full[ymin : ymin + nrows].copy()
