"""Grow the binary tables (or image cubes) of a stdatamodels FITS file to their final row (plane) count and fill
them chunk by chunk.

A product whose tables have one row per integration (x1dints), or whose cubes one plane per integration
(the SOSS ``SossExtractModel``), is first saved by stdatamodels as a small *template* with one row or plane:
every header, the other HDUs and the ASDF tree are then exactly what stdatamodels writes. :func:`allocate`
lays out the final file from it, with each growing table sized for its real number of rows; chunk tasks
write their rows at their byte offsets with :func:`write_rows` (cubes: :func:`write_planes`) and return
partial checksums; :func:`seal` writes the headers with CHECKSUM/DATASUM and the ASDF extension,
whose tree gets the final table shapes and the ``_fits_hash`` of the final headers, then renames the file
into place. No table is ever held whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from . import checksum
from .crfints import copy_region
from .fitsfile import BLOCK, read_layout

ASDF_EXTENSION = "ASDF"
_HASH_LINE = re.compile(rb"^_fits_hash: [0-9a-f]+$", re.M)
_FIRST_NUMBER = re.compile(rb"\d+")


@dataclass
class GrowingTable:
    """A binary table (or image cube) of the output whose rows (planes) are written by chunk tasks."""

    data_offset: int  #: byte offset of the table's data in the file
    nrows: int
    dtype: np.dtype  #: on-disk record dtype (big-endian, unsigned columns stored with TZERO; a cube: a plane)
    tzero: dict[str, int]  #: column → TZERO of unsigned integer columns


@dataclass
class TableFileTarget:
    """A pre-allocated file: HDU headers, growing tables, and the ASDF tree to finish at :func:`seal`."""

    tmp_path: str
    final_path: str
    headers: list[tuple[int, fits.Header, int | None]] = field(default_factory=list)
    #: per HDU: header offset, header (checksum cards reserved), growing-table index or None (copied HDU)
    tables: list[GrowingTable] = field(default_factory=list)
    copied_sums: dict[int, int] = field(default_factory=dict)  #: header offset → datasum of copied HDUs
    asdf_tree: bytes = b""  #: ASDF bytes with the final table shapes (hash replaced at seal)
    end: int = 0  #: where the ASDF extension starts


def _record_dtype(hdu: fits.BinTableHDU) -> tuple[np.dtype, dict[str, int]]:
    dtype = hdu.columns.dtype.newbyteorder(">")
    tzero = {c.name: int(c.bzero) for c in hdu.columns if c.bzero}
    return dtype, tzero


def _grow_shapes(tree: bytes, names: dict[int, str], nrows: dict[int, int]) -> bytes:
    """Set the first length of ``shape: [n, …]`` of every ndarray sourced from a growing table or cube
    (``source: fits:NAME,VER``)."""
    want = {f"source: fits:{name},{ver}": nrows[i] for i, (name, ver) in names.items()}
    lines = tree.split(b"\n")
    pending: tuple[bytes, int] | None = None
    for k, line in enumerate(lines):
        text = line.decode("utf-8", "replace")
        stripped = text.strip()
        if stripped in want:
            indent = text[: len(text) - len(text.lstrip())]
            pending = ((indent + "shape: [").encode(), want[stripped])
        elif pending is not None and line.startswith(pending[0]) and line.endswith(b"]"):
            rest = line[len(pending[0]) :]
            first = _FIRST_NUMBER.match(rest)
            lines[k] = pending[0] + str(pending[1]).encode() + rest[first.end() :]
            pending = None
    if pending is not None:
        raise ValueError("ASDF tree of the template has no shape for a growing table")
    return b"\n".join(lines)


def allocate(
    template: str | Path, tmp_path: str | Path, final_path: str | Path, nrows: dict[int, int]
) -> TableFileTarget:
    """Lay out the final file from a stdatamodels template whose growing tables have one row.

    Parameters
    ----------
    template : path
        The template written by stdatamodels (``model.save``); its last HDU is the ASDF extension.
    tmp_path, final_path : path
        Where the file is built and where :func:`seal` moves it.
    nrows : dict
        HDU index in the template → final number of rows of that table (planes of that image cube: its
        last FITS axis).
    """
    layout = read_layout(template)
    target = TableFileTarget(os.fspath(tmp_path), os.fspath(final_path))
    table_names: dict[int, tuple[str, int]] = {}
    with fits.open(template, memmap=False) as hdul:
        src = os.open(template, os.O_RDONLY)
        dst = os.open(tmp_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            offset = 0
            for hdu, place in zip(hdul, layout, strict=True):
                if hdu.name == ASDF_EXTENSION:
                    target.asdf_tree = hdu.data["ASDF_METADATA"][0].tobytes()
                    continue
                header = hdu.header.copy()
                grow = place.index in nrows
                image = grow and not isinstance(hdu, fits.BinTableHDU)
                if image:
                    axes = [header[f"NAXIS{k}"] for k in range(header["NAXIS"], 0, -1)]
                    header[f"NAXIS{header['NAXIS']}"] = nrows[place.index]
                elif grow:
                    header["NAXIS2"] = nrows[place.index]
                checksum.reserve_cards(header)
                head = checksum.header_bytes(header)
                os.pwrite(dst, head, offset)
                data_offset = offset + len(head)
                if image:
                    dtype = np.dtype((hdu.data.dtype.newbyteorder(">"), tuple(axes[1:])))
                    table_names[len(target.tables)] = (hdu.name, hdu.ver)
                    target.headers.append((offset, header, len(target.tables)))
                    target.tables.append(GrowingTable(data_offset, nrows[place.index], dtype, {}))
                    size = dtype.itemsize * nrows[place.index]
                    size += -size % BLOCK
                    os.ftruncate(dst, data_offset + size)
                elif grow:
                    dtype, tzero = _record_dtype(hdu)
                    if dtype.itemsize % 4:
                        raise ValueError(f"{hdu.name} rows are not a whole number of 32-bit words")
                    table_names[len(target.tables)] = (hdu.name, hdu.ver)
                    target.headers.append((offset, header, len(target.tables)))
                    target.tables.append(GrowingTable(data_offset, nrows[place.index], dtype, tzero))
                    size = header["NAXIS1"] * header["NAXIS2"]
                    size += -size % BLOCK
                    os.ftruncate(dst, data_offset + size)
                else:
                    target.headers.append((offset, header, None))
                    size = place.data_size
                    target.copied_sums[offset] = copy_region(src, dst, place.data_offset, data_offset, size)
                offset = data_offset + size
            target.end = offset
        finally:
            os.close(src)
            os.close(dst)
    target.asdf_tree = _grow_shapes(target.asdf_tree, table_names, {i: t.nrows for i, t in enumerate(target.tables)})
    return target


def write_rows(target: TableFileTarget, table: int, first_row: int, columns: dict[str, np.ndarray]) -> int:
    """Write rows ``first_row …`` of a growing table; returns their partial DATASUM.

    Parameters
    ----------
    target : TableFileTarget
    table : int
        Index of the growing table (order of the template's HDUs).
    first_row : int
        0-based row where the block starts.
    columns : dict
        Column name → values of the rows (length m, vector columns (m, L)); missing columns are zero.
    """
    spec = target.tables[table]
    nrows = len(next(iter(columns.values())))
    rec = np.zeros(nrows, dtype=spec.dtype)
    for name, values in columns.items():
        if name in spec.tzero:
            rec[name] = np.asarray(values).astype(np.int64) - spec.tzero[name]
        else:
            rec[name] = values
    raw = rec.tobytes()
    fd = os.open(target.tmp_path, os.O_WRONLY)
    try:
        os.pwrite(fd, raw, spec.data_offset + first_row * spec.dtype.itemsize)
    finally:
        os.close(fd)
    return checksum.bytes_sum(raw)


def write_planes(target: TableFileTarget, cube: int, first: int, planes: np.ndarray, repeat: int = 1) -> int:
    """Write planes ``first …`` of a growing image cube (``planes`` (m, …) in any float dtype, stored as the
    cube's); ``repeat`` > 1 writes the same ``planes`` that many times one after the other. Returns their
    partial DATASUM."""
    spec = target.tables[cube]
    raw = np.ascontiguousarray(planes, dtype=spec.dtype.base).tobytes()
    fd = os.open(target.tmp_path, os.O_WRONLY)
    try:
        for k in range(repeat):
            os.pwrite(fd, raw, spec.data_offset + (first + k * len(planes)) * spec.dtype.itemsize)
    finally:
        os.close(fd)
    return checksum.fold(checksum.bytes_sum(raw) * repeat)


def _fits_hash(headers: list[fits.Header]) -> str:
    """stdatamodels' ``fits_hash``: SHA-256 of the headers (as read back) of every HDU but ASDF."""
    digest = hashlib.sha256()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        digest.update("".join(str(h) for h in headers).encode())
    return digest.hexdigest()


def seal(target: TableFileTarget, datasums: list[int]) -> Path:
    """Write the final headers and the ASDF extension, then rename the file into place.

    Parameters
    ----------
    datasums : list of int
        Per growing table, the sum (:func:`tso3x.io.checksum.add`) of its blocks' partial DATASUMs.
    """
    fd = os.open(target.tmp_path, os.O_RDWR)
    try:
        final_headers = []
        for offset, header, table in target.headers:
            datasum = datasums[table] if table is not None else target.copied_sums[offset]
            raw = checksum.sealed_header(header, datasum)
            os.pwrite(fd, raw, offset)
            final_headers.append(fits.Header.fromstring(raw.decode("ascii")))
        tree = _HASH_LINE.sub(b"_fits_hash: " + _fits_hash(final_headers).encode(), target.asdf_tree, count=1)
        data = np.frombuffer(tree, dtype=np.uint8)[None, :]
        column = fits.Column(array=data, format=f"{data.shape[1]}B", name="ASDF_METADATA")
        asdf = fits.BinTableHDU.from_columns([column], name=ASDF_EXTENSION)
        header = asdf.header
        checksum.reserve_cards(header)
        body = data.tobytes() + b"\0" * (-data.size % BLOCK)
        head = checksum.sealed_header(header, checksum.bytes_sum(body))
        os.pwrite(fd, head + body, target.end)
        os.ftruncate(fd, target.end + len(head) + len(body))
    finally:
        os.close(fd)
    os.replace(target.tmp_path, target.final_path)
    return Path(target.final_path)
