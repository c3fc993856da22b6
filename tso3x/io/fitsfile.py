"""Low-level FITS access: where each HDU's header and data sit, and lazy reads of integration ranges.

Image data are read straight from the file at byte offsets (``numpy.fromfile``), so a chunk of
integrations costs one read and one byte swap, and no whole-file buffer is ever made.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from ..errors import Tso3xInputError

BLOCK = 2880
_BITPIX = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}
_UINT32_BZERO = 2**31


@dataclass(frozen=True)
class HduLayout:
    """One HDU of a FITS file: its header and the byte range of header and data."""

    index: int
    name: str
    header: fits.Header
    header_offset: int
    data_offset: int
    data_size: int  #: bytes of data, padding included

    @property
    def end(self) -> int:
        return self.data_offset + self.data_size


def read_layout(path: str | Path) -> list[HduLayout]:
    """Headers and byte offsets of every HDU, reading headers only.

    Raises
    ------
    Tso3xInputError
        If the file is missing, not FITS, or shorter than its headers say (truncated).
    """
    path = Path(path)
    if not path.is_file():
        raise Tso3xInputError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)  # truncation is reported below
            hdul = fits.open(path, memmap=False, lazy_load_hdus=False)
        with hdul:
            layout = []
            for i, hdu in enumerate(hdul):
                info = hdul.fileinfo(i)
                name = hdu.name if i else "PRIMARY"
                layout.append(HduLayout(i, name, hdu.header.copy(), info["hdrLoc"], info["datLoc"], info["datSpan"]))
    except (OSError, ValueError, IndexError, TypeError, KeyError) as exc:
        raise Tso3xInputError(path, f"not a readable FITS file ({exc})") from None
    size = path.stat().st_size
    if not layout or layout[-1].data_offset + _payload_bytes(layout[-1].header) > size:
        raise Tso3xInputError(path, "FITS file is truncated")
    return layout


def _payload_bytes(header: fits.Header) -> int:
    """Unpadded data bytes an HDU header announces."""
    naxis = header.get("NAXIS", 0)
    if naxis == 0:
        return 0
    n = 1
    for k in range(1, naxis + 1):
        n *= header.get(f"NAXIS{k}", 0)
    return (n + header.get("PCOUNT", 0)) * header.get("GCOUNT", 1) * abs(header["BITPIX"]) // 8


def find_hdu(layout: list[HduLayout], name: str) -> HduLayout | None:
    """The first HDU with EXTNAME ``name`` (case-insensitive), or None."""
    for hdu in layout:
        if hdu.name.upper() == name.upper():
            return hdu
    return None


@dataclass(frozen=True)
class ImageSource:
    """A lazily read image HDU (``dask.array.from_array`` source): reads only the rows asked for.

    Slicing along the first axis reads that range of planes from disk; other axes are sliced in memory.
    Floating-point data come back as float32 (as stdatamodels casts them), unsigned 32-bit integers
    (BITPIX 32 with BZERO 2**31) as uint32.
    """

    path: str
    offset: int
    shape: tuple[int, ...]
    disk_dtype: str
    unsigned: bool = False

    @property
    def dtype(self) -> np.dtype:
        if self.disk_dtype[1] == "f":
            return np.dtype(np.float32)
        return np.dtype(np.uint32) if self.unsigned else np.dtype(self.disk_dtype[1:])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def read_planes(self, start: int, stop: int) -> np.ndarray:
        """Planes ``start:stop`` along axis 0, in native byte order (one read, byte swap in place)."""
        plane = int(np.prod(self.shape[1:]))
        disk = np.dtype(self.disk_dtype)
        out = np.empty((max(stop - start, 0), *self.shape[1:]), dtype=disk)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * plane * disk.itemsize)
            if f.readinto(out.data.cast("B")) != out.nbytes:
                raise Tso3xInputError(self.path, "FITS file is truncated")
        native = out.byteswap(inplace=True).view(disk.newbyteorder("="))
        if self.unsigned:
            native = native.view(np.uint32)
            native ^= np.uint32(_UINT32_BZERO)
            return native
        return native if native.dtype == self.dtype else native.astype(self.dtype)

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        first = key[0] if key else slice(None)
        if isinstance(first, slice) and first.step in (None, 1):
            start, stop, _ = first.indices(self.shape[0])
            return self.read_planes(start, max(start, stop))[(slice(None), *key[1:])]
        return self.read_planes(0, self.shape[0])[key]


def image_source(path: str | Path, hdu: HduLayout) -> ImageSource:
    """An :class:`ImageSource` for an image HDU, or a Tso3xInputError naming what is wrong with it."""
    header = hdu.header
    bitpix = header.get("BITPIX")
    if bitpix not in _BITPIX:
        raise Tso3xInputError(path, f"unsupported BITPIX {bitpix}", hdu.name)
    naxis = header.get("NAXIS", 0)
    shape = tuple(int(header[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
    bzero, bscale = header.get("BZERO", 0), header.get("BSCALE", 1)
    unsigned = bitpix == 32 and bzero == _UINT32_BZERO and bscale == 1
    if bscale != 1 or (bzero != 0 and not unsigned):
        raise Tso3xInputError(path, f"scaled data (BZERO={bzero}, BSCALE={bscale}) not supported", hdu.name)
    return ImageSource(os.fspath(path), hdu.data_offset, shape, ">" + _BITPIX[bitpix], unsigned)


#: Binary-table TFORM letter → big-endian numpy type (FITS standard, table 18).
_TFORM = {"L": "i1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8", "C": ">c8", "M": ">c16"}


def table_dtype(hdu: HduLayout) -> np.dtype | None:
    """The big-endian row dtype of a binary-table HDU, from its (already parsed) header (see `row_dtype`)."""
    return row_dtype(hdu.header)


def row_dtype(header: fits.Header, zeros: dict[str, float] | None = None) -> np.dtype | None:
    """The big-endian row dtype of a binary table with this header.

    None for what this reader does not decode itself: not a binary table, a column format other than
    fixed-width numbers, logicals and strings (variable-length arrays, bits), scaled columns, or rows whose
    width is not NAXIS1. The dtype is built from a list of fields, never from a comma string (numpy parses
    those with ``ast``, which CPython 3.11 does not allow in several threads at once).

    With ``zeros`` given, integer columns with a TZERO offset (e.g. unsigned DQ) are accepted: the dtype
    is then the stored one, and ``zeros`` receives each such column's offset to add to the stored values.
    """
    if header.get("XTENSION") != "BINTABLE":
        return None
    fields = []
    for k in range(1, int(header.get("TFIELDS", 0)) + 1):
        match = re.fullmatch(r"\s*(\d*)([A-Z])\s*", str(header.get(f"TFORM{k}", "")))
        if match is None or (match[2] != "A" and match[2] not in _TFORM):
            return None
        name, repeat = header.get(f"TTYPE{k}", f"col{k}"), int(match[1]) if match[1] else 1
        zero = header.get(f"TZERO{k}", 0)
        if header.get(f"TSCAL{k}", 1) != 1 or (zero != 0 and (zeros is None or match[2] not in "BIJK")):
            return None
        if zero != 0:
            zeros[name] = zero
        if match[2] == "A":
            fields.append((name, f"S{repeat}"))
        else:
            fields.append((name, _TFORM[match[2]], (repeat,)) if repeat != 1 else (name, _TFORM[match[2]]))
    try:
        dtype = np.dtype((np.record, fields))
    except (TypeError, ValueError):  # e.g. repeated column names
        return None
    return dtype if dtype.itemsize == header.get("NAXIS1", 0) else None


def read_table(path: str | Path, hdu: HduLayout) -> np.ndarray:
    """A (small) binary-table HDU as a numpy structured array in native byte order.

    The rows are read at the HDU's known data offset with a dtype built from its parsed header (no header
    is parsed again). Logical columns come back as bool, as astropy reads them.
    """
    dtype = table_dtype(hdu)
    if dtype is None:  # rare layouts: astropy decodes them (parsing the file's headers again)
        with fits.open(path, memmap=False) as hdul:
            data = hdul[hdu.index].data
            return np.array(data).astype(data.dtype.newbyteorder("=")) if data is not None else np.zeros(0)
    nrows = int(hdu.header.get("NAXIS2", 0))
    with open(path, "rb") as f:
        f.seek(hdu.data_offset)
        raw = f.read(nrows * dtype.itemsize)
    if len(raw) != nrows * dtype.itemsize:
        raise Tso3xInputError(path, "FITS file is truncated")
    table = np.frombuffer(raw, dtype=dtype, count=nrows).astype(dtype.newbyteorder("="))
    logical = [n for n in dtype.names or () if dtype[n].base == np.dtype("i1")]
    if logical:
        fields = [
            (n, np.dtype((bool, table.dtype[n].shape)) if n in logical else table.dtype[n]) for n in table.dtype.names
        ]
        out = np.empty(nrows, dtype=np.dtype((np.record, fields)))
        for name in table.dtype.names:
            out[name] = table[name] == ord("T") if name in logical else table[name]
        table = out
    return table
