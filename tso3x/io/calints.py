"""Open ``_calints`` segments as lazy, integration-chunked xarray Datasets.

A segment becomes a Dataset with dims ``(integration, y, x)``; its image extensions are dask arrays
read chunk by chunk from the FITS file (see :mod:`tso3x.io.fitsfile`), INT_TIMES become coordinates and
the keywords the pipeline needs become attrs. Segments of one exposure and detector concatenate along
``integration``.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

from .. import names, notes
from ..dataset import concat_integrations, segment_slices
from ..errors import Tso3xInputError
from .fitsfile import HduLayout, find_hdu, image_source, read_layout, read_table

log = logging.getLogger(__name__)

#: PRIMARY keywords copied into Dataset attrs (when present).
PRIMARY_KEYWORDS = (
    "TELESCOP",
    "INSTRUME",
    "DETECTOR",
    "MODULE",
    "CHANNEL",
    "FILTER",
    "PUPIL",
    "GRATING",
    "EXP_TYPE",
    "TSOVISIT",
    "NINTS",
    "INTSTART",
    "INTEND",
    "EXSEGNUM",
    "EXSEGTOT",
    "NGROUPS",
    "NFRAMES",
    "TFRAME",
    "TGROUP",
    "EFFINTTM",
    "EXPSTART",
    "EXPMID",
    "EXPEND",
    "SUBARRAY",
    "SUBSTRT1",
    "SUBSTRT2",
    "SUBSIZE1",
    "SUBSIZE2",
    "FASTAXIS",
    "SLOWAXIS",
    "PROGRAM",
    "OBSERVTN",
    "VISIT",
    "EXPOSURE",
    "OBS_ID",
    "TARGNAME",
    "TARG_RA",
    "TARG_DEC",
    "DATAMODL",
    "DATE-OBS",
    "TIME-OBS",
)
#: SCI-header keywords copied into Dataset attrs (when present).
SCI_KEYWORDS = (
    "BUNIT",
    "PIXAR_SR",
    "PIXAR_A2",
    "PHOTMJSR",
    "PHOTUJA2",
    "XREF_SCI",
    "YREF_SCI",
    "SRCTYPE",
    "DISPAXIS",
    "SLTNAME",
    "SLTSTRT1",
    "SLTSTRT2",
    "SLTSIZE1",
    "SLTSIZE2",
    "SRCXPOS",
    "SRCYPOS",
    "S_REGION",
)
TSO_EXP_TYPES = ("NRC_TSIMAGE", "NRC_TSGRISM", "NRS_BRIGHTOBJ")
#: Default megabytes of all arrays of one chunk together.
DEFAULT_CHUNK_MB = 128.0


@dataclass(eq=False)
class SegmentMeta:
    """What a segment file holds besides its image cubes, from the one decode of its headers.

    Made by :func:`open_segment` (or :func:`read_segment_meta`); Datasets carry the metas of their segments
    in ``attrs["segment_meta"]``, so nothing downstream parses the file's headers again.

    Attributes
    ----------
    path : Path
        The segment file (resolved).
    layout : list of HduLayout
        Every HDU's header and byte offsets.
    int_times : numpy structured array
        The INT_TIMES table as in the file (native byte order; empty when there is none).
    wavelength : ndarray (ny, nx) or None
        The 2-D WAVELENGTH image as read [micron] (None when absent or not 2-D).
    """

    path: Path
    layout: list[HduLayout] = field(repr=False)
    int_times: np.ndarray = field(repr=False)
    wavelength: np.ndarray | None = field(default=None, repr=False)
    _wcs: tuple = field(default=(), init=False, repr=False)  #: (gwcs or None,) once decoded

    @property
    def primary_header(self):
        """The PRIMARY header (astropy Header; do not modify)."""
        return self.layout[0].header

    @property
    def sci_header(self):
        """The SCI header (astropy Header; do not modify), or None."""
        hdu = find_hdu(self.layout, "SCI")
        return None if hdu is None else hdu.header

    def hdu(self, name: str) -> HduLayout | None:
        """The first HDU named ``name`` (case-insensitive), or None."""
        return find_hdu(self.layout, name)

    @property
    def wcs(self):
        """The gWCS of the ASDF extension (``meta.wcs``), or None; decoded on first access, then kept."""
        if not self._wcs:
            hdu = self.hdu("ASDF")
            wcs = None if hdu is None else decode_wcs(self.path, read_table(self.path, hdu))
            self._wcs = (wcs,)
        return self._wcs[0]

    def __copy__(self) -> SegmentMeta:  # read-only once made: copies of a Dataset share it (and its WCS)
        return self

    def __deepcopy__(self, memo) -> SegmentMeta:
        return self

    def __getstate__(self) -> dict:  # a decoded WCS stays in the process that decoded it
        return {**self.__dict__, "_wcs": ()}

    def __dask_tokenize__(self):
        return ("SegmentMeta", os.fspath(self.path))


def decode_wcs(path: str | Path, asdf_table: np.ndarray):
    """The gWCS (``meta.wcs``) in the rows of an ASDF extension, or None if the tree has none.

    Raises
    ------
    Tso3xInputError
        If the ASDF tree cannot be read.
    """
    import asdf  # only needed here; keeps start-up light

    try:
        with asdf.config_context() as config:
            config.validate_on_read = False  # the schema check of the whole tree costs seconds; the WCS is built anyway
            raw = io.BytesIO(asdf_table["ASDF_METADATA"][0].tobytes())
            with asdf.open(raw, lazy_load=True, memmap=False) as af:
                return af.tree.get("meta", {}).get("wcs")
    except (ValueError, KeyError, asdf.exceptions.AsdfConversionWarning) as exc:
        raise Tso3xInputError(path, f"cannot read the WCS in the ASDF extension ({exc})", "ASDF") from None


def _wavelength_image(path: Path, layout: list[HduLayout]) -> np.ndarray | None:
    wav = find_hdu(layout, "WAVELENGTH")
    if wav is None or wav.header.get("NAXIS", 0) != 2:
        return None
    return image_source(path, wav)[:]


def read_segment_meta(path: str | Path) -> SegmentMeta:
    """The :class:`SegmentMeta` of a segment file (headers, INT_TIMES, WAVELENGTH), without its checks."""
    path = Path(path).resolve()
    layout = read_layout(path)
    times = find_hdu(layout, "INT_TIMES")
    int_times = read_table(path, times) if times is not None else np.zeros(0)
    return SegmentMeta(path, layout, int_times, _wavelength_image(path, layout))


def segment_metas(ds: xr.Dataset) -> tuple[SegmentMeta, ...]:
    """The :class:`SegmentMeta` of each segment of a Dataset, in segment order.

    From ``attrs["segment_meta"]``; a Dataset without them (built otherwise) has its ``segment_files`` (or
    ``path``) read. Empty when the Dataset names no files, or not one per segment (e.g. a selection of
    integrations of another exposure).
    """
    n = len(segment_slices(ds))
    metas = ds.attrs.get("segment_meta")
    if metas is not None:
        return tuple(metas) if len(metas) == n else ()
    files = ds.attrs.get("segment_files") or ([ds.attrs["path"]] if "path" in ds.attrs else [])
    return tuple(read_segment_meta(f) for f in files) if len(files) == n else ()


def _header_attrs(primary: HduLayout, sci: HduLayout) -> dict:
    attrs = {}
    for hdu, keys in ((primary, PRIMARY_KEYWORDS), (sci, SCI_KEYWORDS)):
        for key in keys:
            value = hdu.header.get(key)
            if value is not None and not isinstance(value, bool | int | float | str):
                value = str(value)
            if value is not None:
                attrs[key] = value
    return attrs


def _cube_hdus(path: Path, layout: list[HduLayout]) -> tuple[dict[str, HduLayout], tuple[int, ...]]:
    """The image HDUs of a segment, checked: SCI 3-D float; ERR and DQ of its shape; VAR_* optional."""
    found: dict[str, HduLayout] = {}
    for extname in ("SCI", "ERR", "DQ"):
        hdu = find_hdu(layout, extname)
        if hdu is None:
            raise Tso3xInputError(path, f"no {extname} extension")
        found[extname] = hdu
    sci = image_source(path, found["SCI"])
    if sci.ndim != 3:
        raise Tso3xInputError(path, f"SCI is {sci.ndim}-D; a TSO segment needs (integration, y, x)", "SCI")
    if found["SCI"].header["BITPIX"] > 0:
        raise Tso3xInputError(path, "SCI is not floating point", "SCI")
    shape = sci.shape
    for extname in ("ERR", "DQ"):
        other = image_source(path, found[extname])
        if other.shape != shape:
            raise Tso3xInputError(path, f"{extname} shape {other.shape} differs from SCI {shape}", extname)
    if found["DQ"].header["BITPIX"] < 0:
        raise Tso3xInputError(path, "DQ is not integer", "DQ")
    for extname in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
        hdu = find_hdu(layout, extname)
        if hdu is None or hdu.header.get("NAXIS", 0) == 0:
            continue
        if image_source(path, hdu).shape != shape:
            notes.warning(log, "%s shape differs from SCI; it is left out of outlier detection", extname)
            continue
        found[extname] = hdu
    return found, shape


def _integration_numbers(path: Path, primary: HduLayout, n: int, int_times: np.ndarray) -> np.ndarray:
    start = primary.header.get("INTSTART")
    if isinstance(start, int) and start >= 1:
        numbers = np.arange(start, start + n, dtype=np.int64)
        end = primary.header.get("INTEND")
        if isinstance(end, int) and end != start + n - 1:
            raise Tso3xInputError(path, f"INTSTART={start}, INTEND={end} do not match {n} integrations", "PRIMARY")
        return numbers
    if len(int_times) == n:
        return int_times["integration_number"].astype(np.int64)
    return np.arange(1, n + 1, dtype=np.int64)


def _time_coords(path: Path, table: np.ndarray, numbers: np.ndarray) -> dict[str, np.ndarray]:
    missing = [c for c in ("integration_number", *names.INT_TIMES_COORDS) if c not in (table.dtype.names or ())]
    if missing:
        raise Tso3xInputError(path, f"INT_TIMES lacks column {missing[0]}", "INT_TIMES")
    row_of = {int(num): i for i, num in enumerate(table["integration_number"])}
    absent = [int(num) for num in numbers if int(num) not in row_of]
    if absent:
        raise Tso3xInputError(
            path, f"INT_TIMES has {len(table)} rows and none for integration {absent[0]}", "INT_TIMES"
        )
    rows = np.array([row_of[int(num)] for num in numbers], dtype=np.int64)
    return {coord: np.asarray(table[col], dtype=np.float64)[rows] for col, coord in names.INT_TIMES_COORDS.items()}


def integrations_per_chunk(frame_bytes: int, chunk_mb: float) -> int:
    """Integrations in one chunk so that all arrays of the chunk together take about ``chunk_mb`` MB."""
    if chunk_mb <= 0:
        raise Tso3xInputError(None, f"--chunk-mb must be positive, not {chunk_mb}")
    return max(1, int(chunk_mb * 2**20 // max(frame_bytes, 1)))


def open_segment(path: str | Path, chunk_mb: float = DEFAULT_CHUNK_MB, segment: int | None = None) -> xr.Dataset:
    """Open one ``_calints`` segment lazily.

    Parameters
    ----------
    path : str or Path
        The calints FITS file.
    chunk_mb : float
        Target megabytes of all image arrays of one chunk together.
    segment : int, optional
        Segment number for the ``segment`` coordinate; EXSEGNUM (or 1) by default.

    Returns
    -------
    xarray.Dataset
        Variables ``sci``, ``err``, ``dq`` and the ``var_*`` present, dims (integration, y, x), dask
        arrays chunked along ``integration`` only; ``wavelength`` (y, x) in micron when the file has a
        WAVELENGTH extension; coordinates ``integration`` (absolute, 1-based), ``segment`` and the INT_TIMES
        times (days); attrs with the pipeline's keywords, ``filename``, ``path`` and ``segment_meta`` (a
        tuple of one :class:`SegmentMeta`).
    """
    path = Path(path).resolve()
    layout = read_layout(path)
    primary = layout[0]
    with notes.segment(path):
        hdus, shape = _cube_hdus(path, layout)
    times_hdu = find_hdu(layout, "INT_TIMES")
    if times_hdu is None:
        raise Tso3xInputError(path, "no INT_TIMES extension")
    if "EXP_TYPE" not in primary.header:
        raise Tso3xInputError(path, "no EXP_TYPE keyword", "PRIMARY")
    n = shape[0]
    int_times = read_table(path, times_hdu)
    numbers = _integration_numbers(path, primary, n, int_times)
    coords = _time_coords(path, int_times, numbers)
    meta = SegmentMeta(path, layout, int_times, _wavelength_image(path, layout))

    sources = {names.CUBE_VARIABLES[ext]: image_source(path, hdu) for ext, hdu in hdus.items()}
    frame_bytes = sum(src.dtype.itemsize for src in sources.values()) * shape[1] * shape[2]
    per_chunk = integrations_per_chunk(frame_bytes, chunk_mb)
    st = os.stat(path)
    # a key must name one array: the file's version and the chunking (a long-lived distributed client
    # holds keys across runs, and a rewritten crfints or another chunk size must not reuse them)
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns, per_chunk)
    dims = (names.INTEGRATION, names.Y, names.X)
    data_vars = {
        var: (
            dims,
            da.from_array(
                src,
                chunks=(per_chunk, -1, -1),
                asarray=False,
                fancy=False,
                name=f"{var}-{tokenize(src, stamp)}",
                meta=np.empty((0, 0, 0), src.dtype),
            ),
        )
        for var, src in sources.items()
    }
    if meta.wavelength is not None and meta.wavelength.shape == shape[1:]:
        data_vars[names.WAVELENGTH] = ((names.Y, names.X), meta.wavelength, {"units": "um"})

    seg = segment if segment is not None else int(primary.header.get("EXSEGNUM", 1) or 1)
    integ = (names.INTEGRATION,)
    ds = xr.Dataset(
        data_vars,
        coords={
            names.INTEGRATION: numbers,
            names.SEGMENT: (integ, np.full(n, seg, dtype=np.int64)),
            **{name: (integ, values, {"units": "d"}) for name, values in coords.items()},
        },
        attrs={
            **_header_attrs(primary, hdus["SCI"]),
            "filename": path.name,
            "path": str(path),
            "segment_meta": (meta,),
        },
    )
    return ds


def is_tso(attrs: dict) -> bool:
    """jwst ``is_tso``: TSOVISIT true or a TSO EXP_TYPE, and NINTS (when given) at least 2."""
    tso = bool(attrs.get("TSOVISIT")) or str(attrs.get("EXP_TYPE", "")).upper() in TSO_EXP_TYPES
    nints = attrs.get("NINTS")
    return tso and not (nints is not None and nints < 2)


def is_imaging(attrs: dict) -> bool:
    """calwebb_tso3's imaging decision: NRC_TSIMAGE, or MIR_IMAGE when the exposure is TSO."""
    exp_type = str(attrs.get("EXP_TYPE", "")).upper()
    return exp_type == "NRC_TSIMAGE" or (exp_type == "MIR_IMAGE" and is_tso(attrs))


def exposure_key(ds: xr.Dataset) -> tuple[str, str]:
    """Group key of a segment: exposure root of the file name (without ``-segNNN``) and DETECTOR."""
    detector = str(ds.attrs.get("DETECTOR", ""))
    root = re.split(r"-seg\d+", ds.attrs["filename"])[0]
    root = root.split("_" + detector.lower())[0] if detector else root
    return root, detector


def concat_segments(segments: list[xr.Dataset]) -> xr.Dataset:
    """Concatenate the segments of one exposure and detector along ``integration`` (sorted by number).

    Raises
    ------
    Tso3xInputError
        If EXP_TYPE or frame shape differ, or integration numbers overlap.
    """
    segments = sorted(segments, key=lambda s: int(s[names.INTEGRATION][0]))
    first = segments[0]
    for seg in segments[1:]:
        if seg.attrs.get("EXP_TYPE") != first.attrs.get("EXP_TYPE"):
            raise Tso3xInputError(
                seg.attrs["path"],
                f"EXP_TYPE {seg.attrs.get('EXP_TYPE')} differs from "
                f"{first.attrs.get('EXP_TYPE')} of {first.attrs['filename']}",
                "PRIMARY",
            )
        if seg.sizes[names.Y] != first.sizes[names.Y] or seg.sizes[names.X] != first.sizes[names.X]:
            raise Tso3xInputError(seg.attrs["path"], f"frame shape differs from {first.attrs['filename']}", "SCI")
        if set(seg.data_vars) != set(first.data_vars):
            raise Tso3xInputError(seg.attrs["path"], f"extensions differ from {first.attrs['filename']}")
    for prev, seg in zip(segments, segments[1:], strict=False):
        if int(seg[names.INTEGRATION][0]) <= int(prev[names.INTEGRATION][-1]):
            raise Tso3xInputError(
                seg.attrs["path"], f"integration numbers overlap those of {prev.attrs['filename']}", "PRIMARY"
            )
    out = concat_integrations(segments)
    out.attrs = {k: v for k, v in first.attrs.items() if k not in ("filename", "path")}
    out.attrs["segment_files"] = [s.attrs["path"] for s in segments]
    out.attrs["segment_meta"] = tuple(m for s in segments for m in segment_metas(s))
    return out


def open_exposures(members: list[Path] | tuple[Path, ...], chunk_mb: float = DEFAULT_CHUNK_MB) -> list[xr.Dataset]:
    """Open every member and group them into one Dataset per exposure and detector.

    Every member is opened and checked (headers, shapes, INT_TIMES) before anything is computed.
    The first member's exposure must be TSO (calwebb_tso3's check); otherwise a Tso3xInputError.
    """
    with notes.gathered():  # a problem every segment has is told once
        segments = [open_segment(p, chunk_mb) for p in members]
    if not is_tso(segments[0].attrs):
        raise Tso3xInputError(
            segments[0].attrs["path"],
            "not a TSO exposure (TSOVISIT is not true, EXP_TYPE "
            f"{segments[0].attrs.get('EXP_TYPE')} is not a TSO type, or NINTS < 2)",
            "PRIMARY",
        )
    groups: dict[tuple[str, str], list[xr.Dataset]] = {}
    for seg in segments:
        groups.setdefault(exposure_key(seg), []).append(seg)
    return [concat_segments(group) for group in groups.values()]


def load_wcs(source: xr.Dataset | str | Path):
    """The gwcs stored in a calints segment's ASDF extension (``meta.wcs``), or None if it has none.

    Parameters
    ----------
    source : xarray.Dataset or path
        A segment or exposure Dataset (its first segment's WCS, decoded once and kept with the Dataset's
        :class:`SegmentMeta`) or a calints file (read now).

    Returns
    -------
    gwcs.WCS or None
    """
    if isinstance(source, xr.Dataset):
        metas = segment_metas(source)
        meta = metas[0] if metas else read_segment_meta(source.attrs.get("path") or source.attrs["segment_files"][0])
    else:
        meta = read_segment_meta(source)
    return meta.wcs
