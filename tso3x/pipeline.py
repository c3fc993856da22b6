"""calwebb_tso3 for one association: check every input, flag outliers, write the products."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr

from . import __version__, names
from .dataset import segment_slices
from .errors import Tso3xInputError
from .io import checksum, crfints
from .io.asn import Association, open_asn
from .io.calints import DEFAULT_CHUNK_MB, open_exposures
from .steps.outliers import OutlierParameters, detect_outliers

log = logging.getLogger(__name__)

TMP_DIR = ".tso3x-tmp"


def prepare_output_dir(output_dir: str | Path) -> Path:
    """Create the output folder (and its temporary subfolder) or say why it cannot be used."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise Tso3xInputError(out, "output directory is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / TMP_DIR
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise Tso3xInputError(out, f"output directory is not writable ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise Tso3xInputError(out, "output directory is not writable")
    return out


def _check_reference_files(**overrides: str | Path | None) -> None:
    for option, path in overrides.items():
        if path is None or str(path) == "N/A":
            continue
        if not Path(path).is_file():
            raise Tso3xInputError(path, f"{option} file not found")


def _write_chunk(*blocks, target: crfints.CubeTarget, variables: tuple[str, ...], block_info=None):
    first = block_info[0]["array-location"][0][0]
    sums = [crfints.write_block(target, var, first, blk) for var, blk in zip(variables, blocks, strict=False)]
    return np.array([[[*sums, int(blocks[-1].sum())]]], dtype=np.uint64)


def _crfints_graph(seg: xr.Dataset, target: crfints.CubeTarget, variables: tuple[str, ...]) -> da.Array:
    """One task per chunk: write its blocks of every variable; returns (chunks, 1, variables + 1) of
    partial DATASUMs and the chunk's outlier count."""
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
        chunks=((1,) * nblocks, (1,), (len(variables) + 1,)),
    )


def write_crfints(flagged: xr.Dataset, asn: Association, output_dir: Path) -> list[Path]:
    """Write one crfints per segment of an outlier-flagged exposure Dataset (all segments in one graph)."""
    variables = tuple(v for v in names.CUBE_VARIABLES.values() if v in flagged)
    params = flagged.attrs.get("outlier_detection_parameters", "")
    history = [f"tso3x {__version__} outlier_detection (tso) {params}"]
    targets, graphs = [], []
    for src, segment in zip(flagged.attrs["segment_files"], segment_slices(flagged), strict=True):
        name = crfints.crfints_name(Path(src).name, asn.asn_id)
        target = crfints.allocate(
            src,
            output_dir / TMP_DIR / name,
            output_dir / name,
            {v: flagged[v].dtype for v in variables},
            crfints.primary_updates(name, asn.asn_pool, asn.table_name),
            history,
        )
        targets.append(target)
        graphs.append(_crfints_graph(flagged.isel({names.INTEGRATION: segment}), target, variables))
    results = dask.compute(*graphs)
    paths = []
    for target, result in zip(targets, results, strict=True):
        sums = {var: checksum.fold(int(result[:, 0, k].sum(dtype=np.uint64))) for k, var in enumerate(variables)}
        log.info("%s: %d pixels marked as outliers", Path(target.final_path).name, int(result[:, 0, -1].sum()))
        paths.append(crfints.seal(target, sums))
    return paths


def run(
    asn: str | Path,
    output_dir: str | Path = ".",
    *,
    rolling_window_width: int = 25,
    snr: float | str = 5.0,
    maskpt: float = 0.7,
    good_bits: str | int = "~DO_NOT_USE",
    skip_outlier_detection: bool = False,
    chunk_mb: float = DEFAULT_CHUNK_MB,
    override_gain: str | Path | None = None,
    override_extract1d: str | Path | None = None,
    override_apcorr: str | Path | None = None,
) -> list[Path]:
    """Run calwebb_tso3 on an association and return the paths of the products written.

    Parameters
    ----------
    asn : path
        Level-3 tso3 association JSON.
    output_dir : path
        Folder for the products (created if missing).
    rolling_window_width, snr, maskpt, good_bits :
        Outlier-detection parameters, as jwst's ``outlier_detection`` step.
    skip_outlier_detection : bool
        Skip outlier detection (no crfints are written, as jwst).
    chunk_mb : float
        Megabytes of all arrays of one chunk of integrations together.
    override_gain, override_extract1d, override_apcorr : path, optional
        Reference files for the photometry and extraction steps.

    Raises
    ------
    Tso3xInputError
        For any bad input, before anything is written.
    """
    association = open_asn(asn)
    params = OutlierParameters.from_user(rolling_window_width, snr, maskpt, good_bits)
    exposures = open_exposures(association.members, chunk_mb)
    _check_reference_files(
        override_gain=override_gain, override_extract1d=override_extract1d, override_apcorr=override_apcorr
    )
    inputs = set(association.members)
    for ds in exposures:
        for src in ds.attrs["segment_files"]:
            out_path = (Path(output_dir) / crfints.crfints_name(Path(src).name, association.asn_id)).resolve()
            if out_path in inputs:
                raise Tso3xInputError(out_path, "product would overwrite an input file")
    out = prepare_output_dir(output_dir)
    products: list[Path] = []
    try:
        for ds in exposures:
            if skip_outlier_detection:
                log.info("outlier detection skipped; no crfints written")
                continue
            flagged = detect_outliers(ds, params.rolling_window_width, params.snr, params.maskpt, params.good_bits)
            products += write_crfints(flagged, association, out)
    finally:
        shutil.rmtree(out / TMP_DIR, ignore_errors=True)
    order = {crfints.crfints_name(m.name, association.asn_id): i for i, m in enumerate(association.members)}
    return sorted(products, key=lambda p: order.get(p.name, len(order)))
