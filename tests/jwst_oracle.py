"""Run the real jwst 3.0.0 ``calwebb_tso3`` offline on simulated data (the parity-test oracle).

Every reference file comes from a local override (the simulator writes a GAIN file, an EXTRACT1D JSON and,
for NIS_SOSS, PASTASOSS/SPECPROFILE/SPECKERNEL/PHOTOM/WAVELENGTHRANGE files next to the association;
everything else is ``"N/A"``), CRDS parameter files are disabled
(``STPIPE_DISABLE_CRDS_STEPPARS``), the pipeline does not prefetch references, and the stpipe CRDS
client is stubbed so nothing can reach the network: a reference lookup that was not overridden raises
:class:`OracleCrdsError` instead of hanging on a download.

Public helpers
--------------
- :func:`run_calwebb_tso3` — whole pipeline on an association; returns the product paths.
- :func:`run_soss_tso3` — calwebb_tso3 on a simulated NIS_SOSS exposure with its SOSS reference files and
  ``soss_*`` parameters; returns a :class:`SossRun` (x1dints, whtlt, crfints, run time).
- :func:`run_soss_extract_1d` — jwst's ``extract_1d`` (+ ``photom``) alone on one SOSS calints/crfints segment.
- :func:`run_jwst_outlier_detection` — calwebb_tso3 with everything after outlier detection made
  trivial/skipped; returns the ``_crfints`` path(s), byte-for-byte what the full pipeline writes.
- :func:`offline_crds` — the context manager doing the stubbing (restores everything on exit).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import pathlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Fake CRDS context recorded in products (CRDS_CTX) by the stubbed client.
OFFLINE_CONTEXT = "jwst_offline.pmap"


class OracleCrdsError(RuntimeError):
    """A jwst step asked CRDS for a reference file that the oracle did not override."""


@contextlib.contextmanager
def offline_crds() -> Iterator[None]:
    """Make stpipe/jwst run without CRDS: stub the client, disable CRDS parameter files.

    Patches ``stpipe.crds_client.get_context_used`` (called by ``JwstStep.finalize_result`` whenever a
    reference file was used) and ``get_multiple_reference_paths`` (the only path to a CRDS lookup, used
    by ``Step.get_reference_file`` and ``Pipeline`` prefetch), sets ``STPIPE_DISABLE_CRDS_STEPPARS=true``
    and points ``CRDS_SERVER_URL`` at an invalid host. Everything is restored on exit.
    """
    from stpipe import crds_client

    def _no_lookup(parameters, reference_file_types, observatory):
        raise OracleCrdsError(
            f"CRDS lookup of {list(reference_file_types)} attempted offline; add an override_* for it"
        )

    saved_attrs = {
        "get_context_used": crds_client.get_context_used,
        "get_multiple_reference_paths": crds_client.get_multiple_reference_paths,
    }
    env = {
        "STPIPE_DISABLE_CRDS_STEPPARS": "true",
        "CRDS_SERVER_URL": "https://crds-offline.invalid",
        "CRDS_OBSERVATORY": "jwst",
    }
    saved_env = {k: os.environ.get(k) for k in env}
    try:
        crds_client.get_context_used = lambda observatory: OFFLINE_CONTEXT
        crds_client.get_multiple_reference_paths = _no_lookup
        os.environ.update(env)
        yield
    finally:
        for name, value in saved_attrs.items():
            setattr(crds_client, name, value)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: The simulator's NIS_SOSS reference files: jwst reference type → file-name pattern.
SOSS_REFERENCE_GLOBS = {
    "pastasoss": "jwst_niriss_pastasoss_sim.asdf",
    "specprofile": "jwst_niriss_specprofile_sim_*.fits",
    "speckernel": "jwst_niriss_speckernel_sim.fits",
    "photom": "jwst_niriss_photom_sim.fits",
    "wavelengthrange": "jwst_niriss_wavelengthrange_sim.asdf",
}


def find_reference_files(folder: str | os.PathLike) -> dict[str, pathlib.Path | None]:
    """The simulator's reference files in ``folder``: ``{"gain": ..., "extract1d": ...}`` plus, for NIS_SOSS,
    ``pastasoss``, ``specprofile``, ``speckernel``, ``photom`` and ``wavelengthrange`` (None if absent)."""
    folder = pathlib.Path(folder)
    gains = sorted(folder.glob("jwst_*_gain_sim_*.fits"))
    ext = sorted(folder.glob("jwst_*_extract1d_sim.json"))
    out: dict[str, pathlib.Path | None] = {"gain": gains[0] if gains else None, "extract1d": ext[0] if ext else None}
    for reftype, pattern in SOSS_REFERENCE_GLOBS.items():
        found = sorted(folder.glob(pattern))
        out[reftype] = found[0] if found else None
    return out


def _merge(base: dict, extra: dict | None) -> dict:
    out = copy.deepcopy(base)
    for step, pars in (extra or {}).items():
        out.setdefault(step, {}).update(pars)
    return out


def _path_or_na(path: str | os.PathLike | None) -> str:
    return os.fspath(path) if path else "N/A"


def offline_step_pars(
    gain: str | os.PathLike | None,
    extract1d: str | os.PathLike | None,
    apcorr: str | os.PathLike | None = None,
    soss: dict[str, str | os.PathLike | None] | None = None,
) -> dict[str, dict]:
    """Per-step ``override_*`` parameters covering every reference file calwebb_tso3 can request.

    ``apcorr`` None means ``"N/A"`` (no aperture correction). ``soss`` maps the NIS_SOSS reference types
    (``pastasoss``, ``specprofile``, ``speckernel``, ``photom``, ``wavelengthrange``) to files; a missing or
    None ``photom`` / ``wavelengthrange`` is "N/A" (photom skipped / white light over the full range), and the
    first three are only set when given (jwst has no "N/A" for them).
    """
    soss = soss or {}
    pars = {
        "tso_photometry": {"override_gain": _path_or_na(gain)},
        "extract_1d": {
            "override_extract1d": _path_or_na(extract1d),
            "override_apcorr": _path_or_na(apcorr),
            "override_psf": "N/A",
        },
        "photom": {"override_photom": _path_or_na(soss.get("photom")), "override_area": "N/A"},
        "white_light": {"override_wavelengthrange": _path_or_na(soss.get("wavelengthrange"))},
    }
    for reftype in ("pastasoss", "specprofile", "speckernel"):
        if soss.get(reftype):
            pars["extract_1d"][f"override_{reftype}"] = os.fspath(soss[reftype])
    return pars


def run_calwebb_tso3(
    asn_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    steps: dict | None = None,
    override_gain: str | os.PathLike | None = None,
    override_extract1d: str | os.PathLike | None = None,
    override_apcorr: str | os.PathLike | None = None,
    **pipeline_kwargs,
) -> list[pathlib.Path]:
    """Run ``jwst.pipeline.Tso3Pipeline`` offline on ``asn_path``.

    Parameters
    ----------
    asn_path : path
        Level-3 TSO association (members relative to its folder).
    output_dir : path
        Where the products go (created).
    steps : dict, optional
        Extra per-step parameters, e.g. ``{"outlier_detection": {"rolling_window_width": 5}}``; merged
        over the offline overrides.
    override_gain, override_extract1d : path, optional
        Reference files; by default the simulator's files next to the ASN (``extract1d`` "N/A" if none).
        The simulator's NIS_SOSS reference files next to the ASN are used too (``steps`` can override them).
    override_apcorr : path, optional
        APCORR reference file for ``extract_1d`` (default "N/A": no aperture correction).
    **pipeline_kwargs
        Other ``Tso3Pipeline`` parameters (e.g. ``output_file``).

    Returns
    -------
    list of pathlib.Path
        The files the pipeline wrote in ``output_dir`` (crfints, ``_phot.ecsv`` or ``_x1dints.fits`` +
        ``_whtlt.ecsv``), sorted by name.
    """
    from jwst.pipeline import Tso3Pipeline

    asn_path = pathlib.Path(asn_path).resolve()
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    refs = find_reference_files(asn_path.parent)
    gain = override_gain or refs["gain"]
    ext = override_extract1d or refs["extract1d"]
    soss = {k: refs[k] for k in SOSS_REFERENCE_GLOBS}
    step_pars = _merge(offline_step_pars(gain, ext, override_apcorr, soss), steps)
    before = {p.name: p.stat().st_mtime_ns for p in output_dir.iterdir()}
    with offline_crds():
        pipe = Tso3Pipeline(steps=step_pars, output_dir=os.fspath(output_dir), **pipeline_kwargs)
        pipe.prefetch_references = False
        pipe.run(os.fspath(asn_path))
    written = [p for p in output_dir.iterdir() if p.is_file() and before.get(p.name) != p.stat().st_mtime_ns]
    return sorted(written)


def products_by_suffix(paths: Sequence[pathlib.Path]) -> dict[str, list[pathlib.Path]]:
    """Group product paths by their type suffix: ``crfints``, ``phot``, ``x1dints``, ``whtlt``, …"""
    out: dict[str, list[pathlib.Path]] = {}
    for p in paths:
        out.setdefault(p.stem.rsplit("_", 1)[-1], []).append(p)
    return out


def run_jwst_outlier_detection(
    calints_path: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    asn_id: str = "o001",
    **params,
) -> pathlib.Path | list[pathlib.Path]:
    """calwebb_tso3's outlier detection on one or more calints; returns the ``_crfints`` path(s).

    Runs the real ``Tso3Pipeline`` on a tso3 association of the given segment(s) (written into
    ``output_dir``), so the crfints are exactly what calwebb_tso3 writes. The later steps are made cheap
    and cannot affect the crfints (they run after it is saved): ``extract_1d`` is skipped for spectra and
    ``tso_photometry`` runs without centroiding for imaging.

    Parameters
    ----------
    calints_path : path or sequence of paths
        Segment file(s); a sequence becomes one association (in the given order).
    output_dir : path
        Folder for the association and the crfints (created).
    asn_id : str
        Association id; the crfints is ``<exposure root>_<asn_id>_crfints.fits``.
    **params
        ``OutlierDetectionStep`` parameters (``rolling_window_width``, ``snr``, ``maskpt``, ``good_bits`` …).

    Returns
    -------
    pathlib.Path or list of pathlib.Path
        One path for a single input, a list (input order) for a sequence.
    """
    single = isinstance(calints_path, (str, os.PathLike))
    inputs = [pathlib.Path(calints_path)] if single else [pathlib.Path(p) for p in calints_path]
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    members = []
    for p in inputs:  # link the segments next to the ASN: plain member names, as in real associations
        link = output_dir / p.name
        if not link.exists():
            link.symlink_to(p.resolve())
        members.append(p.name)
    stem = inputs[0].name.split("_calints")[0]
    asn = {
        "asn_type": "tso3",
        "asn_id": asn_id,
        "asn_pool": "jw01234_20240101t000000_pool.csv",
        "products": [
            {
                "name": f"oracle_{stem}",
                "members": [{"expname": m, "exptype": "science"} for m in members],
            }
        ],
    }
    asn_path = output_dir / f"oracle_{stem}_{asn_id}_tso3_asn.json"
    asn_path.write_text(json.dumps(asn, indent=2))
    refs = find_reference_files(inputs[0].parent)
    steps = {
        "outlier_detection": dict(params),
        "tso_photometry": {"centroid_source": False},
        "extract_1d": {"skip": True},
    }
    run_calwebb_tso3(asn_path, output_dir, steps=steps, override_gain=refs["gain"])
    crf = [output_dir / f"{p.name.split('_calints')[0]}_{asn_id}_crfints.fits" for p in inputs]
    missing = [p for p in crf if not p.exists()]
    if missing:
        raise RuntimeError(f"jwst did not write {missing}")
    return crf[0] if single else crf


# ------------------------------------------------------------------------------------------------ NIS_SOSS


@dataclass(frozen=True)
class SossRun:
    """jwst 3.0.0 calwebb_tso3 on a simulated NIS_SOSS exposure.

    Attributes
    ----------
    output_dir : pathlib.Path
        Where the products are.
    x1dints, whtlt : pathlib.Path or None
        The extracted spectra and white-light table (None when extract_1d was skipped, e.g. F277W or FULL).
    crfints : tuple of pathlib.Path
        One per segment, in segment order.
    products : tuple of pathlib.Path
        Every file the run wrote (also the ``soss_modelname`` outputs when asked for).
    seconds : float
        Wall-clock time of the pipeline run [s].
    step_pars : dict
        The per-step parameters the pipeline got.
    """

    output_dir: pathlib.Path
    x1dints: pathlib.Path | None
    whtlt: pathlib.Path | None
    crfints: tuple[pathlib.Path, ...]
    products: tuple[pathlib.Path, ...]
    seconds: float
    step_pars: dict


def soss_step_pars(exposure, *, photom: bool | str | os.PathLike = True, wavelengthrange: bool = True, **soss_params):
    """calwebb_tso3 step parameters for a simulated NIS_SOSS exposure (:class:`SimulatedExposure`).

    Parameters
    ----------
    exposure : tso3x.simulate.SimulatedExposure
        A ``nis_soss`` simulation; its SOSS reference files are used (at a custom shape it has none, which only
        suits the set-ups jwst does not extract: FULL and F277W).
    photom : bool or path
        True: the simulated PHOTOM file; False: "N/A" (photom skipped, spectra stay in DN/s); a path: that file.
    wavelengthrange : bool
        True: the simulated WAVELENGTHRANGE file; False: "N/A" (white light over every wavelength).
    **soss_params
        ``extract_1d`` parameters, e.g. ``soss_atoca=False``, ``soss_tikfac=1e-9``, ``soss_bad_pix="model"``,
        ``soss_order_3=False``, ``subtract_background=True``, ``soss_modelname="model"``; ``soss_estimate=True``
        means the simulated estimate file. ATOCA without an estimate (jwst then extracts one from order 1)
        took about 9 minutes for one 6-integration SUBSTRIP96 segment on this machine, against 27 s with it.

    Returns
    -------
    dict
        ``{"extract_1d": {...}, "photom": {...}, "white_light": {...}}``.
    """
    photom_file = exposure.photom if photom is True else (photom or None)
    refs = dict(exposure.soss_references, photom=photom_file)
    if not wavelengthrange:
        refs["wavelengthrange"] = None
    pars = offline_step_pars(exposure.gain, None, None, refs)
    if soss_params.get("soss_estimate") is True and exposure.soss_estimate is not None:
        soss_params["soss_estimate"] = os.fspath(exposure.soss_estimate)
    pars["extract_1d"].update(soss_params)
    return {k: pars[k] for k in ("extract_1d", "photom", "white_light")}


def run_soss_tso3(
    exposure,
    output_dir: str | os.PathLike,
    *,
    photom: bool | str | os.PathLike = True,
    wavelengthrange: bool = True,
    steps: dict | None = None,
    **soss_params,
) -> SossRun:
    """Run jwst 3.0.0 calwebb_tso3 offline on a simulated NIS_SOSS exposure.

    outlier_detection → (per segment) extract_1d → photom → white_light, with the simulated SOSS reference
    files as overrides (see :func:`soss_step_pars` for ``photom``, ``wavelengthrange`` and ``soss_params``).

    Parameters
    ----------
    exposure : tso3x.simulate.SimulatedExposure
        The simulated exposure (its ASN is processed).
    output_dir : path
        Folder for the products (created).
    steps : dict, optional
        More per-step parameters, merged last (e.g. ``{"outlier_detection": {"snr": "5.0 4.0"}}``).

    Returns
    -------
    SossRun
    """
    output_dir = pathlib.Path(output_dir)
    pars = _merge(soss_step_pars(exposure, photom=photom, wavelengthrange=wavelengthrange, **soss_params), steps)
    t0 = time.perf_counter()
    paths = run_calwebb_tso3(exposure.asn, output_dir, steps=pars)
    seconds = time.perf_counter() - t0
    log.info("jwst calwebb_tso3 on %s took %.1f s", exposure.asn.name, seconds)
    by = products_by_suffix(paths)
    roots = [p.name.removesuffix("_calints.fits") for p in exposure.segments]
    crf = tuple(output_dir / f"{r}_o001_crfints.fits" for r in roots)
    one = {k: (by.get(k) or [None])[0] for k in ("x1dints", "whtlt")}
    return SossRun(output_dir, one["x1dints"], one["whtlt"], crf, tuple(paths), seconds, pars)


def run_soss_extract_1d(
    input_path: str | os.PathLike,
    exposure,
    output_dir: str | os.PathLike,
    *,
    photom: bool | str | os.PathLike = True,
    **soss_params,
) -> pathlib.Path:
    """jwst 3.0.0 ``extract_1d`` (then ``photom`` unless ``photom=False``) on one SOSS calints/crfints segment.

    What calwebb_tso3 does to each segment after outlier detection, without the pipeline around it: quicker
    for per-segment comparisons. Returns the saved ``_x1dints.fits`` (one TSOMultiSpecModel for the segment).
    """
    from jwst.extract_1d import Extract1dStep
    from jwst.photom import PhotomStep
    from stdatamodels.jwst import datamodels

    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pars = soss_step_pars(exposure, photom=photom, **soss_params)
    out = output_dir / (pathlib.Path(input_path).name.rsplit("_", 1)[0] + "_x1dints.fits")
    with offline_crds(), datamodels.open(os.fspath(input_path)) as cube:
        result = Extract1dStep.call(cube, **pars["extract_1d"])
        if result.meta.cal_step.extract_1d != "SKIPPED":
            result = PhotomStep.call(result, **pars["photom"])
        result.save(os.fspath(out))
        result.close()
    return out
