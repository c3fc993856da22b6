"""calwebb_tso3 TSO outlier detection wired to exposure Datasets as a dask graph.

Each segment is processed on its own (windows never cross segments), chunk by chunk along
``integration``: a chunk's rolling medians read the neighbouring integrations they need from the
adjacent chunks, so results do not depend on the chunk size.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import dask.array as da
import numpy as np
import xarray as xr

from .. import dqflags, names
from ..errors import Tso3xInputError
from ..kernels import outliers as kern

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutlierParameters:
    """jwst ``outlier_detection`` parameters used in TSO mode, with jwst's names and defaults."""

    rolling_window_width: int = 25
    snr: float = 5.0
    maskpt: float = 0.7
    good_bits: str | int = "~DO_NOT_USE"

    @classmethod
    def from_user(cls, rolling_window_width=25, snr=5.0, maskpt=0.7, good_bits="~DO_NOT_USE"):
        """Check and normalise user values (``snr`` may be jwst's string ``"5.0 4.0"``: first value used)."""
        if isinstance(snr, str):
            try:
                values = [float(v) for v in snr.split()]
            except ValueError:
                values = []
            if not values:
                raise Tso3xInputError(None, f"snr must be one or two numbers, not {snr!r}")
            snr = values[0]
        try:
            width = int(rolling_window_width)
        except (TypeError, ValueError):
            raise Tso3xInputError(None, f"rolling_window_width must be an integer, not {rolling_window_width!r}")
        if width != rolling_window_width:
            raise Tso3xInputError(None, f"rolling_window_width must be an integer, not {rolling_window_width!r}")
        try:
            kern.bad_pixel_mask(np.zeros(1, np.uint32), good_bits)
        except (ValueError, TypeError) as exc:
            raise Tso3xInputError(None, f"good_bits {good_bits!r} is not valid ({exc})") from None
        return cls(width, float(snr), float(maskpt), good_bits)


def _segment_slices(ds: xr.Dataset) -> list[slice]:
    seg = ds[names.SEGMENT].values
    edges = np.flatnonzero(np.diff(seg)) + 1
    bounds = [0, *edges.tolist(), len(seg)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def _any_good_pixel(dq: da.Array, good_bits) -> bool:
    """Whether any pixel of the segment is good; reads DQ chunks only until one is found."""
    for block in dq.blocks:
        if not kern.bad_pixel_mask(block.compute(), good_bits).all():
            return True
    return False


def _median_chunk(sci, dq, *, block_start, starts, width, mask_bad, mask_good, good_bits):
    work = sci.astype(np.float32, copy=True)
    if mask_bad or mask_good:
        bad = kern.bad_pixel_mask(dq, good_bits)
        if mask_bad:
            work[bad] = np.nan
        if mask_good:
            work[~bad] = np.nan
    return kern.rolling_median(work, block_start, starts, width)


def _rolling_median(sci: da.Array, dq: da.Array, params: OutlierParameters, any_good: bool) -> da.Array:
    n = sci.shape[0]
    width = params.rolling_window_width
    starts = kern.window_starts(n, width)
    # jwst: weight threshold = maskpt * mean(weights > 0) = maskpt (NaN when no pixel is good)
    mask_bad = any_good and params.maskpt > 0
    mask_good = any_good and params.maskpt > 1
    pieces = []
    a = 0
    for size in sci.chunks[0]:
        chunk_starts = starts[a:a + size]
        lo, hi = int(chunk_starts.min()), int(chunk_starts.max()) + width
        pieces.append(da.map_blocks(
            _median_chunk, sci[lo:hi].rechunk({0: -1}), dq[lo:hi].rechunk({0: -1}),
            block_start=lo, starts=chunk_starts, width=width, mask_bad=mask_bad, mask_good=mask_good,
            good_bits=params.good_bits, dtype=np.float64, chunks=((size,), sci.chunks[1], sci.chunks[2]),
            meta=np.empty((0, 0, 0), np.float64)))
        a += size
    return da.concatenate(pieces, axis=0)


def _full_median(sci: da.Array) -> da.Array:
    """nanmedian over the whole segment (float32), broadcast back; computed in row tiles."""
    tiles = sci.rechunk({0: -1, 1: max(1, sci.chunks[0][0] * sci.shape[1] // sci.shape[0]), 2: -1})
    median = da.map_blocks(lambda b: np.nanmedian(b, axis=0)[None], tiles, dtype=np.float32,
                           chunks=((1,), tiles.chunks[1], tiles.chunks[2]))
    median = median.rechunk({1: -1})
    return da.broadcast_to(median, sci.shape, chunks=sci.chunks)


def _detect_segment(seg: xr.Dataset, params: OutlierParameters) -> xr.Dataset:
    sci, err, dq = (seg[v].data for v in (names.SCI, names.ERR, names.DQ))
    n = sci.shape[0]
    if 1 < params.rolling_window_width < n:
        median = _rolling_median(sci, dq, params, _any_good_pixel(dq, params.good_bits))
    else:
        median = _full_median(sci)
    outlier = da.map_blocks(kern.flag_outliers, sci, err, median, params.snr, dtype=bool)
    flagged = dq | (outlier.astype(np.uint32) * np.uint32(dqflags.DO_NOT_USE | dqflags.OUTLIER))
    floats = [v for v in names.FLOAT_CUBE_VARIABLES if v in seg]
    invalid = da.map_blocks(kern.invalid_pixels, flagged, *(seg[v].data for v in floats), dtype=bool)
    out = seg.copy()
    dims = seg[names.SCI].dims
    out[names.DQ] = (dims, flagged | (invalid.astype(np.uint32) * np.uint32(dqflags.DO_NOT_USE)))
    for var in floats:
        out[var] = (dims, da.where(invalid, np.float32(np.nan), seg[var].data))
    out[names.N_OUTLIERS] = ((names.INTEGRATION,), outlier.sum(axis=(1, 2), dtype=np.int64))
    return out


def detect_outliers(ds: xr.Dataset, rolling_window_width: int = 25, snr: float | str = 5.0,
                    maskpt: float = 0.7, good_bits: str | int = "~DO_NOT_USE") -> xr.Dataset:
    """Flag outliers along time, as calwebb_tso3's ``outlier_detection`` in ``tso`` mode.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure (or segment) Dataset from :func:`tso3x.open_segment` / :func:`tso3x.open_exposures`.
    rolling_window_width : int
        Rolling-median window in integrations; a window ≤ 1 or ≥ the integrations of a segment uses
        the median of the whole segment instead (no DQ masking there, as jwst).
    snr : float or str
        Detection threshold in units of ERR (jwst's ``"5.0 4.0"`` string accepted: first value).
    maskpt : float
        Weight-threshold fraction; with 0/1 weights, pixels with bad DQ are left out of the rolling median.
    good_bits : str or int
        DQ bits counted as good (jwst syntax, default ``"~DO_NOT_USE"``).

    Returns
    -------
    xarray.Dataset
        The same Dataset, lazily updated: SCI, ERR and VAR_* NaN and DQ DO_NOT_USE wherever any of them
        is invalid, outliers flagged DO_NOT_USE|OUTLIER in DQ, ``n_outliers`` per integration, attrs
        ``S_OUTLIR = "COMPLETE"`` and ``outlier_detection_parameters`` (JSON).
    """
    params = OutlierParameters.from_user(rolling_window_width, snr, maskpt, good_bits)
    parts = [_detect_segment(ds.isel({names.INTEGRATION: sl}), params) for sl in _segment_slices(ds)]
    out = parts[0] if len(parts) == 1 else xr.concat(
        parts, dim=names.INTEGRATION, data_vars="minimal", coords="minimal", compat="override",
        join="override", combine_attrs="override")
    for var in ds.data_vars:
        if names.INTEGRATION not in ds[var].dims:
            out[var] = ds[var]
    out.attrs = {**ds.attrs, "S_OUTLIR": "COMPLETE", "outlier_detection_parameters": json.dumps({
        "rolling_window_width": params.rolling_window_width, "snr": params.snr, "maskpt": params.maskpt,
        "good_bits": str(params.good_bits)})}
    return out
