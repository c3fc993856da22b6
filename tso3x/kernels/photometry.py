"""Aperture photometry of jwst's TSO photometry (``tso_aperture_photometry``) on a block of integrations.

The aperture geometry — exact pixel-overlap weights of the circular aperture and annulus, and the
pixel-centre masks — comes from photutils (``CircularAperture``/``CircularAnnulus.to_mask``). The sums
reproduce photutils ``ApertureStats`` (``sum_method='exact'``, no mask, no sigma clipping) for all
integrations at once: non-finite data are left out; ``sum = Σ w·d``, ``sum_err = sqrt(Σ w·σ²)`` (w, not
w², with σ² squared in float32 as photutils does), ``area = Σ w`` over finite pixels, and NaN area when
every pixel-centre pixel of the aperture is non-finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from photutils.aperture import CircularAnnulus, CircularAperture

#: Columns of :func:`aperture_sums` (the last axis of its result).
SUM_COLUMNS = ("aperture_sum", "aperture_sum_err", "aperture_area", "annulus_sum", "annulus_sum_err", "annulus_area")


@dataclass(frozen=True)
class Footprint:
    """One aperture placed on the frame: where it overlaps and with which weights."""

    large: tuple[slice, slice] | None  #: slices of the frame (None: no overlap)
    exact: np.ndarray | None  #: exact overlap weights on those pixels
    centre: np.ndarray | None  #: pixel-centre (0/1) weights on those pixels


def _footprint(aperture, shape: tuple[int, int]) -> Footprint:
    exact = aperture.to_mask(method="exact")
    centre = aperture.to_mask(method="center")
    large, small = centre.get_overlap_slices(shape)
    if large is None:
        return Footprint(None, None, None)
    return Footprint(large, exact.data[small], centre.data[small])


def footprints(
    x: float, y: float, shape: tuple[int, int], radius: float, radius_inner: float, radius_outer: float
) -> tuple[Footprint, Footprint]:
    """The circular aperture and background annulus centred on ``(x, y)`` [pix, 0-based]."""
    aperture = CircularAperture((x, y), r=radius)
    annulus = CircularAnnulus((x, y), r_in=radius_inner, r_out=radius_outer)
    return _footprint(aperture, shape), _footprint(annulus, shape)


def _stats(sci: np.ndarray, err: np.ndarray, fp: Footprint) -> np.ndarray:
    """(n, 3): sum, sum_err, area of one footprint for every frame of the block."""
    n = sci.shape[0]
    out = np.full((n, 3), np.nan)
    if fp.large is None:
        return out
    data = sci[(slice(None), *fp.large)].astype(np.float64)
    finite = np.isfinite(data)
    valid = finite & (fp.exact > 0)
    any_valid = valid.any(axis=(1, 2))
    total = np.where(valid, data * fp.exact, 0.0).sum(axis=(1, 2))
    variance = err[(slice(None), *fp.large)] ** 2  # float32, as photutils squares the error array
    var_sum = np.where(valid, variance * fp.exact, 0.0).sum(axis=(1, 2))
    area = (fp.exact * finite).sum(axis=(1, 2))
    all_masked = ~(finite & (fp.centre > 0)).any(axis=(1, 2))
    out[:, 0] = np.where(any_valid, total, np.nan)
    out[:, 1] = np.where(any_valid, np.sqrt(var_sum), np.nan)
    out[:, 2] = np.where(all_masked, np.nan, area)
    return out


def aperture_sums(
    sci: np.ndarray,
    err: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    radius: float,
    radius_inner: float,
    radius_outer: float,
) -> np.ndarray:
    """Aperture and annulus sums, errors and areas of every integration of a block.

    Parameters
    ----------
    sci, err : ndarray of float32, shape (n, ny, nx)
        Data and errors in (converted) data units.
    x, y : ndarray of float64, shape (n,)
        Aperture centres [pix, 0-based]; NaN gives a NaN row. Runs of equal centres share one footprint.
    radius, radius_inner, radius_outer : float
        Aperture radius and annulus radii [pix].

    Returns
    -------
    ndarray of float64, shape (n, 6)
        Columns :data:`SUM_COLUMNS`: sums and errors in data units, areas in pix².
    """
    n = sci.shape[0]
    out = np.full((n, len(SUM_COLUMNS)), np.nan)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and x[stop] == x[start] and y[stop] == y[start]:
            stop += 1
        if np.isfinite(x[start]) and np.isfinite(y[start]):
            aper, ann = footprints(float(x[start]), float(y[start]), sci.shape[1:], radius, radius_inner, radius_outer)
            block = slice(start, stop)
            out[block, :3] = _stats(sci[block], err[block], aper)
            out[block, 3:] = _stats(sci[block], err[block], ann)
        start = stop
    return out


def subarray_sums(sci: np.ndarray, err: np.ndarray) -> np.ndarray:
    """SUB64P + WLP8: ``nansum`` of each frame and ``sqrt(nansum(err²))``, float32 as jwst.

    Parameters
    ----------
    sci, err : ndarray of float32, shape (n, ny, nx)

    Returns
    -------
    ndarray of float32, shape (n, 2)
    """
    out = np.empty((sci.shape[0], 2), dtype=np.result_type(sci.dtype, err.dtype))
    for i in range(sci.shape[0]):  # one frame at a time: numpy's summation order, bit for bit
        out[i, 0] = np.nansum(sci[i])
        out[i, 1] = np.sqrt(np.nansum(err[i] ** 2))
    return out
