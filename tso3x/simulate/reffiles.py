"""Local reference files for running jwst offline on simulated data.

- a full-frame GAIN file (stdatamodels ``GainModel``), usable as jwst ``override_gain``;
- an EXTRACT1D JSON file (jwst format, one aperture per mode), usable as ``override_extract1d``.
"""

from __future__ import annotations

import json
import logging
import pathlib

import numpy as np
from stdatamodels.jwst import datamodels

from tso3x.simulate.modes import ModeSpec

log = logging.getLogger(__name__)


def gain_map(spec: ModeSpec, rng: np.random.Generator) -> np.ndarray:
    """Full-frame gain [electron/DN]: the mode's mean gain with 2 % pixel scatter, float32."""
    g = spec.gain * (1.0 + 0.02 * rng.standard_normal(spec.full_frame))
    return g.astype(np.float32)


def write_gain(path: pathlib.Path, spec: ModeSpec, detector: str, gain: np.ndarray) -> pathlib.Path:
    """Write a full-frame GainModel reference file (the CRDS GAIN format)."""
    ny, nx = gain.shape
    with datamodels.GainModel(data=gain) as m:
        m.meta.reftype = "GAIN"
        m.meta.author = "tso3x.simulate"
        m.meta.pedigree = "DUMMY"
        m.meta.useafter = "2022-01-01T00:00:00"
        m.meta.description = f"Simulated {spec.instrument} {detector} gain for tso3x tests"
        m.meta.telescope = "JWST"
        m.meta.instrument.name = spec.instrument
        m.meta.instrument.detector = detector
        m.meta.subarray.name = "FULL"
        m.meta.subarray.xstart = 1
        m.meta.subarray.ystart = 1
        m.meta.subarray.xsize = nx
        m.meta.subarray.ysize = ny
        m.meta.bunit_data = "electron/DN"
        m.save(path)
    return path


def _edge_coeff(lo: float, hi: float) -> list[list[float]]:
    """Coefficient pair (constant terms) selecting pixel centres lo..hi inclusive."""
    return [[lo - 0.5], [hi + 0.5]]


def extract1d_aperture(spec: ModeSpec, shape: tuple[int, int], trace0: float) -> dict:
    """One EXTRACT1D aperture around the trace at cross-dispersion pixel ``trace0``.

    The source box is ±h pixels around the trace (h = 3, or 4 for MIRI whose PSF is wider); the
    background regions are two bands h+5 … h+11 pixels from the trace on each side, clipped to the
    array (a band is omitted if there is no room).
    """
    ny, nx = shape
    ncross = ny if spec.dispaxis == 1 else nx
    ndisp = nx if spec.dispaxis == 1 else ny
    half = 4 if spec.instrument == "MIRI" else 3
    centre = int(round(trace0))
    lo, hi = max(centre - half, 0), min(centre + half, ncross - 1)
    ap: dict = {
        "id": {"NRS_BRIGHTOBJ": spec.slit_name}.get(spec.exp_type, spec.exp_type),
        "region_type": "target",
        "dispaxis": spec.dispaxis,
        "independent_var": "pixel",
        "smoothing_length": 0,
        "bkg_fit": "poly",
        "bkg_order": 0,
        "use_source_posn": spec.exp_type == "NRS_BRIGHTOBJ",
    }
    bands = []
    for sign in (-1, 1):
        a, b = sorted((centre + sign * (half + 5), centre + sign * (half + 11)))
        a, b = max(a, 0), min(b, ncross - 1)
        if b - a >= 1:
            bands.append((a, b))
    if spec.dispaxis == 1:
        ap.update(xstart=0, xstop=ndisp - 1, ystart=lo, ystop=hi)
    else:
        ap.update(xstart=lo, xstop=hi, ystart=0, ystop=ndisp - 1)
    if bands:
        ap["bkg_coeff"] = [c for a, b in bands for c in _edge_coeff(a, b)]
    return ap


def write_extract1d(path: pathlib.Path, spec: ModeSpec, aperture: dict) -> pathlib.Path:
    """Write an EXTRACT1D reference file (JSON, jwst ``read_extract1d_ref`` format)."""
    ref = {
        "reftype": "EXTRACT1D",
        "instrument": spec.instrument,
        "telescope": "JWST",
        "exp_type": spec.exp_type,
        "pedigree": "DUMMY",
        "useafter": "2022-01-01T00:00:00",
        "author": "tso3x.simulate",
        "description": f"Simulated {spec.exp_type} box aperture for tso3x tests",
        "apertures": [aperture],
    }
    path.write_text(json.dumps(ref, indent=2) + "\n")
    log.debug("wrote %s", path)
    return path
