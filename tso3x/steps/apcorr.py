"""Per-segment aperture correction of jwst 3.0.0 ``extract_1d`` (``apply_apcorr.ApCorr`` / ``ApCorrPhase`` set-up).

jwst builds the correction once per segment, for a POINT source with an APCORR file: it picks the table row
(MIR_LRS-SLITLESS: SUBARRAY; NRS_BRIGHTOBJ: FILTER, GRATING and slit name), converts sizes given in arcsec to
pixels with the WCS pixel scale at (SLIT_RA, SLIT_DEC, λ) — λ the median of the spectrum's wavelengths for
NIRSpec, the minimum otherwise — and then

- MIRI LRS (``ApCorr``): c(NPIXELS, WAVELENGTH) for every integration;
- NIRSpec (``ApCorrPhase``): c tabulated once from the segment's first integration and reused.

The arithmetic is in :mod:`tso3x.kernels.apcorr`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import notes
from ..errors import Tso3xInputError
from ..io.apcorr_ref import ApcorrRef, match_row
from ..kernels import apcorr as kern

log = logging.getLogger(__name__)

#: jwst ``ApCorrPhase`` pixel phase.
PIXPHASE = 0.5


@dataclass
class ApertureCorrection:
    """The aperture correction of one segment.

    Attributes
    ----------
    kind : str
        ``"lrs"`` (jwst ``ApCorr``, recomputed per integration) or ``"phase"`` (``ApCorrPhase``, tabulated).
    wavelength : ndarray
        Table wavelengths [micron] (``lrs``: the first ``nelem_wl``).
    size : ndarray
        Table sizes [pixel]: (nsize,) for ``lrs``, (nsize, nwl) for ``phase``.
    apcorr : ndarray
        Table corrections: (nwl, nsize) for ``lrs``, (nsize, nwl, nphase) for ``phase``.
    pixphase : ndarray or None
        Table pixel phases (``phase``).
    tabulated : ndarray or None
        ``phase``: c per spectral element, from the first integration (:meth:`tabulate`).
    """

    kind: str
    wavelength: np.ndarray
    size: np.ndarray
    apcorr: np.ndarray
    pixphase: np.ndarray | None = None
    tabulated: np.ndarray | None = None

    def tabulate(self, npixels: np.ndarray, wavelength: np.ndarray) -> None:
        """Fix the ``phase`` factors from one integration's NPIXELS (n_elements,) and WAVELENGTH [micron]."""
        self.tabulated = kern.phase_factors(
            self.wavelength, self.size, self.pixphase, self.apcorr, wavelength, npixels, PIXPHASE
        )

    def factors(self, npixels: np.ndarray, wavelength: np.ndarray) -> np.ndarray:
        """c for NPIXELS (n, n_elements) of n integrations and WAVELENGTH (n_elements,) [micron]."""
        if self.kind == "lrs":
            return kern.lrs_factors(self.size, self.wavelength, self.apcorr, npixels, wavelength)
        if self.tabulated is None:
            raise RuntimeError("the NIRSpec aperture correction has not been tabulated")
        return np.broadcast_to(self.tabulated, np.shape(npixels))


def pixel_scale(wcs, location: tuple[float, float, float], dispaxis: int) -> float:
    """Cross-dispersion pixel scale [deg] at (ra, dec, λ) (stcal ``compute_scale``, as jwst calls it)."""
    from astropy.coordinates import SkyCoord

    axes_type = np.array(wcs.output_frame.axes_type)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value encountered in sqrt", RuntimeWarning)
        crpix = np.array(wcs.invert(*location, with_bounding_box=False))
    delta = np.zeros_like(crpix)
    spatial = np.flatnonzero(axes_type == "SPATIAL")
    delta[spatial[0]] = 1
    points = np.vstack((crpix, crpix + delta, crpix + np.roll(delta, 1))).T
    world = wcs(*points, with_bounding_box=False)
    coords = SkyCoord(ra=world[spatial[0]], dec=world[spatial[1]], unit="deg")
    xscale = np.abs(coords[0].separation(coords[1]).value)
    yscale = np.abs(coords[0].separation(coords[2]).value)
    if "SPECTRAL" in axes_type:
        return float(yscale) if dispaxis == 1 else float(xscale)
    return float(np.sqrt(xscale * yscale))


def _sizes_in_pixels(ref: ApcorrRef, size, path, instrument, wcs, radec, wavelength, dispaxis) -> np.ndarray:
    size = np.array(size)
    if not ref.sizeunit.startswith("arcsec"):
        return size
    ra, dec = radec
    if wcs is None or ra is None or dec is None:
        raise Tso3xInputError(path, f"APCORR sizes are in arcsec ({ref.path}) but the WCS gives no sky position")
    wl = np.median(wavelength) if instrument == "NIRSPEC" else wavelength.min()
    try:
        scale = pixel_scale(wcs, (ra, dec, wl), dispaxis) * 3600.00
    except Exception as exc:  # noqa: BLE001 - any gwcs failure
        raise Tso3xInputError(path, f"cannot compute the pixel scale for the APCORR sizes: {exc}") from None
    try:
        size /= scale  # in place, in the column's dtype, as jwst does
    except TypeError:
        raise Tso3xInputError(
            ref.path, f"SIZEUNIT is {ref.sizeunit} but the sizes are {size.dtype} (jwst cannot convert them)", "APCORR"
        ) from None
    return size


def segment_apcorr(
    ref: ApcorrRef,
    path: str | Path,
    prim: dict,
    sci: dict,
    wcs,
    radec: tuple[float | None, float | None],
    wavelength: np.ndarray,
    dispaxis: int,
) -> ApertureCorrection:
    """The aperture correction of one segment of a POINT source (jwst ``ApCorrBase.__init__``).

    Parameters
    ----------
    ref : ApcorrRef
        The APCORR file.
    path : path
        The segment (for messages).
    prim, sci : dict
        The segment's PRIMARY and SCI headers.
    wcs : gwcs.WCS or None
        The segment's WCS (needed only for sizes in arcsec).
    radec : (float, float)
        SLIT_RA, SLIT_DEC [deg] of the spectrum.
    wavelength : ndarray
        The spectrum's wavelengths [micron].
    dispaxis : int
        DISPAXIS.

    Raises
    ------
    Tso3xInputError
        No (or more than one) matching row, unusable table, or sizes in arcsec that cannot be converted.
    """
    exp_type = ref.exp_type
    if exp_type == "MIR_LRS-SLITLESS":
        keys = {"subarray": prim.get("SUBARRAY")}
    else:
        slit = sci.get("SLTNAME") if prim.get("DATAMODL") != "CubeModel" else exp_type
        keys = {"filter": prim.get("FILTER"), "grating": prim.get("GRATING"), "slit": slit}
    row = match_row(ref, **keys)
    wanted = ", ".join(f"{k.upper()}={v}" for k, v in keys.items())
    notes.info(log, "aperture correction from %s (row %s)", ref.path.name, wanted)
    instrument = str(prim.get("INSTRUME", "")).upper()
    size = _sizes_in_pixels(ref, row["size"], path, instrument, wcs, radec, wavelength, dispaxis)
    if exp_type == "MIR_LRS-SLITLESS":
        nwl, nsize = int(row["nelem_wl"]), int(row["nelem_size"])
        table = ApertureCorrection("lrs", row["wavelength"][:nwl], size[:nsize], row["apcorr"][:nwl, :nsize])
        try:
            kern.lrs_factors(table.size, table.wavelength, table.apcorr, np.empty((0, 0)), np.empty(0))
        except (ValueError, IndexError) as exc:
            raise Tso3xInputError(ref.path, f"APCORR row {wanted} cannot be interpolated: {exc}", "APCORR") from None
        return table
    wl, phase, apcorr = row["wavelength"], row["pixphase"], row["apcorr"]
    nwl = wl.shape[0] if wl.ndim == 1 else -1
    nsize = size.shape[0] if size.ndim == 2 else -1
    if wl.ndim != 1 or phase.ndim != 1 or size.shape != (nsize, nwl) or apcorr.shape != (nsize, nwl, phase.size):
        raise Tso3xInputError(
            ref.path,
            f"APCORR row {wanted}: shapes wavelength {wl.shape}, size {size.shape}, pixphase {phase.shape}, "
            f"apcorr {apcorr.shape} are not (nwl,), (nsize, nwl), (nphase,), (nsize, nwl, nphase)",
            "APCORR",
        )
    return ApertureCorrection("phase", wl, size, apcorr, pixphase=phase)
