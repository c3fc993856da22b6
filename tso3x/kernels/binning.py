"""Wavelength binning of extracted spectra: bin edges and per-integration binned sums (numpy only).

Bin rule (the white-light rule, split without overlap): bin ``k`` holds the pixels with
``edges[k] <= wavelength < edges[k + 1]``, the last bin also its upper edge, so the bins together hold
exactly the pixels ``edges[0] <= wavelength <= edges[-1]`` that jwst's ``white_light`` sums over that range.
"""

from __future__ import annotations

import numpy as np


def bin_index(wavelength: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of every pixel (-1: outside every bin, or NaN wavelength).

    Parameters
    ----------
    wavelength : ndarray
        Pixel wavelengths [micron], any shape.
    edges : ndarray (nbins + 1,)
        Increasing bin edges [micron].

    Returns
    -------
    ndarray of int64, the shape of ``wavelength``
    """
    edges = np.asarray(edges, dtype=np.float64)
    wave = np.asarray(wavelength, dtype=np.float64)
    idx = np.searchsorted(edges, wave, side="right") - 1
    nbins = edges.size - 1
    idx[(wave == edges[-1])] = nbins - 1  # the last bin includes its upper edge
    idx[(idx < 0) | (idx >= nbins) | ~np.isfinite(wave)] = -1
    return idx.astype(np.int64)


def binned_sums(flux: np.ndarray, error: np.ndarray, wavelength: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-integration sum of FLUX and sum of FLUX_ERROR² in every wavelength bin.

    Pixels whose FLUX is NaN add nothing to either sum (the white light's ``nansum``); a NaN error of a
    finite flux adds nothing to the variance.

    Parameters
    ----------
    flux, error : ndarray (n, npixel)
        FLUX and FLUX_ERROR of n spectra [flux unit].
    wavelength : ndarray (n, npixel) or (npixel,)
        Pixel wavelengths [micron].
    edges : ndarray (nbins + 1,)
        Increasing bin edges [micron].

    Returns
    -------
    ndarray (2, n, nbins) float64
        ``[0]``: flux sums [flux unit]; ``[1]``: variance sums [flux unit²].
    """
    flux = np.asarray(flux, dtype=np.float64)
    error = np.asarray(error, dtype=np.float64)
    n, npix = flux.shape
    nbins = np.asarray(edges).size - 1
    idx = np.broadcast_to(bin_index(wavelength, edges), (n, npix))
    use = (idx >= 0) & np.isfinite(flux)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, npix))
    slot = (rows * nbins + idx)[use]
    var = np.where(np.isfinite(error), error * error, 0.0)[use]
    out = np.empty((2, n, nbins))
    out[0] = np.bincount(slot, weights=flux[use], minlength=n * nbins).reshape(n, nbins)
    out[1] = np.bincount(slot, weights=var, minlength=n * nbins).reshape(n, nbins)
    return out


def pixel_edges(wavelength: np.ndarray) -> np.ndarray:
    """Boundaries between adjacent pixels of a sorted wavelength grid (midpoints), with the end pixels'
    own wavelengths as the outer boundaries (so the bins include them)."""
    wave = np.asarray(wavelength, dtype=np.float64)
    return np.concatenate([wave[:1], 0.5 * (wave[1:] + wave[:-1]), wave[-1:]])


def equal_width_edges(
    wavelength: np.ndarray, nbins: int, lo: float | None = None, hi: float | None = None
) -> np.ndarray:
    """``nbins`` bins of equal width [micron] from ``lo`` to ``hi`` (default: the finite wavelengths' range)."""
    wave = np.asarray(wavelength, dtype=np.float64)
    wave = wave[np.isfinite(wave)]
    if wave.size == 0:
        raise ValueError("no finite wavelengths to bin")
    lo = float(np.min(wave)) if lo is None else float(lo)
    hi = float(np.max(wave)) if hi is None else float(hi)
    if nbins < 1 or not hi > lo:
        raise ValueError(f"cannot make {nbins} bins between {lo} and {hi} micron")
    return np.linspace(lo, hi, int(nbins) + 1)


def equal_flux_edges(
    wavelength: np.ndarray, spectrum: np.ndarray, nbins: int, lo: float | None = None, hi: float | None = None
) -> np.ndarray:
    """Edges [micron] of ``nbins`` bins holding about equal flux of ``spectrum``, on pixel boundaries.

    Parameters
    ----------
    wavelength, spectrum : ndarray (npixel,)
        A reference spectrum (e.g. the time-averaged FLUX) and its wavelengths [micron].
    nbins : int
    lo, hi : float, optional
        Range binned [micron] (default: every finite pixel).

    Returns
    -------
    ndarray (nbins + 1,)
        Increasing; the outer edges are ``lo``/``hi`` or the first/last finite pixel's wavelength.
    """
    wave = np.asarray(wavelength, dtype=np.float64)
    flux = np.asarray(spectrum, dtype=np.float64)
    keep = np.isfinite(wave)
    if lo is not None:
        keep &= wave >= lo
    if hi is not None:
        keep &= wave <= hi
    order = np.argsort(wave[keep])
    wave, flux = wave[keep][order], np.nan_to_num(flux[keep][order])
    if wave.size < nbins or nbins < 1:
        raise ValueError(f"cannot make {nbins} equal-flux bins from {wave.size} pixels")
    bounds = pixel_edges(wave)
    if lo is not None:
        bounds[0] = lo
    if hi is not None:
        bounds[-1] = hi
    cum = np.concatenate([[0.0], np.cumsum(np.clip(flux, 0.0, None))])
    if cum[-1] <= 0:
        raise ValueError("the reference spectrum has no positive flux to divide")
    # inner edge k at the pixel boundary where the cumulative flux first reaches k/nbins of the total;
    # at least one pixel per bin
    cut = np.searchsorted(cum, cum[-1] * np.arange(1, nbins) / nbins, side="left")
    cut = np.clip(cut, 1, wave.size - 1)
    for k in range(cut.size):
        lower = (cut[k - 1] + 1) if k else 1
        upper = wave.size - (nbins - 1 - k)
        cut[k] = min(max(cut[k], lower), upper)
    return np.concatenate([[bounds[0]], bounds[cut], [bounds[-1]]])
