"""jwst 3.0.0 ``photom`` of extracted NIS_SOSS spectra on arrays (``calc_niriss``, ``photom_io``,
``create_1d_conversion``, ``time_dependence``)."""

from __future__ import annotations

import numpy as np


def time_correction(tables: dict[str, np.ndarray], nrows: int, midtime: float) -> np.ndarray:
    """The multiplicative time-dependence correction of every PHOTOM row at ``midtime`` [MJD]
    (jwst ``get_correction_table``, unbounded): the product of the linear, exponential and power-law
    corrections present (1 where none is).

    Parameters
    ----------
    tables : dict
        ``"linear"``, ``"exponential"``, ``"powerlaw"`` → the TIMECOEFF_* table (rows as the PHOTOM table).
    nrows : int
        Rows of the PHOTOM table.
    """
    correction = np.full(nrows, 1.0)
    if "linear" in tables:
        p = tables["linear"]
        correction *= 1.0 - p["lossperyear"] * (midtime - p["t0"]) / 365.0
    if "exponential" in tables:
        p = tables["exponential"]
        correction *= p["amplitude"] * np.exp(-(midtime - p["t0"]) / p["tau"]) + p["const"]
    if "powerlaw" in tables:
        p = tables["powerlaw"]
        norm = ((365.0 + p["tsoft"]) ** p["alpha"]) / p["year1value"]
        correction *= ((midtime - p["t0"] + p["tsoft"]) ** p["alpha"]) / norm
    return correction


def response_curve(waves: np.ndarray, relresps: np.ndarray, nelem: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A PHOTOM row's relative response as jwst uses it: the first ``nelem`` values, sorted by wavelength
    when not increasing, wavelengths in metres converted to micron (in the row's dtype)."""
    waves, relresps = np.array(waves), np.array(relresps)
    if nelem is not None:
        waves, relresps = waves[:nelem], relresps[:nelem]
    if not np.all(np.diff(waves) > 0):
        index = np.argsort(waves)
        waves, relresps = waves[index].copy(), relresps[index].copy()
    if 0.0 < waves.max() < 1.0e-4:
        waves *= 1.0e6
    return waves, relresps


def conversion_1d(
    wavelength: np.ndarray, photmj, waves: np.ndarray, relresps: np.ndarray, correction: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel conversion of a spectrum [MJy / (DN/s)] and its WAVELENGTH as jwst leaves it.

    Parameters
    ----------
    wavelength : ndarray (n,)
        WAVELENGTH [micron] of the spectrum.
    photmj : float
        The row's PHOTMJ (as stored; numpy scalar keeps jwst's arithmetic).
    waves, relresps : ndarray
        From :func:`response_curve`.
    correction : float, optional
        Time-dependence correction to divide by (None or 1: none).

    Returns
    -------
    conversion : ndarray (n,) float64
        PHOTMJ × the interpolated relative response, 0 outside the response's wavelengths.
    wavelength : ndarray (n,)
        A copy with NaN replaced by −1 (jwst's in-place side effect).
    """
    conversion = photmj
    if correction is not None and correction != 1.0:
        conversion = conversion / correction
    wl = np.array(wavelength, dtype=np.float64)
    flip = np.nanargmax(wl) - np.nanargmin(wl) < 0
    view = wl[::-1] if flip else wl
    view[np.isnan(view)] = -1.0
    if np.nanargmax(waves) - np.nanargmin(waves) < 0:
        waves, relresps = waves[::-1], relresps[::-1]
    conv = np.interp(view, waves, relresps, left=np.nan, right=np.nan)
    if flip:
        conv = conv[::-1]
    out = conversion * conv
    out[np.isnan(conv)] = 0.0
    return out, wl
