"""calwebb_tso3 TSO outlier detection wired to exposure Datasets as a dask graph.

Each segment is processed on its own (windows never cross segments), chunk by chunk along
``integration``: a chunk's rolling medians read the neighbouring integrations they need from the
adjacent chunks, so results do not depend on the chunk size.
"""

from __future__ import annotations

import json
import logging

import dask.array as da
import numpy as np
import xarray as xr

from .. import jit, names
from ..config import OutlierDetection
from ..dataset import concat_integrations, segment_slices
from ..kernels import outliers as kern

log = logging.getLogger(__name__)


def _any_good_pixel(dq: da.Array, good_bits) -> bool:
    """Whether any pixel of the segment is good; reads DQ chunks only until one is found."""
    for block in dq.blocks:
        if not kern.bad_pixel_mask(block.compute(), good_bits).all():
            return True
    return False


def _median_chunk(*pieces, n_pieces, block_start, starts, width, bits, kernels):
    """Rolling medians of one chunk from the pieces of SCI (then DQ) that its windows span."""
    values, dqs = pieces[:n_pieces], pieces[n_pieces:]
    work = np.empty((sum(len(v) for v in values), *values[0].shape[1:]), np.float32)
    row = 0
    for value, dq in zip(values, dqs, strict=True):
        kern.masked_copy(value, dq, bits, work[row : row + len(value)], kernels=kernels)
        row += len(value)
    return kern.rolling_median(work, block_start, starts, width, kernels=kernels)


def _rolling_median(sci: da.Array, dq: da.Array, params: OutlierDetection, any_good: bool, kernels: str) -> da.Array:
    n = sci.shape[0]
    width = params.rolling_window_width
    # jwst: weight threshold = maskpt * mean(non-zero weights) = maskpt (NaN when no pixel is good);
    # pixels with weight below it are left out (NaN) of the median
    if any_good and params.maskpt > 1:
        return da.full(sci.shape, np.nan, dtype=np.float32, chunks=sci.chunks)
    bits = kern.bad_bits(params.good_bits) if any_good and params.maskpt > 0 else 0
    starts = kern.window_starts(n, width)
    pieces = []
    a = 0
    for size in sci.chunks[0]:
        chunk_starts = starts[a : a + size]
        lo, hi = int(chunk_starts.min()), int(chunk_starts.max()) + width
        values, flags = sci[lo:hi], dq[lo:hi]
        blocks = [values.blocks[i] for i in range(values.numblocks[0])]
        blocks += [flags.blocks[i] for i in range(flags.numblocks[0])]
        pieces.append(
            da.map_blocks(
                _median_chunk,
                *blocks,
                n_pieces=values.numblocks[0],
                block_start=lo,
                starts=chunk_starts,
                width=width,
                bits=bits,
                kernels=kernels,
                dtype=np.float32,
                chunks=((size,), sci.chunks[1], sci.chunks[2]),
                meta=np.empty((0, 0, 0), np.float32),
            )
        )
        a += size
    return da.concatenate(pieces, axis=0)


def _nanmedian_tile(tile: np.ndarray) -> np.ndarray:
    """stcal ``nanmedian3D`` of one spatial tile (float32); all-NaN pixels give NaN (without numpy's
    warning, which ``warnings.catch_warnings`` cannot silence safely in dask's threads)."""
    out = np.full((1, *tile.shape[1:]), np.nan, dtype=tile.dtype)
    usable = ~np.all(np.isnan(tile), axis=0)
    out[0][usable] = np.nanmedian(tile[:, usable], axis=0)
    return out


def _full_median(sci: da.Array) -> da.Array:
    """nanmedian over the whole segment (float32), broadcast back; computed in row tiles."""
    tiles = sci.rechunk({0: -1, 1: max(1, sci.chunks[0][0] * sci.shape[1] // sci.shape[0]), 2: -1})
    median = da.map_blocks(_nanmedian_tile, tiles, dtype=np.float32, chunks=((1,), tiles.chunks[1], tiles.chunks[2]))
    median = median.rechunk({1: -1})
    return da.broadcast_to(median, sci.shape, chunks=sci.chunks)


def _detect_segment(seg: xr.Dataset, params: OutlierDetection, kernels: str) -> xr.Dataset:
    sci, err, dq = (seg[v].data for v in (names.SCI, names.ERR, names.DQ))
    # jwst's rolling median is float64 (difference in float64); its full median float32
    wide = 1 < params.rolling_window_width < sci.shape[0]
    if wide:
        median = _rolling_median(sci, dq, params, _any_good_pixel(dq, params.good_bits), kernels)
    else:
        median = _full_median(sci)
    floats = [v for v in names.FLOAT_CUBE_VARIABLES if v in seg]
    flagged = da.map_blocks(
        kern.flag_outliers_dq,
        sci,
        err,
        dq,
        median,
        params.snr,
        *(seg[v].data for v in floats if v not in (names.SCI, names.ERR)),
        wide=wide,
        kernels=kernels,
        dtype=np.uint32,
        meta=np.empty((0, 0, 0), np.uint32),  # no trial call on empty arrays (it would load numba in the client)
    )
    out = seg.copy()
    dims = seg[names.SCI].dims
    out[names.DQ] = (dims, flagged)
    for var in floats:
        values = da.map_blocks(
            kern.nan_where_unusable,
            seg[var].data,
            flagged,
            kernels=kernels,
            dtype=np.float32,
            meta=np.empty((0, 0, 0), np.float32),
        )
        out[var] = (dims, values)
    # (m, 1, 1) blocks: dropping axes in map_blocks would copy every input block
    counts = da.map_blocks(
        lambda *a: kern.count_outliers(*a, wide=wide, kernels=kernels)[:, None, None],
        sci,
        err,
        median,
        params.snr,
        dtype=np.int64,
        chunks=(sci.chunks[0], (1,), (1,)),
        meta=np.empty((0, 0, 0), np.int64),
    )
    out[names.N_OUTLIERS] = ((names.INTEGRATION,), counts[:, 0, 0])
    return out


def detect_outliers(
    ds: xr.Dataset, params: OutlierDetection | None = None, *, kernels: str | None = None, **parameters
) -> xr.Dataset:
    """Flag outliers along time, as calwebb_tso3's ``outlier_detection`` in ``tso`` mode.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure (or segment) Dataset from :func:`tso3x.open_segment` / :func:`tso3x.open_exposures`.
    params : tso3x.config.OutlierDetection, optional
        Checked parameters; or give them as keywords (jwst's names and defaults):
    **parameters
        ``rolling_window_width`` (int): rolling-median window in integrations; a window <= 1 or >= the
        integrations of a segment uses the median of the whole segment instead (no DQ masking there, as
        jwst). ``snr`` (float or jwst's ``"5.0 4.0"`` string, first value): threshold in units of ERR.
        ``maskpt`` (float): weight-threshold fraction; with 0/1 weights, pixels with bad DQ are left out of
        the rolling median. ``good_bits`` (str or int): DQ bits counted as good (``"~DO_NOT_USE"``).
    kernels : {"numba", "numpy"}, optional
        Compiled kernels or their numpy twins (bit-identical results); default :func:`tso3x.jit.choose`.

    Returns
    -------
    xarray.Dataset
        The same Dataset, lazily updated: SCI, ERR and VAR_* NaN and DQ DO_NOT_USE wherever any of them
        is invalid, outliers flagged DO_NOT_USE|OUTLIER in DQ, ``n_outliers`` per integration, attrs
        ``S_OUTLIR = "COMPLETE"`` and ``outlier_detection_parameters`` (JSON).
    """
    if params is None:
        params = OutlierDetection.from_user(**parameters)
    kernels = jit.check(kernels or jit.choose())
    parts = [_detect_segment(ds.isel({names.INTEGRATION: sl}), params, kernels) for sl in segment_slices(ds)]
    out = concat_integrations(parts)
    out.attrs = {
        **ds.attrs,
        "S_OUTLIR": "COMPLETE",
        "outlier_detection_parameters": json.dumps(params.jwst_parameters()),
    }
    return out
