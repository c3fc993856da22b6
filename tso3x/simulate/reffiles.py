"""Local reference files for running jwst offline on simulated data.

- a full-frame GAIN file (stdatamodels ``GainModel``), usable as jwst ``override_gain``;
- an EXTRACT1D JSON file (jwst format, one aperture per mode), usable as ``override_extract1d``;
- an APCORR file (:func:`write_apcorr`; MIRI LRS and NIRSpec BOTS), usable as ``override_apcorr``.
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


#: EXP_TYPEs for which jwst 3.0.0 reads an APCORR file in calwebb_tso3, and the stdatamodels model.
APCORR_MODELS = {"MIR_LRS-SLITLESS": "MirLrsApcorrModel", "NRS_BRIGHTOBJ": "NrsFsApcorrModel"}


def _apcorr_meta(m, spec: ModeSpec, sizeunit: str) -> None:
    m.meta.reftype = "APCORR"
    m.meta.author = "tso3x.simulate"
    m.meta.pedigree = "DUMMY"
    m.meta.useafter = "2022-01-01T00:00:00"
    m.meta.description = f"Simulated {spec.exp_type} aperture corrections for tso3x tests"
    m.meta.telescope = "JWST"
    m.meta.instrument.name = spec.instrument
    m.meta.exposure.type = spec.exp_type
    m.sizeunit = sizeunit


def _lrs_table(spec: ModeSpec) -> np.ndarray:
    """MIRI LRS rows: a distractor (FULL) and the mode's subarray.

    Wavelengths 5.5…12.5 µm, descending and zero-padded (``nelem_wl`` = 9 of 12), so the simulated
    4.5–14 µm spectrum is clamped at both ends; sizes 4, 6, 8, 12 pixels (``nelem_size`` = 4 of 6)
    around the 9-pixel simulated aperture.
    """
    wl = np.linspace(12.5, 5.5, 9)
    size = np.array([4, 6, 8, 12])
    apcorr = 1.0 + 0.6 * np.exp(-size[None, :] / 5.0) * (wl[:, None] / 10.0) ** 1.5
    dtype = [
        ("subarray", "S17"),
        ("wavelength", ">f4", (12,)),
        ("nelem_wl", ">i2"),
        ("size", "u1", (6,)),
        ("nelem_size", ">i2"),
        ("apcorr", ">f4", (12, 6)),
        ("apcorr_err", ">f4", (12, 6)),
    ]
    table = np.zeros(2, dtype=dtype)
    for row, sub, scale in ((0, "FULL", 2.0), (1, spec.subarray, 1.0)):
        table[row]["subarray"] = sub
        table[row]["wavelength"][:9] = wl
        table[row]["nelem_wl"] = 9
        table[row]["size"][:4] = size
        table[row]["nelem_size"] = 4
        table[row]["apcorr"][:9, :4] = scale * apcorr
        table[row]["apcorr_err"][:9, :4] = 0.01
    return table


def _fs_table(spec: ModeSpec) -> np.ndarray:
    """NIRSpec FS rows: the mode's filter/grating/slit (lower-case filter and grating, as CRDS files) and
    three distractors.

    Wavelengths 3.0…4.6 µm (inside NRS1's 2.87–3.72 and NRS2's 3.82–5.18 µm only in part, so both ends get
    c = 1); sizes 0.3…1.4 arcsec growing 4 %/µm; pixel phases 0, 0.3, 0.6, 0.9. Shapes as jwst reads them:
    size (nsize, nwl), apcorr (nsize, nwl, npixphase).
    """
    wl = np.linspace(3.0, 4.6, 9)
    base = np.array([0.3, 0.5, 0.7, 1.0, 1.4])
    size = base[:, None] * (1.0 + 0.04 * (wl[None, :] - 3.0))
    phase = np.array([0.0, 0.3, 0.6, 0.9])
    apcorr = 1.0 + 0.3 * np.exp(-size[:, :, None] / 0.4) * (1.0 + 0.1 * (wl[None, :, None] - 3.0))
    apcorr = apcorr + 0.02 * phase[None, None, :]
    dtype = [
        ("filter", "S12"),
        ("grating", "S15"),
        ("slit", "S15"),
        ("wavelength", ">f4", (9,)),
        ("nelem_wl", ">i2"),
        ("size", ">f4", (5, 9)),
        ("nelem_size", ">i2"),
        ("pixphase", ">f4", (4,)),
        ("apcorr", ">f4", (5, 9, 4)),
        ("apcorr_err", ">f4", (5, 9, 4)),
    ]
    rows = [
        ("clear", "prism", spec.slit_name, 2.0),
        (spec.filter.lower(), spec.grating.lower(), "S200A1", 2.0),
        (spec.filter.lower(), "g395m", spec.slit_name, 2.0),
        (spec.filter.lower(), spec.grating.lower(), spec.slit_name, 1.0),
    ]
    table = np.zeros(len(rows), dtype=dtype)
    for i, (filt, grating, slit, scale) in enumerate(rows):
        table[i]["filter"], table[i]["grating"], table[i]["slit"] = filt, grating, slit
        table[i]["wavelength"] = wl
        table[i]["nelem_wl"] = wl.size
        table[i]["size"] = size
        table[i]["nelem_size"] = base.size
        table[i]["pixphase"] = phase
        table[i]["apcorr"] = scale * apcorr
        table[i]["apcorr_err"] = 0.01
    return table


def write_apcorr(path: str | pathlib.Path, exposure) -> pathlib.Path:
    """Write an APCORR reference file (CRDS format) for a simulated exposure, usable as ``override_apcorr``.

    MIR_LRS-SLITLESS gets a ``MirLrsApcorrModel`` (sizes in pixels), NRS_BRIGHTOBJ an ``NrsFsApcorrModel``
    (sizes in arcsec); each has a matching row and rows that must not match. Values are smooth, 1.0–1.5.

    Parameters
    ----------
    path : path
        File to write.
    exposure : SimulatedExposure or str
        The simulated exposure (or its mode name).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    Tso3xInputError
        The mode has no APCORR file in calwebb_tso3 (imaging, NRC_TSGRISM, NIS_SOSS).
    """
    from tso3x.errors import Tso3xInputError
    from tso3x.simulate.modes import SPECS

    mode = exposure if isinstance(exposure, str) else exposure.mode
    spec = SPECS[mode]
    if spec.exp_type not in APCORR_MODELS:
        raise Tso3xInputError(None, f"{spec.exp_type} has no APCORR reference file in calwebb_tso3")
    path = pathlib.Path(path)
    lrs = spec.exp_type == "MIR_LRS-SLITLESS"
    table = _lrs_table(spec) if lrs else _fs_table(spec)
    with getattr(datamodels, APCORR_MODELS[spec.exp_type])(apcorr_table=table) as m:
        _apcorr_meta(m, spec, "pixels" if lrs else "arcsec")
        m.save(path)
    log.debug("wrote %s", path)
    return path
