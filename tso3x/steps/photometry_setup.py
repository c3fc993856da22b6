"""Everything TSO photometry needs from each segment before any pixel is read, checked up front.

Per segment (jwst photometers each segment cube on its own): the planned source position
(XREF_SCI/YREF_SCI), the unit conversion (MJy/sr → Jy via PIXAR_SR; DN/s → electron via EFFINTTM × gain;
anything else kept), the table meta, the integration mid times by jwst's INTSTART offset rule, and the
WCS. Every problem is a :class:`~tso3x.errors.Tso3xInputError` naming the file, raised before the
pipeline writes anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
import xarray as xr

from .. import names, notes
from ..dataset import segment_slices
from ..errors import Tso3xInputError
from ..io.calints import SegmentMeta, segment_metas
from ..io.gain import GainRef

log = logging.getLogger(__name__)


@dataclass
class PhotometrySetup:
    """Inputs of the photometry of one segment.

    Attributes
    ----------
    path : str or None
        The segment file (None for a Dataset not read from files).
    rows : slice
        Positional slice of the segment along ``integration``.
    xref, yref : float
        Planned source position [pix, 0-based] (XREF_SCI − 1, YREF_SCI − 1).
    factor : float, ndarray or None
        Multiplier of SCI and ERR (a Python float, a float32 (ny, nx) array, or None: no conversion).
    unit : str
        Data unit after conversion (``Jy``, ``electron`` or BUNIT).
    sub64p_wlp8 : bool
        NIRCam SUB64P with WLP8: the whole subarray is summed.
    meta : dict
        Catalog table meta (:data:`tso3x.names.PHOT_META_KEYS` except ``apertures``).
    mjd, bjd : ndarray of float64
        Integration mid times [d] (MJD UTC; BJD_TDB − 2400000.5).
    wcs : object or None
        The segment's gWCS (None: RA/Dec are NaN).
    """

    path: str | None
    rows: slice
    xref: float
    yref: float
    factor: float | np.ndarray | None
    unit: str
    sub64p_wlp8: bool
    meta: dict
    mjd: np.ndarray
    bjd: np.ndarray
    wcs: object = field(default=None, repr=False)


def _headers(meta: SegmentMeta | None, attrs: dict) -> tuple[dict, dict, dict]:
    """PRIMARY, SCI and ERR keywords of a segment file (or the Dataset attrs when there is no file)."""
    if meta is None:
        return attrs, attrs, {"BUNIT": attrs.get("BUNIT")}
    err = meta.hdu("ERR")
    return dict(meta.primary_header), dict(meta.sci_header), dict(err.header) if err is not None else {}


def _conversion(path, primary: dict, sci: dict, gain, shape: tuple[int, int]) -> tuple[object, str]:
    where = path if path is not None else None
    bunit = sci.get("BUNIT")
    if bunit == "MJy/sr":
        pixar = sci.get("PIXAR_SR")
        if not isinstance(pixar, int | float) or isinstance(pixar, bool):
            raise Tso3xInputError(where, "PIXAR_SR is missing; it is needed to convert MJy/sr to Jy", "SCI")
        return 1e6 * float(pixar), "Jy"
    if bunit == "DN/s":
        if gain is None:
            raise Tso3xInputError(
                where, "data are in DN/s and no gain reference file was given (--override-gain)", "SCI"
            )
        effinttm = primary.get("EFFINTTM")
        if not isinstance(effinttm, int | float) or isinstance(effinttm, bool):
            raise Tso3xInputError(where, "EFFINTTM is missing; it is needed to convert DN/s to electrons", "PRIMARY")
        if isinstance(gain, np.ndarray):
            gain_2d = np.asarray(gain, dtype=np.float32)
            if gain_2d.shape != shape:
                raise Tso3xInputError(where, f"gain array shape {gain_2d.shape} differs from the frame {shape}")
        else:
            if any(not isinstance(primary.get(k), int) for k in ("SUBSTRT1", "SUBSTRT2")):
                raise Tso3xInputError(where, "SUBSTRT1/SUBSTRT2 are needed to cut the gain", "PRIMARY")
            gain_2d = gain.cut((primary["SUBSTRT1"], primary["SUBSTRT2"]), (shape[1], shape[0]))
        return float(effinttm) * gain_2d, "electron"  # float32, as jwst's EFFINTTM * gain_2d
    try:
        u.Unit(bunit)
    except (ValueError, TypeError):
        raise Tso3xInputError(where, f"BUNIT {bunit!r} is not a unit astropy understands", "SCI") from None
    notes.warning(log, "Unexpected data units: %s. Photometry will be produced using the input units.", bunit)
    return None, str(bunit)


def _times(meta: SegmentMeta | None, primary: dict, seg: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Mid times by jwst's rule: INT_TIMES rows from ``INTSTART − integration_number[0]`` on."""
    n = seg.sizes[names.INTEGRATION]
    if meta is None:
        return seg["mjd_utc_mid"].values.astype(np.float64), seg["bjd_tdb_mid"].values.astype(np.float64)
    path, table = str(meta.path), meta.int_times
    start = primary.get("INTSTART")
    start = start if isinstance(start, int) and not isinstance(start, bool) else 1
    if len(table) == 0:
        raise Tso3xInputError(path, "INT_TIMES is empty", "INT_TIMES")
    offset = start - int(table["integration_number"][0])
    mjd = np.asarray(table["int_mid_MJD_UTC"], dtype=np.float64)[offset : offset + n]
    bjd = np.asarray(table["int_mid_BJD_TDB"], dtype=np.float64)[offset : offset + n]
    if len(mjd) != n:
        raise Tso3xInputError(
            path, f"INT_TIMES rows from INTSTART={start} do not cover the {n} integrations", "INT_TIMES"
        )
    return mjd, bjd


def _position(path, sci: dict) -> tuple[float, float]:
    refs = []
    for key in ("XREF_SCI", "YREF_SCI"):
        value = sci.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Tso3xInputError(path, f"{key} is missing; it gives the planned source position", "SCI")
        refs.append(float(value) - 1.0)
    return refs[0], refs[1]


def prepare_segments(ds: xr.Dataset, gain: GainRef | np.ndarray | None = None) -> list[PhotometrySetup]:
    """Check and gather the per-segment inputs of :func:`tso3x.photometry`.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure or segment Dataset (its ``segment_meta``: headers, INT_TIMES and WCS read once), or one
        built in memory (header values then come from its attrs and times from its coordinates).
    gain : GainRef or ndarray, optional
        GAIN reference file (full frame or subarray; :func:`tso3x.io.gain.open_gain`) or a (ny, nx) gain
        array; needed for DN/s data only.

    Returns
    -------
    list of PhotometrySetup
        One per segment, in Dataset order.

    Raises
    ------
    Tso3xInputError
        Missing XREF_SCI/YREF_SCI, BUNIT (SCI or ERR), PIXAR_SR or EFFINTTM where needed; DN/s without a
        gain; an unusable gain file; INT_TIMES not covering the integrations; an unreadable WCS.
    """
    slices = segment_slices(ds)
    metas = segment_metas(ds) or None
    shape = (ds.sizes[names.Y], ds.sizes[names.X])
    setups = []
    with notes.gathered():
        for k, rows in enumerate(slices):
            meta = None if metas is None else metas[k]
            with notes.segment(None if meta is None else meta.path):
                setups.append(_prepare_segment(ds, rows, meta, gain, shape))
    return setups


def _prepare_segment(
    ds: xr.Dataset, rows: slice, meta: SegmentMeta | None, gain: GainRef | np.ndarray | None, shape: tuple[int, int]
) -> PhotometrySetup:
    """The :class:`PhotometrySetup` of the segment at ``rows`` (see :func:`prepare_segments`)."""
    path = None if meta is None else str(meta.path)
    primary, sci, err = _headers(meta, ds.attrs)
    if sci.get("BUNIT") is None:
        raise Tso3xInputError(path, "BUNIT is missing (the data unit)", "SCI")
    if err.get("BUNIT") is None:
        raise Tso3xInputError(path, "BUNIT is missing (the error unit)", "ERR")
    xref, yref = _position(path, sci)
    factor, unit = _conversion(path, primary, sci, gain, shape)
    seg = ds.isel({names.INTEGRATION: rows})
    mjd, bjd = _times(meta, primary, seg)
    wcs = meta.wcs if meta is not None else None
    if wcs is None:
        notes.warning(log, "no WCS; aperture_ra_icrs/aperture_dec_icrs will be NaN")
    table = {
        "instrument": primary.get("INSTRUME"),
        "detector": primary.get("DETECTOR"),
        "channel": primary.get("CHANNEL"),
        "subarray": primary.get("SUBARRAY"),
        "filter": primary.get("FILTER"),
        "pupil": primary.get("PUPIL"),
        "target_name": primary.get("TARGNAME"),
    }
    wlp8 = primary.get("PUPIL") == "WLP8" and primary.get("SUBARRAY") == "SUB64P"
    return PhotometrySetup(path, rows, xref, yref, factor, unit, wlp8, table, mjd, bjd, wcs)
