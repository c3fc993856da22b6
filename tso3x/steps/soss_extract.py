"""jwst 3.0.0 ``extract_1d`` of NIS_SOSS exposures, box path (``soss_atoca=False``), then ``photom``.

jwst runs the extraction once per segment, so a segment's fixed quantities (the pixels masked in every
integration, the per-pixel temporal medians of SCI and ERR) come from that segment alone: they are a
reduction over the segment's integrations, computed in spatial tiles. Each chunk of integrations is then
imputed (a running median in time, which needs up to 4 integrations on either side), box-extracted per
order and converted by photom in one task.

The result is one spectra Dataset per order, laid out as :func:`tso3x.steps.extract.extract_1d`'s.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import dask.array as da
import numpy as np
import xarray as xr

from .. import dqflags, names
from ..dataset import segment_slices
from ..io.calints import SegmentMeta, segment_metas
from ..io.soss_refs import PastasossRef, SossPhotomRef
from ..kernels import soss_box, soss_photom, soss_trace

log = logging.getLogger(__name__)

COMPUTED = names.SPEC_COLUMNS[1:]
#: The quantities a chunk task returns per order, in order.
QUANTITIES = ("FLUX", "FLUX_ERROR", "NPIXELS", "BACKGROUND")
#: Columns photom multiplies by the conversion (the others it touches are 0).
CONVERTED = ("FLUX", "FLUX_ERROR", "BACKGROUND")


@dataclass(frozen=True)
class OrderSetup:
    """One order of a segment: its trace, box weights and photom conversion."""

    order: int
    wavelength: np.ndarray  #: (cutoff,) WAVELENGTH column [micron] (NaN → −1 after photom)
    weights: np.ndarray  #: (ny, nx) box weights
    conversion: np.ndarray | None  #: (cutoff,) [MJy / (DN/s)], None: not converted

    @property
    def length(self) -> int:
        return self.wavelength.size


@dataclass(frozen=True)
class SossSetup:
    """The extraction set-up of one segment (from its headers and the reference files)."""

    segment: int
    orders: tuple[OrderSetup, ...]
    background: bool


def requested_orders(subarray: str, order_3: bool, available: list[int]) -> list[int]:
    """The orders jwst extracts: 1, 2 (and 3 with ``soss_order_3`` outside SUBSTRIP96) that the PASTASOSS
    file has."""
    wanted = [1, 2, 3] if order_3 and subarray != "SUBSTRIP96" else [1, 2]
    kept = [o for o in wanted if o in available]
    if len(kept) < len(wanted) and kept:
        log.warning(
            "Some requested orders were not found in reference model. Skipping those orders "
            "and proceeding with orders %s.",
            kept,
        )
    return kept


def order_traces(pastasoss: PastasossRef, pwcpos: float, subarray: str, orders: list[int]) -> dict[int, tuple]:
    """(x, y, wavelength) on columns 0 … cutoff − 1 of each order at ``pwcpos``."""
    grid = pastasoss.grid()
    out = {}
    for order in orders:
        o = pastasoss.orders[order]
        trace = soss_trace.spectrace(
            o.trace,
            o.pivot,
            pwcpos,
            pastasoss.pwcpos_cmd,
            o.coefficients,
            o.scale_extents,
            grid,
            subarray == "SUBSTRIP96",
        )
        out[order] = soss_trace.column_trace(trace, o.cutoff)
    return out


def segment_setup(
    meta: SegmentMeta,
    shape: tuple[int, int],
    pastasoss: PastasossRef,
    photom: SossPhotomRef | None,
    *,
    width: float,
    order_3: bool,
    background: bool,
    apply_time_correction: bool = True,
) -> SossSetup:
    """A segment's set-up: traces at its PWCPOS, box weights of ``width`` rows (SUBSTRIP96 order 2: 1
    everywhere, as jwst), and photom's conversion (PHOTOM row by FILTER, PUPIL and order; time correction at
    EXPMID)."""
    header = meta.primary_header
    subarray = str(header.get("SUBARRAY", "")).upper()
    pwcpos = float(header["PWCPOS"])
    pastasoss.check_pwcpos(pwcpos, meta.path)
    orders = requested_orders(subarray, order_3, list(pastasoss.orders))
    traces = order_traces(pastasoss, pwcpos, subarray, orders)
    conversions = _conversions(photom, header, traces, apply_time_correction)
    setups = []
    for order in orders:
        x, y, wave = traces[order]
        weights = soss_box.box_weights(y, width, shape, x)
        if subarray == "SUBSTRIP96" and order == 2:
            weights = np.ones(shape)
        conv, wave = conversions.get(order, (None, wave))
        setups.append(OrderSetup(order, wave, weights, conv))
    return SossSetup(int(header.get("EXSEGNUM") or 1), tuple(setups), background)


def _conversions(photom: SossPhotomRef | None, header, traces: dict, apply_time_correction: bool) -> dict:
    """order → (conversion, WAVELENGTH after photom) for the orders photom converts (jwst stops at the first
    order without a PHOTOM row)."""
    if photom is None:
        return {}
    correction = None
    if apply_time_correction:
        correction = soss_photom.time_correction(photom.timecoeff, len(photom.table), header.get("EXPMID"))
    out = {}
    for order, (_, _, wave) in traces.items():
        row = photom.row(header.get("FILTER"), header.get("PUPIL"), order)
        if row is None:
            break
        r = photom.table[row]
        waves, relresps = soss_photom.response_curve(r["wavelength"], r["relresponse"], r["nelem"])
        corr = None if correction is None else correction[row]
        out[order] = soss_photom.conversion_1d(wave, r["photmj"], waves, relresps, corr)
    return out


def _statistics_tile(sci, err, dq):
    meddata, mederr, masked = soss_box.segment_statistics(sci, err, dq, dqflags.DO_NOT_USE, dqflags.REFERENCE_PIXEL)
    return np.stack([meddata, mederr, masked.astype(meddata.dtype)])


def segment_statistics(seg: xr.Dataset) -> da.Array:
    """(3, ny, nx) lazy: temporal median SCI, median ERR (inf where unusable) and the always-masked pixels
    (1.0) of a segment, reduced in row tiles of about a chunk's size."""
    arrays = [seg[v].data for v in (names.SCI, names.ERR, names.DQ)]
    n, ny = arrays[0].shape[:2]
    rows = max(1, arrays[0].chunks[0][0] * ny // n)
    tiles = [a.rechunk({0: -1, 1: rows, 2: -1}) for a in arrays]
    dtype = np.result_type(arrays[0].dtype, np.float32)
    return da.map_blocks(
        _statistics_tile,
        *tiles,
        dtype=dtype,
        chunks=((3,), tiles[0].chunks[1], tiles[0].chunks[2]),
        meta=np.empty((0, 0, 0), dtype),
    )


def extract_chunk(*blocks, n_pieces, first, start, nints, setup: SossSetup) -> np.ndarray:
    """Box-extract integrations ``start`` … of a segment (0-based in it) → (n, norders, 4, nx) float64
    (:data:`QUANTITIES`, photom applied).

    ``blocks``: the ``n_pieces`` SCI blocks of integrations ``first`` … (the chunk and the running median's
    neighbours), the chunk's ERR, and the segment statistics (:func:`segment_statistics`).
    """
    sci = np.concatenate(blocks[:n_pieces]) if n_pieces > 1 else blocks[0]
    err, stats = blocks[n_pieces], blocks[n_pieces + 1]
    meddata, mederr, masked = stats[0], stats[1], stats[2] > 0
    stop = start + err.shape[0]
    raw = sci[start - first : stop - first]
    data = soss_box.impute(sci, meddata, first, start, stop, nints)
    weights = [o.weights for o in setup.orders]
    out = np.zeros((err.shape[0], len(setup.orders), len(QUANTITIES), sci.shape[2]))
    for i in range(err.shape[0]):
        error = soss_box.error_with_imputed(raw[i], err[i], mederr)
        sums, col = soss_box.extract_integration(data[i], error, masked, weights, setup.background)
        for k, (flux, flux_err, npix) in enumerate(sums):
            out[i, k] = (flux, flux_err, npix, col)
    for k, o in enumerate(setup.orders):
        if o.conversion is not None:
            for q in CONVERTED:
                out[:, k, QUANTITIES.index(q), : o.length] *= o.conversion
    return out


def _extract_segment(seg: xr.Dataset, setup: SossSetup) -> da.Array:
    """(n, norders, 4, nx) lazy for one segment: one task per chunk of integrations."""
    sci, err = seg[names.SCI].data, seg[names.ERR].data
    n, _, nx = sci.shape
    stats = segment_statistics(seg).rechunk(-1)
    size = min(n, soss_box.NINTERP)
    left, right = size // 2, size - 1 - size // 2
    parts, start = [], 0
    for block, count in enumerate(err.chunks[0]):
        stop = start + count
        first = max(0, start - left)
        values = sci[first : min(n, stop + right)]
        pieces = [values.blocks[i] for i in range(values.numblocks[0])]
        parts.append(
            da.map_blocks(
                extract_chunk,
                *pieces,
                err.blocks[block],
                stats,
                n_pieces=len(pieces),
                first=first,
                start=start,
                nints=n,
                setup=setup,
                dtype=np.float64,
                chunks=((count,), (len(setup.orders),), (len(QUANTITIES),), (nx,)),
                new_axis=3,
                meta=np.empty((0, 0, 0, 0), np.float64),
            )
        )
        start = stop
    return da.concatenate(parts, axis=0)


def column_units(photom: bool) -> dict[str, str | None]:
    """Units of the columns (jwst's SOSS spectra; after photom, its MJy labels)."""
    units: dict[str, str | None] = {c: None for c in names.SPEC_COLUMNS}
    units["WAVELENGTH"] = "um"
    flux, var = ("MJy", "MJy^2") if photom else ("DN/s", None)
    for c in ("FLUX", "FLUX_ERROR", "BACKGROUND") + (("BKGD_ERROR",) if photom else ()):
        units[c] = flux
    if photom:
        for c in ("FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT"):
            units[c] = var
        for c in ("BKGD_VAR_POISSON", "BKGD_VAR_RNOISE", "BKGD_VAR_FLAT"):
            units[c] = var
    return units


def soss_extract(ds: xr.Dataset, setups: list[SossSetup]) -> list[xr.Dataset]:
    """Box-extract every integration of a NIS_SOSS exposure, one spectra Dataset per order.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure (segments concatenated), outlier-flagged or not.
    setups : list of SossSetup
        One per segment (:func:`segment_setup`).

    Returns
    -------
    list of xarray.Dataset
        Per order (1, 2[, 3]), lazy variables named as the x1dints columns (FLUX, FLUX_ERROR, BACKGROUND
        [DN/s, or MJy after photom], NPIXELS; the other columns 0, DQ 0) with dims (integration, pixel),
        coordinate ``wavelength`` [micron], the integration coordinates of ``ds``, ``N_ALONGDISP``, attrs
        ``spectra`` (per segment: SPORDER, SEGMENT, N_ALONGDISP) and the exposure's attrs.
    """
    slices = segment_slices(ds)
    blocks = [_extract_segment(ds.isel({names.INTEGRATION: sl}), s) for s, sl in zip(setups, slices, strict=True)]
    data = da.concatenate(blocks, axis=0) if len(blocks) > 1 else blocks[0]
    out = []
    for k, first in enumerate(setups[0].orders):
        out.append(_order_dataset(ds, data[:, k], [s.orders[k] for s in setups], setups, slices, first.order))
    return out


def _order_dataset(ds, data: da.Array, orders: list[OrderSetup], setups, slices, order: int) -> xr.Dataset:
    length = max(o.length for o in orders)
    dims = (names.INTEGRATION, names.PIXEL)
    chunks = (data.chunks[0], (length,))
    units = column_units(any(o.conversion is not None for o in orders))
    variables = {}
    for col in COMPUTED:
        if col in QUANTITIES:
            arr = data[:, QUANTITIES.index(col), :length]
        else:
            arr = da.zeros((data.shape[0], length), chunks=chunks, dtype=np.uint32 if col == "DQ" else np.float64)
        variables[col] = (dims, arr, {"units": units[col]} if units[col] else {})
    waves = []
    for o, sl in zip(orders, slices, strict=True):
        row = np.full(length, np.nan)
        row[: o.length] = o.wavelength
        waves.append(da.broadcast_to(row, (sl.stop - sl.start, length)))
    coords = {
        names.INTEGRATION: ds[names.INTEGRATION].values,
        **{c: ds[c] for c in ds.coords if c != names.INTEGRATION and ds[c].dims == (names.INTEGRATION,)},
        names.WAVELENGTH: (dims, da.concatenate(waves).rechunk(chunks), {"units": "um"}),
    }
    spectra = xr.Dataset(variables, coords=coords)
    spectra["N_ALONGDISP"] = (
        (names.INTEGRATION,),
        np.concatenate(
            [np.full(sl.stop - sl.start, o.length, np.uint32) for o, sl in zip(orders, slices, strict=True)]
        ),
    )
    keywords = [
        {"SPORDER": order, "SEGMENT": s.segment, "N_ALONGDISP": o.length} for s, o in zip(setups, orders, strict=True)
    ]
    spectra.attrs = {
        **{k: v for k, v in ds.attrs.items() if k != "outlier_detection_parameters"},
        "spectra": json.dumps(keywords),
    }
    return spectra


def setups_for(ds: xr.Dataset, pastasoss: PastasossRef, photom: SossPhotomRef | None, **kwargs) -> list[SossSetup]:
    """:func:`segment_setup` of every segment of an exposure Dataset."""
    shape = (ds.sizes[names.Y], ds.sizes[names.X])
    return [segment_setup(m, shape, pastasoss, photom, **kwargs) for m in segment_metas(ds)]
