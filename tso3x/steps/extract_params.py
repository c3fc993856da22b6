"""jwst's extraction-parameter resolution (``get_extract_parameters``) from a read EXTRACT1D reference file."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import numpy as np

from .. import notes
from ..errors import Tso3xInputError

log = logging.getLogger(__name__)

ANY = "ANY"
#: EXP_TYPEs whose default ``use_source_posn`` is True (jwst ``SRCPOS_EXPTYPES``).
SRCPOS_EXPTYPES = ("MIR_LRS-FIXEDSLIT", "NRS_FIXEDSLIT", "NRS_MSASPEC", "NRS_BRIGHTOBJ")
BKG_FITS = ("poly", "mean", "median", None)


def _smoothing(value) -> int:
    sm = value
    if sm != int(sm):
        sm = int(np.round(sm))
        notes.warning(log, "Smoothing length must be an integer. Rounding to %d", sm)
    sm = int(sm)
    if sm != 0:
        if sm < 3:
            notes.warning(log, "Smoothing length %d is not allowed. Setting it to 0.", sm)
            sm = 0
        elif sm % 2 == 0:
            sm -= 1
            notes.warning(
                log, "Even smoothing lengths are not supported. Rounding the smoothing length down to %d.", sm
            )
    return sm


def whole_array_parameters(shape: tuple[int, int], sp_order: int) -> dict:
    """Parameters without a reference file: the whole array, no background, no source position."""
    return {
        "spectral_order": sp_order,
        "xstart": 0,
        "xstop": shape[1] - 1,
        "ystart": 0,
        "ystop": shape[0] - 1,
        "extract_width": None,
        "src_coeff": None,
        "bkg_coeff": None,
        "smoothing_length": 0,
        "bkg_fit": None,
        "bkg_order": 0,
        "subtract_background": False,
        "use_source_posn": False,
        "position_offset": 0.0,
        "independent_var": "pixel",
        "trace": None,
    }


def extract_parameters(
    ref: dict | None,
    shape: tuple[int, int],
    slitname: str,
    sp_order: int,
    exp_type: str,
    *,
    ref_path: str | Path | None = None,
    smoothing_length=None,
    bkg_fit=None,
    bkg_order=None,
    subtract_background=None,
    use_source_posn=None,
    position_offset=0.0,
) -> dict:
    """jwst ``get_extract_parameters`` for one slit/order (box extraction).

    Parameters
    ----------
    ref : dict or None
        The loaded reference file.
    shape : (ny, nx)
        Frame shape [pixel].
    slitname : str
        Name matched against the apertures' ``id``.
    sp_order : int
        Spectral order.
    exp_type : str
        EXP_TYPE (default of ``use_source_posn``).
    ref_path : path, optional
        For error messages.
    smoothing_length, bkg_fit, bkg_order, subtract_background, use_source_posn, position_offset
        Step parameters; a value other than None overrides the reference file.

    Returns
    -------
    dict
        Extraction parameters (deep copies of the reference values).

    Raises
    ------
    Tso3xInputError
        If no aperture matches ``slitname`` and ``sp_order``.
    """
    if ref is None:
        return whole_array_parameters(shape, sp_order)
    partial = False
    for aper in ref["apertures"]:
        if not isinstance(aper, dict) or "id" not in aper or aper["id"] == "dummy":
            continue
        if not (aper["id"] == slitname or aper["id"] == ANY or slitname == ANY):
            continue
        if aper.get("region_type", "target") != "target":
            continue
        partial = True
        order = aper.get("spectral_order", sp_order)
        if not (order == sp_order or order == ANY):
            continue
        aper = copy.deepcopy(aper)
        p = {
            "spectral_order": sp_order,
            "xstart": aper.get("xstart", 0),
            "xstop": aper.get("xstop", shape[1] - 1),
            "ystart": aper.get("ystart", 0),
            "ystop": aper.get("ystop", shape[0] - 1),
            "src_coeff": aper.get("src_coeff"),
            "bkg_coeff": aper.get("bkg_coeff"),
        }
        sub = subtract_background
        if p["bkg_coeff"] is not None and sub is None:
            sub = True
        fit, border = bkg_fit, bkg_order
        if sub:
            p["subtract_background"] = True
            if fit is not None:
                if fit == "mean":
                    fit, border = "poly", 0
                p["bkg_fit"] = fit
            else:
                p["bkg_fit"] = aper.get("bkg_fit", "poly")
        else:
            p["subtract_background"] = False
            p["bkg_fit"] = None
        p["independent_var"] = str(aper.get("independent_var", "pixel")).lower()
        p["bkg_order"] = aper.get("bkg_order", 0) if border is None else border
        posn = use_source_posn
        if posn is None:
            posn = aper.get("use_source_posn")
            if posn is None:
                posn = exp_type in SRCPOS_EXPTYPES
        p["use_source_posn"] = bool(posn)
        p["position_offset"] = float(position_offset or 0.0)
        p["trace"] = None
        p["extract_width"] = aper.get("extract_width")
        p["smoothing_length"] = _smoothing(
            aper.get("smoothing_length", 0) if smoothing_length is None else smoothing_length
        )
        _check(p, ref_path)
        _warn_off_frame(p, shape, ref_path)
        return p
    what = f"spectral order {sp_order} of " if partial else ""
    raise Tso3xInputError(ref_path, f"no extraction aperture for {what}{slitname!r} in the extract1d reference file")


def _warn_off_frame(p: dict, shape: tuple[int, int], path) -> None:
    """jwst extracts an aperture reaching beyond the frame from the pixels inside it; say so."""
    ny, nx = shape
    edges = (("xstart", nx), ("xstop", nx), ("ystart", ny), ("ystop", ny))
    outside = [k for k, size in edges if not -0.5 <= p[k] <= size - 0.5]
    if outside and p["src_coeff"] is None:
        limits = ", ".join(f"{k}={p[k]}" for k in outside)
        notes.warning(
            log, "%s: aperture partly off the %dx%d frame (%s); only pixels inside it are used", path, ny, nx, limits
        )


def _check(p: dict, path) -> None:
    """Reject values jwst would fail on later (non-numeric limits, odd coefficient lists, bad fits)."""
    for key in ("xstart", "xstop", "ystart", "ystop"):
        if not isinstance(p[key], int | float) or isinstance(p[key], bool):
            raise Tso3xInputError(path, f"aperture {key} must be a number, not {p[key]!r}")
    for key in ("src_coeff", "bkg_coeff"):
        c = p[key]
        if c is None:
            continue
        ok = isinstance(c, list) and len(c) % 2 == 0 and all(isinstance(v, list) and v for v in c)
        if not ok:
            raise Tso3xInputError(path, f"{key} must contain alternating lists of lower and upper limits")
    if p["subtract_background"] and p["bkg_fit"] not in ("poly", "median", "mean"):
        raise Tso3xInputError(path, f"bkg_fit must be poly, mean or median, not {p['bkg_fit']!r}")
    if p["bkg_fit"] == "mean":
        p["bkg_fit"], p["bkg_order"] = "poly", 0
    order = p["bkg_order"]
    if p["subtract_background"] and (not isinstance(order, int | float) or order < 0 or order != int(order)):
        raise Tso3xInputError(path, f"bkg_order must be an integer >= 0, not {order!r}")
    p["bkg_order"] = int(order) if isinstance(order, int | float) else 0
