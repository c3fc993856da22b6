"""Per-segment set-up of jwst ``extract_1d`` box extraction: parameters, aperture, wavelengths, units.

Everything here is computed once per segment (as jwst does) from the segment's headers, its WAVELENGTH
extension or gwcs (all from its :class:`~tso3x.io.calints.SegmentMeta`, read once) and the EXTRACT1D reference
contents (plus the aperture correction, :mod:`tso3x.steps.apcorr`, from the APCORR file); the per-integration
arithmetic is in :mod:`tso3x.kernels.box_extract`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import notes
from ..errors import Tso3xInputError
from ..io.apcorr_ref import ApcorrRef
from ..io.calints import SegmentMeta
from ..kernels import box_extract as kern
from .apcorr import ApertureCorrection, segment_apcorr
from .extract_params import extract_parameters

log = logging.getLogger(__name__)

#: SlitModel attributes jwst ``copy_keyword_info`` copies to the spectrum: keyword → copy even if None.
SLIT_KEYWORDS = {
    "SLITID": True,
    "SOURCEID": True,
    "TA_XPOS": True,
    "TA_YPOS": True,
    "SRCXPOS": True,
    "SRCYPOS": True,
    "SRCRA": True,
    "SRCDEC": True,
    "SHUTSTA": True,
    "SRCNAME": False,
    "SRCALIAS": False,
    "SRCTYPE": False,
    "STLARITY": False,
    "MSAQUAD": False,
    "SLTXSCL": False,
    "SLTYSCL": False,
    "WAVECOR": False,
    "PTHLOSS": False,
    "BARSHDW": False,
}


@dataclass
class ApertureSetup:
    """What jwst fixes once per segment before extracting its integrations.

    Attributes
    ----------
    path : Path
        The segment file.
    params : dict
        Resolved extraction parameters (after source-position and ``position_offset`` shifts).
    profile, bg_profile : ndarray (ny, nx) or None
        Source and background weights in the detector orientation.
    wavelength : ndarray
        1-D wavelengths of the valid dispersion elements [micron].
    valid : ndarray of bool
        Which dispersion elements are kept (finite wavelength).
    dispaxis : int
        1 horizontal, 2 vertical.
    units : dict
        ``flux``, ``flux_var``, ``sb``, ``sb_var`` unit strings.
    megajansky : bool
        NIRSpec point-source input in MJy (FLUX = sum × 1e6, SB columns zero).
    photom : bool
        Photom was run (Jy / MJy/sr outputs).
    pixar_sr : float
        Pixel solid angle [sr].
    keywords : dict
        EXTRACT1D header keywords of this spectrum (SLTNAME, EXTR*, SLIT_RA…).
    segment : int
        EXSEGNUM.
    apcorr : ApertureCorrection or None
        Aperture correction (POINT source with an APCORR file), applied by ``to_columns``.
    """

    path: Path
    params: dict
    profile: np.ndarray
    bg_profile: np.ndarray | None
    wavelength: np.ndarray
    valid: np.ndarray
    dispaxis: int
    units: dict
    megajansky: bool
    photom: bool
    pixar_sr: float
    keywords: dict = field(default_factory=dict)
    segment: int = 1
    apcorr: ApertureCorrection | None = None


def segment_headers(meta: SegmentMeta) -> tuple[dict, dict]:
    """PRIMARY and SCI headers of a segment as plain dicts."""
    sci = meta.sci_header
    return dict(meta.primary_header), dict(sci) if sci is not None else {}


def wavelength_array(meta: SegmentMeta, shape: tuple[int, int], wcs=None) -> np.ndarray | None:
    """2-D wavelengths [micron]: the WAVELENGTH extension unless absent or all zero, else the gwcs."""
    if meta.wavelength is not None:
        wl = np.asarray(meta.wavelength, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            empty = wl.size == 0 or (np.nanmin(wl) == 0.0 and np.nanmax(wl) == 0.0)
        if not empty:
            return wl
    if wcs is None:
        return None
    grid = np.indices(shape, dtype=np.float64)
    try:
        return np.asarray(wcs(grid[1], grid[0])[2], dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - any gwcs failure means "no usable WCS"
        log.debug("%s: WCS evaluation failed: %s", meta.path, exc)
        return None


def _interval(bb, axis: int) -> tuple[float, float]:
    iv = bb[axis]
    return float(iv[0]), float(iv[1])


def nirspec_location(wcs, shape, dispaxis: int, xpos: float, ypos: float):
    """jwst ``location_from_wcs`` for NIRSpec: (middle pixel, middle wavelength, location, trace) or Nones."""
    bb = wcs.bounding_box
    if bb is None:
        bb = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    (x0, x1), (y0, y1) = _interval(bb, 0), _interval(bb, 1)
    lower, upper = (y0, y1) if dispaxis == 1 else (x0, x1)
    if dispaxis == 1:
        width, middle_disp = int(round(y1)), (x0 + x1) / 2.0
        x, y = np.full(width, middle_disp), np.arange(width, dtype=np.float64)
    else:
        width, middle_disp = int(round(x1)), (y0 + y1) / 2.0
        x, y = np.arange(width, dtype=np.float64), np.full(width, middle_disp)
    centre_wl = np.asarray(wcs(x, y)[2], dtype=np.float64)
    middle_wl = np.nanmean(centre_wl) if np.isfinite(centre_wl).any() else np.nan
    middle = int(np.round(middle_disp))
    slit2det = wcs.get_transform("slit_frame", "detector")
    scale = 1e-6 if "gwa" in wcs.available_frames else 1.0
    location = float(slit2det(xpos, ypos, middle_wl * scale)[1])
    trace = None
    if np.isfinite(location):
        trace = _nirspec_trace(shape, (x0, x1), (y0, y1), wcs, xpos, ypos)
    if not np.isfinite(location) or location < lower or location > upper:
        notes.warning(log, "Source position could not be determined from the WCS; no position shift")
        return None, None, None, None
    return middle, middle_wl, location, trace


def _nirspec_trace(shape, xr_, yr_, wcs, xpos, ypos):
    from gwcs.wcstools import grid_from_bounding_box
    from scipy.interpolate import interp1d

    x, y = grid_from_bounding_box((xr_, yr_))
    nx = int(xr_[1] - xr_[0])
    _, _, slit_wl = wcs.get_transform("detector", "slit_frame")(x, y)
    waves = np.linspace(np.nanmin(slit_wl), np.nanmax(slit_wl), nx)
    tx, ty = wcs.get_transform("slit_frame", "detector")(np.full(nx, xpos), np.full(nx, ypos), waves)
    trace = interp1d(tx, ty, fill_value="extrapolate")(np.arange(nx))
    full = np.full(shape[1], np.nan)
    start = int(np.ceil(xr_[0]))
    full[start : start + nx] = trace
    return full


def shift_by_offset(offset: float, params: dict, update_trace: bool = True) -> None:
    """jwst ``shift_by_offset``: move start/stop, coefficient constants and (optionally) the trace."""
    for key in ("src_coeff", "bkg_coeff"):
        if params[key] is not None:
            for coeff in params[key]:
                coeff[0] += offset
    for key in ("ystart", "ystop") if params["dispaxis"] == 1 else ("xstart", "xstop"):
        if params[key] is not None:
            params[key] += offset
    if update_trace and params["trace"] is not None:
        params["trace"] = params["trace"] + offset


def slit_name(prim: dict, sci: dict) -> str:
    """jwst ``run_extract1d`` slit name: SlitModel name for BOTS, else EXP_TYPE."""
    exp_type = str(prim.get("EXP_TYPE", ""))
    if exp_type == "NRS_BRIGHTOBJ" and prim.get("DATAMODL") != "CubeModel" and sci.get("SLTNAME") is not None:
        return str(sci["SLTNAME"])
    return exp_type


def _units(photom: bool) -> dict:
    if photom:
        return {"flux": "Jy", "flux_var": "Jy^2", "sb": "MJy/sr", "sb_var": "MJy^2 / sr^2"}
    return {"flux": "DN/s", "flux_var": "DN^2 / s^2", "sb": "DN/s", "sb_var": "DN^2 / s^2"}


def setup_segment(
    meta: SegmentMeta,
    shape: tuple[int, int],
    ref: dict | None,
    ref_path=None,
    apcorr_ref: ApcorrRef | None = None,
    **user,
) -> ApertureSetup:
    """Everything jwst ``create_extraction`` / ``define_aperture`` fixes for one segment.

    Parameters
    ----------
    meta : SegmentMeta
        The segment's calints headers, WAVELENGTH and WCS (read once, by :func:`tso3x.io.calints.open_segment`).
    shape : (ny, nx)
        Frame shape.
    ref : dict or None
        EXTRACT1D reference contents.
    ref_path : path, optional
        Reference file, for messages.
    apcorr_ref : ApcorrRef, optional
        APCORR file; used for a POINT source (the NIRSpec factors still need :meth:`ApertureCorrection.tabulate`).
    **user
        ``smoothing_length``, ``bkg_fit``, ``bkg_order``, ``subtract_background``, ``use_source_posn``,
        ``position_offset`` step parameters.

    Raises
    ------
    Tso3xInputError
        No aperture for this exposure, no DISPAXIS, no wavelength information, no valid wavelength, or no
        usable APCORR row.
    """
    path = Path(meta.path)
    prim, sci = segment_headers(meta)
    exp_type = str(prim.get("EXP_TYPE", ""))
    name = slit_name(prim, sci)
    sp_order = sci.get("SPORDER")
    if sp_order is None:
        notes.warning(log, "spectral_order is None; using 1")
        sp_order = 1
    source_type = sci.get("SRCTYPE")
    user = dict(user)
    if source_type != "POINT" and user.get("use_source_posn") is None:
        user["use_source_posn"] = False
    photom = str(prim.get("S_PHOTOM", "")).upper() == "COMPLETE"
    if not photom:
        notes.warning(log, "The photom step has not been run.")
    pixar = sci.get("PIXAR_SR") if photom else 1.0
    if pixar is None:
        notes.warning(log, "Pixel area (solid angle) is not populated; the flux will not be correct.")
        pixar = 1.0
    params = extract_parameters(ref, shape, name, int(sp_order), exp_type, ref_path=ref_path, **user)
    dispaxis = sci.get("DISPAXIS")
    if dispaxis not in (1, 2):
        raise Tso3xInputError(path, "DISPAXIS (dispersion direction) is missing", "SCI")
    params["dispaxis"] = dispaxis
    wcs = meta.wcs  # SLIT_RA/SLIT_DEC always come from the WCS
    wl = wavelength_array(meta, shape, wcs)
    if wl is None:
        raise Tso3xInputError(path, "no wavelength information (no WAVELENGTH extension and no usable WCS)")
    if params["use_source_posn"]:
        if exp_type in ("NRS_FIXEDSLIT", "NRS_MSASPEC", "NRS_BRIGHTOBJ") and wcs is not None:
            xpos, ypos = sci.get("SRCXPOS") or 0.0, sci.get("SRCYPOS") or 0.0
            middle, _, location, trace = nirspec_location(wcs, shape, dispaxis, xpos, ypos)
        else:
            notes.warning(log, "Source position cannot be found for EXP_TYPE %s", exp_type)
            middle = location = trace = None
        if location is not None:
            nominal = kern.box_profile(shape, params, wl)[0]
            nominal_location, _ = kern.aperture_center(nominal, dispaxis, middle_pix=middle)
            offset = location - nominal_location
            notes.info(
                log, "Source location %s", f"{location:.2f}, nominal {nominal_location:.2f}: offset {offset:.2f} pixels"
            )
            shift_by_offset(offset, params, update_trace=False)
    else:
        trace = None
    params["trace"] = trace
    if params["position_offset"] != 0.0:
        shift_by_offset(params["position_offset"], params, update_trace=True)
    profile, lower, upper = kern.box_profile(shape, params, wl)
    profile[~np.isfinite(wl)] = 0.0
    nonzero = np.flatnonzero(np.sum(profile, axis=dispaxis - 1) > 0)
    left, right = (int(nonzero[0]), int(nonzero[-1])) if nonzero.size else (None, None)
    bg_profile = None
    if params["subtract_background"] and params["bkg_coeff"] is not None:
        bg_profile = kern.box_profile(shape, params, wl, "bkg_coeff")[0]
    wavelength = kern.spectrum_wavelength(wl, profile, dispaxis)
    valid = np.isfinite(wavelength)
    if not valid.any():
        raise Tso3xInputError(path, "the extraction aperture contains no valid wavelength (spectrum is empty)")
    keywords = _spectrum_keywords(prim, sci, name, sp_order, dispaxis, (lower, upper, left, right), profile, wcs)
    apcorr = None
    if apcorr_ref is not None and source_type is not None and str(source_type).upper() == "POINT":
        radec = (keywords["SLIT_RA"], keywords["SLIT_DEC"])
        apcorr = segment_apcorr(apcorr_ref, path, prim, sci, wcs, radec, wavelength[valid], dispaxis)
    elif apcorr_ref is not None:
        notes.info(log, "source type %s is not POINT: no aperture correction", source_type)
    return ApertureSetup(
        path=path,
        params=params,
        profile=profile,
        bg_profile=bg_profile,
        wavelength=wavelength[valid],
        valid=valid,
        dispaxis=dispaxis,
        units=_units(photom),
        megajansky=photom and source_type == "POINT" and str(prim.get("INSTRUME", "")).upper() == "NIRSPEC",
        photom=photom,
        pixar_sr=float(pixar),
        keywords=keywords,
        segment=int(prim.get("EXSEGNUM") or 1),
        apcorr=apcorr,
    )


def _spectrum_keywords(prim, sci, name, sp_order, dispaxis, limits, profile, wcs) -> dict:
    """EXTRACT1D header keywords in jwst's order (stdatamodels orders them by the schema on writing)."""
    lower, upper, left, right = limits
    kw: dict = {"SLTNAME": name if name != "ANY" else None}
    if prim.get("DATAMODL") != "CubeModel":
        for key, always in SLIT_KEYWORDS.items():
            if always or sci.get(key) is not None:
                kw[key] = sci.get(key)
    ra = dec = None
    if wcs is not None:
        cy, cx = kern.aperture_center(profile, 1)
        coords = wcs(cx, cy)
        if not np.any(np.isnan(np.asarray(coords[:2], dtype=float))):
            ra, dec = float(coords[0]), float(coords[1])
    if dispaxis == 1:
        kw.update(EXTRXSTR=left + 1, EXTRXSTP=right + 1, EXTRYSTR=lower + 1, EXTRYSTP=upper + 1)
    else:
        kw.update(EXTRXSTR=lower + 1, EXTRXSTP=upper + 1, EXTRYSTR=left + 1, EXTRYSTP=right + 1)
    kw.update(
        SLIT_RA=ra,
        SLIT_DEC=dec,
        SPORDER=int(sp_order),
        DISPAXIS=dispaxis,
        DETECTOR=prim.get("DETECTOR"),
        PA_APER=sci.get("PA_APER"),
    )
    return kw
