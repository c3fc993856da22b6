"""jwst 3.0.0 ``white_light``: the integrated flux of every extracted spectrum versus time."""

from __future__ import annotations

import json
import logging

import dask.array as da
import numpy as np
import xarray as xr

from .. import names
from ..config import WhiteLight
from ..dataset import segment_slices
from ..execution import compute
from ..io.x1dints import ordered_segments
from ..kernels.white_light import duplicate_times, flux_sums

log = logging.getLogger(__name__)

#: Table meta keys (jwst ``_make_empty_output_table``) → Dataset attrs they come from.
META_KEYS = {
    "instrument": "INSTRUME",
    "exp_type": "EXP_TYPE",
    "subarray": "SUBARRAY",
    "filter": "FILTER",
    "pupil": "PUPIL",
    "target_name": "TARGNAME",
}
TIME = "time"  #: row dimension of the light curve


def lazy_wavelength(spectra: xr.Dataset) -> da.Array:
    """The (integration, pixel) ``wavelength`` of spectra as a dask array built from one row per segment
    (constant within a segment), so graphs do not carry the whole array."""
    wave = spectra[names.WAVELENGTH]
    rows = [np.asarray(wave[sl.start].values) for sl in segment_slices(spectra)]
    parts = [
        da.broadcast_to(row, (sl.stop - sl.start, row.size))
        for row, sl in zip(rows, segment_slices(spectra), strict=True)
    ]
    return da.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]


def lazy_sums(spectra: list[xr.Dataset], min_wavelength=None, max_wavelength=None, asn=None) -> tuple[list, list]:
    """The white-light inputs of every segment spectrum, with the flux sums as lazy dask arrays.

    Returns
    -------
    entries : list of tuple
        (detector, order, mid MJD UTC, mid BJD TDB, FLUX unit) per segment, in product order.
    sums : list of dask.array.Array
        Per segment, the (n,) flux sums; compute them (alongside anything else) and pass them to
        :func:`assemble`.
    """
    lo, hi = WhiteLight(min_wavelength=min_wavelength, max_wavelength=max_wavelength).range()
    entries, sums = [], []
    for ds, keywords, sl in ordered_segments(spectra, asn):
        seg = ds.isel({names.INTEGRATION: sl})
        flux = da.asarray(seg["FLUX"].data).rechunk({1: -1})
        wave = lazy_wavelength(seg).rechunk(flux.chunks)
        sums.append(da.map_blocks(flux_sums, flux, wave, lo, hi, drop_axis=1, dtype=np.float64))
        entries.append(
            (
                keywords.get("DETECTOR"),
                keywords.get("SPORDER"),
                np.array(seg["mjd_utc_mid"].values, dtype=np.float64),
                np.asarray(seg["bjd_tdb_mid"].values, dtype=np.float64),
                seg["FLUX"].attrs.get("units"),
            )
        )
    return entries, sums


def white_light(
    spectra: list[xr.Dataset] | xr.Dataset,
    min_wavelength: float | None = None,
    max_wavelength: float | None = None,
    asn=None,
) -> xr.Dataset:
    """White-light curve of extracted spectra, as jwst ``white_light`` on the x1dints product.

    Parameters
    ----------
    spectra : xarray.Dataset or list of them
        :func:`tso3x.extract_1d` outputs (one per exposure and detector).
    min_wavelength, max_wavelength : float, optional
        Inclusive wavelength range summed [micron]; the full range by default.
    asn : Association, optional
        Orders segments as the association does (jwst's order of spectra).

    Returns
    -------
    xarray.Dataset
        Variables named as the ``_whtlt.ecsv`` columns in order (``MJD_UTC[_DET]``, ``BJD_TDB[_DET]``,
        ``whitelight_flux[_order_N][_DET]`` with the FLUX unit in attrs), dimension ``time``; attrs ``meta``
        (JSON, the table meta in jwst's order) and ``columns`` (JSON list of the column order).
    """
    if isinstance(spectra, xr.Dataset):
        spectra = [spectra]
    entries, sums = lazy_sums(spectra, min_wavelength, max_wavelength, asn)
    return assemble(entries, list(compute(*sums, label="white_light")), spectra[0].attrs)


def assemble(entries: list, sums: list[np.ndarray], attrs: dict) -> xr.Dataset:
    """The white-light Dataset from :func:`lazy_sums`' entries, the computed sums and the exposure attrs."""
    flux_unit = entries[0][4]
    detectors, orders = [], []
    mids, tdbs, sums_kept, det_list, order_list = [], [], [], [], []
    ignored = False
    for (det, order, mjd, tdb, _), flux_sum in zip(entries, sums, strict=True):
        if order not in orders:
            orders.append(order)
        if det not in detectors:
            detectors.append(det)
        mjd[duplicate_times(mjd)] = np.nan
        good = ~np.isnan(mjd)
        sums_kept.append(np.where(good, flux_sum, 0.0))
        mids.append(mjd)
        tdbs.append(tdb)
        det_list += [det] * len(mjd)
        order_list += [order] * len(mjd)
        problems = int(np.sum(~good))
        if problems:
            log.warning(
                "There were %d spectra in order %s with no mid time or duplicate mid time (%s percent of spectra). ",
                problems,
                order,
                100.0 * problems / len(mjd),
            )
            ignored = True
    if ignored:  # once, after the counts of every detector and order
        log.warning("These spectra will be ignored in the output table.")
    mid, tdb, flux_sum = np.concatenate(mids), np.concatenate(tdbs), np.concatenate(sums_kept)
    good = ~np.isnan(mid)
    mid, tdb, flux_sum = mid[good], tdb[good], flux_sum[good]
    det_arr, order_arr = np.array(det_list, dtype=object)[good], np.array(order_list, dtype=object)[good]
    times = {}
    for det in detectors:
        this = det_arr == det
        utimes, idx = np.unique(mid[this], return_index=True)
        times[det] = (utimes, tdb[this][idx])
    rows = max((t[0].size for t in times.values()), default=0)
    data, columns = {}, []
    for det in detectors:
        suffix = f"_{det}" if len(detectors) > 1 or str(det).upper() in ("NRS1", "NRS2") else ""
        mjd_col, bjd_col = np.full(rows, np.nan), np.full(rows, np.nan)
        mjd_col[: times[det][0].size] = times[det][0]
        bjd_col[: times[det][1].size] = times[det][1]
        data[f"MJD_UTC{suffix}"] = ((TIME,), mjd_col)
        data[f"BJD_TDB{suffix}"] = ((TIME,), bjd_col)
        columns += [f"MJD_UTC{suffix}", f"BJD_TDB{suffix}"]
        for order in orders:
            this = (order_arr == order) & (det_arr == det)
            fluxes = np.full(rows, np.nan)
            fluxes[np.isin(mjd_col, mid[this])] = flux_sum[this]
            name = "whitelight_flux" + (f"_order_{order}" if len(orders) > 1 else "") + suffix
            data[name] = ((TIME,), fluxes, {"units": flux_unit} if flux_unit else {})
            columns.append(name)
    meta = {key: attrs.get(attr) for key, attr in META_KEYS.items()}
    return xr.Dataset(data, attrs={"meta": json.dumps(meta), "columns": json.dumps(columns)})
