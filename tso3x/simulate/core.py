"""``simulate()``: write a complete synthetic TSO exposure (calints segments, ASN, reference files)."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import time
from dataclasses import dataclass

import numpy as np
from stdatamodels.jwst import datamodels

from tso3x.errors import Tso3xInputError
from tso3x.simulate import calints
from tso3x.simulate.exposure import Scene, build_scene
from tso3x.simulate.modes import (
    BUNITS,
    MODES,
    SOSS_FILTERS,
    SOSS_SUBARRAYS,
    SPECS,
    ModeSpec,
    opt_elem,
    soss_variant,
)
from tso3x.simulate.noise import make_detector_state, realize
from tso3x.simulate.reffiles import extract1d_aperture, gain_map, write_extract1d, write_gain

log = logging.getLogger(__name__)

ASN_ID = "o001"
ASN_VERSION = "20240101t000000"
ASN_POOL = f"jw{calints.PROGRAM}_{ASN_VERSION}_pool.csv"


@dataclass(frozen=True)
class SimulatedExposure:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    mode : str
        The simulated mode (one of :data:`MODES`).
    asn : pathlib.Path
        The Level-3 TSO association (``..._tso3_00001_asn.json``).
    segments : tuple of pathlib.Path
        The ``_calints`` files in association order (all detectors).
    product_name : str
        ``products[0].name`` of the association.
    gain : pathlib.Path
        Full-frame GAIN reference file (of the first detector), usable as jwst ``override_gain``.
    extract1d : pathlib.Path or None
        EXTRACT1D reference JSON for the box-extraction spectroscopic modes, else None (imaging and
        NIS_SOSS, whose extraction uses other reference types).
    pastasoss, specprofile, speckernel, photom, wavelengthrange : pathlib.Path or None
        NIS_SOSS at a subarray's own shape: the PASTASOSS (asdf), SPECPROFILE, SPECKERNEL, PHOTOM (FITS) and
        WAVELENGTHRANGE (asdf) reference files consistent with the scene, usable as jwst's and tso3x's
        ``override_*``; None otherwise.
    soss_estimate : pathlib.Path or None
        NIS_SOSS at a subarray's own shape: a SpecModel with the out-of-transit stellar flux in ATOCA's
        units (jwst ``soss_estimate``); None otherwise.
    """

    mode: str
    asn: pathlib.Path
    segments: tuple[pathlib.Path, ...]
    product_name: str
    gain: pathlib.Path
    extract1d: pathlib.Path | None
    pastasoss: pathlib.Path | None = None
    specprofile: pathlib.Path | None = None
    speckernel: pathlib.Path | None = None
    photom: pathlib.Path | None = None
    wavelengthrange: pathlib.Path | None = None
    soss_estimate: pathlib.Path | None = None

    @property
    def soss_references(self) -> dict[str, pathlib.Path]:
        """The NIS_SOSS reference files by jwst reference type (``pastasoss`` …), empty for other modes."""
        names = ("pastasoss", "specprofile", "speckernel", "photom", "wavelengthrange")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def exposure_root(detector: str, segment: int) -> str:
    """``jw01234001001_04101_00001-seg001_nrcalong`` (file name without ``_calints.fits``)."""
    c = calints
    return (
        f"jw{c.PROGRAM}{c.OBSERVATION}{c.VISIT}_{c.VISIT_GROUP}{c.SEQUENCE}{c.ACTIVITY}_{c.EXPOSURE}"
        f"-seg{segment:03d}_{detector.lower()}"
    )


def product_name(spec: ModeSpec) -> str:
    """DMS Level-3 product name ``jw{program}-{acid}_{target}_{instrument}_{opt_elem}[-{slit}][-{subarray}]``."""
    slit = f"-{spec.extra['fixed_slit']}" if "fixed_slit" in spec.extra else ""
    sub = "" if spec.subarray.upper() == "FULL" else f"-{spec.subarray}"
    name = f"jw{calints.PROGRAM}-{ASN_ID}_t001_{spec.instrument}_{opt_elem(spec)}{slit}{sub}"
    return name.lower()


def _mode_spec(mode: str, subarray: str | None, filt: str | None) -> ModeSpec:
    """The mode's spec, on the requested SOSS subarray and filter (only NIS_SOSS takes them)."""
    if mode not in SPECS:
        raise Tso3xInputError(None, f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    spec = SPECS[mode]
    if spec.exp_type != "NIS_SOSS":
        if subarray is not None or filt is not None:
            raise Tso3xInputError(None, f"subarray and filter can only be chosen for nis_soss, not {mode}")
        return spec
    subarray = spec.subarray if subarray is None else subarray.upper()
    filt = spec.filter if filt is None else filt.upper()
    if subarray not in SOSS_SUBARRAYS:
        raise Tso3xInputError(None, f"nis_soss subarray must be one of {', '.join(SOSS_SUBARRAYS)}, got {subarray!r}")
    if filt not in SOSS_FILTERS:
        raise Tso3xInputError(None, f"nis_soss filter must be one of {', '.join(SOSS_FILTERS)}, got {filt!r}")
    return soss_variant(spec, subarray, filt)


def _check_args(spec, nints, nseg, shape, bunit, detectors, cosmic_ray_rate, bad_pixel_fraction):
    mode = spec.name
    nints = spec.nints if nints is None else nints
    if int(nints) < 2:
        raise Tso3xInputError(None, f"nints must be >= 2 for a time series, got {nints}")
    if not 1 <= int(nseg) <= int(nints):
        raise Tso3xInputError(None, f"nseg must be between 1 and nints ({nints}), got {nseg}")
    shape = spec.shape if shape is None else tuple(int(v) for v in shape)
    if len(shape) != 2 or min(shape) < 8:
        raise Tso3xInputError(None, f"shape must be (ny, nx) with both >= 8, got {shape}")
    full_ny, full_nx = spec.full_frame
    if shape[0] > full_ny or shape[1] > full_nx:
        raise Tso3xInputError(None, f"shape {shape} exceeds the {spec.instrument} full frame {spec.full_frame}")
    bunit = spec.bunit if bunit is None else bunit
    if bunit not in BUNITS:
        raise Tso3xInputError(None, f"bunit must be one of {', '.join(BUNITS)}, got {bunit!r}")
    detectors = spec.detectors[:1] if detectors is None else tuple(d.upper() for d in detectors)
    bad = [d for d in detectors if d not in spec.detectors]
    if not detectors or bad or len(set(detectors)) != len(detectors):
        raise Tso3xInputError(None, f"detectors for {mode} must be distinct values of {spec.detectors}")
    if not (0.0 <= cosmic_ray_rate < 1.0 and 0.0 <= bad_pixel_fraction < 0.5):
        raise Tso3xInputError(None, "cosmic_ray_rate must be in [0, 1) and bad_pixel_fraction in [0, 0.5)")
    return int(nints), int(nseg), shape, bunit, detectors


def _substrt(spec: ModeSpec, shape: tuple[int, int]) -> tuple[int, int]:
    """Subarray corner (1-based), moved inward if a custom shape would overhang the full frame."""
    full_ny, full_nx = spec.full_frame
    x0, y0 = spec.substrt
    return min(x0, full_nx - shape[1] + 1), min(y0, full_ny - shape[0] + 1)


def simulate(
    mode: str,
    outdir: str | os.PathLike,
    *,
    nints: int | None = None,
    nseg: int = 2,
    seed: int = 0,
    shape: tuple[int, int] | None = None,
    bunit: str | None = None,
    detectors: tuple[str, ...] | None = None,
    cosmic_ray_rate: float = 2e-4,
    bad_pixel_fraction: float = 2e-3,
    subarray: str | None = None,
    filter: str | None = None,
    order3: bool = True,
) -> SimulatedExposure:
    """Write a synthetic TSO exposure as the JWST pipeline would hand it to calwebb_tso3.

    Parameters
    ----------
    mode : str
        One of :data:`MODES`.
    outdir : path
        Output folder (created); receives the calints, the ASN and the reference files.
    nints : int, optional
        Integrations in the whole exposure (NINTS), >= 2; 20 for ``nis_soss``, 60 for the other modes by
        default.
    nseg : int
        Number of segments the exposure is split into (``-segNNN`` files), 1..nints.
    seed : int
        Random seed; the same arguments and seed give identical arrays.
    shape : tuple of int, optional
        (ny, nx) of one integration; the mode's subarray size by default.
    bunit : str, optional
        ``"MJy/sr"``, ``"MJy"`` or ``"DN/s"``; default as real calints of the mode
        (MJy for NRS_BRIGHTOBJ, DN/s for NIS_SOSS, MJy/sr otherwise).
    detectors : tuple of str, optional
        ``("NRS1",)`` (default) or ``("NRS1", "NRS2")`` for ``nrs_brightobj``; the single mode detector
        otherwise.
    cosmic_ray_rate : float
        Probability that a pixel is hit (unflagged) in one integration.
    bad_pixel_fraction : float
        Fraction of static DO_NOT_USE pixels (NaN in SCI/ERR/VAR); as many more get informational flags.
    subarray : str, optional
        ``nis_soss`` only: ``"SUBSTRIP96"`` (default, 96 × 2048, 4.7 MB per integration), ``"SUBSTRIP256"``
        (256 × 2048, 12.6 MB per integration) or ``"FULL"`` (2048 × 2048: give it a small ``shape``, jwst only
        reads its SUBARRAY keyword and skips the extraction).
        At the subarray's own shape the scene follows the SOSS reference files written with it (see
        :mod:`tso3x.simulate.soss`); a custom ``shape`` gives a small frame with generic traces and no SOSS
        reference files.
    filter : str, optional
        ``nis_soss`` only: ``"CLEAR"`` (default) or ``"F277W"`` (which jwst 3.0.0 does not extract).
    order3 : bool
        ``nis_soss`` only: whether SOSS order 3 carries light (orders 1 and 2 always do).

    Returns
    -------
    SimulatedExposure
    """
    spec = _mode_spec(mode, subarray, filter)
    nints, nseg, shape, bunit, detectors = _check_args(
        spec, nints, nseg, shape, bunit, detectors, cosmic_ray_rate, bad_pixel_fraction
    )
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    timing = calints.exposure_timing(spec, nints)
    bounds = [(int(c[0]), int(c[-1])) for c in np.array_split(np.arange(1, nints + 1), nseg)]
    t_start = time.perf_counter()
    written: list[pathlib.Path] = []
    gains: list[pathlib.Path] = []
    trace0 = None
    soss_files: dict[str, pathlib.Path] = {}
    for di, det in enumerate(detectors):
        gain, paths, scene = _simulate_detector(
            spec, det, di, outdir, timing, bounds, shape, bunit, seed, cosmic_ray_rate, bad_pixel_fraction, order3
        )
        gains.append(gain)
        written.extend(paths)
        trace0 = scene.trace0 if trace0 is None else trace0
        if scene.soss is not None:
            soss_files = write_soss_references(outdir, scene.soss)
    segments = tuple(sorted(written, key=lambda p: p.name))
    extract1d = None
    if not spec.imaging and spec.exp_type != "NIS_SOSS":
        ap = extract1d_aperture(spec, shape, trace0)
        extract1d = write_extract1d(outdir / f"jwst_{spec.instrument.lower()}_extract1d_sim.json", spec, ap)
    pname = product_name(spec)
    asn = write_asn(outdir, pname, segments)
    log.info("simulated %s: %d segment file(s) in %.1f s", mode, len(segments), time.perf_counter() - t_start)
    return SimulatedExposure(mode, asn, segments, pname, gains[0], extract1d, **soss_files)


def write_soss_references(outdir: pathlib.Path, scene) -> dict[str, pathlib.Path]:
    """Write the SOSS reference files and ``soss_estimate`` of ``scene`` (a :class:`~tso3x.simulate.soss.SossScene`)
    into ``outdir``; returns them by :class:`SimulatedExposure` field name."""
    from tso3x.simulate import soss_reffiles as rf

    sub = scene.subarray.lower()
    files = {
        "pastasoss": rf.write_pastasoss(outdir / "jwst_niriss_pastasoss_sim.asdf"),
        "specprofile": rf.write_specprofile(outdir / f"jwst_niriss_specprofile_sim_{sub}.fits", scene),
        "speckernel": rf.write_speckernel(outdir / "jwst_niriss_speckernel_sim.fits"),
        "photom": rf.write_photom(outdir / "jwst_niriss_photom_sim.fits", scene),
        "wavelengthrange": rf.write_wavelengthrange(outdir / "jwst_niriss_wavelengthrange_sim.asdf"),
        "soss_estimate": rf.write_soss_estimate(outdir / "jwst_niriss_soss_estimate_sim.fits"),
    }
    log.info("wrote the NIS_SOSS reference files and soss_estimate into %s", outdir)
    return files


def _simulate_detector(
    spec, det, di, outdir, timing, bounds, shape, bunit, seed, cosmic_ray_rate, bad_pixel_fraction, order3=True
) -> tuple[pathlib.Path, list[pathlib.Path], Scene]:
    """Gain file and all segments of one detector; segments are generated and written one at a time."""
    rng_static = np.random.default_rng([seed, di, 0])
    gain_full = gain_map(spec, rng_static)
    gain = write_gain(outdir / f"jwst_{spec.instrument.lower()}_gain_sim_{det.lower()}.fits", spec, det, gain_full)
    substrt = _substrt(spec, shape)
    x0, y0 = substrt
    gain_sub = gain_full[y0 - 1 : y0 - 1 + shape[0], x0 - 1 : x0 - 1 + shape[1]]
    scene = build_scene(spec, det, shape, timing, rng_static, order3=order3)
    state = make_detector_state(
        rng_static,
        gain_sub,
        spec.read_noise,
        spec.ngroups,
        timing.tgroup,
        bad_pixel_fraction,
        scene.protect,
        scene.reference_pixels,
    )
    conversion = 1.0 if bunit == "DN/s" else spec.photmjsr
    paths = []
    for si, (first, last) in enumerate(bounds, start=1):
        rng = np.random.default_rng([seed, di, si])
        arrays = realize(
            scene.rate(first - 1, last),
            state,
            rng,
            t_eff=timing.effinttm,
            conversion=conversion,
            cosmic_ray_rate=cosmic_ray_rate,
        )
        path = outdir / f"{exposure_root(det, si)}_calints.fits"
        model = getattr(datamodels, spec.model)()
        try:
            for name, arr in arrays.items():
                setattr(model, name, arr)
            del arrays
            model.int_times = calints.int_times_table(timing, first, last)
            if scene.wavelength is not None:
                model.wavelength = scene.wavelength
            for key, val in scene.slit.items():
                setattr(model, key, val)
            if spec.model == "SlitModel":
                model.xstart, model.ystart = substrt
                model.ysize, model.xsize = shape
            calints.populate_meta(
                model,
                spec,
                detector=det,
                shape=shape,
                substrt=substrt,
                timing=timing,
                segment=si,
                nseg=len(bounds),
                first=first,
                last=last,
                bunit=bunit,
            )
            for key, val in scene.wcsinfo.items():
                setattr(model.meta.wcsinfo, key, val)
            model.meta.wcs = scene.wcs
            calints.write_model(model, path)
        finally:
            model.close()
        paths.append(path)
        log.debug("wrote %s (%d integrations)", path.name, last - first + 1)
    return gain, paths, scene


def write_asn(outdir: pathlib.Path, pname: str, segments: tuple[pathlib.Path, ...]) -> pathlib.Path:
    """Write the Level-3 TSO association (``asn_type: tso3``) listing ``segments`` as science members."""
    asn = {
        "asn_type": "tso3",
        "asn_rule": "candidate_Asn_Lv3TSO",
        "version_id": ASN_VERSION,
        "code_version": "3.0.0",
        "degraded_status": "No known degraded exposures in association.",
        "program": calints.PROGRAM,
        "constraints": "DMSAttrConstraint('{'name': 'program', 'sources': ['program'], 'value': '1234'}')",
        "asn_id": ASN_ID,
        "target": "t001",
        "asn_pool": ASN_POOL,
        "products": [
            {
                "name": pname,
                "members": [
                    {
                        "expname": os.path.relpath(p, outdir),
                        "exptype": "science",
                        "exposerr": "null",
                        "asn_candidate": f"('{ASN_ID}', 'observation')",
                    }
                    for p in segments
                ],
            }
        ],
    }
    path = outdir / f"jw{calints.PROGRAM}-{ASN_ID}_{ASN_VERSION}_tso3_00001_asn.json"
    path.write_text(json.dumps(asn, indent=4) + "\n")
    return path
