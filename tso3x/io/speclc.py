"""``<product>_speclc.ecsv``: spectroscopic light curves (wavelength-binned spectra) of a run (``--spec-bins``).

A tso3x product (jwst has none). One row per integration (every integration of the x1dints, in
integration order); columns:

=====================  ============  ===========================================================================
column                 unit          content
=====================  ============  ===========================================================================
``integration``                      absolute integration number (the x1dints' INT_NUM)
``MJD_UTC``            d             mid time of the integration, MJD UTC (INT_TIMES ``int_mid_MJD_UTC``)
``BJD_TDB``            d             mid time, BJD TDB − 2400000.5 (INT_TIMES ``int_mid_BJD_TDB``)
``flux_NNN``           FLUX unit     sum of FLUX over the pixels of bin NNN (000, 001, …; NaN pixels skipped)
``flux_error_NNN``     FLUX unit     square root of the sum of FLUX_ERROR² over the same pixels
=====================  ============  ===========================================================================

Bin NNN holds the pixels with ``wavelength_low[NNN] <= WAVELENGTH < wavelength_high[NNN]`` (the last bin
also its upper edge), of every detector. Table meta: ``wavelength_low``, ``wavelength_high``,
``wavelength_center`` (lists, micron), ``n_pixels`` (pixels of the wavelength grid per bin), ``bin_method``,
``flux_unit``, ``number_of_integrations``, ``number_of_bins`` and the instrument keys of the whtlt.

A product with several spectral orders (NIS_SOSS) has bins per order: every per-order column and meta key is
the name above suffixed ``_order_<N>`` (``flux_000_order_1``, ``flux_error_000_order_1``, …,
``wavelength_low_order_1``, ``n_pixels_order_1``, ``number_of_bins_order_1``), as the whtlt's
``whitelight_flux_order_1``, and meta ``orders`` lists the orders.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

import astropy.units as u
import numpy as np
import xarray as xr
from astropy.table import QTable, Table

from .. import names

log = logging.getLogger(__name__)


def _order_suffixes(binned: xr.Dataset) -> list[str]:
    """'' for single-order light curves, else the suffix of every order (``_order_1``, …)."""
    orders = binned.attrs.get(names.ORDERS)
    if orders is None or names.BINNED_FLUX in binned.data_vars:
        return [""]
    return [names.order_suffix(o) for o in orders]


def speclc_table(binned: xr.Dataset, meta: dict | None = None) -> QTable:
    """The speclc table of a computed :func:`tso3x.bin_spectra` Dataset (see the module documentation)."""
    suffixes = _order_suffixes(binned)
    unit = binned[f"{names.BINNED_FLUX}{suffixes[0]}"].attrs.get("units") or ""
    flux_unit = u.Unit(unit) if unit else None
    table = QTable(meta=OrderedDict(meta or {}))
    table["integration"] = np.asarray(binned[names.INTEGRATION].values, dtype=np.int64)
    table["MJD_UTC"] = np.asarray(binned["mjd_utc_mid"].values, dtype=np.float64) << u.d
    table["BJD_TDB"] = np.asarray(binned["bjd_tdb_mid"].values, dtype=np.float64) << u.d
    for sfx in suffixes:
        flux = np.asarray(binned[f"{names.BINNED_FLUX}{sfx}"].values, dtype=np.float64)
        err = np.asarray(binned[f"{names.BINNED_FLUX_ERROR}{sfx}"].values, dtype=np.float64)
        for k in range(flux.shape[1]):
            table[f"flux_{k:03d}{sfx}"] = flux[:, k] << flux_unit if flux_unit else flux[:, k]
            table[f"flux_error_{k:03d}{sfx}"] = err[:, k] << flux_unit if flux_unit else err[:, k]
        for key in (names.WAVELENGTH_LOW, names.WAVELENGTH_HIGH, names.WAVELENGTH_CENTER):
            table.meta[f"{key}{sfx}"] = [float(v) for v in binned[f"{key}{sfx}"].values]
        table.meta[f"{names.N_PIXELS}{sfx}"] = [int(v) for v in binned[f"{names.N_PIXELS}{sfx}"].values]
    if suffixes != [""]:
        table.meta[names.ORDERS] = [int(o) for o in binned.attrs[names.ORDERS]]
    table.meta["wavelength_unit"] = "micron"
    table.meta["flux_unit"] = unit
    table.meta["bin_method"] = binned.attrs.get("bin_method", "")
    for sfx in suffixes:
        table.meta[f"number_of_bins{sfx}"] = int(binned.sizes[f"{names.WAVELENGTH_BIN}{sfx}"])
    table.meta["number_of_integrations"] = len(table)
    return table


def write_speclc(binned: xr.Dataset, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a computed :func:`tso3x.bin_spectra` Dataset as ``_speclc.ecsv`` (overwritten).

    Parameters
    ----------
    binned : xarray.Dataset
        In memory, with the ``mjd_utc_mid`` and ``bjd_tdb_mid`` coordinates (per-order variables and attr
        ``orders`` for several spectral orders).
    path : path
    meta : dict, optional
        Table meta written first (instrument keys).
    """
    table = speclc_table(binned, meta)
    path = Path(path)
    table.write(path, format="ascii.ecsv", overwrite=True)
    nbins = sum(v for k, v in table.meta.items() if k.startswith("number_of_bins"))
    log.info("wrote %s (%d integrations, %d bins)", path.name, len(table), nbins)
    return path


def read_speclc(path: str | os.PathLike) -> xr.Dataset:
    """A ``_speclc.ecsv`` as the Dataset :func:`tso3x.bin_spectra` returns (integration-indexed; per-order
    variables and attr ``orders`` for several spectral orders)."""
    table = Table.read(path, format="ascii.ecsv")
    orders = table.meta.get(names.ORDERS)
    suffixes = [""] if not orders else [names.order_suffix(o) for o in orders]
    unit = str(table.meta.get("flux_unit", ""))
    micron = {"units": "micron"}
    coords = {
        names.INTEGRATION: np.asarray(table["integration"], dtype=np.int64),
        "mjd_utc_mid": ((names.INTEGRATION,), np.asarray(table["MJD_UTC"], dtype=np.float64), {"units": "d"}),
        "bjd_tdb_mid": ((names.INTEGRATION,), np.asarray(table["BJD_TDB"], dtype=np.float64), {"units": "d"}),
    }
    data = {}
    for sfx in suffixes:
        nbins = int(table.meta[f"number_of_bins{sfx}"])
        flux = np.stack([np.asarray(table[f"flux_{k:03d}{sfx}"], dtype=np.float64) for k in range(nbins)], axis=1)
        err = np.stack([np.asarray(table[f"flux_error_{k:03d}{sfx}"], dtype=np.float64) for k in range(nbins)], 1)
        bin_dim = f"{names.WAVELENGTH_BIN}{sfx}"
        dims = (names.INTEGRATION, bin_dim)
        pixels = np.asarray(table.meta[f"{names.N_PIXELS}{sfx}"], dtype=np.int64)
        coords[f"{names.N_PIXELS}{sfx}"] = ((bin_dim,), pixels)
        for key in (names.WAVELENGTH_LOW, names.WAVELENGTH_HIGH, names.WAVELENGTH_CENTER):
            coords[f"{key}{sfx}"] = ((bin_dim,), np.asarray(table.meta[f"{key}{sfx}"], dtype=np.float64), micron)
        data[f"{names.BINNED_FLUX}{sfx}"] = (
            dims,
            flux,
            {"units": unit, "long_name": "sum of FLUX in the wavelength bin"},
        )
        data[f"{names.BINNED_FLUX_ERROR}{sfx}"] = (
            dims,
            err,
            {"units": unit, "long_name": "quadrature sum of FLUX_ERROR in the wavelength bin"},
        )
    attrs = {"bin_method": table.meta.get("bin_method", "")}
    if orders:
        attrs[names.ORDERS] = [int(o) for o in orders]
    return xr.Dataset(data, coords=coords, attrs=attrs)
