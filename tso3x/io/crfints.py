"""Write ``_crfints`` segments chunk by chunk into a pre-allocated FITS file, then seal and rename it.

The output has the input's HDUs and headers in the input's order. Image extensions that outlier
detection updates are written block by block at their byte offsets (by whichever dask worker computed
the block); every other HDU (INT_TIMES, WAVELENGTH, ASDF, …) is copied byte for byte. Each block returns
its partial checksum, so the final CHECKSUM/DATASUM cost no second pass. The file is built under a
temporary name and renamed into place only when complete.

:func:`plan_crfints` allocates the crfints of a flagged exposure and builds the dask tasks that write their
blocks, without computing them, so the pipeline computes them in one submission with the measurements that
read the same flagged chunks (:func:`tso3x.execution.compute_alongside`). Each crfints is sealed and renamed
into place as soon as its own chunks are written, so a failure in a later segment leaves the earlier ones
complete.
"""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import os
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from astropy.io import fits

from .. import names, product_names
from .._version import __version__
from ..dataset import segment_slices
from ..jit import NUMBA, check
from . import checksum
from .asn import Association
from .calints import SegmentMeta, segment_metas
from .fitsfile import BLOCK

_COPY_BYTES = 64 * 2**20

log = logging.getLogger(__name__)


@dataclass
class CubeTarget:
    """A pre-allocated crfints file: where each updated image extension's data start."""

    tmp_path: str
    final_path: str
    plane_bytes: int
    data_offsets: dict[str, int]  #: Dataset variable → byte offset of its data in the file
    headers: list[tuple[int, fits.Header, str | None]] = field(default_factory=list)
    #: per HDU: header offset, header (cards reserved), variable name or None (copied HDU)
    copied_sums: dict[int, int] = field(default_factory=dict)  #: header offset → datasum of copied HDUs


def _pad(nbytes: int) -> int:
    return -nbytes % BLOCK


def _image_header(header: fits.Header, dtype: np.dtype) -> fits.Header:
    """The input header with BITPIX (and BZERO for unsigned DQ) describing the data written."""
    header = header.copy()
    if dtype == np.uint32:
        header["BITPIX"] = 32
        if header.get("BZERO") != 2**31:
            header.set("BZERO", 2**31, after=f"NAXIS{header['NAXIS']}")
        if header.get("BSCALE", 1) != 1:
            header["BSCALE"] = 1
    else:
        header["BITPIX"] = -32
        for key in ("BZERO", "BSCALE"):
            header.remove(key, ignore_missing=True)
    return header


def copy_region(src, dst, src_offset: int, dst_offset: int, size: int) -> int:
    total = 0
    done = 0
    while done < size:
        buf = os.pread(src, min(_COPY_BYTES, size - done), src_offset + done)
        if not buf:
            raise OSError("input file shorter than its headers say")
        os.pwrite(dst, buf, dst_offset + done)
        usable = len(buf) - len(buf) % 4
        total = checksum.add(total, checksum.bytes_sum(buf[:usable]))
        done += len(buf)
    return total


def allocate(
    src: SegmentMeta,
    tmp_path: str | Path,
    final_path: str | Path,
    variables: dict[str, np.dtype],
    primary_updates: dict,
    history: list[str],
) -> CubeTarget:
    """Create the temporary crfints file with every header and copied HDU in place.

    Parameters
    ----------
    src : SegmentMeta
        The calints segment: its HDU layout (headers and byte offsets, not read again) and path.
    tmp_path, final_path : path
        Where the file is built and where it goes when sealed.
    variables : dict
        Dataset variable → output dtype for the image extensions that will be written block by block.
    primary_updates : dict
        Keyword → value (or (value, comment)) set in the primary header.
    history : list of str
        HISTORY cards added to the primary header.
    """
    ext_of = {var: ext for ext, var in names.CUBE_VARIABLES.items()}
    written = {ext_of[v] for v in variables}
    target = CubeTarget(os.fspath(tmp_path), os.fspath(final_path), 0, {})
    src_fd = os.open(src.path, os.O_RDONLY)
    dst = os.open(tmp_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        offset = 0
        for hdu in src.layout:
            name = hdu.name.upper() if hdu.index else "PRIMARY"
            header = hdu.header.copy()
            var = None
            if hdu.index == 0:
                with warnings.catch_warnings():  # long values truncate the comment, as in jwst's files
                    warnings.simplefilter("ignore", fits.verify.VerifyWarning)
                    for key, value in primary_updates.items():
                        header[key] = value
                for line in history:
                    header["HISTORY"] = line
            elif name in written:
                var = names.CUBE_VARIABLES[name]
                header = _image_header(header, np.dtype(variables[var]))
            checksum.reserve_cards(header)
            head = checksum.header_bytes(header)
            os.pwrite(dst, head, offset)
            target.headers.append((offset, header, var))
            data_offset = offset + len(head)
            if var is not None:
                nbytes = int(np.prod([header[f"NAXIS{k}"] for k in range(1, header["NAXIS"] + 1)])) * 4
                target.data_offsets[var] = data_offset
                target.plane_bytes = header["NAXIS1"] * header["NAXIS2"] * 4
                size = nbytes + _pad(nbytes)
                os.ftruncate(dst, max(os.fstat(dst).st_size, data_offset + size))
            else:
                size = hdu.data_size
                target.copied_sums[offset] = copy_region(src_fd, dst, hdu.data_offset, data_offset, size)
            offset = data_offset + size
        os.ftruncate(dst, offset)
    finally:
        os.close(src_fd)
        os.close(dst)
    return target


#: Tests only: a write into a crfints whose name contains this variable's value fails as on a full disk.
FAULT_ENV = "TSO3X_TEST_FAIL_WRITE"


def write_block(target: CubeTarget, var: str, first_plane: int, block: np.ndarray, kernels: str = NUMBA) -> int:
    """Write planes ``first_plane …`` of one variable; returns the block's partial DATASUM (computed by the
    ``kernels``: :func:`tso3x.io.checksum.disk_bytes`)."""
    fault = os.environ.get(FAULT_ENV)
    if fault and fault in os.path.basename(target.final_path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target.tmp_path)
    data, partial_sum = checksum.disk_bytes(block, kernels=kernels)
    fd = os.open(target.tmp_path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, target.data_offsets[var] + first_plane * target.plane_bytes)
    finally:
        os.close(fd)
    return partial_sum


def seal(target: CubeTarget, datasums: dict[str, int]) -> Path:
    """Write the final headers with CHECKSUM/DATASUM and rename the file into place."""
    fd = os.open(target.tmp_path, os.O_WRONLY)
    try:
        for offset, header, var in target.headers:
            datasum = datasums[var] if var is not None else target.copied_sums[offset]
            os.pwrite(fd, checksum.sealed_header(header, datasum), offset)
    finally:
        os.close(fd)
    os.replace(target.tmp_path, target.final_path)
    return Path(target.final_path)


def primary_updates(filename: str, asn_pool: str, asn_table: str) -> dict:
    """PRIMARY keywords a crfints gets: FILENAME, DATE, S_OUTLIR, ASNPOOL, ASNTABLE and tso3x's version."""
    return {
        "FILENAME": filename,
        "DATE": (_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3], "UTC date file created"),
        "S_OUTLIR": "COMPLETE",
        "ASNPOOL": asn_pool,
        "ASNTABLE": asn_table,
        "T3X_VER": (__version__, "tso3x version that wrote it (not jwst)"),
    }


def _write_chunk(*blocks, target: CubeTarget, variables: tuple[str, ...], kernels: str, block_info=None):
    first = block_info[0]["array-location"][0][0]
    sums = [write_block(target, var, first, blk, kernels) for var, blk in zip(variables, blocks, strict=False)]
    finite = int(np.isfinite(blocks[variables.index(names.SCI)]).sum()) if names.SCI in variables else 1
    return np.array([[[*sums, finite, int(blocks[-1].sum())]]], dtype=np.uint64)


def _crfints_graph(seg: xr.Dataset, target: CubeTarget, variables: tuple[str, ...], kernels: str) -> da.Array:
    """One task per chunk: write its blocks of every variable; returns (chunks, 1, variables + 2) of
    partial DATASUMs, the chunk's finite SCI values and its outlier count."""
    arrays = [seg[v].data for v in variables]
    counts = seg[names.N_OUTLIERS].data[:, None, None]
    nblocks = len(arrays[0].chunks[0])
    return da.map_blocks(
        _write_chunk,
        *arrays,
        counts,
        target=target,
        variables=variables,
        kernels=kernels,
        dtype=np.uint64,
        chunks=((1,) * nblocks, (1,), (len(variables) + 2,)),
    )


@dataclass
class CrfintsPlan:
    """The crfints of one flagged exposure: paths, and per segment the tasks still to compute.

    ``groups[i]`` holds segment ``i``'s write tasks (unless it is kept from an earlier run) and, with
    ``counts``, its outliers per integration; :meth:`finish` seals segment ``i`` from their results.
    """

    paths: list[Path]
    groups: list[list]
    variables: tuple[str, ...]
    counts: bool
    on_sealed: Callable[[Path, int, int], None] | None = None
    targets: list[CubeTarget | None] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    pixels: list[int] = field(default_factory=list)  #: SCI values of each segment (its nints × ny × nx)
    per_segment: list[np.ndarray | None] = field(default_factory=list)

    def finish(self, i: int, results: list) -> None:
        """Seal and rename segment ``i``'s crfints (called as soon as its tasks are done)."""
        target = self.targets[i]
        if target is not None:
            result = results[0]
            sums = {v: checksum.fold(int(result[:, 0, k].sum(dtype=np.uint64))) for k, v in enumerate(self.variables)}
            flagged = int(result[:, 0, -1].sum())
            if not result[:, 0, -2].any():
                log.warning("%s: every SCI value is NaN; its measurements will be NaN (white light 0)", self.sources[i])
            path = seal(target, sums)
            log.info("wrote %s (%d pixels flagged as outliers)", path.name, flagged)
            if self.on_sealed is not None:
                self.on_sealed(path, flagged, self.pixels[i])
        if self.counts:
            self.per_segment[i] = results[-1]

    def outlier_counts(self) -> np.ndarray | None:
        """Pixels flagged as outliers in each integration of the exposure (None unless ``counts``)."""
        return np.concatenate(self.per_segment) if self.counts else None


def plan_crfints(
    flagged: xr.Dataset,
    asn: Association,
    output_dir: Path,
    *,
    keep: Collection[str] = (),
    counts: bool = True,
    on_sealed: Callable[[Path, int, int], None] | None = None,
    kernels: str = NUMBA,
) -> CrfintsPlan:
    """Allocate the crfints of an outlier-flagged exposure Dataset and build (not compute) their writes.

    Parameters
    ----------
    flagged : xarray.Dataset
        :func:`tso3x.detect_outliers` output (lazy).
    asn : Association
    output_dir : Path
        Products folder (files are built in its ``.tso3x-tmp``).
    keep : collection of str
        Names of crfints that are already complete and are not rewritten.
    counts : bool
        Also compute the outliers flagged in each integration (in the same pass).
    on_sealed : callable, optional
        Called as soon as each crfints is complete with its path, the pixels it flags as outliers and its
        pixels (SCI values).
    kernels : {"numba", "numpy"}
        How the blocks are converted and summed (:func:`tso3x.io.checksum.disk_bytes`; the same bytes).
    """
    variables = tuple(v for v in names.CUBE_VARIABLES.values() if v in flagged)
    params = flagged.attrs.get("outlier_detection_parameters", "")
    history = [f"tso3x {__version__} outlier_detection (tso) {params}"]
    plan = CrfintsPlan([], [], variables, counts, on_sealed)
    for meta, segment in zip(segment_metas(flagged), segment_slices(flagged), strict=True):
        src = str(meta.path)
        name = product_names.crfints(src, asn.asn_id)
        plan.paths.append(output_dir / name)
        seg = flagged.isel({names.INTEGRATION: segment})
        target, group = None, []
        if name not in keep:
            target = allocate(
                meta,
                output_dir / product_names.TMP_DIR / name,
                output_dir / name,
                {v: flagged[v].dtype for v in variables},
                primary_updates(name, asn.asn_pool, asn.table_name),
                history,
            )
            group.append(_crfints_graph(seg, target, variables, check(kernels)))
        if counts:
            group.append(seg[names.N_OUTLIERS].data)
        if group:
            plan.targets.append(target)
            plan.groups.append(group)
            plan.sources.append(src)
            plan.pixels.append(int(seg[names.SCI].size))
    plan.per_segment = [None] * len(plan.groups)
    return plan
