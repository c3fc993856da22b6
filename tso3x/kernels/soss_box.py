"""NIRISS SOSS box extraction on arrays (jwst 3.0.0 ``soss_extract``, ``soss_boxextract``, ``soss_syscor``).

Images are (y, x) and stacks of integrations (n, y, x), fluxes in DN/s. A segment's fixed quantities
(:func:`segment_statistics`) come from all its integrations; :func:`impute` and :func:`extract_block` then
work on chunks of integrations.
"""

from __future__ import annotations

import numpy as np

#: Running-median length in time for the imputation of NaN pixels [integrations] (jwst ``ninterp``).
NINTERP = 9
#: Trace width jwst's background mask assumes [pixel] (fixed, not ``soss_width``).
BACKGROUND_TRACE_WIDTH = 40


def box_weights(centroid: np.ndarray, width: float, shape: tuple[int, int], cols: np.ndarray) -> np.ndarray:
    """Weights of a box of ``width`` rows centred on ``centroid`` (jwst ``get_box_weights``).

    Parameters
    ----------
    centroid : ndarray (len(cols),)
        Trace row of each column [pixel].
    width : float
        Box width [pixel].
    shape : (int, int)
        (ny, nx) of the image.
    cols : ndarray of int
        Columns the centroid is given for; other columns get weight 0.

    Returns
    -------
    ndarray (ny, nx) float64
        1 inside the box, the overlap fraction at its ends, 0 elsewhere.
    """
    rows = np.indices((shape[0], len(cols)))[0]
    half = width / 2
    weights = ((rows <= centroid - 0.5 + half) & (centroid + 0.5 - half <= rows)).astype(float)
    upper = (centroid - 0.5 + half < rows) & (rows < centroid + 0.5 + half)
    weights[upper] = (centroid + half - (rows - 0.5))[upper]
    lower = (rows < centroid + 0.5 - half) & (centroid - 0.5 - half < rows)
    weights[lower] = (rows + 0.5 - (centroid - half))[lower]
    out = np.zeros(shape, dtype=float)
    out[:, cols] = weights
    return out


def segment_statistics(sci: np.ndarray, err: np.ndarray, dq: np.ndarray, do_not_use: int, reference_pixel: int):
    """A segment's fixed quantities for the box path, from all its integrations (one spatial tile or more).

    Parameters
    ----------
    sci, err : ndarray (n, ny, nx)
        The segment's SCI and ERR [DN/s] (float32 as read).
    dq : ndarray (n, ny, nx) uint32
    do_not_use, reference_pixel : int
        DQ bits.

    Returns
    -------
    meddata : ndarray (ny, nx)
        Per-pixel temporal nanmedian of SCI, 0 where no integration has both SCI and ERR finite.
    mederr : ndarray (ny, nx)
        Per-pixel temporal nanmedian of ERR, inf where no integration has both finite and at reference
        pixels (REFERENCE_PIXEL in the first integration).
    masked : ndarray (ny, nx) bool
        Pixels masked in every integration: DO_NOT_USE in all integrations, or a non-finite ``mederr``
        (jwst's first, typical-integration pass adds those to its shared mask).
    """
    allbad = np.sum(np.isfinite(err) & np.isfinite(sci), axis=0) == 0
    mederr, meddata = _nanmedian(err), _nanmedian(sci)
    refmask = (dq[0] & reference_pixel) != 0
    mederr[allbad] = np.inf
    mederr[refmask] = np.inf
    meddata[allbad] = 0
    masked = np.all(dq & do_not_use != 0, axis=0) | ~np.isfinite(mederr)
    return meddata, mederr, masked


#: :func:`pixel_codes` bits.
REFERENCE_CODE, ALL_DO_NOT_USE_CODE = 1, 2


def pixel_codes(dq: np.ndarray, do_not_use: int, reference_pixel: int) -> np.ndarray:
    """(ny, nx) uint8: :data:`REFERENCE_CODE` where the first integration's DQ has REFERENCE_PIXEL,
    :data:`ALL_DO_NOT_USE_CODE` where every integration's has DO_NOT_USE."""
    codes = np.where((dq[0] & reference_pixel) != 0, REFERENCE_CODE, 0)
    codes |= np.where(np.all(dq & do_not_use != 0, axis=0), ALL_DO_NOT_USE_CODE, 0)
    return codes.astype(np.uint8)


def reference_mask(codes: np.ndarray, mederr: np.ndarray) -> np.ndarray:
    """The reference pixels jwst's ATOCA keeps out of its trace masks (``refmask`` after its first,
    typical-integration pass): all of them, unless some pixel of non-finite median error is not DO_NOT_USE in
    every integration, in which case the non-finite ones are released (``_validate_masks``)."""
    refmask = (codes & REFERENCE_CODE) != 0
    bad = ~np.isfinite(mederr)
    if (bad & ((codes & ALL_DO_NOT_USE_CODE) == 0)).any():
        refmask &= ~bad
    return refmask


def _nanmedian(cube: np.ndarray) -> np.ndarray:
    """numpy's nanmedian along axis 0 (NaN where all are NaN), bit for bit, by one sort (NaN sort last)
    instead of numpy's masked-array median, which is several times slower; and without its warning (which
    ``warnings.catch_warnings`` cannot silence safely in threads).

    As numpy: the mean of the two middle finite-or-infinite values, summed in the input's dtype then halved
    (the middle one, doubled and halved, for an odd count)."""
    ordered = np.sort(cube, axis=0)
    counts = cube.shape[0] - np.count_nonzero(np.isnan(cube), axis=0)
    high = counts // 2
    low = np.where(counts % 2 == 1, high, np.maximum(high - 1, 0))
    lows = np.take_along_axis(ordered, low[None], axis=0)[0]
    highs = np.take_along_axis(ordered, np.minimum(high, cube.shape[0] - 1)[None], axis=0)[0]
    with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as numpy's
        out = np.true_divide(lows + highs, 2.0, dtype=cube.dtype)
    out[counts == 0] = np.nan
    return out


def impute(sci: np.ndarray, meddata: np.ndarray, first: int, start: int, stop: int, nints: int) -> np.ndarray:
    """Replace NaN (non-finite) SCI of integrations ``start`` … ``stop − 1`` of a segment (jwst
    ``_infill_data_get_mederr``): the running median in time (``min(nints, 9)`` integrations, reflected at
    the segment's ends) of the data with every non-finite value replaced by the pixel's temporal median.

    Parameters
    ----------
    sci : ndarray (m, ny, nx)
        Integrations ``first`` … ``first + m − 1`` of the segment (0-based in the segment), covering the
        running-median windows of ``start`` … ``stop − 1``.
    meddata : ndarray (ny, nx)
        From :func:`segment_statistics`.
    nints : int
        Integrations in the segment.

    Returns
    -------
    ndarray (stop − start, ny, nx), dtype of ``sci``
    """
    out = sci[start - first : stop - first].copy()
    bad = ~np.isfinite(out)
    if not bad.any():
        return out
    size = min(nints, NINTERP)
    t, yy, xx = np.nonzero(bad)
    window = (t + start)[:, None] + (np.arange(size) - size // 2)[None, :]
    window = np.where(window < 0, -window - 1, window)
    window = np.where(window >= nints, 2 * nints - window - 1, window)
    values = sci[window - first, yy[:, None], xx[:, None]]
    values = np.where(np.isfinite(values), values, meddata[yy, xx][:, None])
    out[t, yy, xx] = np.partition(values, size // 2, axis=1)[:, size // 2]
    return out


def error_with_imputed(sci: np.ndarray, err: np.ndarray, mederr: np.ndarray) -> np.ndarray:
    """ERR as float64, with 10 × ``mederr`` where SCI or ERR is not finite (jwst's per-integration error)."""
    out = err.astype(np.float64)
    bad = ~np.isfinite(sci) | ~np.isfinite(out)
    out[bad] = np.broadcast_to(mederr * 10, out.shape)[bad]
    return out


def background_mask(image: np.ndarray, width: int = BACKGROUND_TRACE_WIDTH) -> np.ndarray:
    """Pixels of the trace(s), above the brightness percentile that leaves 1 (SUBSTRIP96) or 2 orders'
    worth of rows (jwst ``make_background_mask``), or non-finite."""
    nrows = image.shape[0]
    if nrows == 96:
        quantile = 100 * (1 - width / nrows)
    elif nrows in (256, 2048):
        quantile = 100 * (1 - 2 * width / nrows)
    else:
        raise ValueError(f"Unexpected image dimensions, expected nrows = 96, 256 or 2048, got nrows = {nrows}.")
    threshold = np.nanpercentile(image, quantile)
    with np.errstate(invalid="ignore"):
        return (image > threshold) | ~np.isfinite(image)


def column_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-column 3σ-clipped mean (iterated to convergence) of the unmasked pixels, 0 for a column with none
    (jwst ``soss_background``)."""
    from astropy.stats import SigmaClip

    clipped = SigmaClip(sigma=3, maxiters=None, cenfunc="mean")(np.ma.array(image, mask=mask), axis=0)
    col = clipped.mean(axis=0)
    return np.where(np.all(clipped.mask, axis=0), 0.0, col)


def box_sums(data: np.ndarray, err: np.ndarray, mask: np.ndarray, weights: np.ndarray):
    """Box sums of a stack of images (jwst ``box_extract`` on each).

    Parameters
    ----------
    data, err : ndarray (n, ny, nx)
        Data and errors [DN/s].
    mask : ndarray (n, ny, nx) bool
        Masked pixels (weight 0).
    weights : ndarray (ny, nx)
        Box weights.

    Returns
    -------
    flux, flux_error, npixels : ndarray (n, nx) float64
        Σ w·d, sqrt(Σ w·σ²) and Σ w over the unmasked pixels of the box; flux and error NaN where Σ w = 0.
    """
    # only the rows the box touches: the others add NaN, which nansum skips (same sums, same order)
    rows = np.flatnonzero(np.any(weights > 0, axis=1))
    rows = slice(rows[0], rows[-1] + 1) if rows.size else slice(0, 0)
    weights, data, err, mask = weights[rows], data[..., rows, :], err[..., rows, :], mask[..., rows, :]
    region = weights > 0
    w = np.where(mask, 0.0, weights)
    d = np.where(region, data, np.nan)
    e = np.where(region, err, np.nan)
    with np.errstate(invalid="ignore"):
        flux = np.nansum(w * d, axis=-2)
        npix = np.nansum(w, axis=-2)
        flux_err = np.sqrt(np.nansum(w * e**2, axis=-2))
    good = npix > 0
    return np.where(good, flux, np.nan), np.where(good, flux_err, np.nan), npix


def extract_integration(data: np.ndarray, err: np.ndarray, masked: np.ndarray, weights: list, background: bool):
    """One integration's box extraction (jwst ``Integration`` without a model).

    Parameters
    ----------
    data : ndarray (ny, nx)
        Imputed SCI [DN/s].
    err : ndarray (ny, nx) float64
        From :func:`error_with_imputed`.
    masked : ndarray (ny, nx) bool
        The segment's mask (:func:`segment_statistics`).
    weights : list of ndarray (ny, nx)
        Box weights of each order.
    background : bool
        Subtract the per-column background.

    Returns
    -------
    list of (flux, flux_error, npixels) per order, and the background (nx,) [DN/s]
    """
    mask = masked | ~(err > 0)
    if background:
        col = column_background(data, mask | background_mask(data))
        data = data - col
    else:
        col = np.zeros(data.shape[1])
    return [box_sums(data, err, mask, w) for w in weights], col
