"""calwebb_tso3 for one association: check every input, flag outliers, write the products."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from . import names
from .errors import Tso3xInputError, Tso3xRunError
from .execution import cluster, compute_alongside, on_client
from .io import crfints, zarr_store
from .io.asn import Association, open_asn
from .io.calints import DEFAULT_CHUNK_MB, concat_segments, is_imaging, open_exposures, open_segment
from .lock import output_lock
from .manifest import Ledger, manifest_name, read_manifest
from .stage3 import Imaging, Spectroscopy
from .steps.crfints_output import plan_crfints
from .steps.outliers import OutlierParameters, detect_outliers
from .steps.pixel_replace import PixelReplaceParameters

# The photometry and spectroscopy modules (photutils, astropy.table, stdatamodels) are imported by the
# functions that use them, so an exposure of the other kind does not pay for them at start-up.

log = logging.getLogger(__name__)

TMP_DIR = names.TMP_DIR


def check_output_dir(output_dir: str | Path) -> Path:
    """Create the output folder if needed, or say why it cannot be used (nothing else is touched)."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise Tso3xInputError(out, "output directory is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Tso3xInputError(out, f"output directory is not writable ({exc.strerror})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise Tso3xInputError(out, "output directory is not writable")
    return out


def prepare_output_dir(output_dir: str | Path) -> Path:
    """Create the output folder and an empty temporary subfolder (leftovers of an earlier run cleared)."""
    out = check_output_dir(output_dir)
    try:
        tmp = out / TMP_DIR
        if tmp.exists():
            log.info("%s: clearing what an earlier run left unfinished", tmp)
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise Tso3xInputError(out, f"output directory is not writable ({exc.strerror})") from None
    return out


def _check_reference_files(**overrides: str | Path | None) -> None:
    for option, path in overrides.items():
        if path is None or str(path) == "N/A":
            continue
        if not Path(path).is_file():
            raise Tso3xInputError(path, f"{option} file not found")


def _flagged_cube(ds: xr.Dataset, crf: list[Path], chunk_mb: float) -> xr.Dataset:
    """What the later steps measure: the crfints just written (jwst measures the flagged cube), read back
    lazily so outlier detection is not computed twice, or the calints Dataset when it was skipped."""
    if not crf:
        return ds
    cube = concat_segments([open_segment(p, chunk_mb) for p in crf])
    # later products describe the calints segments (FILENAME, member order), as jwst's in-memory models do
    cube.attrs.update(
        segment_files=ds.attrs["segment_files"], segment_meta=ds.attrs["segment_meta"], S_OUTLIR="COMPLETE"
    )
    return cube


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
    radius: float = 3.0,
    radius_inner: float = 4.0,
    radius_outer: float = 5.0,
    centroid_source: bool = True,
    search_box_width: int = 41,
    fit_box_width: int = 11,
    moving_centroid: bool = False,
    subtract_background: bool | None = None,
    use_source_posn: bool | None = None,
    position_offset: float = 0.0,
    smoothing_length: int | None = None,
    bkg_fit: str | None = None,
    bkg_order: int | None = None,
    min_wavelength: float | None = None,
    max_wavelength: float | None = None,
    spec_bins: int | list[float] | None = None,
    pixel_replace: bool = False,
    algorithm: str = "mingrad",
    n_adjacent_cols: int = 3,
    zarr: str | Path | None = None,
    zarr_cube: bool = False,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | None = None,
    quiet: bool = False,
    overwrite: bool = False,
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
        Reference files for the photometry and extraction steps (the gain is needed for DN/s imaging).
    radius, radius_inner, radius_outer, centroid_source, search_box_width, fit_box_width, moving_centroid :
        Imaging photometry parameters, as jwst's ``tso_photometry`` step (radii in pixels).
    subtract_background, use_source_posn, position_offset, smoothing_length, bkg_fit, bkg_order :
        Spectroscopic extraction parameters, as jwst's ``extract_1d`` step (None: the reference file's value).
    min_wavelength, max_wavelength : float, optional
        White-light wavelength range [micron], as jwst's ``white_light`` step.
    spec_bins : int or list of float, optional
        Also write spectroscopic light curves, ``<product>_speclc.ecsv`` (and into the zarr store): a number
        of equal-width bins over the white-light range, or bin edges [micron] (see :mod:`tso3x.io.speclc`).
        Computed in the same pass as the x1dints. Ignored (with a warning) for imaging.
    pixel_replace : bool
        Run jwst's ``pixel_replace`` step (skipped by default, as jwst) on every spectroscopic segment before
        extraction; imaging data are never replaced (as calwebb_tso3).
    algorithm, n_adjacent_cols :
        ``pixel_replace`` parameters: ``mingrad`` (jwst's default) or ``fit_profile``, and the profiles used on
        each side by fit_profile (``trace_model`` is not supported).
    zarr : path, optional
        Also write the integration-indexed products to this zarr store (appended to if it exists; see
        :mod:`tso3x.io.zarr_store`); listed last in the returned paths.
    zarr_cube : bool
        Store the flagged cube (sci, err, dq) in the zarr store as well.
    client : distributed.Client, optional
        Run on this dask client. Default: the client at ``scheduler``, else the active client, else a
        LocalCluster started for the run (see :func:`tso3x.execution.cluster`).
    scheduler : str, optional
        Address of a dask scheduler, or ``"threads"`` / ``"synchronous"`` for dask's local schedulers.
    workers, threads_per_worker, memory_limit :
        Size of the LocalCluster started when there is no client.
    quiet : bool
        No progress bars (and no dashboard link) on the terminal.
    overwrite : bool
        Recompute every product. By default a product that an earlier run into the same folder completed
        with the same inputs and parameters, and that still matches its manifest, is kept.

    Returns
    -------
    list of Path
        The crfints (association order), then ``<product>_phot.ecsv`` for imaging exposures, or
        ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv`` for spectroscopy.

    Also written: ``<product>_manifest.json`` (see :mod:`tso3x.manifest`); the folder is locked for the
    run (:mod:`tso3x.lock`).

    Raises
    ------
    Tso3xInputError
        For any bad input, before anything is written (also when another run holds the folder).
    Tso3xRunError
        When writing fails (disk full, I/O error): complete products are kept, the manifest says failed.
    """
    call = dict(locals())  # the parameters, for the manifest (first statement: nothing else defined yet)
    association = open_asn(asn)
    params = OutlierParameters.from_user(rolling_window_width, snr, maskpt, good_bits)
    replace_params = PixelReplaceParameters.from_user(algorithm, n_adjacent_cols)
    exposures = open_exposures(association.members, chunk_mb)
    _check_reference_files(
        override_gain=override_gain, override_extract1d=override_extract1d, override_apcorr=override_apcorr
    )
    if is_imaging(exposures[0].attrs):  # calwebb_tso3 decides on the first member
        phot_params = dict(
            radius=radius,
            radius_inner=radius_inner,
            radius_outer=radius_outer,
            centroid_source=centroid_source,
            search_box_width=search_box_width,
            fit_box_width=fit_box_width,
            moving_centroid=moving_centroid,
        )
        stage3 = Imaging(exposures, override_gain, phot_params)
        if spec_bins is not None:
            log.warning("spec_bins ignored: imaging exposures have no spectra")
    else:
        spec_params = dict(
            subtract_background=subtract_background,
            use_source_posn=use_source_posn,
            position_offset=position_offset,
            smoothing_length=smoothing_length,
            bkg_fit=bkg_fit,
            bkg_order=bkg_order,
            min_wavelength=min_wavelength,
            max_wavelength=max_wavelength,
        )
        stage3 = Spectroscopy(
            exposures,
            spec_params,
            override_extract1d,
            override_apcorr,
            replace_params if pixel_replace else None,
            spec_bins=spec_bins,
        )
    stage3_names = stage3.names(association)
    inputs = set(association.members)
    outputs = [
        crfints.crfints_name(Path(src).name, association.asn_id)
        for ds in exposures
        for src in ds.attrs["segment_files"]
    ]
    outputs += stage3_names
    for name in outputs:
        out_path = (Path(output_dir) / name).resolve()
        if out_path in inputs:
            raise Tso3xInputError(out_path, "product would overwrite an input file")
    if zarr is not None:
        zarr_store.check_store(zarr)
    out = check_output_dir(output_dir)
    cluster_options = dict(
        client=client,
        scheduler=scheduler,
        workers=workers,
        threads_per_worker=threads_per_worker,
        memory_limit=memory_limit,
        quiet=quiet,
    )
    references = {"override_gain": override_gain, "override_extract1d": override_extract1d}
    references["override_apcorr"] = override_apcorr
    with output_lock(out):
        prepare_output_dir(out)
        try:
            try:
                ledger = _ledger(out, association, stage3_names, call, references, overwrite)
            except OSError as exc:
                raise Tso3xRunError(out, f"cannot write the manifest ({exc.strerror or exc})") from exc
            distributed_log = logging.getLogger("distributed")
            level = distributed_log.level
            try:
                with cluster(**cluster_options):
                    try:
                        products = _products(
                            exposures,
                            association,
                            out,
                            stage3,
                            params=params,
                            skip_outlier_detection=skip_outlier_detection,
                            chunk_mb=chunk_mb,
                            zarr=zarr,
                            zarr_cube=zarr_cube,
                            ledger=ledger,
                            reuse=not overwrite,
                        )
                    except KeyboardInterrupt:  # the cluster's shutdown logs the cancelled tasks as errors
                        distributed_log.setLevel(logging.CRITICAL)
                        raise
            except BaseException as exc:
                _failed(ledger, exc, out)
                raise
            finally:
                distributed_log.setLevel(level)
            if not ledger.finish("complete"):
                raise Tso3xRunError(out, f"products complete but {ledger.path.name} could not be written")
            return products
        finally:
            shutil.rmtree(out / TMP_DIR, ignore_errors=True)


#: run() parameters that change how a run executes (or what else it writes), not its products
EXECUTION_PARAMETERS = frozenset(
    {"client", "scheduler", "workers", "threads_per_worker", "memory_limit", "quiet", "chunk_mb", "overwrite"}
    | {"zarr", "zarr_cube"}
)
REFERENCE_PARAMETERS = ("override_gain", "override_extract1d", "override_apcorr")
OUTLIER_PARAMETERS = ("rolling_window_width", "snr", "maskpt", "good_bits")


def _json_safe(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value if isinstance(value, str | int | float | bool | type(None) | list | tuple) else repr(value)


def _ledger(
    out: Path, asn: Association, stage3_names: list[str], call: dict, references: dict, overwrite: bool
) -> Ledger:
    """The run's manifest: inputs, parameters and the recipe of every product, written with status running."""
    parameters = {k: _json_safe(v) for k, v in call.items() if k not in ("client", "asn", "output_dir")}
    for key in REFERENCE_PARAMETERS:  # the same file named from another folder is the same parameter
        if parameters[key] is not None and parameters[key] != "N/A":
            parameters[key] = os.fspath(Path(parameters[key]).resolve())
    refs = {Path(p).resolve(): role for role, p in references.items() if p is not None and str(p) != "N/A"}
    inputs = {asn.path: "association", **{m: "segment" for m in asn.members}, **refs}
    path = out / manifest_name(asn.product_name)
    ledger = Ledger(path, out / TMP_DIR, asn.path, parameters, inputs, None if overwrite else read_manifest(path))
    crf_params = {k: parameters[k] for k in OUTLIER_PARAMETERS}
    crf_params.update(asn_id=asn.asn_id, asn_pool=asn.asn_pool, asn_table=asn.table_name)
    if not call["skip_outlier_detection"]:
        for member in asn.members:
            ledger.expect(crfints.crfints_name(member.name, asn.asn_id), crf_params, [member])
    stage3_params = {k: v for k, v in parameters.items() if k not in EXECUTION_PARAMETERS}
    for name in stage3_names:
        ledger.expect(name, stage3_params, [asn.path, *asn.members, *refs])
    ledger.save()
    return ledger


def _failed(ledger: Ledger, exc: BaseException, out: Path) -> None:
    """Mark the manifest failed; a write error (disk full, I/O) becomes a one-line Tso3xRunError."""
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


def _products(
    exposures: list[xr.Dataset],
    association: Association,
    out: Path,
    stage3: Imaging | Spectroscopy,
    *,
    params: OutlierParameters,
    skip_outlier_detection: bool,
    chunk_mb: float,
    zarr: str | Path | None,
    zarr_cube: bool,
    ledger: Ledger,
    reuse: bool,
) -> list[Path]:
    """Flag, measure and write every product of a checked association (inside the run's dask cluster)."""
    products: list[Path] = []
    cubes: list[xr.Dataset] = []
    counts: list[np.ndarray | None] = []
    pending = []  # crfints computed in the same pass as the measurements
    for ds in exposures:
        crf: list[Path] = []
        count = None
        cube = ds
        if skip_outlier_detection:
            log.info("outlier detection skipped; no crfints written")
        else:
            crf_names = [crfints.crfints_name(Path(f).name, association.asn_id) for f in ds.attrs["segment_files"]]
            keep = {name for name in crf_names if reuse and ledger.reusable(name, out / name)}
            flagged = detect_outliers(ds, params.rolling_window_width, params.snr, params.maskpt, params.good_bits)
            plan = plan_crfints(
                flagged,
                association,
                out,
                keep=keep,
                counts=zarr is not None,
                on_sealed=lambda path: ledger.done(path.name, path),
            )
            crf = plan.paths
            if not keep and zarr is None and stage3.measures_in_one_pass and on_client():
                # one pass: the flagged chunks are written to the crfints and measured as they are computed
                # (a distributed client seals each crfints when its chunks are written, even if a later
                # segment fails; dask's local schedulers could not, so there the crfints come first)
                pending.append(plan)
                cube = flagged
            else:
                # the measurements read the crfints back (photometry makes several passes over the cube)
                compute_alongside([], [plan], label="outlier_detection")
                count = plan.outlier_counts()
                cube = _flagged_cube(ds, crf, chunk_mb)
            products += crf
        counts.append(count)
        cubes.append(stage3.prepare(cube))
    order = {crfints.crfints_name(m.name, association.asn_id): i for i, m in enumerate(association.members)}
    products.sort(key=lambda p: order.get(p.name, len(order)))
    segment_order = products if not skip_outlier_detection else list(association.members)

    store = None
    if zarr is not None:

        def store(parts: list[xr.Dataset], extra: xr.Dataset | None = None):
            dataset = zarr_store.integration_dataset(parts, counts, cubes if zarr_cube else None)
            if extra is not None:  # exposure-wide variables (spectroscopic light curves), not per detector
                dataset = dataset.merge(extra, compat="no_conflicts", combine_attrs="override")
            return zarr_store.store_products(dataset, zarr)

    stage3_names = stage3.names(association)
    if reuse and zarr is None and all(ledger.reusable(name, out / name) for name in stage3_names):
        compute_alongside([], pending, label="outlier_detection")
        products += [out / name for name in stage3_names]
    else:
        written = stage3.write(cubes, association, out, segment_order, store, alongside=pending)
        for path in written:
            ledger.done(path.name, path)
        for name in set(stage3_names) - {p.name for p in written}:
            ledger.drop(name)  # NIS_SOSS: no spectra written
        products += written
    if zarr is not None:
        products.append(Path(zarr))
    return products
