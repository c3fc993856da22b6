"""jwst ``white_light`` arithmetic on plain arrays: the flux sums and the repeated-time rule."""

from __future__ import annotations

import numpy as np


def duplicate_times(mjd: np.ndarray) -> np.ndarray:
    """Entries whose MJD-AVG repeats an earlier one of the same spectrum (jwst keeps the first)."""
    _, first = np.unique(mjd, return_index=True)
    dup = np.ones(mjd.shape, dtype=bool)
    dup[first] = False
    return dup


def flux_sums(flux: np.ndarray, wavelength: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Per-integration nansum of FLUX over ``lo <= wavelength <= hi`` (jwst's white-light sum).

    Parameters
    ----------
    flux, wavelength : ndarray (n, npixel)
        FLUX [its unit] and WAVELENGTH [micron] of n spectra.
    lo, hi : float
        Inclusive wavelength range [micron].

    Returns
    -------
    ndarray (n,) float64
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    mask = (wavelength >= lo) & (wavelength <= hi)
    return np.nansum(np.where(mask, np.asarray(flux, dtype=np.float64), np.nan), axis=1)
