"""Run the real jwst 3.0.0 ``calwebb_tso3`` offline on simulated data (the parity-test oracle).

Every reference file comes from a local override (the simulator writes a GAIN file and an EXTRACT1D
JSON next to the association; everything else is ``"N/A"``), CRDS parameter files are disabled
(``STPIPE_DISABLE_CRDS_STEPPARS``), the pipeline does not prefetch references, and the stpipe CRDS
client is stubbed so nothing can reach the network: a reference lookup that was not overridden raises
:class:`OracleCrdsError` instead of hanging on a download.

Public helpers
--------------
- :func:`run_calwebb_tso3` — whole pipeline on an association; returns the product paths.
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
from collections.abc import Iterator, Sequence

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


def find_reference_files(folder: str | os.PathLike) -> dict[str, pathlib.Path | None]:
    """The simulator's reference files in ``folder``: ``{"gain": ..., "extract1d": ...}`` (None if absent)."""
    folder = pathlib.Path(folder)
    gains = sorted(folder.glob("jwst_*_gain_sim_*.fits"))
    ext = sorted(folder.glob("jwst_*_extract1d_sim.json"))
    return {"gain": gains[0] if gains else None, "extract1d": ext[0] if ext else None}


def _merge(base: dict, extra: dict | None) -> dict:
    out = copy.deepcopy(base)
    for step, pars in (extra or {}).items():
        out.setdefault(step, {}).update(pars)
    return out


def offline_step_pars(
    gain: str | os.PathLike | None,
    extract1d: str | os.PathLike | None,
    apcorr: str | os.PathLike | None = None,
) -> dict[str, dict]:
    """Per-step ``override_*`` parameters covering every reference file calwebb_tso3 can request.

    ``apcorr`` None means ``"N/A"`` (no aperture correction).
    """
    return {
        "tso_photometry": {"override_gain": os.fspath(gain) if gain else "N/A"},
        "extract_1d": {
            "override_extract1d": os.fspath(extract1d) if extract1d else "N/A",
            "override_apcorr": os.fspath(apcorr) if apcorr else "N/A",
            "override_psf": "N/A",
        },
        "photom": {"override_photom": "N/A", "override_area": "N/A"},
        "white_light": {"override_wavelengthrange": "N/A"},
    }


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
    step_pars = _merge(offline_step_pars(gain, ext, override_apcorr), steps)
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
