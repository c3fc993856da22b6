"""Read calwebb_tso3 products back (jwst's or tso3x's): x1dints tables lazily, INT_TIMES, ECSV tables.

The x1dints vector columns become dask arrays whose tasks read only their rows of one EXTRACT1D table
(memory-mapped), so opening a large product costs the small per-row columns only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import dask.array as da
import numpy as np
from astropy.io import fits
from dask.base import tokenize

from .. import names
from . import fitsfile

log = logging.getLogger(__name__)

#: x1dints per-row time columns → integration coordinates (days)
TIME_COLUMNS = names.X1D_TIME_COLUMNS
#: Rows of one EXTRACT1D table per dask chunk of a lazily read vector column.
ROWS_PER_CHUNK = 256


class TableColumn:
    """A picklable, array-like view of one column of a FITS binary table, read on indexing (for dask).

    The rows are memory-mapped at the table's data offset with its row dtype, both found once when the
    product was opened: a task neither parses a header nor asks astropy for a dtype (astropy builds it
    from a comma string through ``ast``, which CPython 3.11 does not allow in several threads at once).
    """

    def __init__(self, path: str, table: SpecTable, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.name = str(path), name
        self.offset, self.row_dtype, self.nrows = table.data_offset, table.row_dtype, table.nrows
        self.zero = table.zeros.get(name, 0)
        self.shape, self.dtype, self.ndim = tuple(shape), np.dtype(dtype), len(shape)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        rows, rest = key[0], key[1:]
        if self.nrows == 0:
            return np.zeros((0, *self.shape[1:]), dtype=self.dtype)[(slice(None), *rest)]
        table = np.memmap(self.path, dtype=self.row_dtype, mode="r", offset=self.offset, shape=(self.nrows,))
        values = table[rows][self.name]
        values = values[(slice(None), *rest)] if rest else values
        out = np.array(values.astype(np.int64) + self.zero if self.zero else values, dtype=self.dtype)
        del table
        return out


@dataclass(frozen=True)
class SpecTable:
    """One EXTRACT1D table of an x1dints: its HDU index, detector, spectral order and small columns."""

    hdu: int
    detector: str
    order: int | None
    nrows: int
    npixel: int
    small: dict[str, np.ndarray]  #: INT_NUM, SEGMENT, N_ALONGDISP, the time columns (when present)
    units: dict[str, str]
    vector_dtypes: dict[str, np.dtype]
    data_offset: int  #: byte offset of the table's rows in the file
    row_dtype: np.dtype  #: big-endian dtype of one row, as stored
    zeros: dict[str, int]  #: TZERO offsets of the integer columns that have one (unsigned DQ)


def spec_tables(path: str | os.PathLike) -> list[SpecTable]:
    """The EXTRACT1D tables of an x1dints (jwst 3.0 ``TSOMultiSpecModel`` layout), in file order."""
    out = []
    with fits.open(path, memmap=True) as hdul:
        primary_det = str(hdul[0].header.get("DETECTOR", ""))
        for k, hdu in enumerate(hdul):
            if hdu.name != "EXTRACT1D":
                continue
            cols = hdu.columns
            small, units, vectors = {}, {}, {}
            for col in cols:
                units[col.name] = col.unit or ""
                field = hdu.data.field(col.name)
                if field.ndim == 1:
                    small[col.name] = np.array(field)
                else:
                    vectors[col.name] = field.dtype.newbyteorder("=")
            if "INT_NUM" not in small:
                raise ValueError(f"{path}[{k}]: EXTRACT1D has no INT_NUM column (not a jwst 3.0 x1dints)")
            npixel = int(hdu.data.field("FLUX").shape[1]) if len(hdu.data) else 0
            zeros: dict[str, int] = {}
            row_dtype = fitsfile.row_dtype(hdu.header, zeros)
            if row_dtype is None:
                raise ValueError(f"{path}[{k}]: EXTRACT1D has columns of a layout tso3x does not read")
            out.append(
                SpecTable(
                    hdu=k,
                    detector=str(hdu.header.get("DETECTOR", primary_det)),
                    order=hdu.header.get("SPORDER"),
                    nrows=len(hdu.data),
                    npixel=npixel,
                    small=small,
                    units=units,
                    vector_dtypes=vectors,
                    data_offset=int(hdu.fileinfo()["datLoc"]),
                    row_dtype=row_dtype,
                    zeros=zeros,
                )
            )
    return out


def lazy_column(path: str | os.PathLike, table: SpecTable, name: str) -> da.Array:
    """A vector column of one EXTRACT1D table as a (rows, pixel) dask array, read in chunks of rows."""
    dtype = table.vector_dtypes[name]
    shape = (table.nrows, table.npixel)
    col = TableColumn(str(path), table, name, shape, dtype)
    return da.from_array(
        col,
        chunks=(ROWS_PER_CHUNK, -1),
        name=f"x1dints-{name}-{tokenize(os.path.realpath(path), table.hdu, name, os.stat(path).st_mtime_ns)}",
        meta=np.empty((0, 0), dtype=dtype),
        asarray=False,
    )


def int_times(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The INT_TIMES table of a FITS product as {``integration``: numbers, time coordinate: values} (days),
    or None when the file has none or it is empty."""
    with fits.open(path, memmap=True) as hdul:
        if "INT_TIMES" not in hdul or hdul["INT_TIMES"].data is None or len(hdul["INT_TIMES"].data) == 0:
            return None
        data = hdul["INT_TIMES"].data
        out = {names.INTEGRATION: np.array(data.field("integration_number"), dtype=np.int64)}
        for col, coord in names.INT_TIMES_COORDS.items():
            out[coord] = np.array(data.field(col), dtype=np.float64)
    return out


def merge_int_times(tables: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray] | None:
    """INT_TIMES of several files (crfints segments) as one table sorted by integration number."""
    tables = [t for t in tables if t is not None]
    if not tables:
        return None
    merged = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    _, first = np.unique(merged[names.INTEGRATION], return_index=True)
    return {k: v[first] for k, v in merged.items()}


def match_times(times: np.ndarray, reference: np.ndarray, tolerance: float = 1.0e-8) -> np.ndarray:
    """Index into ``reference`` of every time (-1 where none lies within ``tolerance`` days).

    Parameters
    ----------
    times, reference : ndarray
        Times [d] (MJD UTC); ``reference`` need not be sorted.
    tolerance : float
        Largest difference accepted [d] (default ~1 ms).
    """
    times = np.asarray(times, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    order = np.argsort(reference)
    ref = reference[order]
    pos = np.clip(np.searchsorted(ref, times), 1, max(ref.size - 1, 1))
    if ref.size == 0:
        return np.full(times.shape, -1)
    lower = ref[pos - 1]
    upper = ref[np.minimum(pos, ref.size - 1)]
    pick = np.where(np.abs(times - lower) <= np.abs(times - upper), pos - 1, np.minimum(pos, ref.size - 1))
    ok = np.abs(ref[pick] - times) <= tolerance
    return np.where(ok & np.isfinite(times), order[pick], -1)
