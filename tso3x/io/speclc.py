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


def speclc_table(binned: xr.Dataset, meta: dict | None = None) -> QTable:
    """The speclc table of a computed :func:`tso3x.bin_spectra` Dataset (see the module documentation)."""
    unit = binned[names.BINNED_FLUX].attrs.get("units") or ""
    flux_unit = u.Unit(unit) if unit else None
    table = QTable(meta=OrderedDict(meta or {}))
    table["integration"] = np.asarray(binned[names.INTEGRATION].values, dtype=np.int64)
    table["MJD_UTC"] = np.asarray(binned["mjd_utc_mid"].values, dtype=np.float64) << u.d
    table["BJD_TDB"] = np.asarray(binned["bjd_tdb_mid"].values, dtype=np.float64) << u.d
    flux = np.asarray(binned[names.BINNED_FLUX].values, dtype=np.float64)
    err = np.asarray(binned[names.BINNED_FLUX_ERROR].values, dtype=np.float64)
    for k in range(flux.shape[1]):
        table[f"flux_{k:03d}"] = flux[:, k] << flux_unit if flux_unit else flux[:, k]
        table[f"flux_error_{k:03d}"] = err[:, k] << flux_unit if flux_unit else err[:, k]
    for key in (names.WAVELENGTH_LOW, names.WAVELENGTH_HIGH, names.WAVELENGTH_CENTER):
        table.meta[key] = [float(v) for v in binned[key].values]
    table.meta[names.N_PIXELS] = [int(v) for v in binned[names.N_PIXELS].values]
    table.meta["wavelength_unit"] = "micron"
    table.meta["flux_unit"] = unit
    table.meta["bin_method"] = binned.attrs.get("bin_method", "")
    table.meta["number_of_bins"] = int(flux.shape[1])
    table.meta["number_of_integrations"] = len(table)
    return table


def write_speclc(binned: xr.Dataset, path: str | os.PathLike, meta: dict | None = None) -> Path:
    """Write a computed :func:`tso3x.bin_spectra` Dataset as ``_speclc.ecsv`` (overwritten).

    Parameters
    ----------
    binned : xarray.Dataset
        In memory, with the ``mjd_utc_mid`` and ``bjd_tdb_mid`` coordinates.
    path : path
    meta : dict, optional
        Table meta written first (instrument keys).
    """
    table = speclc_table(binned, meta)
    path = Path(path)
    table.write(path, format="ascii.ecsv", overwrite=True)
    log.info("wrote %s (%d integrations, %d bins)", path.name, len(table), table.meta["number_of_bins"])
    return path


def read_speclc(path: str | os.PathLike) -> xr.Dataset:
    """A ``_speclc.ecsv`` as the Dataset :func:`tso3x.bin_spectra` returns (integration-indexed)."""
    table = Table.read(path, format="ascii.ecsv")
    nbins = int(table.meta["number_of_bins"])
    unit = str(table.meta.get("flux_unit", ""))
    flux = np.stack([np.asarray(table[f"flux_{k:03d}"], dtype=np.float64) for k in range(nbins)], axis=1)
    err = np.stack([np.asarray(table[f"flux_error_{k:03d}"], dtype=np.float64) for k in range(nbins)], axis=1)
    dims = (names.INTEGRATION, names.WAVELENGTH_BIN)
    micron = {"units": "micron"}
    coords = {
        names.INTEGRATION: np.asarray(table["integration"], dtype=np.int64),
        "mjd_utc_mid": ((names.INTEGRATION,), np.asarray(table["MJD_UTC"], dtype=np.float64), {"units": "d"}),
        "bjd_tdb_mid": ((names.INTEGRATION,), np.asarray(table["BJD_TDB"], dtype=np.float64), {"units": "d"}),
        names.N_PIXELS: ((names.WAVELENGTH_BIN,), np.asarray(table.meta[names.N_PIXELS], dtype=np.int64)),
    }
    for key in (names.WAVELENGTH_LOW, names.WAVELENGTH_HIGH, names.WAVELENGTH_CENTER):
        coords[key] = ((names.WAVELENGTH_BIN,), np.asarray(table.meta[key], dtype=np.float64), micron)
    data = {
        names.BINNED_FLUX: (dims, flux, {"units": unit, "long_name": "sum of FLUX in the wavelength bin"}),
        names.BINNED_FLUX_ERROR: (
            dims,
            err,
            {"units": unit, "long_name": "quadrature sum of FLUX_ERROR in the wavelength bin"},
        ),
    }
    return xr.Dataset(data, coords=coords, attrs={"bin_method": table.meta.get("bin_method", "")})
