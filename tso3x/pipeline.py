"""calwebb_tso3 for one association, as wiring only: check → plan → one compute → manifest.

:func:`plan_run` reads the association and every segment once and builds the exposure's mode
(:mod:`tso3x.modes`), which checks everything it needs: nothing is written before that is done. :func:`run`
then locks the output folder, writes the manifest, flags outliers and has the mode measure and write its
products on the run's dask cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from . import jit, notes, product_names
from .config import RunConfig
from .errors import Tso3xInputError, Tso3xRunError
from .execution import PendingGroups, cluster, compute_alongside, on_client
from .io import zarr_store
from .io.asn import Association, open_asn
from .io.calints import concat_segments, open_exposures, open_segment
from .io.crfints import plan_crfints
from .io.paths import check_folder, make_folder
from .lock import output_lock
from .manifest import Ledger, read_manifest
from .modes import Mode, ProductTarget, mode_for
from .steps.outliers import detect_outliers

log = logging.getLogger(__name__)

TMP_DIR = product_names.TMP_DIR


@dataclass
class Plan:
    """A checked run: the association, its exposures (one lazy Dataset per exposure and detector), their mode,
    the parameters, the output folder and the kernels every step uses (:func:`tso3x.jit.choose`). Nothing has
    been written."""

    association: Association
    exposures: list[xr.Dataset]
    mode: Mode
    config: RunConfig
    output_dir: Path
    kernels: str = jit.NUMBA

    def crfints_names(self) -> list[str]:
        """The crfints of the members, in association order."""
        return [product_names.crfints(m, self.association.asn_id) for m in self.association.members]


def run(asn: str | Path, output_dir: str | Path = ".", **parameters) -> list[Path]:
    """Run calwebb_tso3 on an association and return the paths of the products written.

    Parameters
    ----------
    asn : path
        Level-3 tso3 association JSON.
    output_dir : path
        Folder for the products (created if missing).
    **parameters
        jwst's step parameters by their names, the reference files (``override_<reftype>``) and how the run
        executes: every field of the classes of :mod:`tso3x.config` (``tso3x run --help`` lists them with
        their defaults), e.g. ``rolling_window_width``, ``snr``, ``radius``, ``override_extract1d``,
        ``min_wavelength``, ``pixel_replace``, ``spec_bins``, ``zarr``, ``client``, ``overwrite``.

    Returns
    -------
    list of Path
        The crfints (association order), then ``<product>_phot.ecsv`` for imaging exposures, or
        ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv`` (and ``_speclc.ecsv``) for spectroscopy; the
        zarr store last. Also written: ``<product>_manifest.json`` (:mod:`tso3x.manifest`); the folder is
        locked for the run (:mod:`tso3x.lock`). Products an earlier run completed with the same inputs and
        parameters are kept unless ``overwrite``.

    Raises
    ------
    Tso3xInputError
        For any bad input or parameter, before anything is written (also when another run holds the folder).
    Tso3xRunError
        When writing fails (disk full, I/O error): complete products are kept, the manifest says failed.
    """
    config = RunConfig.from_user(**parameters)
    plan = plan_run(asn, output_dir, config)
    out = make_folder(plan.output_dir)
    with output_lock(out):
        prepare_output_dir(out)
        if _stores(plan):
            make_folder(Path(config.outputs.zarr).parent, "zarr store folder")
        try:
            try:
                ledger = _ledger(plan)
            except OSError as exc:
                raise Tso3xRunError(out, f"cannot write the manifest ({exc.strerror or exc})") from exc
            with _failure_recorded(ledger, out), cluster(**config.execution.cluster_options()), _quiet_cancel():
                products = _products(plan, ledger)
            if not ledger.finish("complete"):
                raise Tso3xRunError(out, f"products complete but {ledger.path.name} could not be written")
            return products
        finally:
            shutil.rmtree(out / TMP_DIR, ignore_errors=True)


def plan_run(asn: str | Path, output_dir: str | Path, config: RunConfig) -> Plan:
    """Read the association and its segments once, check everything the run needs and choose its kernels
    (:func:`tso3x.jit.choose`: on a cold kernel cache, the numpy twins while the kernels compile in the
    background); writes nothing else.

    Raises
    ------
    Tso3xInputError
        Bad association, segment, reference file or parameter (``TSO3X_KERNELS`` too); a product that would
        overwrite an input; an unusable zarr store or output folder.
    """
    out = check_output_dir(output_dir)  # the cheap checks first: folders, then the inputs
    if config.outputs.zarr is not None:
        zarr_store.check_store(config.outputs.zarr)
    association = open_asn(asn)
    exposures = open_exposures(association.members, config.execution.chunk_mb)
    mode = mode_for(exposures, config)
    inputs = set(association.members)
    names = [product_names.crfints(m, association.asn_id) for m in association.members]
    for name in names + mode.product_names(association):
        if (Path(output_dir) / name).resolve() in inputs:
            raise Tso3xInputError((Path(output_dir) / name).resolve(), "product would overwrite an input file")
    return Plan(association, exposures, mode, config, out, jit.choose())


def check_output_dir(output_dir: str | Path) -> Path:
    """Say why the output folder cannot be used or created; creates nothing (the run creates it)."""
    return check_folder(output_dir, "output directory")


def prepare_output_dir(output_dir: str | Path) -> Path:
    """Create the output folder and an empty temporary subfolder (leftovers of an earlier run cleared)."""
    out = make_folder(output_dir)
    try:
        tmp = out / TMP_DIR
        if tmp.exists():
            log.info("%s: clearing what an earlier run left unfinished", tmp)
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise Tso3xInputError(out, f"output directory is not writable ({exc.strerror})") from None
    return out


def _json_safe(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value if isinstance(value, str | int | float | bool | type(None) | list | tuple) else repr(value)


def _ledger(plan: Plan) -> Ledger:
    """The run's manifest: inputs, parameters and the recipe of every product, written with status running."""
    asn, config, out = plan.association, plan.config, plan.output_dir
    parameters = {k: _json_safe(v) for k, v in config.as_dict().items() if k != "client"}
    refs = config.references.files()
    parameters.update({option: os.fspath(path) for option, path in refs.items()})  # the same file is the same
    inputs = {asn.path: "association", **{m: "segment" for m in asn.members}, **{p: r for r, p in refs.items()}}
    path = out / product_names.manifest(asn.product_name)
    previous = None if config.outputs.overwrite else read_manifest(path)
    ledger = Ledger(path, out / TMP_DIR, asn.path, parameters, inputs, previous, kernels=plan.kernels)
    if not config.outlier_detection.skip_outlier_detection:
        crf_params = {**config.outlier_detection.jwst_parameters(), "asn_id": asn.asn_id, "asn_pool": asn.asn_pool}
        crf_params["asn_table"] = asn.table_name
        for member, name in zip(asn.members, plan.crfints_names(), strict=True):
            ledger.expect(name, crf_params, [member])
    recipe = {k: parameters[k] for k in RunConfig.recipe_names() if k in parameters}
    for name in plan.mode.product_names(asn):
        ledger.expect(name, recipe, [asn.path, *asn.members, *refs.values()])
    ledger.save()
    return ledger


@contextlib.contextmanager
def _failure_recorded(ledger: Ledger, out: Path) -> Iterator[None]:
    """Mark the manifest failed on any exception; a write error (disk full, I/O) becomes a one-line
    Tso3xRunError."""
    distributed_log = logging.getLogger("distributed")
    level = distributed_log.level
    try:
        yield
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            reason = "interrupted"
        elif isinstance(exc, OSError):
            reason = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
        else:
            reason = f"{type(exc).__name__}: {exc}"
        ledger.finish("failed", reason)
        if isinstance(exc, OSError):
            done, total = ledger.complete()
            raise Tso3xRunError(
                out,
                f"writing the products failed: {reason}; {done} of {total} products complete and kept, "
                f"{ledger.path.name} marked failed",
            ) from exc
        raise
    finally:
        distributed_log.setLevel(level)


@contextlib.contextmanager
def _quiet_cancel() -> Iterator[None]:
    """On an interrupt, silence the cluster's shutdown, which logs the cancelled tasks as errors."""
    try:
        yield
    except KeyboardInterrupt:
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        raise


@dataclass
class _Flagged:
    """One exposure after outlier detection."""

    cube: xr.Dataset  #: what the mode measures
    crfints: list[Path]  #: its crfints (written, or written in the measuring pass)
    counts: np.ndarray | None = None  #: outliers per integration, when counted
    pending: PendingGroups | None = None  #: crfints still to compute, in the measuring pass


def _flag(plan: Plan, ds: xr.Dataset, ledger: Ledger) -> _Flagged:
    """Outlier detection of one exposure, and its crfints: planned for the measuring pass when the mode reads
    each flagged chunk once (on a distributed client, which seals each crfints as its chunks are written),
    else written now and read back (lazily), so outlier detection is still computed once."""
    config, out = plan.config, plan.output_dir
    if config.outlier_detection.skip_outlier_detection:
        log.info("outlier detection skipped; no crfints written")
        return _Flagged(ds, [])
    reuse, store = not config.outputs.overwrite, _stores(plan)
    names = [product_names.crfints(f, plan.association.asn_id) for f in ds.attrs["segment_files"]]
    keep = {name for name in names if reuse and ledger.reusable(name, out / name)}
    flagged = detect_outliers(ds, config.outlier_detection, kernels=plan.kernels)

    def sealed(path: Path, outliers: int, pixels: int) -> None:
        ledger.done(path.name, path, outliers={"flagged": outliers, "pixels": pixels})

    crf = plan_crfints(flagged, plan.association, out, keep=keep, counts=store, on_sealed=sealed, kernels=plan.kernels)
    if not keep and not store and plan.mode.measures_in_one_pass and on_client():
        return _Flagged(flagged, crf.paths, pending=crf)
    compute_alongside([], [crf], label="outlier_detection")
    cube = concat_segments([open_segment(p, config.execution.chunk_mb) for p in crf.paths])
    # later products describe the calints segments (FILENAME, member order), as jwst's in-memory models do
    cube.attrs.update(
        segment_files=ds.attrs["segment_files"], segment_meta=ds.attrs["segment_meta"], S_OUTLIR="COMPLETE"
    )
    return _Flagged(cube, crf.paths, counts=crf.outlier_counts())


def _stores(plan: Plan) -> bool:
    """Whether the run writes the zarr integration store (asked for, and the mode writes into it)."""
    return plan.config.outputs.zarr is not None and plan.mode.writes_store


def _products(plan: Plan, ledger: Ledger) -> list[Path]:
    """Flag, measure and write every product of a checked association (inside the run's dask cluster)."""
    config, out, asn = plan.config, plan.output_dir, plan.association
    flagged = [_flag(plan, ds, ledger) for ds in plan.exposures]
    rank = {name: i for i, name in enumerate(plan.crfints_names())}
    crfints = sorted((p for f in flagged for p in f.crfints), key=lambda p: rank.get(p.name, len(rank)))
    with notes.gathered():  # one detector's pixel_replace says what the other's would
        cubes = [plan.mode.prepare(f.cube) for f in flagged]
    pending = [f.pending for f in flagged if f.pending is not None]
    store = None
    if _stores(plan):
        stored_cubes = cubes if config.outputs.zarr_cube else None
        store = zarr_store.IntegrationStore(Path(config.outputs.zarr), [f.counts for f in flagged], stored_cubes)
    segment_order = list(asn.members) if config.outlier_detection.skip_outlier_detection else crfints
    names = plan.mode.product_names(asn)
    if names and store is None and not config.outputs.overwrite and all(ledger.reusable(n, out / n) for n in names):
        compute_alongside([], pending, label="outlier_detection")
        written = [out / name for name in names]
    else:
        written = plan.mode.write(cubes, ProductTarget(asn, out, segment_order, store, pending, plan.kernels))
        # (a product outside the output folder, e.g. NIS_SOSS's soss_modelname, is named by its absolute path)
        name_of = {out / name: name for name in names}
        for path in written:
            ledger.done(name_of.get(path, path.name), path)
        for name in set(names) - {name_of.get(p, p.name) for p in written}:
            ledger.drop(name)
    return crfints + written + ([Path(config.outputs.zarr)] if store is not None else [])


__all__ = ["Plan", "check_output_dir", "plan_run", "prepare_output_dir", "run"]
