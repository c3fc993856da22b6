"""jwst 3.0.0 ``extract_1d`` of NIS_SOSS exposures (ATOCA decontamination or the box path), then ``photom``.

jwst runs the extraction once per segment, so a segment's fixed quantities come from that segment alone:
the pixels masked in every integration and the per-pixel temporal medians of SCI and ERR are a reduction over
the segment's integrations in spatial tiles; with ATOCA, the sum of the imputed integrations (for jwst's
typical integration: their mean plus seed-42 noise) is folded chunk after chunk. One task per segment then
builds the ATOCA model (:func:`segment_model`: the joint fit of orders 1 and 2 on the wavelength grid, its
Tikhonov factor, the factorisation of its normal matrix, and on SUBSTRIP256 the separate fits of order 2's
blue end and order 3). Each chunk of integrations is imputed (a running median in time, which needs up to 4
integrations on either side), modelled, decontaminated, box-extracted per order and converted by photom in
one task.

The result is one spectra Dataset per order, laid out as :func:`tso3x.steps.extract.extract_1d`'s.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .. import dqflags, names
from ..dataset import segment_slices
from ..io.calints import SegmentMeta, segment_metas
from ..io.soss_refs import PastasossRef, SossPhotomRef, SpecKernelRef, SpecProfileRef
from ..kernels import atoca_estimate, atoca_grid, atoca_kernel, soss_atoca, soss_box, soss_photom, soss_trace

log = logging.getLogger(__name__)

COMPUTED = names.SPEC_COLUMNS[1:]
#: jwst's default ``order2_separation_cutoff`` [micron] (PASTASOSS files without one).
ORDER2_SEPARATION_CUTOFF = (0.77, 0.95)
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
class AtocaSetup:
    """What a segment's ATOCA model needs besides the data: per extracted order its wavelength map, spatial
    profile, throughput and line spread, and the ``soss_*`` parameters."""

    wave_maps: tuple  #: (ny, nx) [micron], NaN off the order
    profiles: tuple  #: (ny, nx) SPECPROFILE
    throughputs: tuple  #: soss_atoca.Throughput
    line_spreads: tuple  #: atoca_kernel.LineSpread
    grid: np.ndarray | None  #: soss_wave_grid_in or the adaptive grid [micron] (None: made from the data)
    tikfac: float | None  #: soss_tikfac (None: searched)
    threshold: float
    bad_pix: str  #: soss_bad_pix
    estimate: tuple | None = None  #: soss_estimate (wavelength [micron], flux)
    wave_traces: tuple = ()  #: per order: trace wavelength of each column [micron]
    singles: tuple = ()  #: (order index, cutoff [micron] or None) fitted separately (SUBSTRIP256: 2 blue, 3)
    grid_params: tuple = (0.77, 1e-4, 20000, 2)  #: blue cutoff [micron], soss_rtol, max_grid_size, n_os
    spectra: bool = False  #: also bin each order's ATOCA spectrum (``soss_modelname``'s AtocaSpectra)

    @property
    def needs_typical(self) -> bool:
        """Whether the segment model needs the typical integration (a Tikhonov factor to search, or the flux
        estimate to make from order 1)."""
        return self.tikfac is None or bool(self.singles) or self.grid is None


@dataclass(frozen=True)
class SossSetup:
    """The extraction set-up of one segment (from its headers and the reference files)."""

    segment: int
    orders: tuple[OrderSetup, ...]
    background: bool
    atoca: AtocaSetup | None = None


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


def spectraces(pastasoss: PastasossRef, pwcpos: float, subarray: str, orders: list[int]) -> dict[int, np.ndarray]:
    """(3, n) trace x, y [pixel], wavelength [micron] on the PASTASOSS wavelength grid of each order at
    ``pwcpos``."""
    grid = pastasoss.grid()
    out = {}
    for order in orders:
        o = pastasoss.orders[order]
        out[order] = soss_trace.spectrace(
            o.trace,
            o.pivot,
            pwcpos,
            pastasoss.pwcpos_cmd,
            o.coefficients,
            o.scale_extents,
            grid,
            subarray == "SUBSTRIP96",
        )
    return out


def order_traces(pastasoss: PastasossRef, pwcpos: float, subarray: str, orders: list[int]) -> dict[int, tuple]:
    """(x, y, wavelength) on columns 0 … cutoff − 1 of each order at ``pwcpos``."""
    traces = spectraces(pastasoss, pwcpos, subarray, orders)
    return {order: soss_trace.column_trace(t, pastasoss.orders[order].cutoff) for order, t in traces.items()}


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
    atoca: dict | None = None,
) -> SossSetup:
    """A segment's set-up: traces at its PWCPOS, box weights of ``width`` rows (SUBSTRIP96 order 2: 1
    everywhere, as jwst), and photom's conversion (PHOTOM row by FILTER, PUPIL and order; time correction at
    EXPMID). ``atoca``: the keywords of :func:`atoca_setup` but the traces (None: box extraction)."""
    header = meta.primary_header
    subarray = str(header.get("SUBARRAY", "")).upper()
    pwcpos = float(header["PWCPOS"])
    pastasoss.check_pwcpos(pwcpos, meta.path)
    orders = requested_orders(subarray, order_3, list(pastasoss.orders))
    raw_traces = spectraces(pastasoss, pwcpos, subarray, orders)
    traces = {o: soss_trace.column_trace(t, pastasoss.orders[o].cutoff) for o, t in raw_traces.items()}
    conversions = _conversions(photom, header, traces, apply_time_correction)
    setups = []
    for order in orders:
        x, y, wave = traces[order]
        weights = soss_box.box_weights(y, width, shape, x)
        if subarray == "SUBSTRIP96" and order == 2:
            weights = np.ones(shape)
        conv, wave = conversions.get(order, (None, wave))
        setups.append(OrderSetup(order, wave, weights, conv))
    model = None
    if atoca is not None:
        model = atoca_setup(pastasoss, raw_traces, traces, subarray, shape, **atoca)
    return SossSetup(int(header.get("EXSEGNUM") or 1), tuple(setups), background, model)


def atoca_setup(
    pastasoss: PastasossRef,
    raw_traces: dict,
    traces: dict,
    subarray: str,
    shape: tuple[int, int],
    *,
    specprofile: SpecProfileRef,
    speckernel: SpecKernelRef,
    grid: np.ndarray | None,
    tikfac: float | None,
    threshold: float,
    bad_pix: str,
    estimate: tuple | None = None,
    n_os: int = 2,
    rtol: float = 1e-4,
    max_grid_size: int = 20000,
    spectra: bool = False,
) -> AtocaSetup:
    """Per extracted order: wavelength map, profile (trimmed as jwst ``get_ref_file_args`` when one is larger
    than the other), throughput spline and line spread along the trace; the adaptive wavelength grid from
    the flux ``estimate`` when no ``grid`` is given."""
    m = pastasoss.wavemap
    ymin, dimx, dimy = int(m["subarray_ymin"]), int(m["soss_xdim"]), int(m["soss_ydim"])
    nrows = 96 if subarray == "SUBSTRIP96" else dimx - ymin
    n_pix = 2 * speckernel.halfwidth + 1
    maps, profiles, thrus, spreads = [], [], [], []
    for order, raw in raw_traces.items():
        wave_map = soss_trace.wave_map(raw, dimx, dimy, ymin, nrows)
        index = list(pastasoss.orders).index(order)
        profile = _trim_to(specprofile.profiles[index], wave_map)
        wave_map = _trim_to(wave_map, profile)
        wave_c = np.zeros(wave_map.shape[1])
        x, _, wave = traces[order]
        wave_c[x] = wave
        wave_c[~np.isfinite(wave_c)] = 0.0
        thru = pastasoss.orders[order].throughput
        maps.append(wave_map)
        profiles.append(profile)
        thrus.append(soss_atoca.Throughput.from_table(*thru))
        spreads.append(atoca_kernel.line_spread(speckernel.wavelengths, speckernel.kernels, wave_c, n_pix))
    cutoffs = pastasoss.order2_separation_cutoff or ORDER2_SEPARATION_CUTOFF
    grid_params = (cutoffs[0], rtol, max_grid_size, n_os)
    if grid is None and estimate is not None:
        spline = soss_atoca.estimate_spline(*estimate)
        grid = atoca_grid.decontamination_grid(traces[1][2], traces[2][2], spline, *grid_params)
        log.info("wave_grid covering from %s to %s with %d points", grid.min(), grid.max(), grid.size)
    orders = list(raw_traces)
    singles = ()
    if subarray != "SUBSTRIP96":
        singles = tuple((k, cutoffs[1] if order == 2 else None) for k, order in enumerate(orders) if order != 1)
    return AtocaSetup(
        tuple(maps),
        tuple(profiles),
        tuple(thrus),
        tuple(spreads),
        grid,
        tikfac,
        threshold,
        bad_pix,
        estimate,
        tuple(traces[o][2] for o in orders),
        singles,
        grid_params,
        spectra,
    )


def _trim_to(image: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``image`` with the (equal) padding beyond ``other``'s shape removed on each axis."""
    for axis in (0, 1):
        pad = (image.shape[axis] - other.shape[axis]) // 2
        if pad > 0:
            image = image[pad:-pad, :] if axis == 0 else image[:, pad:-pad]
    return image


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
    codes = soss_box.pixel_codes(dq, dqflags.DO_NOT_USE, dqflags.REFERENCE_PIXEL)
    return np.stack([meddata, mederr, masked.astype(meddata.dtype), codes.astype(meddata.dtype)])


def segment_statistics(seg: xr.Dataset) -> da.Array:
    """(4, ny, nx) lazy: temporal median SCI, median ERR (inf where unusable), the always-masked pixels
    (1.0) and :func:`~tso3x.kernels.soss_box.pixel_codes` of a segment, reduced in row tiles of about a
    chunk's size."""
    arrays = [seg[v].data for v in (names.SCI, names.ERR, names.DQ)]
    n, ny = arrays[0].shape[:2]
    rows = max(1, arrays[0].chunks[0][0] * ny // n)
    tiles = [a.rechunk({0: -1, 1: rows, 2: -1}) for a in arrays]
    dtype = np.result_type(arrays[0].dtype, np.float32)
    return da.map_blocks(
        _statistics_tile,
        *tiles,
        dtype=dtype,
        chunks=((4,), tiles[0].chunks[1], tiles[0].chunks[2]),
        meta=np.empty((0, 0, 0), dtype),
    )


def _chunk_inputs(blocks: tuple, n_pieces: int, first: int, start: int, nints: int) -> tuple:
    """A chunk task's arrays: (raw SCI, imputed SCI, ERR, median ERR, always-masked pixels) of integrations
    ``start`` … (``blocks`` as :func:`extract_chunk`'s)."""
    sci = np.concatenate(blocks[:n_pieces]) if n_pieces > 1 else blocks[0]
    err, stats = blocks[n_pieces], blocks[n_pieces + 1]
    meddata, mederr, masked = stats[0], stats[1], stats[2] > 0
    stop = start + err.shape[0]
    raw = sci[start - first : stop - first]
    return raw, soss_box.impute(sci, meddata, first, start, stop, nints), err, mederr, masked


def extract_chunk(*blocks, n_pieces, first, start, nints, setup: SossSetup) -> np.ndarray:
    """Box-extract integrations ``start`` … of a segment (0-based in it) → (n, norders, 4, nx) float64
    (:data:`QUANTITIES`, photom applied).

    ``blocks``: the ``n_pieces`` SCI blocks of integrations ``first`` … (the chunk and the running median's
    neighbours), the chunk's ERR, and the segment statistics (:func:`segment_statistics`).
    """
    raw, data, err, mederr, masked = _chunk_inputs(blocks, n_pieces, first, start, nints)
    weights = [o.weights for o in setup.orders]
    out = np.zeros((err.shape[0], len(setup.orders), len(QUANTITIES), data.shape[2]))
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


def segment_model(stats: np.ndarray, total: np.ndarray | None, nints: int, setup: SossSetup) -> soss_atoca.JointModel:
    """A segment's fixed ATOCA model from its statistics (:func:`segment_statistics`) and the sum of its
    imputed integrations (:func:`imputed_total`, for the Tikhonov search), as jwst's first pass over the
    typical integration builds it: the fit masks the always-masked pixels and those whose median error is not
    positive, and weighs every pixel by the median error."""
    a = setup.atoca
    mederr, masked = stats[1], stats[2] > 0
    scimask = masked | ~(mederr > 0)
    refmask = soss_box.reference_mask(stats[3].astype(np.uint8), mederr)
    box_masks = [~(o.weights > 0) | refmask for o in setup.orders]
    typical, estimate = None, None
    if a.needs_typical:
        typical = soss_atoca.typical_integration(total, nints, mederr)
        if setup.background:
            typical = typical - soss_box.column_background(typical, scimask | soss_box.background_mask(typical))
    profiles, grid = list(a.profiles), a.grid
    if a.estimate is not None:
        estimate = soss_atoca.estimate_spline(*a.estimate)
    elif a.tikfac is None or grid is None:
        log.info("Estimating the target flux based on order 1 low-contamination pixels.")
        estimate = atoca_estimate.first_order_estimate(
            a.wave_maps[0], profiles[0], a.throughputs[0], box_masks[0], profiles[1], scimask, typical, mederr
        )
        profiles[0] = atoca_estimate.clean_profile(a.wave_maps[0], profiles[0])[0]
    if grid is None:
        grid = atoca_grid.decontamination_grid(a.wave_traces[0], a.wave_traces[1], estimate, *a.grid_params)
        log.info("wave_grid covering from %s to %s with %d points", grid.min(), grid.max(), grid.size)
    return soss_atoca.joint_model(
        list(a.wave_maps),
        profiles,
        list(a.throughputs),
        list(a.line_spreads),
        grid,
        box_masks,
        scimask,
        mederr,
        a.tikfac,
        a.threshold,
        typical,
        estimate,
        list(a.wave_traces),
        a.singles,
        a.spectra,
    )


def imputed_total(total, *blocks, n_pieces, first, start, stop, nints, stats) -> np.ndarray:
    """``total`` (None: nothing yet) plus the imputed SCI of integrations ``start`` … ``stop − 1`` (``blocks``:
    the SCI blocks of integrations ``first`` … covering their running-median windows)."""
    sci = np.concatenate(blocks) if n_pieces > 1 else blocks[0]
    data = soss_box.impute(sci, stats[0], first, start, stop, nints)
    return soss_atoca.accumulate(total, data)


def extract_chunk_atoca(
    *blocks, n_pieces, first, start, nints, setup: SossSetup, model, bad_pix: str, model_out=None, row: int = 0
):
    """ATOCA-decontaminated box extraction of integrations ``start`` … of a segment → (n, norders, 4, nx)
    float64 (:data:`QUANTITIES`, photom applied); ``blocks`` as :func:`extract_chunk`'s, ``model`` the
    segment's :func:`segment_model`, ``bad_pix`` its ``soss_bad_pix``.

    With ``model_out`` (``soss_modelname``: a :class:`tso3x.io.soss_model.ModelTarget`), the trace models
    (NaN → 0, float32) are also written into its ``ORDER<N>`` planes from ``row`` (the plane of integration
    ``start``), and the result is (spectra, extras): extras ``{"sums": [(HDU, partial DATASUM)], "spectra":
    [(integration index in the segment, order, wavelength, flux)]}`` (the ATOCA spectra jwst saves)."""
    raw, data, err, mederr, masked = _chunk_inputs(blocks, n_pieces, first, start, nints)
    errors = np.stack([soss_box.error_with_imputed(raw[i], err[i], mederr) for i in range(err.shape[0])])
    masks = masked[None] | ~(errors > 0)
    cols = np.zeros((err.shape[0], data.shape[2]))
    if setup.background:
        for i in range(err.shape[0]):
            cols[i] = soss_box.column_background(data[i], masks[i] | soss_box.background_mask(data[i]))
        data = data - cols[:, None, :]
    if model_out is None:
        models = model.trace_models(data, errors, masks)
    else:
        models, atoca = model.trace_models(data, errors, masks, spectra=True)
        extras = {"sums": [], "spectra": []}
        for k, m in enumerate(models):
            planes = np.where(np.isfinite(m), m, 0.0).astype(np.float32)
            extras["sums"].append(model_out.write(f"ORDER{setup.orders[k].order}", row, planes))
        for i, listed in enumerate(atoca):
            extras["spectra"] += [(start + i, order, wave, flux) for order, wave, flux in listed]
    out = np.zeros((err.shape[0], len(setup.orders), len(QUANTITIES), data.shape[2]))
    for k, o in enumerate(setup.orders):
        decont = soss_atoca.decontaminate(data, models, k)
        d, e, m = decont, errors, masks
        if bad_pix == "model" and k < len(models):
            d, e, m = soss_atoca.replace_bad_pixels(decont, errors, masks, models[k], o.weights)
        flux, flux_err, npix = soss_box.box_sums(d, e, m, o.weights)
        out[:, k] = np.stack([flux, flux_err, npix, cols], axis=1)
        if o.conversion is not None:
            for q in CONVERTED:
                out[:, k, QUANTITIES.index(q), : o.length] *= o.conversion
    return out if model_out is None else (out, extras)


def _windows(n: int, chunks: tuple):
    """(start, stop, first, last) of each chunk of integrations: the chunk and the integrations
    ``first`` … ``last − 1`` its running medians need."""
    size = min(n, soss_box.NINTERP)
    left, right = size // 2, size - 1 - size // 2
    start = 0
    for count in chunks:
        stop = start + count
        yield start, stop, max(0, start - left), min(n, stop + right)
        start = stop


def _imputed_total(sci: da.Array, chunks: tuple, stats: da.Array):
    """Delayed sum of a segment's imputed integrations, folded chunk after chunk in integration order."""
    n = sci.shape[0]
    total = None
    for start, stop, first, last in _windows(n, chunks):
        values = sci[first:last]
        pieces = [values.blocks[i] for i in range(values.numblocks[0])]
        total = dask.delayed(imputed_total, pure=True)(
            total, *pieces, n_pieces=len(pieces), first=first, start=start, stop=stop, nints=n, stats=stats
        )
    return total


def lazy_model(seg: xr.Dataset, setup: SossSetup):
    """The delayed :func:`segment_model` of one segment (None without ATOCA): one task after the segment's
    reductions (statistics, and the imputed sum when the Tikhonov factor is searched)."""
    if setup.atoca is None:
        return None
    sci = seg[names.SCI].data
    stats = segment_statistics(seg).rechunk(-1)
    total = _imputed_total(sci, seg[names.ERR].data.chunks[0], stats) if setup.atoca.needs_typical else None
    return dask.delayed(segment_model, pure=True)(stats, total, sci.shape[0], setup)


def segment_models(ds: xr.Dataset, setups: list[SossSetup]) -> list:
    """:func:`lazy_model` of every segment of an exposure."""
    return [lazy_model(ds.isel({names.INTEGRATION: sl}), s) for s, sl in zip(setups, segment_slices(ds), strict=True)]


def _extract_segment(seg: xr.Dataset, setup: SossSetup, model=None, model_out=None, row: int = 0, extras=None):
    """(n, norders, 4, nx) lazy for one segment: one task per chunk of integrations (after the segment's
    ATOCA ``model``, delayed or persisted, when there is one; made here if not given). With ``model_out``
    (ATOCA only), the tasks also write the trace models from plane ``row`` on and their extras (delayed) are
    appended to ``extras``."""
    sci, err = seg[names.SCI].data, seg[names.ERR].data
    n, _, nx = sci.shape
    stats = segment_statistics(seg).rechunk(-1)
    if model is None and setup.atoca is not None:
        model = lazy_model(seg, setup)
    parts = []
    for block, (start, stop, first, last) in enumerate(_windows(n, err.chunks[0])):
        values = sci[first:last]
        pieces = [values.blocks[i] for i in range(values.numblocks[0])]
        kwargs = {"n_pieces": len(pieces), "first": first, "start": start, "nints": n, "setup": setup}
        if model is not None:
            # the chunk tasks need the box weights and photom, not the ATOCA reference arrays
            kwargs["setup"] = dataclasses.replace(setup, atoca=None)
            if model_out is not None:
                kwargs.update(model_out=model_out, row=row + start)
            task = dask.delayed(extract_chunk_atoca, pure=True, nout=2 if model_out is not None else None)(
                *pieces, err.blocks[block], stats, model=model, bad_pix=setup.atoca.bad_pix, **kwargs
            )
            if model_out is not None:
                extras.append(_shift_spectra(task[1], segment_first(seg)))
                task = task[0]
            parts.append(da.from_delayed(task, (stop - start, len(setup.orders), len(QUANTITIES), nx), np.float64))
            continue
        parts.append(
            da.map_blocks(
                extract_chunk,
                *pieces,
                err.blocks[block],
                stats,
                **kwargs,
                dtype=np.float64,
                chunks=((stop - start,), (len(setup.orders),), (len(QUANTITIES),), (nx,)),
                new_axis=3,
                meta=np.empty((0, 0, 0, 0), np.float64),
            )
        )
    return da.concatenate(parts, axis=0)


def segment_first(seg: xr.Dataset) -> int:
    """The integration number of a segment's first integration."""
    return int(seg[names.INTEGRATION].values[0])


@dask.delayed(pure=True)
def _shift_spectra(extras: dict, first: int) -> dict:
    """A chunk's extras with its spectra's integration index in the segment made an integration number."""
    return {"sums": extras["sums"], "spectra": [(first + i, *rest) for i, *rest in extras["spectra"]]}


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


def soss_extract(
    ds: xr.Dataset, setups: list[SossSetup], models: list | None = None, model_out=None, row: int = 0, extras=None
) -> list[xr.Dataset]:
    """Box-extract every integration of a NIS_SOSS exposure, one spectra Dataset per order.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure (segments concatenated), outlier-flagged or not.
    setups : list of SossSetup
        One per segment (:func:`segment_setup`).
    models : list, optional
        The ATOCA models of the segments (:func:`segment_models`, e.g. persisted); made here if not given.
    model_out : tso3x.io.soss_model.ModelTarget, optional
        ``soss_modelname`` with ATOCA: the extraction tasks write their trace models into its ``ORDER<N>``
        planes, the exposure's first integration at plane ``row``, and append their delayed extras
        (:func:`extract_chunk_atoca`; spectra by integration number) to the list ``extras``.

    Returns
    -------
    list of xarray.Dataset
        Per order (1, 2[, 3]), lazy variables named as the x1dints columns (FLUX, FLUX_ERROR, BACKGROUND
        [DN/s, or MJy after photom], NPIXELS; the other columns 0, DQ 0) with dims (integration, pixel),
        coordinate ``wavelength`` [micron], the integration coordinates of ``ds``, ``N_ALONGDISP``, attrs
        ``spectra`` (per segment: SPORDER, SEGMENT, N_ALONGDISP) and the exposure's attrs.
    """
    slices = segment_slices(ds)
    models = models or [None] * len(setups)
    blocks = [
        _extract_segment(ds.isel({names.INTEGRATION: sl}), s, m, model_out, row + sl.start, extras)
        for s, sl, m in zip(setups, slices, models, strict=True)
    ]
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
