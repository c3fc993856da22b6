"""Write the calwebb_tso3 ``<product>_phot.ecsv`` from photometry Datasets, as jwst 3.0.0 writes it.

jwst builds one astropy ``QTable`` per segment cube (flux, pixel and degree columns as Quantities, the
times and the SUB64P+WLP8 background placeholders as plain columns), stacks them with
``astropy.table.vstack`` (outer join: a column one segment lacks becomes masked), adds
``number_of_integrations`` to the meta and writes ``ascii.ecsv``. The same is done here, so columns,
order, dtypes, units, meta and serialisation are identical.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import astropy.units as u
import xarray as xr
from astropy.table import Column, QTable, vstack

from .. import names
from ..dataset import segment_slices

log = logging.getLogger(__name__)


def segment_tables(ds: xr.Dataset) -> list[tuple[str | None, QTable]]:
    """One jwst-style catalog table per segment of a photometry Dataset, with its segment file."""
    meta = {k: ds.attrs.get(k) for k in names.PHOT_META_KEYS}
    absent = ds.attrs.get("absent_columns", {})
    files = ds.attrs.get("segment_files") or []
    out = []
    for k, rows in enumerate(segment_slices(ds)):
        seg = ds.isel({names.INTEGRATION: rows})
        skip = set(absent.get(str(int(seg[names.SEGMENT].values[0])), ()))
        table = QTable(meta=dict(meta))
        for col in names.PHOT_COLUMNS:
            if col not in ds or col in skip:
                continue
            values = seg[col].values
            unit = seg[col].attrs.get("units")
            table[col] = values << u.Unit(unit) if unit else Column(values)
        out.append((files[k] if k < len(files) else None, table))
    return out


def write_phot_ecsv(datasets: list[xr.Dataset], path: str | os.PathLike, order: list | None = None) -> Path:
    """Stack the per-segment tables of ``datasets`` and write the ``_phot.ecsv``.

    Parameters
    ----------
    datasets : list of xarray.Dataset
        Outputs of :func:`tso3x.photometry` (one per exposure and detector).
    path : path
        File to write (overwritten).
    order : list of path, optional
        Segment files in association order; tables are stacked in this order (jwst's), else in the
        given order.

    Returns
    -------
    Path
    """
    tables = [t for ds in datasets for t in segment_tables(ds)]
    if order is not None:
        rank = {os.path.realpath(p): i for i, p in enumerate(order)}
        tables.sort(key=lambda ft: rank.get(os.path.realpath(ft[0]) if ft[0] else "", len(rank)))
    stacked = vstack([t for _, t in tables])
    stacked.meta["number_of_integrations"] = len(stacked)
    path = Path(path)
    stacked.write(path, format="ascii.ecsv", overwrite=True)
    log.info("wrote %s (%d integrations)", path.name, len(stacked))
    return path
