"""Noise-free scene models: PSFs, spectral traces, stellar spectra and the transit light curve.

All images are count rates in DN/s (float64 for the static 2-D parts); the caller turns them into
calibrated, noisy cubes (:mod:`tso3x.simulate.noise`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

#: Relative transit depth at the centre of the band.
TRANSIT_DEPTH = 0.01


def transit_occultation(t: np.ndarray, t_start: float, t_end: float) -> np.ndarray:
    """Fraction of the full transit depth at times ``t`` (trapezoid, 0 outside, 1 at full depth).

    The transit is centred in [t_start, t_end]; it lasts 40 % of that span (first to fourth contact)
    and each of ingress and egress takes 8 % of the span.
    """
    span = t_end - t_start
    t0 = t_start + span / 2.0
    half = 0.2 * span
    ingress = 0.08 * span
    x = (half - np.abs(np.asarray(t, dtype=np.float64) - t0)) / ingress
    return np.clip(x, 0.0, 1.0)


def pixel_gaussian(coord: np.ndarray, center: np.ndarray | float, sigma: float) -> np.ndarray:
    """Pixel-integrated 1-D Gaussian of unit area sampled at pixel centres ``coord``."""
    s = np.sqrt(2.0) * sigma
    c = np.asarray(coord, dtype=np.float64) - center
    return 0.5 * (erf((c + 0.5) / s) - erf((c - 0.5) / s))


def gaussian_psf_stack(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, sigma: float) -> np.ndarray:
    """Unit-flux pixel-integrated Gaussian PSFs, one per integration, centred at (cx[i], cy[i])."""
    ny, nx = shape
    px = pixel_gaussian(np.arange(nx)[None, :], np.asarray(cx)[:, None], sigma)
    py = pixel_gaussian(np.arange(ny)[None, :], np.asarray(cy)[:, None], sigma)
    return np.einsum("iy,ix->iyx", py, px)


def ring_psf_stack(shape: tuple[int, int], cx: np.ndarray, cy: np.ndarray, radius: float, width: float) -> np.ndarray:
    """Unit-flux ring ("weak-lens donut") PSFs, one per integration (sampled, normalised on an
    infinite plane so the subarray may clip a little)."""
    ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx]
    out = np.empty((len(cx), ny, nx))
    norm = (2.0 * np.pi) ** 1.5 * radius * width  # ∫ exp(-(r-r0)²/2w²) 2πr dr for r0 >> w
    for i, (xc, yc) in enumerate(zip(cx, cy, strict=True)):
        r = np.hypot(x - xc, y - yc)
        out[i] = np.exp(-0.5 * ((r - radius) / width) ** 2) / norm
    return out


def stellar_spectrum(lam: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Smooth relative photon spectrum × throughput on wavelengths ``lam`` (micron), peak ≈ 1.

    A power-law continuum, soft band edges at ``band`` and two broad absorption features.
    """
    lo, hi = min(band), max(band)
    width = 0.02 * (hi - lo)
    lam = np.asarray(lam, dtype=np.float64)
    cont = (lam / (0.5 * (lo + hi))) ** -1.5
    thru = 0.5 * (np.tanh((lam - lo) / width) - np.tanh((lam - hi) / width))
    feats = 1.0
    for frac, depth in ((0.33, 0.12), (0.7, 0.08)):
        mu = lo + frac * (hi - lo)
        feats = feats - depth * np.exp(-0.5 * ((lam - mu) / (0.03 * (hi - lo))) ** 2)
    spec = cont * thru * feats
    return spec / max(float(np.max(spec)), 1e-30)


def transit_depth(lam: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Wavelength-dependent transit depth (±10 % around :data:`TRANSIT_DEPTH`)."""
    lo, hi = min(band), max(band)
    return TRANSIT_DEPTH * (1.0 + 0.1 * np.sin(2.0 * np.pi * (np.asarray(lam) - lo) / (hi - lo)))


def trace_profile(shape: tuple[int, int], dispaxis: int, center: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Unit-area cross-dispersion Gaussian profile around ``center`` (one value per dispersion pixel).

    ``sigma`` is a scalar or one width per dispersion pixel. Returns an (ny, nx) image whose sum over
    the cross-dispersion axis is ≈ 1 in every dispersion pixel.
    """
    ny, nx = shape
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64), np.shape(center))
    if dispaxis == 1:
        return pixel_gaussian(np.arange(ny)[:, None], np.asarray(center)[None, :], sig[None, :])
    return pixel_gaussian(np.arange(nx)[None, :], np.asarray(center)[:, None], sig[:, None])


def soss_traces(shape: tuple[int, int]) -> list[tuple[int, np.ndarray, np.ndarray, float]]:
    """Curved SOSS order traces scaled to ``shape``.

    Returns
    -------
    list of (order, y_center, valid_x_mask, relative_throughput)
        Trace centre (0-based row) per column, which columns carry the order, and its brightness.
    """
    ny, nx = shape
    xn = np.arange(nx) / max(nx - 1, 1)
    y1 = ny * (0.30 + 0.12 * (xn - 0.35) ** 2)
    y2 = y1 + ny * (0.30 + 0.12 * xn)
    y3 = y1 + ny * (0.55 + 0.10 * xn)
    return [
        (1, y1, np.ones(nx, bool), 1.0),
        (2, y2, xn < 0.85, 0.35),
        (3, y3, xn < 0.55, 0.06),
    ]
