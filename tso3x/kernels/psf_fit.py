"""Gaussian PRF fit of the TSO photometry centroid pass (jwst ``_psf_fit_gaussian_prf``), fast.

jwst fits photutils' ``GaussianPRF`` (a 2-D Gaussian integrated over pixels, θ = 0, centre fixed at the
centroid; free flux ≥ 0 and FWHMs in [0, fit_box_width]) through ``PSFPhotometry`` and astropy's
``TRFLSQFitter``: about 0.1 s per integration, nearly all of it photutils/astropy machinery (tables,
model objects, parameter bookkeeping, a 121-pixel model evaluated with 4 erf calls per pixel).

Why the same optimiser
----------------------
jwst's answer is *not* the least-squares optimum. scipy's TRF stops on ``gtol=1e-8``, an *absolute*
threshold on the scaled gradient, and with fluxes in Jy (pixel values ~1e-6) it is met after a handful
of evaluations, far from the minimum (checked: up to 3 % off in flux and width for MIRI, and the widths
never leave the 5.5-pixel start for WLP8 rings). A better optimiser (a tightly converged bounded
Levenberg–Marquardt was tried first: 40 µs per integration) therefore *fails* the 2e-3 parity
tolerance. Parity needs TRF's own path: astropy's exact arguments (``'trf'``, ``'2-point'`` Jacobian,
``diff_step=sqrt(eps)``, ``xtol=1e-7``, ``max_nfev=100``, the same bounds and starting point) on the
same residual vector.

Where the speed comes from
--------------------------
* Only the pixels the fit uses: the fit box (astropy ``overlap_slices`` trim mode) minus masked pixels,
  in photutils' order, gathered once.
* A separable residual: with θ = 0 the model is ``flux/4 · (Δerf_x · Δerf_y)``, so each evaluation
  takes ``2·(nx + ny)`` erf values (44 for an 11-pixel box) instead of ``4·nx·ny`` (484), with
  photutils' floating-point operations in photutils' order.
* The optimiser itself compiled: :mod:`tso3x.kernels.trf` is a numba port of scipy's TRF (same steps,
  same termination tests), ``nogil`` so dask threads run chunks in parallel — about 50 µs per
  integration instead of ~0.1 s (checked against scipy itself, :func:`fit_one`, to ~1e-7 relative: the
  differences come from libm's erf versus scipy's, an ulp apart).
* No astropy models, tables or unit handling.

All positions are 0-based pixel coordinates; fluxes are in data units; widths in pixels.
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy.nddata import NoOverlapError, overlap_slices
from scipy.optimize import least_squares
from scipy.special import erf

from ..jit import NUMBA, NUMPY, check
from .trf import trf

#: photutils' GAUSSIAN_FWHM_TO_SIGMA (= astropy ``gaussian_fwhm_to_sigma``).
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_SQRT2 = np.sqrt(2)
#: astropy fitter defaults used by photutils' PSFPhotometry (``TRFLSQFitter``, ``fitter_maxiters=100``).
_DIFF_STEP = np.sqrt(np.finfo(float).eps)
_XTOL = 1e-7
_MAX_NFEV = 100


def _residuals(params, xs, ys, ix, iy, values, x0, y0):
    """``model − data`` of photutils' ``GaussianPRF.evaluate`` (θ = 0) at the fitted pixels."""
    flux, x_fwhm, y_fwhm = params
    x_sigma = x_fwhm * FWHM_TO_SIGMA
    y_sigma = y_fwhm * FWHM_TO_SIGMA
    dx = xs - x0
    dy = ys - y0
    ex = erf((dx + 0.5) / (_SQRT2 * x_sigma)) - erf((dx - 0.5) / (_SQRT2 * x_sigma))
    ey = erf((dy + 0.5) / (_SQRT2 * y_sigma)) - erf((dy - 0.5) / (_SQRT2 * y_sigma))
    return flux / 4.0 * (ex[ix] * ey[iy]) - values


def trf_scipy(x0, lb, ub, xs, ys, ix, iy, values, xc, yc, max_nfev, diff_step, ftol, xtol, gtol):
    """The numpy twin of :func:`tso3x.kernels.trf.trf` (same arguments and result): scipy's own TRF.

    Returns
    -------
    x : ndarray of float64, shape (3,)
        Where scipy stops (flux, x_fwhm, y_fwhm).
    ok : bool
        False where scipy raises (non-finite residuals at the start).
    """
    try:
        with np.errstate(all="ignore"):
            fit = least_squares(
                _residuals,
                x0,
                args=(xs, ys, ix, iy, values, xc, yc),
                jac="2-point",
                bounds=(lb, ub),
                method="trf",
                ftol=ftol,
                xtol=xtol,
                gtol=gtol,
                max_nfev=max_nfev,
                diff_step=diff_step,
            )
    except ValueError:
        return x0, False
    return fit.x, True


def fit_one(data: np.ndarray, mask: np.ndarray, x0: float, y0: float, width: int) -> tuple[float, float, float]:
    """Fit one background-subtracted frame with scipy; returns (sigma_x [pix], sigma_y [pix], flux) or NaNs.

    Parameters
    ----------
    data : ndarray of float32, shape (ny, nx)
        Background-subtracted frame.
    mask : ndarray of bool, shape (ny, nx)
        Pixels left out (DO_NOT_USE or NaN).
    x0, y0 : float
        Fixed centre [pix, 0-based].
    width : int
        ``fit_box_width`` [pix].
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_gaussian_prf(data[None], mask[None], np.array([x0]), np.array([y0]), width, kernels=NUMPY)
    return tuple(float(v) for v in fit[0])


def _prepare(data, mask, x0, y0, width):
    """Pixels, starting point and bounds of one fit (photutils' cutout and jwst's start), or None."""
    try:
        (sy, sx), _ = overlap_slices(data.shape, (width, width), (y0, x0), mode="trim")
    except (NoOverlapError, ValueError):
        return None
    box, bad = data[sy, sx], mask[sy, sx] | ~np.isfinite(data[sy, sx])
    good = ~bad
    flux0 = np.sum(box[~mask[sy, sx]])  # jwst's starting flux: float32 sum of the unmasked box pixels
    if np.count_nonzero(good) < 3 or not np.isfinite(flux0) or flux0 < 0:
        return None  # photutils: too few pixels / non-finite start; scipy: start outside the bounds
    iy, ix = np.nonzero(good)
    xs = np.arange(sx.start, sx.stop, dtype=np.float64)
    ys = np.arange(sy.start, sy.stop, dtype=np.float64)
    start = np.array([flux0, width / 2, width / 2], dtype=np.float64)
    return start, xs, ys, ix, iy, box[good].astype(np.float64)


def fit_gaussian_prf(
    data: np.ndarray, mask: np.ndarray, cx: np.ndarray, cy: np.ndarray, fit_box_width: int, kernels: str = NUMBA
) -> np.ndarray:
    """Fit the pixel-integrated Gaussian of jwst's TSO photometry to every integration of a block.

    The optimiser is the compiled port of scipy's TRF (:func:`tso3x.kernels.trf.trf`), or with
    ``kernels="numpy"`` scipy itself (:func:`trf_scipy`, the reference the port is tested against: the two
    agree to ~1e-7 relative, the difference between libm's erf and scipy's).

    Parameters
    ----------
    data : ndarray of float32, shape (n, ny, nx)
        Background-subtracted frames (data units).
    mask : ndarray of bool, shape (n, ny, nx)
        True for pixels left out (DO_NOT_USE or NaN).
    cx, cy : ndarray of float64, shape (n,)
        Fixed source centres [pix, 0-based]; NaN skips the integration.
    fit_box_width : int
        Odd width of the fit box [pix]; also the upper bound of the FWHMs.
    kernels : {"numba", "numpy"}
        The compiled optimiser or scipy's.

    Returns
    -------
    ndarray of float64, shape (n, 3)
        ``psf_width_x``, ``psf_width_y`` (1-sigma widths [pix]) and ``psf_flux`` (total Gaussian flux,
        data units); NaN where there is no fit (no centroid, no overlap, fewer than 3 usable pixels, a
        negative starting flux).
    """
    optimise = trf if check(kernels) == NUMBA else trf_scipy
    out = np.full((data.shape[0], 3), np.nan)
    lb = np.zeros(3)
    ub = np.array([np.inf, float(fit_box_width), float(fit_box_width)])
    for i in range(data.shape[0]):
        if not (np.isfinite(cx[i]) and np.isfinite(cy[i])):
            continue
        prepared = _prepare(data[i], mask[i], float(cx[i]), float(cy[i]), fit_box_width)
        if prepared is None:
            continue
        start, xs, ys, ix, iy, values = prepared
        x, ok = optimise(
            start, lb, ub, xs, ys, ix, iy, values, float(cx[i]), float(cy[i]), _MAX_NFEV, _DIFF_STEP, 1e-8, _XTOL, 1e-8
        )
        if ok:
            out[i] = FWHM_TO_SIGMA * x[1], FWHM_TO_SIGMA * x[2], x[0]
    return out
