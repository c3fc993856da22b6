"""Write the calwebb_tso3 ``<product>_whtlt.ecsv`` from a white-light Dataset, as jwst 3.0.0 writes it."""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from pathlib import Path

import astropy.units as u
import xarray as xr
from astropy.table import QTable, vstack

log = logging.getLogger(__name__)


def whtlt_table(curve: xr.Dataset) -> QTable:
    """The jwst ``white_light`` QTable of a :func:`tso3x.white_light` Dataset (columns, units, meta)."""
    table = QTable(meta=OrderedDict(json.loads(curve.attrs["meta"])))
    for name in json.loads(curve.attrs["columns"]):
        values = curve[name].values
        unit = curve[name].attrs.get("units")
        table[name] = values << u.Unit(unit) if unit else values
    return table


def write_whtlt(curve: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``_whtlt.ecsv``: the table stacked as calwebb_tso3 does, plus ``number_of_integrations``.

    Parameters
    ----------
    curve : xarray.Dataset
        Output of :func:`tso3x.white_light`.
    path : path
        File to write (overwritten).

    Returns
    -------
    Path
    """
    table = vstack([whtlt_table(curve)])
    table.meta["number_of_integrations"] = len(table)
    path = Path(path)
    table.write(path, format="ascii.ecsv", overwrite=True)
    log.info("wrote %s (%d rows)", path.name, len(table))
    return path
