"""Helpers on integration-indexed Datasets shared by the io and step layers."""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import names


def concat_integrations(parts: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate Datasets along ``integration``; variables without that dimension come from the first.

    Attrs are the first part's. Dask arrays stay lazy and keep their chunks.
    """
    first = parts[0]
    if len(parts) == 1:
        return first.copy()
    out = xr.concat(
        parts,
        dim=names.INTEGRATION,
        data_vars="minimal",
        coords="minimal",
        compat="override",
        join="override",
        combine_attrs="override",
    )
    for var in first.data_vars:
        if names.INTEGRATION not in first[var].dims:
            out[var] = first[var]
    return out


def segment_files(ds: xr.Dataset) -> list[str]:
    """The segment files of an exposure Dataset, in order (a lone segment's own path)."""
    return [str(f) for f in ds.attrs.get("segment_files") or [ds.attrs["path"]]]


def segment_slices(ds: xr.Dataset) -> list[slice]:
    """Positional slices along ``integration`` of each run of equal ``segment`` values, in order."""
    seg = ds[names.SEGMENT].values
    bounds = [0, *(np.flatnonzero(np.diff(seg)) + 1).tolist(), len(seg)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
