"""Results API: the products of a run as one integration-indexed ``xarray.Dataset``, light curves, normalisation.

:func:`open_products` opens an output folder (jwst's or tso3x's ``_x1dints.fits`` + ``_whtlt.ecsv``, or
``_phot.ecsv``, plus ``_speclc.ecsv`` when written) or a tso3x zarr store, and returns the same layout either way:

- dimension ``integration`` (absolute 1-based integration number: the x1dints' INT_NUM; ECSV rows are
  mapped to it by matching their MJD UTC to the INT_TIMES mid times of the x1dints or crfints);
- time coordinates (days) ``mjd_utc_start/mid/end`` (MJD UTC) and ``bjd_tdb_start/mid/end`` (BJD TDB −
  2400000.5, as the JWST products hold it), and ``segment``;
- spectroscopy: the x1dints vector columns (``FLUX``, ``FLUX_ERROR``, ``DQ``, …) as lazy ``(integration,
  pixel)`` arrays with coordinate ``wavelength`` [micron] (``(pixel,)`` when every segment has the same
  grid, else ``(integration, pixel)``); ``whitelight_flux`` (the whtlt column; NaN for an integration the
  whtlt leaves out) and ``whitelight_flux_error``: **jwst's whtlt has no error column, so it is computed as
  the square root of the sum of FLUX_ERROR² over the pixels the white light sums** (finite FLUX,
  ``min_wavelength <= wavelength <= max_wavelength`` as given to the run); binned light curves
  ``binned_flux``/``binned_flux_error`` ``(integration, wavelength_bin)`` when a speclc was written;
- imaging: the ``_phot.ecsv`` columns (``aperture_sum``, ``net_aperture_sum``, ``centroid_x``, …);
- ``n_outliers`` (zarr store only);
- units in every variable's ``units`` attr; attrs ``product_kind`` (``"spectroscopy"``/``"imaging"``),
  ``detectors`` (spectroscopy) and ``product``.

Several detectors (NRS1 + NRS2) get their spectra, ``pixel`` dimension, ``wavelength`` and white light
suffixed ``_<DET>`` (as in the zarr store). Several spectral orders (NIS_SOSS) get them per order, suffixed
``_order_<N>`` as jwst's whtlt names ``whitelight_flux_order_1`` (``FLUX_order_1 (integration, pixel_order_1)``,
``wavelength_order_1``, ``whitelight_flux_order_1``, ``binned_flux_order_1``, …), and attr ``orders``.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import dask.array as da
import numpy as np
import xarray as xr

from . import names, product_names
from .io import product_read

log = logging.getLogger(__name__)

__all__ = [
    "Normalized",
    "baseline_flux",
    "light_curve",
    "normalize",
    "normalize_checked",
    "open_products",
    "outlier_summary",
]

SPECTROSCOPY, IMAGING = "spectroscopy", "imaging"
TIME_ATTRS = {
    "mjd_utc": {"units": "d", "long_name": "MJD UTC"},
    "bjd_tdb": {"units": "d", "long_name": "BJD TDB - 2400000.5"},
}
SUFFIXES = {k: v for k, v in product_names.SUFFIXES.items() if k != "manifest"}


def _time_attrs(coord: str) -> dict:
    kind = "mjd_utc" if coord.startswith("mjd_utc") else "bjd_tdb"
    part = coord.rsplit("_", 1)[-1]
    return {**TIME_ATTRS[kind], "long_name": f"{TIME_ATTRS[kind]['long_name']} ({part} of integration)"}


def _is_store(path: Path) -> bool:
    return path.is_dir() and any((path / f).exists() for f in (".zmetadata", ".zgroup", "zarr.json"))


def _product_names(folder: Path) -> dict[str, dict[str, Path]]:
    """product name → {kind: path} of the products in a folder."""
    found: dict[str, dict[str, Path]] = {}
    for path in folder.iterdir():
        for kind, suffix in SUFFIXES.items():
            if path.name.endswith(suffix):
                found.setdefault(path.name[: -len(suffix)], {})[kind] = path
    return found


def _choose(folder: Path, product: str | None) -> tuple[str, dict[str, Path]]:
    found = {k: v for k, v in _product_names(folder).items() if {"x1dints", "phot", "whtlt"} & set(v)}
    if product is not None:
        if product not in found:
            raise FileNotFoundError(f"{folder}: no products named {product!r} (found: {sorted(found)})")
        return product, found[product]
    if len(found) != 1:
        what = "no calwebb_tso3 products" if not found else f"several products {sorted(found)}; pass product="
        raise FileNotFoundError(f"{folder}: {what}")
    return next(iter(found.items()))


def open_products(
    path: str | os.PathLike,
    *,
    product: str | None = None,
    min_wavelength: float | None = None,
    max_wavelength: float | None = None,
) -> xr.Dataset:
    """The products of a run as one integration-indexed Dataset (lazy where the data are large).

    Parameters
    ----------
    path : path
        An output folder of ``tso3x run`` or jwst's calwebb_tso3, one product file in it, or a zarr store
        written with ``--zarr``.
    product : str, optional
        Product name (``<product>_x1dints.fits``) when the folder holds several.
    min_wavelength, max_wavelength : float, optional
        The white-light range the products were made with [micron] (the whtlt does not record it; default:
        every wavelength, as the run's default); sets the pixels of ``whitelight_flux_error``.

    Returns
    -------
    xarray.Dataset
        See the module documentation for its layout.

    Raises
    ------
    FileNotFoundError
        No products (or several, without ``product``) at ``path``.
    """
    path = Path(path)
    if _is_store(path):
        return _open_store(path, min_wavelength, max_wavelength)
    if path.is_file():
        for suffix in SUFFIXES.values():
            if path.name.endswith(suffix):
                product, path = path.name[: -len(suffix)], path.parent
                break
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not a folder of products, a product file or a zarr store")
    name, files = _choose(path, product)
    if "x1dints" in files or "whtlt" in files:
        ds = _open_spectroscopy(files, min_wavelength, max_wavelength)
    else:
        ds = _open_imaging(path, files["phot"])
    return ds.assign_attrs(product=name)


# --- spectroscopy -------------------------------------------------------------------------------------------


def _detector_suffix(detectors: list[str], det: str) -> str:
    return f"_{det}" if len(detectors) > 1 else ""


def _spectra_of_detector(path: Path, tables: list[product_read.SpecTable], suffix: str) -> xr.Dataset:
    """Every row of one detector's EXTRACT1D tables, sorted by INT_NUM, as a lazy Dataset."""
    ints = np.concatenate([t.small["INT_NUM"] for t in tables]).astype(np.int64)
    order = np.argsort(ints, kind="stable")
    npix = max(t.npixel for t in tables)
    first = tables[0]
    data = {}
    for col in first.vector_dtypes:
        blocks = []
        for t in tables:
            block = product_read.lazy_column(path, t, col)
            if t.npixel < npix:  # tables of one detector share their length in jwst; pad if not
                fill = da.full((t.nrows, npix - t.npixel), np.nan if block.dtype.kind == "f" else 0, dtype=block.dtype)
                block = da.concatenate([block, fill], axis=1)
            blocks.append(block)
        arr = da.concatenate(blocks, axis=0)
        if not np.array_equal(order, np.arange(order.size)):
            arr = arr[order]
        attrs = {"units": first.units.get(col, "")} if first.units.get(col) else {}
        data[col] = ((names.INTEGRATION, names.PIXEL), arr, attrs)
    wave = data.pop("WAVELENGTH")
    coords = {names.INTEGRATION: ints[order]}
    segs = [t.small.get("SEGMENT") for t in tables]
    if all(s is not None for s in segs):
        coords[names.SEGMENT] = ((names.INTEGRATION,), np.concatenate(segs).astype(np.int64)[order])
    for col, coord in product_read.TIME_COLUMNS.items():
        if all(col in t.small for t in tables):
            values = np.concatenate([t.small[col] for t in tables]).astype(np.float64)[order]
            coords[coord] = ((names.INTEGRATION,), values, _time_attrs(coord))
    if all("N_ALONGDISP" in t.small for t in tables):
        nalong = np.concatenate([t.small["N_ALONGDISP"] for t in tables])[order]
        data["N_ALONGDISP"] = ((names.INTEGRATION,), nalong.astype(np.int64))
    # one wavelength grid per table (constant over its rows in jwst's box extraction): (pixel,) if all agree
    firsts = [
        np.asarray(product_read.TableColumn(str(path), t, "WAVELENGTH", (t.nrows, t.npixel), np.float64)[0:1])[0]
        for t in tables
        if t.nrows
    ]
    same = all(g.shape == firsts[0].shape and np.array_equal(g, firsts[0], equal_nan=True) for g in firsts)
    if same and firsts and firsts[0].size == npix:
        coords[names.WAVELENGTH] = ((names.PIXEL,), firsts[0], {"units": "micron"})
    else:
        coords[names.WAVELENGTH] = (wave[0], wave[1], {"units": "micron"})
    ds = xr.Dataset(data, coords=coords)
    if suffix:
        from .io.zarr_store import suffix_detector

        ds = suffix_detector(ds, suffix[1:])
    return ds


def _white_light_sums(ds: xr.Dataset, suffix: str, lo: float | None, hi: float | None, variable: str) -> xr.DataArray:
    """Lazy per-integration sum of FLUX (``variable="FLUX"``) or of FLUX_ERROR² over the white-light pixels."""
    flux = ds[f"FLUX{suffix}"]
    wave = ds[f"{names.WAVELENGTH}{suffix}"]
    lo = -np.inf if lo is None else float(lo)
    hi = np.inf if hi is None else float(hi)
    use = (wave >= lo) & (wave <= hi) & np.isfinite(flux)
    if variable == "FLUX":
        return flux.where(use).sum(flux.dims[1], skipna=True)
    err = ds[f"FLUX_ERROR{suffix}"]
    return (err**2).where(use & np.isfinite(err)).sum(flux.dims[1], skipna=True)


def _int_time_coords(ds: xr.Dataset, times: dict[str, np.ndarray] | None) -> xr.Dataset:
    """Add (or replace) the INT_TIMES time coordinates of the Dataset's integrations."""
    if times is None:
        return ds
    idx = {int(n): k for k, n in enumerate(times[names.INTEGRATION])}
    rows = np.array([idx.get(int(n), -1) for n in ds[names.INTEGRATION].values])
    if (rows < 0).any():
        return ds
    coords = {
        coord: ((names.INTEGRATION,), times[coord][rows], _time_attrs(coord))
        for coord in names.INT_TIMES_COORDS.values()
    }
    return ds.assign_coords(coords)


def _whtlt_column(table, candidates: list[tuple[str, str]]) -> tuple[str, str, str] | None:
    """(MJD column, flux column, unit) of the first (MJD suffix, flux suffix) pair a whtlt table has, or None."""
    for mjd_sfx, flux_sfx in candidates:
        mcol, fcol = f"MJD_UTC{mjd_sfx}", f"{names.WHITELIGHT_FLUX}{flux_sfx}"
        if mcol in table.colnames and fcol in table.colnames:
            return mcol, fcol, str(getattr(table[fcol], "unit", "") or "")
    return None


def _spectra_groups(tables: list[product_read.SpecTable]) -> tuple[list, list[str], list[int]]:
    """The sets of spectra of an x1dints: (suffix, its tables, the whtlt column candidates, label) per spectral
    order when it has several (NIS_SOSS), else per detector; and the detectors and orders."""
    detectors = list(dict.fromkeys(t.detector for t in tables))
    orders = sorted({int(t.order) for t in tables if t.order is not None})
    if len(orders) > 1:
        groups = [
            (names.order_suffix(o), [t for t in tables if t.order == o], [("", names.order_suffix(o))], f"order {o}")
            for o in orders
        ]
        return groups, detectors, orders
    groups = []
    for det in detectors:
        sfx = _detector_suffix(detectors, det)
        groups.append((sfx, [t for t in tables if t.detector == det], [(f"_{det}",) * 2, ("", "")], det))
    return groups, detectors, []


def _open_spectroscopy(files: dict[str, Path], lo: float | None, hi: float | None) -> xr.Dataset:
    from astropy.table import Table

    if "x1dints" not in files:
        raise FileNotFoundError(f"{files['whtlt']}: no x1dints next to the whtlt")
    x1d = files["x1dints"]
    groups, detectors, orders = _spectra_groups(product_read.spec_tables(x1d))
    parts = [_spectra_of_detector(x1d, tables, sfx) for sfx, tables, _, _ in groups]
    ds = xr.merge(parts, join="outer", compat="no_conflicts") if len(parts) > 1 else parts[0]
    ds = _int_time_coords(ds, product_read.int_times(x1d))
    whtlt = Table.read(files["whtlt"], format="ascii.ecsv") if "whtlt" in files else None
    mjd = ds["mjd_utc_mid"].values if "mjd_utc_mid" in ds.coords else None
    for sfx, _, candidates, label in groups:
        unit = ds[f"FLUX{sfx}"].attrs.get("units", "")
        column = _whtlt_column(whtlt, candidates) if whtlt is not None else None
        if column is not None and mjd is not None:
            mcol, fcol, unit = column
            flux = np.full(ds.sizes[names.INTEGRATION], np.nan)
            times = np.asarray(whtlt[mcol], dtype=np.float64)
            values = np.asarray(whtlt[fcol], dtype=np.float64)
            where = product_read.match_times(mjd, times)
            flux[where >= 0] = values[where[where >= 0]]
            white = xr.DataArray(flux, dims=(names.INTEGRATION,))
            source = f"{files['whtlt'].name} column {fcol}"
        else:
            white = _white_light_sums(ds, sfx, lo, hi, "FLUX")
            source = f"sum of FLUX over the white-light range (no whtlt column for {label})"
        ds[f"{names.WHITELIGHT_FLUX}{sfx}"] = white.assign_attrs(
            units=unit, long_name="white-light flux", source=source
        )
        err = np.sqrt(_white_light_sums(ds, sfx, lo, hi, "FLUX_ERROR"))
        ds[f"{names.WHITELIGHT_FLUX_ERROR}{sfx}"] = err.assign_attrs(
            units=unit,
            long_name="white-light flux error",
            description="sqrt of the sum of FLUX_ERROR^2 over the white-light pixels (jwst's whtlt has no error)",
        )
    if "speclc" in files:
        from .io.speclc import read_speclc

        binned = read_speclc(files["speclc"])
        ds = ds.merge(binned.drop_vars(["mjd_utc_mid", "bjd_tdb_mid"]), join="left", combine_attrs="override")
    attrs = {"product_kind": SPECTROSCOPY, "detectors": detectors, "x1dints": str(x1d)}
    if orders:
        attrs[names.ORDERS] = orders
    return ds.assign_attrs(attrs)


# --- imaging ------------------------------------------------------------------------------------------------


def _crfints_times(folder: Path) -> dict[str, np.ndarray] | None:
    files = sorted(folder.glob("*" + product_names.CRFINTS_SUFFIX))
    return product_read.merge_int_times([product_read.int_times(p) for p in files])


def _open_imaging(folder: Path, phot: Path) -> xr.Dataset:
    from astropy.table import Table

    table = Table.read(phot, format="ascii.ecsv")
    n = len(table)
    times = _crfints_times(folder)
    mjd = np.asarray(table[names.MJD], dtype=np.float64)
    ints = np.arange(1, n + 1)
    if times is not None:
        where = product_read.match_times(mjd, times["mjd_utc_mid"])
        if (where >= 0).all():
            ints = times[names.INTEGRATION][where]
        else:
            log.warning("%s: MJD of %d rows not in the crfints' INT_TIMES; rows numbered 1..%d", phot, n, n)
            times = None
    else:
        log.warning("%s: no crfints INT_TIMES in the folder; rows numbered 1..%d", phot, n)
    data = {}
    for col in table.colnames:
        if col in (names.MJD, names.BJD_TDB):
            continue
        unit = getattr(table[col], "unit", None)
        data[col] = ((names.INTEGRATION,), np.asarray(table[col]), {"units": str(unit)} if unit else {})
    coords = {
        names.INTEGRATION: ints,
        "mjd_utc_mid": ((names.INTEGRATION,), mjd, _time_attrs("mjd_utc_mid")),
        "bjd_tdb_mid": (
            (names.INTEGRATION,),
            np.asarray(table[names.BJD_TDB], dtype=np.float64),
            _time_attrs("bjd_tdb_mid"),
        ),
    }
    ds = xr.Dataset(data, coords=coords)
    ds = _int_time_coords(ds, times)
    meta = {k: v for k, v in table.meta.items() if isinstance(v, (str, int, float))}
    return ds.assign_attrs(product_kind=IMAGING, phot=str(phot), **meta)


# --- zarr store ---------------------------------------------------------------------------------------------


def _open_store(path: Path, lo: float | None, hi: float | None) -> xr.Dataset:
    ds = xr.open_zarr(path)
    for coord in names.INT_TIMES_COORDS.values():
        if coord in ds.coords:
            ds[coord].attrs.update(_time_attrs(coord))
    if names.MJD in ds.data_vars:  # imaging: the catalog's time columns become the mid-time coordinates
        ds = ds.set_coords([names.MJD, names.BJD_TDB]).rename({names.MJD: "mjd_utc_mid", names.BJD_TDB: "bjd_tdb_mid"})
        for coord in ("mjd_utc_mid", "bjd_tdb_mid"):
            ds[coord].attrs.update(_time_attrs(coord))
        return ds.assign_attrs(product_kind=IMAGING, store=str(path))
    orders = [int(o) for o in np.atleast_1d(ds.attrs.get(names.ORDERS, []))]
    if len(orders) > 1:
        detectors = [str(ds.attrs.get("DETECTOR", ""))]
        suffixes = [names.order_suffix(o) for o in orders]
    elif "FLUX" in ds.data_vars:
        detectors = [str(ds.attrs.get("DETECTOR", ""))]
        suffixes = [""]
    else:
        suffixes = sorted(v[4:] for v in ds.data_vars if v.startswith("FLUX_") and f"FLUX_ERROR{v[4:]}" in ds.data_vars)
        detectors = [s[1:] for s in suffixes]
    for sfx in suffixes:
        wave = ds[f"{names.WAVELENGTH}{sfx}"]
        grid = wave.isel({names.INTEGRATION: 0}).values
        row_equal = (wave == grid) | (np.isnan(wave) & np.isnan(grid))
        if bool(row_equal.all().compute()):
            ds = ds.assign_coords({f"{names.WAVELENGTH}{sfx}": ((wave.dims[1],), grid, {"units": "micron"})})
        else:
            ds[f"{names.WAVELENGTH}{sfx}"].attrs["units"] = "micron"
        unit = ds[f"FLUX{sfx}"].attrs.get("units", "")
        ds[f"{names.WHITELIGHT_FLUX}{sfx}"].attrs.update(units=unit, long_name="white-light flux")
        err = np.sqrt(_white_light_sums(ds, sfx, lo, hi, "FLUX_ERROR"))
        ds[f"{names.WHITELIGHT_FLUX_ERROR}{sfx}"] = err.assign_attrs(
            units=unit,
            long_name="white-light flux error",
            description="sqrt of the sum of FLUX_ERROR^2 over the white-light pixels (jwst's whtlt has no error)",
        )
    out = ds.assign_attrs(product_kind=SPECTROSCOPY, detectors=detectors, store=str(path))
    return out.assign_attrs({names.ORDERS: orders}) if len(orders) > 1 else out


# --- light curves -------------------------------------------------------------------------------------------


def light_curve(ds: xr.Dataset, detector: str | None = None, order: int | None = None) -> xr.Dataset:
    """The main light curve of :func:`open_products` output: ``flux`` and ``flux_error`` per integration.

    Spectroscopy: the white light (of ``detector``; several detectors are added together by default, with
    errors in quadrature; of one spectral ``order`` for a product with several, NIS_SOSS: order 1, the first,
    by default). Imaging: the background-subtracted ``net_aperture_sum`` and its error.

    Returns
    -------
    xarray.Dataset
        ``flux``, ``flux_error`` (integration) with the integration coordinates; attrs ``label``.

    Raises
    ------
    ValueError
        ``order`` is not one of the product's orders.
    """
    from .spectral_bins import spectra_orders

    orders = spectra_orders(ds) if ds.attrs.get("product_kind") != IMAGING else []
    if ds.attrs.get("product_kind") == IMAGING or "net_aperture_sum" in ds.data_vars:
        flux, err, label = ds["net_aperture_sum"], ds["net_aperture_sum_err"], "net aperture sum"
    elif orders:
        order = orders[0] if order is None else int(order)
        if order not in orders:
            raise ValueError(f"no spectral order {order} in the products (orders {orders})")
        sfx = names.order_suffix(order)
        flux, err = ds[f"{names.WHITELIGHT_FLUX}{sfx}"], ds[f"{names.WHITELIGHT_FLUX_ERROR}{sfx}"]
        label = f"white light order {order}"
    else:
        dets = list(ds.attrs.get("detectors") or [""])
        if detector is not None:
            dets = [detector]
        sfxs = [""] if f"{names.WHITELIGHT_FLUX}" in ds.data_vars and detector is None else [f"_{d}" for d in dets]
        flux = sum(ds[f"{names.WHITELIGHT_FLUX}{s}"] for s in sfxs)
        err = np.sqrt(sum(ds[f"{names.WHITELIGHT_FLUX_ERROR}{s}"] ** 2 for s in sfxs))
        unit = ds[f"{names.WHITELIGHT_FLUX}{sfxs[0]}"].attrs.get("units", "")
        flux.attrs["units"] = err.attrs["units"] = unit
        label = "white light" + (f" {detector}" if detector else "")
    keep = {k: v for k, v in ds.coords.items() if v.dims == (names.INTEGRATION,)}
    out = xr.Dataset({"flux": flux.reset_coords(drop=True), "flux_error": err.reset_coords(drop=True)})
    return out.assign_coords(keep).assign_attrs(label=label)


def _select(da_: xr.DataArray, integrations) -> xr.DataArray:
    if integrations is None:
        return da_
    if isinstance(integrations, slice):
        return da_.sel({names.INTEGRATION: integrations})
    values = np.asarray(integrations)
    if values.dtype == bool:
        return da_.isel({names.INTEGRATION: np.flatnonzero(values)})
    return da_.sel({names.INTEGRATION: values})


def _out_of_transit(n: int) -> np.ndarray:
    """Default out-of-transit integrations: the first and last quarter of the series (positions)."""
    quarter = max(1, n // 4)
    return np.r_[0:quarter, n - quarter : n]


def baseline_flux(
    data: xr.DataArray,
    baseline: str = "median",
    integrations: slice | Sequence[int] | np.ndarray | None = None,
) -> xr.DataArray:
    """The baseline :func:`normalize` divides by: one value per light curve of ``data`` [its unit].

    Parameters
    ----------
    data : xarray.DataArray
        Dimension ``integration`` (and any others: one baseline per light curve).
    baseline, integrations :
        As :func:`normalize`.

    Returns
    -------
    xarray.DataArray
        ``data`` without the ``integration`` dimension (lazy for dask input); NaN where the baseline
        integrations hold no finite value.
    """
    if baseline not in ("median", "out-of-transit"):
        raise ValueError(f"baseline must be 'median' or 'out-of-transit', not {baseline!r}")
    if baseline == "out-of-transit" and integrations is None:
        picked = data.isel({names.INTEGRATION: _out_of_transit(data.sizes[names.INTEGRATION])})
    else:
        picked = _select(data, integrations)
    if picked.sizes[names.INTEGRATION] == 0:
        raise ValueError("no baseline integrations selected")
    with warnings.catch_warnings():  # an all-NaN light curve has a NaN baseline, which the caller handles
        warnings.simplefilter("ignore", RuntimeWarning)
        if baseline == "median":
            return picked.median(names.INTEGRATION, skipna=True)
        return picked.mean(names.INTEGRATION, skipna=True)


def normalize(
    data: xr.DataArray,
    baseline: str = "median",
    integrations: slice | Sequence[int] | np.ndarray | None = None,
    *,
    reference: xr.DataArray | None = None,
) -> xr.DataArray:
    """A light curve (or its error) divided by its baseline flux; the products are left untouched.

    Parameters
    ----------
    data : xarray.DataArray
        Dimension ``integration`` (and any others, e.g. ``wavelength_bin`` or ``pixel``: each normalised
        on its own).
    baseline : {"median", "out-of-transit"}
        ``"median"``: the median over ``integrations`` (default: all). ``"out-of-transit"``: the mean over
        the out-of-transit ``integrations`` (default: the first and last quarter of the series).
    integrations : slice, sequence of int or bool array, optional
        The baseline integrations: a slice of integration numbers (inclusive, as ``.sel``), integration
        numbers, or a mask along ``integration``.
    reference : xarray.DataArray, optional
        Compute the baseline from this light curve instead (e.g. ``normalize(error, reference=flux)``
        scales an error as its flux).

    Returns
    -------
    xarray.DataArray
        ``data / baseline`` (dimensionless; attrs ``units`` = "", ``baseline``). A baseline that is zero,
        negative or NaN is divided by all the same: :func:`normalize_checked` says which curves have one.
    """
    base = baseline_flux(data if reference is None else reference, baseline, integrations)
    out = data / base
    out.attrs = {**data.attrs, "units": "", "baseline": baseline}
    out.attrs.pop("long_name", None)
    return out.rename(data.name)


class Normalized(NamedTuple):
    """:func:`normalize_checked` output."""

    #: flux / baseline (dimensionless); all NaN for a light curve that could not be normalised
    flux: xr.DataArray
    #: error / baseline (dimensionless, same NaNs), or None without an error
    error: xr.DataArray | None
    #: the baseline of every light curve [flux unit]
    baseline: xr.DataArray
    #: why each light curve could not be normalised ("" when it was), same dims as ``baseline``
    problems: xr.DataArray

    @property
    def ok(self) -> xr.DataArray:
        """True for the light curves that were normalised."""
        return self.problems == ""


def _baseline_problem(base: float, any_finite: bool, unit: str, error: float, min_snr: float) -> str:
    """Why a light curve with this baseline [unit] cannot be normalised ("" when it can); ``error``: its median
    error [unit] (NaN: unknown), the baseline must be at least ``min_snr`` times it."""
    unit = f" {unit}" if unit else ""
    if not any_finite:
        return "no finite flux"
    if not np.isfinite(base):
        return "no finite flux in the baseline integrations"
    if base == 0:
        return "baseline flux is zero"
    if base < 0:
        return f"baseline flux is negative ({base:.3g}{unit})"
    if base < min_snr * error:
        times = "" if min_snr == 1 else f"{min_snr:g} × "
        return f"baseline flux ({base:.3g}{unit}) is below {times}its median error ({error:.3g}{unit}): no signal"
    return ""


def normalize_checked(
    flux: xr.DataArray,
    error: xr.DataArray | None = None,
    baseline: str = "median",
    integrations: slice | Sequence[int] | np.ndarray | None = None,
    *,
    min_snr: float = 0.0,
) -> Normalized:
    """Light curves (and their errors) divided by a positive baseline, reporting those that have none.

    A light curve whose baseline flux is negative (e.g. a background-subtracted bin without throughput),
    zero or NaN (no finite flux), or below ``min_snr`` times its median error, is not normalised: its values
    become NaN and ``problems`` says why. Errors are divided by the same (positive) baseline, so they stay
    non-negative. Computes dask input.

    Parameters
    ----------
    flux : xarray.DataArray
        Dimension ``integration`` and any others (each light curve normalised on its own) [any unit].
    error : xarray.DataArray, optional
        1σ errors of ``flux`` [its unit].
    baseline, integrations :
        As :func:`normalize`.
    min_snr : float
        Least baseline accepted, in units of the median ``error`` of the light curve (needs ``error``; 0:
        any positive baseline). E.g. 1 leaves out curves whose baseline is below their 1σ error per
        integration: normalising those divides noise by noise.

    Returns
    -------
    Normalized
        ``flux``, ``error``, ``baseline`` and ``problems`` (str per light curve, "" when normalised).
    """
    flux = flux.compute()
    error = None if error is None else error.compute()
    base = baseline_flux(flux, baseline, integrations).compute()
    any_finite = np.isfinite(flux).any(names.INTEGRATION).values
    typical = np.full(base.shape, np.nan)
    if min_snr > 0 and error is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN errors: no noise floor
            typical = error.median(names.INTEGRATION, skipna=True).transpose(*base.dims).values
    unit = str(flux.attrs.get("units", "") or "")
    reasons = [
        _baseline_problem(b, f, unit, e, min_snr)
        for b, f, e in zip(np.ravel(base.values), np.ravel(any_finite), np.ravel(typical), strict=True)
    ]
    problems = xr.DataArray(
        np.array(reasons, dtype=object).reshape(base.shape), dims=base.dims, coords=base.coords, name="problems"
    )
    divisor = base.where(problems == "")
    attrs = {"units": "", "baseline": baseline}
    nflux = (flux / divisor).assign_attrs({**flux.attrs, **attrs}).rename(flux.name)
    nerr = None
    if error is not None:
        nerr = (error / divisor).assign_attrs({**error.attrs, **attrs}).rename(error.name)
    for out in (nflux, nerr):
        if out is not None:
            out.attrs.pop("long_name", None)
    return Normalized(nflux, nerr, base, problems)


# --- outlier statistics -------------------------------------------------------------------------------------


def outlier_summary(folder: str | os.PathLike) -> xr.Dataset:
    """Pixels flagged as outliers (DQ OUTLIER bit) in the crfints of an output folder, read chunk by chunk.

    Counts every pixel whose crfints DQ has the OUTLIER bit (16): the pixels outlier detection flagged
    (calints do not carry the bit before Stage 3).

    Returns
    -------
    xarray.Dataset
        ``outlier_fraction`` (integration): flagged fraction of the pixels of each integration (all
        detectors together); ``outlier_count`` (file, y, x): integrations in which each pixel is flagged,
        per crfints file, with coordinates ``file`` (name), ``segment`` and ``detector`` along ``file`` and
        ``file_integrations`` (integrations in the file).
    """
    from . import dqflags
    from .execution import compute
    from .io.calints import open_segment

    files = sorted(Path(folder).glob("*" + product_names.CRFINTS_SUFFIX))
    if not files:
        raise FileNotFoundError(f"{folder}: no crfints (outlier detection skipped?)")
    per_int, maps, metas = [], [], []
    for path in files:
        seg = open_segment(path)
        flagged = (seg[names.DQ].data & dqflags.OUTLIER) != 0
        per_int.append((flagged.sum(axis=(1, 2)), seg[names.INTEGRATION].values, flagged[0].size))
        maps.append(flagged.sum(axis=0))
        segment = int(seg[names.SEGMENT].values[0]) if names.SEGMENT in seg.coords else 0
        metas.append((path.name, segment, str(seg.attrs.get("DETECTOR", "")), seg.sizes[names.INTEGRATION]))
    computed = compute(*[c for c, _, _ in per_int], *maps, label="outlier summary")
    counts, maps_np = computed[: len(files)], computed[len(files) :]
    ints = np.unique(np.concatenate([i for _, i, _ in per_int]))
    num = np.zeros(ints.size)
    den = np.zeros(ints.size)
    for c, (_, i, npix) in zip(counts, per_int, strict=True):
        pos = np.searchsorted(ints, i)
        num[pos] += np.asarray(c)
        den[pos] += npix
    shape = np.max([m.shape for m in maps_np], axis=0)
    stack = np.zeros((len(files), *shape), dtype=np.int64)
    for k, m in enumerate(maps_np):
        stack[k, : m.shape[0], : m.shape[1]] = m
    return xr.Dataset(
        {
            "outlier_fraction": (
                (names.INTEGRATION,),
                num / den,
                {"units": "", "long_name": "fraction of pixels flagged"},
            ),
            "outlier_count": (("file", names.Y, names.X), stack, {"long_name": "integrations flagged"}),
        },
        coords={
            names.INTEGRATION: ints,
            "file": [m[0] for m in metas],
            names.SEGMENT: (("file",), [m[1] for m in metas]),
            "detector": (("file",), [m[2] for m in metas]),
            "file_integrations": (("file",), [m[3] for m in metas]),
        },
        attrs={"folder": str(folder), "dq_bit": json.dumps({"OUTLIER": int(dqflags.OUTLIER)})},
    )
