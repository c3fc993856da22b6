"""The integration store: the integration-indexed products of a run as one zarr store (``--zarr``).

Written with xarray's own ``to_zarr`` (zarr format 2, consolidated metadata), read back lazily with
``xarray.open_zarr``. Dimension ``integration`` (the absolute integration number); coordinates: the
INT_TIMES times and ``segment``; variables: photometry columns (imaging) or every x1dints column with
``wavelength`` as a coordinate and ``whitelight_flux`` (spectroscopy), ``n_outliers`` when outlier
detection ran, and optionally the flagged cube. An exposure with several detectors gets its variables,
``pixel`` dimension and ``wavelength`` suffixed with ``_<DETECTOR>``; spectra of several orders (NIS_SOSS) come
merged with every name suffixed ``_order_<N>`` (:func:`tso3x.modes.spectroscopy.merge_orders`) and attr
``orders``.

A store that exists already is appended to along ``integration`` with only the integrations it does not
hold, so a run over an association that adds segments extends it and rerunning the same segments
changes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .. import names
from ..errors import Tso3xInputError
from .paths import check_folder

log = logging.getLogger(__name__)

#: Zarr format written: version 2 with consolidated metadata, which every zarr reader opens quickly
#: (consolidated metadata are not yet part of the version 3 specification).
ZARR_FORMAT = 2
#: Integrations per zarr chunk of every variable (a chunk of spectra of 2048 pixels is ~4 MB).
CHUNK_INTEGRATIONS = 256
_ATTR_TYPES = (str, int, float, bool, np.integer, np.floating, np.bool_)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)) and all(isinstance(v, _ATTR_TYPES) for v in value):
        return [_plain(v) for v in value]
    return value if isinstance(value, _ATTR_TYPES) else None


def _plain_attrs(attrs: dict) -> dict:
    """Attributes zarr can store as JSON (scalars, strings and lists of them; others are dropped)."""
    out = {k: _plain(v) for k, v in attrs.items()}
    return {k: v for k, v in out.items() if v is not None}


def suffix_detector(ds: xr.Dataset, detector: str) -> xr.Dataset:
    """Rename every non-integration dimension, variable and non-time coordinate with ``_<detector>``."""
    keep = {names.INTEGRATION, names.SEGMENT, *names.INT_TIMES_COORDS.values()}
    rename = {v: f"{v}_{detector}" for v in [*ds.data_vars, *ds.coords, *ds.dims] if v not in keep}
    return ds.rename(rename)


def _existing(path: Path) -> xr.Dataset | None:
    if not path.exists():
        return None
    try:
        return xr.open_zarr(path)
    except Exception as exc:  # noqa: BLE001 - any failure means it is not a store we can extend
        raise Tso3xInputError(path, f"exists but is not a readable zarr store ({exc})") from None


def check_store(path: str | os.PathLike) -> None:
    """Refuse a ``--zarr`` path that cannot be created or extended (checked before anything is written)."""
    path = Path(path)
    if path.exists():
        _existing(path)
    else:  # its folder is created with the output folder, like ``--output-dir``
        check_folder(path.parent, "zarr store folder")


def _aligned_chunks(n: int, first: int) -> tuple[int, ...]:
    """Chunk sizes along ``integration`` that continue a store whose last chunk holds ``first`` rows less
    than :data:`CHUNK_INTEGRATIONS` (so no two tasks ever write the same zarr chunk)."""
    chunks = []
    if first and n:
        chunks.append(min(first, n))
        n -= chunks[0]
    while n > 0:
        chunks.append(min(CHUNK_INTEGRATIONS, n))
        n -= chunks[-1]
    return tuple(chunks)


def _encoding(ds: xr.Dataset) -> dict:
    """Zarr chunks of :data:`CHUNK_INTEGRATIONS` integrations (whole along other dimensions) for every array."""
    out = {}
    for name, var in ds.variables.items():
        if var.dims and var.dims[0] == names.INTEGRATION:
            out[name] = {"chunks": (CHUNK_INTEGRATIONS, *var.shape[1:])}
    return out


def store_products(ds: xr.Dataset, path: str | os.PathLike):
    """Lazily write (or append) an integration-indexed Dataset to the zarr store at ``path``.

    Parameters
    ----------
    ds : xarray.Dataset
        Dimension ``integration`` first on every variable; lazy (dask) or in memory.
    path : path
        The store; created if missing, extended along ``integration`` if present.

    Returns
    -------
    (dask.delayed.Delayed or None, callable)
        The write to compute (None when the store already holds every integration), and a function to
        call once it has been computed (moves a new store into place).

    Raises
    ------
    Tso3xInputError
        ``path`` exists and is not a zarr store, or holds different variables.
    """
    path = Path(path)
    ds = ds.copy()
    ds.attrs = _plain_attrs(ds.attrs)
    for var in ds.variables.values():
        var.attrs = _plain_attrs(var.attrs)
        var.encoding = {}
    old = _existing(path)
    if old is None:
        tmp = path.with_name(path.name + ".tso3x-tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        ds = ds.chunk({names.INTEGRATION: _aligned_chunks(ds.sizes[names.INTEGRATION], 0)})
        write = ds.to_zarr(
            tmp, mode="w-", compute=False, encoding=_encoding(ds), consolidated=True, zarr_format=ZARR_FORMAT
        )

        def finish() -> None:
            os.replace(tmp, path)
            log.info("wrote %s (%d integrations)", path, ds.sizes[names.INTEGRATION])

        return write, finish
    if set(old.data_vars) != set(ds.data_vars):
        raise Tso3xInputError(path, "zarr store holds other variables than this run writes; use another --zarr path")
    held = np.isin(ds[names.INTEGRATION].values, old[names.INTEGRATION].values)
    if held.all():
        log.info("%s already holds all %d integrations: unchanged", path, held.size)
        return None, lambda: None
    new = ds.isel({names.INTEGRATION: np.flatnonzero(~held)})
    n_old = old.sizes[names.INTEGRATION]
    first = (-n_old) % CHUNK_INTEGRATIONS
    new = new.chunk({names.INTEGRATION: _aligned_chunks(new.sizes[names.INTEGRATION], first)})
    write = new.to_zarr(path, append_dim=names.INTEGRATION, compute=False, consolidated=True)

    def finish_append() -> None:
        log.info("appended %d integrations to %s", new.sizes[names.INTEGRATION], path)

    return write, finish_append


def _detector_suffixes(datasets: list[xr.Dataset]) -> list[str | None]:
    """None for a single exposure; else each exposure's DETECTOR (numbered if repeated)."""
    if len(datasets) == 1:
        return [None]
    dets = [str(ds.attrs.get("DETECTOR", f"EXP{k + 1}")) for k, ds in enumerate(datasets)]
    return [d if dets.count(d) == 1 else f"{d}_{k + 1}" for k, d in enumerate(dets)]


def integration_dataset(
    parts: list[xr.Dataset], counts: list[np.ndarray | None], cubes: list[xr.Dataset] | None = None
) -> xr.Dataset:
    """Merge per-exposure integration Datasets (spectra or photometry) into the store's Dataset.

    Parameters
    ----------
    parts : list of xarray.Dataset
        Per exposure (detector), variables with ``integration`` first.
    counts : list of ndarray or None
        Per exposure, pixels flagged as outliers in each integration (None: outlier detection skipped).
    cubes : list of xarray.Dataset, optional
        Per exposure, the flagged cube whose ``sci``, ``err`` and ``dq`` are stored as well.
    """
    out = []
    for k, (ds, suffix) in enumerate(zip(parts, _detector_suffixes(parts), strict=True)):
        ds = ds.copy()
        if counts[k] is not None:
            ds[names.N_OUTLIERS] = (
                (names.INTEGRATION,),
                np.asarray(counts[k]),
                {"long_name": "pixels flagged as outliers"},
            )
        if cubes is not None:
            cube = cubes[k]
            for var in (names.SCI, names.ERR, names.DQ):
                ds[var] = cube[var].assign_coords({names.INTEGRATION: ds[names.INTEGRATION].values})
        out.append(ds if suffix is None else suffix_detector(ds, suffix))
    attrs = out[0].attrs
    merged = (  # compat: xarray's present default, named (it warns that the default will change)
        xr.merge(out, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts") if len(out) > 1 else out[0]
    )
    return merged.assign_attrs(attrs)


@dataclass
class IntegrationStore:
    """The zarr store of a run: the outlier counts (and flagged cubes) it joins to each mode's measurements.

    Attributes
    ----------
    path : Path
        The store (appended to when it exists).
    counts : list of ndarray or None
        Per exposure, pixels flagged as outliers in each integration (None: not counted).
    cubes : list of xarray.Dataset, optional
        Per exposure, the flagged cube to store as well (``--zarr-cube``).
    """

    path: Path
    counts: list[np.ndarray | None]
    cubes: list[xr.Dataset] | None = None

    def plan(self, parts: list[xr.Dataset], extra: xr.Dataset | None = None):
        """The lazy store write of per-exposure integration Datasets and the function finishing it (see
        :func:`store_products`); ``extra``: exposure-wide variables merged as they are (light curves)."""
        dataset = integration_dataset(parts, self.counts, self.cubes)
        if extra is not None:
            dataset = dataset.merge(extra, compat="no_conflicts", combine_attrs="override")
        return store_products(dataset, self.path)
