"""Aperture-correction factors of jwst 3.0.0 ``extract_1d`` (``apply_apcorr.ApCorr`` and ``ApCorrPhase``).

numpy in, numpy out. Wavelengths in micron, sizes and NPIXELS in pixels; factors are dimensionless.

- :func:`lrs_factors` — MIRI LRS: a bilinear ``RectBivariateSpline(size, wavelength, apcorr.T)``
  (kx = ky = 1) evaluated at (NPIXELS, WAVELENGTH) of every integration; outside the table it takes the
  edge values (FITPACK clamps its argument to the knot range).
- :func:`phase_factors` — NIRSpec: the table is interpolated to pixel phase 0.5, the sizes to each
  element's wavelength, then a bilinear spline in (wavelength, size) is evaluated at (WAVELENGTH, NPIXELS).
  jwst makes one spline per element and treats a ``ValueError`` (wavelength outside the table, sizes not
  increasing) as c = 1; here the same is vectorised (:func:`bilinear_clamped` is FITPACK's ``fpbisp`` for
  k = 1, equal to scipy's to ~1e-16 relative).
- :func:`apply_factors` — FLUX, FLUX_ERROR, SURF_BRIGHT, SB_ERROR × c; FLUX_VAR_*, SB_VAR_* × c².
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline, interp1d


def lrs_factors(
    size: np.ndarray, wavelength: np.ndarray, apcorr: np.ndarray, npixels: np.ndarray, wl: np.ndarray
) -> np.ndarray:
    """jwst ``ApCorr`` factors c(NPIXELS, WAVELENGTH), recomputed for every integration.

    Parameters
    ----------
    size : ndarray (nsize,)
        Table aperture sizes [pixel], strictly increasing.
    wavelength : ndarray (nwl,)
        Table wavelengths [micron], any order (sorted here, as jwst does).
    apcorr : ndarray (nwl, nsize)
        Table corrections.
    npixels : ndarray (n, m)
        NPIXELS of each integration and spectral element.
    wl : ndarray (m,)
        WAVELENGTH of each element [micron].

    Returns
    -------
    ndarray (n, m) float64
    """
    order = np.argsort(wavelength)
    spline = RectBivariateSpline(size, wavelength[order], apcorr[order, :].T, kx=1, ky=1)
    x, y = np.broadcast_arrays(np.asarray(npixels, dtype=np.float64), np.asarray(wl, dtype=np.float64))
    if x.size == 0:
        return np.ones(x.shape)
    return spline(x.ravel(), y.ravel(), grid=False).reshape(x.shape)


def _interval(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FITPACK's interval and linear B-spline weights at ``x`` clamped to the grid (``fpbisp`` / ``fpbspl``).

    ``grid`` is (m,) shared by every point, or (..., m) one grid per point; returns the interval index i
    (grid[i] <= x < grid[i+1], the last interval closed) and the weights of grid[i] and grid[i+1].
    """
    lo, hi = grid[..., 0], grid[..., -1]
    arg = np.where(x < lo, lo, x)
    arg = np.where(arg > hi, hi, arg)
    if grid.ndim == 1:
        i = np.searchsorted(grid[1:-1], arg, side="right")
        t0, t1 = grid[i], grid[i + 1]
    else:
        i = np.sum(grid[..., 1:-1] <= arg[..., None], axis=-1)
        t0 = np.take_along_axis(grid, i[..., None], axis=-1)[..., 0]
        t1 = np.take_along_axis(grid, i[..., None] + 1, axis=-1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = 1.0 / (t1 - t0)
    return i, f * (t1 - arg), f * (arg - t0)


def bilinear_clamped(xgrid: np.ndarray, ygrid: np.ndarray, z: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A kx = ky = 1 interpolating spline of ``z`` on (xgrid, ygrid) at points (x, y), clamped at the edges.

    Parameters
    ----------
    xgrid : ndarray (nx,)
        Strictly increasing, shared by all points.
    ygrid : ndarray (ny,) or (npoints, ny)
        Strictly increasing, shared or one per point.
    z : ndarray (nx, ny)
        Values at the grid nodes.
    x, y : ndarray (npoints,)
        Evaluation points.

    Returns
    -------
    ndarray (npoints,) float64
    """
    ix, hx0, hx1 = _interval(xgrid, x)
    iy, hy0, hy1 = _interval(ygrid, y)
    out = 0.0 + z[ix, iy] * hx0 * hy0
    out = out + z[ix, iy + 1] * hx0 * hy1
    out = out + z[ix + 1, iy] * hx1 * hy0
    return out + z[ix + 1, iy + 1] * hx1 * hy1


def phase_factors(
    wavelength: np.ndarray,
    size: np.ndarray,
    pixphase: np.ndarray,
    apcorr: np.ndarray,
    wl: np.ndarray,
    npixels: np.ndarray,
    phase: float = 0.5,
) -> np.ndarray:
    """jwst ``ApCorrPhase.tabulate_correction``: one factor per spectral element.

    Parameters
    ----------
    wavelength : ndarray (nwl,)
        Table wavelengths [micron].
    size : ndarray (nsize, nwl)
        Table aperture sizes [pixel] at each wavelength.
    pixphase : ndarray (nphase,)
        Table pixel phases.
    apcorr : ndarray (nsize, nwl, nphase)
        Table corrections.
    wl : ndarray (m,)
        WAVELENGTH of each element [micron].
    npixels : ndarray (m,)
        NPIXELS of each element (jwst uses the first integration's).
    phase : float
        Pixel phase (jwst: 0.5).

    Returns
    -------
    ndarray (m,) float64
        c; 1 where jwst's per-element interpolation raises ValueError (wavelength outside the table, sizes
        not strictly increasing, too few table points) and where c would be 0.
    """
    wl = np.asarray(wl, dtype=np.float64)
    npixels = np.asarray(npixels, dtype=np.float64)
    out = np.ones(wl.shape)
    try:
        at_phase = interp1d(pixphase, apcorr)(phase)  # (nsize, nwl)
        size_of_wl = interp1d(wavelength, size)  # sizes along the last axis
    except ValueError:
        return out
    order = np.argsort(wavelength)
    wl_ref = np.asarray(wavelength[order], dtype=np.float64)
    nsize = size.shape[0]
    if wl_ref.size < 2 or nsize < 2 or not np.all(np.diff(wl_ref) > 0.0):
        return out
    inside = ~((wl < size_of_wl.x[0]) | (wl > size_of_wl.x[-1]))
    if not inside.any():
        return out
    sizes = np.asarray(size_of_wl(wl[inside]), dtype=np.float64).T  # (k, nsize)
    ok = np.all(np.diff(sizes, axis=-1) > 0.0, axis=-1)
    z = np.asarray(at_phase[:, order], dtype=np.float64).T  # (nwl, nsize)
    c = bilinear_clamped(wl_ref, sizes[ok], z, wl[inside][ok], npixels[inside][ok])
    idx = np.flatnonzero(inside)[ok]
    out[idx] = np.where(c == 0.0, 1.0, c)
    return out


def apply_factors(columns: np.ndarray, c: np.ndarray, flux_rows, var_rows) -> np.ndarray:
    """Multiply the flux-like rows of ``columns`` by c and the variance rows by c², in place.

    Parameters
    ----------
    columns : ndarray (n, ncolumns, m) float64
        x1dints columns of n integrations.
    c : ndarray (n, m) or (m,)
        Factors.
    flux_rows, var_rows : sequence of int
        Column indices to scale by c and by c².

    Returns
    -------
    ndarray
        ``columns``.
    """
    c = np.broadcast_to(c, (columns.shape[0], columns.shape[2]))
    columns[:, list(flux_rows), :] *= c[:, None, :]
    columns[:, list(var_rows), :] *= (c * c)[:, None, :]
    return columns
