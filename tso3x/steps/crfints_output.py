"""The ``_crfints`` products of outlier detection: one per segment, written chunk by chunk by the workers.

:func:`plan_crfints` allocates every crfints and builds the dask tasks that write their blocks, without
computing them, so a caller can compute them in one submission with the measurements that read the same
flagged chunks (:func:`tso3x.execution.compute_alongside`); :func:`write_crfints` computes them on their own.
Either way each crfints is sealed and renamed into place as soon as its own chunks are written, so a failure
in a later segment leaves the earlier ones complete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from .. import names, product_names
from .._version import __version__
from ..dataset import segment_slices
from ..execution import compute_alongside
from ..io import checksum, crfints
from ..io.asn import Association
from ..io.calints import segment_metas

log = logging.getLogger(__name__)


def _write_chunk(*blocks, target: crfints.CubeTarget, variables: tuple[str, ...], block_info=None):
    first = block_info[0]["array-location"][0][0]
    sums = [crfints.write_block(target, var, first, blk) for var, blk in zip(variables, blocks, strict=False)]
    finite = int(np.isfinite(blocks[variables.index(names.SCI)]).sum()) if names.SCI in variables else 1
    return np.array([[[*sums, finite, int(blocks[-1].sum())]]], dtype=np.uint64)


def _crfints_graph(seg: xr.Dataset, target: crfints.CubeTarget, variables: tuple[str, ...]) -> da.Array:
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
    on_sealed: Callable[[Path], None] | None = None
    targets: list[crfints.CubeTarget | None] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    per_segment: list[np.ndarray | None] = field(default_factory=list)

    def finish(self, i: int, results: list) -> None:
        """Seal and rename segment ``i``'s crfints (called as soon as its tasks are done)."""
        target = self.targets[i]
        if target is not None:
            result = results[0]
            sums = {v: checksum.fold(int(result[:, 0, k].sum(dtype=np.uint64))) for k, v in enumerate(self.variables)}
            log.info("%s: %d pixels marked as outliers", Path(target.final_path).name, int(result[:, 0, -1].sum()))
            if not result[:, 0, -2].any():
                log.warning("%s: every SCI value is NaN; its measurements will be NaN (white light 0)", self.sources[i])
            path = crfints.seal(target, sums)
            if self.on_sealed is not None:
                self.on_sealed(path)
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
    on_sealed: Callable[[Path], None] | None = None,
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
        Called with the path of each crfints as soon as it is complete.
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
            target = crfints.allocate(
                meta,
                output_dir / product_names.TMP_DIR / name,
                output_dir / name,
                {v: flagged[v].dtype for v in variables},
                crfints.primary_updates(name, asn.asn_pool, asn.table_name),
                history,
            )
            group.append(_crfints_graph(seg, target, variables))
        if counts:
            group.append(seg[names.N_OUTLIERS].data)
        if group:
            plan.targets.append(target)
            plan.groups.append(group)
            plan.sources.append(src)
    plan.per_segment = [None] * len(plan.groups)
    return plan


def write_crfints(
    flagged: xr.Dataset,
    asn: Association,
    output_dir: Path,
    *,
    keep: Collection[str] = (),
    counts: bool = True,
    on_sealed: Callable[[Path], None] | None = None,
) -> tuple[list[Path], np.ndarray | None]:
    """Write one crfints per segment of an outlier-flagged exposure Dataset (all segments in one graph).

    Parameters are those of :func:`plan_crfints`.

    Returns
    -------
    paths : list of Path
        The crfints (kept ones included), in segment order.
    counts : ndarray or None
        Pixels flagged as outliers in each integration of the exposure (None unless ``counts``).
    """
    plan = plan_crfints(flagged, asn, output_dir, keep=keep, counts=counts, on_sealed=on_sealed)
    compute_alongside([], [plan], label="outlier_detection")
    return plan.paths, plan.outlier_counts()
