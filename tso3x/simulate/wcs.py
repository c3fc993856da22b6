"""Simple but real gWCS objects for the simulated calints (built from astropy.modeling models only).

- Imaging: ``detector → v2v3 → world`` (celestial, ICRS), a linear plate scale and a TAN projection
  about (RA_REF, DEC_REF) with roll ROLL_REF.
- Slit spectra: ``detector → slit_frame → world`` (NRS_BRIGHTOBJ; wavelength in micron in both frames,
  no ``gwa`` frame) or ``detector → v2v3 → world`` (NRC_TSGRISM, MIR_LRS-SLITLESS), all returning
  ``(ra, dec, wavelength[micron])``. The wavelength is linear in the dispersion pixel; the cross-
  dispersion offset from the (slightly tilted) trace maps to a sky offset. Every step has an analytic
  inverse, so ``get_transform('slit_frame', 'detector')`` works as jwst ``extract_1d`` needs.
- NIS_SOSS: the jwst layout, ``detector → world`` through stdatamodels' ``NirissSOSSModel`` taking
  ``(x, y, spectral_order)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models
from gwcs import coordinate_frames as cf
from gwcs import wcs as gwcs_wcs
from stdatamodels.jwst.transforms.models import NirissSOSSModel


@dataclass(frozen=True)
class Pointing:
    """Telescope pointing of the simulated exposure (degrees, arcsec for V2/V3)."""

    ra: float
    dec: float
    roll: float
    v2_ref: float
    v3_ref: float


def _sky_frame(name: str = "world") -> cf.CelestialFrame:
    return cf.CelestialFrame(reference_frame=coord.ICRS(), name=name, axes_names=("lon", "lat"), unit=(u.deg, u.deg))


def _spec_frame(name: str = "spectral") -> cf.SpectralFrame:
    return cf.SpectralFrame(name=name, axes_order=(2,), unit=(u.micron,), axes_names=("wavelength",))


def tangent_to_sky(p: Pointing) -> models.Model:
    """(dx, dy) [arcsec] in the aperture plane → (ra, dec) [deg] (with inverse)."""
    return (
        models.Scale(1 / 3600.0) & models.Scale(1 / 3600.0)
        | models.Rotation2D(angle=p.roll)
        | models.Pix2Sky_TAN()
        | models.RotateNative2Celestial(p.ra, p.dec, 180.0)
    )


def _bbox(shape: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
    ny, nx = shape
    return ((-0.5, nx - 0.5), (-0.5, ny - 0.5))


def imaging_wcs(shape: tuple[int, int], xref: float, yref: float, scale: float, p: Pointing) -> gwcs_wcs.WCS:
    """``detector → v2v3 → world`` for an imaging subarray.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx).
    xref, yref : float
        0-based pixel that maps to (V2_REF, V3_REF) and (RA_REF, DEC_REF).
    scale : float
        Pixel scale [arcsec/pixel].
    p : Pointing
        Pointing.
    """
    det2v23 = (models.Shift(-xref) & models.Shift(-yref)) | (
        models.Scale(scale) & models.Scale(scale) | models.Shift(p.v2_ref) & models.Shift(p.v3_ref)
    )
    v232sky = models.Shift(-p.v2_ref) & models.Shift(-p.v3_ref) | tangent_to_sky(p)
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    w = gwcs_wcs.WCS([(detector, det2v23), (v2v3, v232sky), (_sky_frame(), None)])
    w.bounding_box = _bbox(shape)
    return w


def slit_wcs(
    shape: tuple[int, int],
    dispaxis: int,
    wave_range: tuple[float, float],
    trace0: float,
    tilt: float,
    scale: float,
    p: Pointing,
    mid_frame: str = "slit_frame",
) -> gwcs_wcs.WCS:
    """``detector → <mid_frame> → world`` for a slit/slitless spectrum.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx).
    dispaxis : int
        1 if wavelength varies along x, 2 along y.
    wave_range : tuple of float
        Wavelength [micron] at dispersion pixel 0 and at the last dispersion pixel.
    trace0 : float
        Cross-dispersion pixel of the trace at the middle dispersion pixel.
    tilt : float
        Trace slope (cross-dispersion pixels per dispersion pixel).
    scale : float
        Cross-dispersion pixel scale [arcsec/pixel].
    p : Pointing
        Pointing (the trace maps to RA_REF/DEC_REF).
    mid_frame : str
        ``"slit_frame"`` (outputs ``(slit_x, slit_y, wavelength)``, slit_y in arcsec along the slit) or
        ``"v2v3"`` (outputs ``(v2, v3, wavelength)``).
    """
    ny, nx = shape
    ndisp = nx if dispaxis == 1 else ny
    w0, w1 = wave_range
    dlam = (w1 - w0) / max(ndisp - 1, 1)
    dmid = (ndisp - 1) / 2.0
    # spatial offset s = scale * (c - trace0 - tilt * (d - dmid)) as a polynomial in (d, c)
    a0 = -scale * (trace0 - tilt * dmid)
    a1 = -scale * tilt
    a2 = scale
    to_dc = models.Mapping((0, 1)) if dispaxis == 1 else models.Mapping((1, 0))
    if mid_frame == "v2v3":
        const, spatial = p.v2_ref, (a0 + p.v3_ref, a1, a2)
    else:
        const, spatial = 0.0, (a0, a1, a2)
    lam = models.Polynomial1D(1, c0=w0, c1=dlam)
    lam2d = models.Polynomial1D(1, c0=-w0 / dlam, c1=1.0 / dlam)
    fwd = (
        to_dc
        | models.Mapping((0, 0, 1, 0))
        | (models.Const1D(const) & models.Polynomial2D(1, c0_0=spatial[0], c1_0=spatial[1], c0_1=spatial[2]) & lam)
    )
    # inverse: (a, s, lam) -> d from lam, c = (s - s0 - a1*d) / a2
    inv_c = models.Polynomial2D(1, c0_0=-spatial[0] / a2, c1_0=-a1 / a2, c0_1=1.0 / a2)
    back = models.Mapping((1, 0)) if dispaxis == 2 else models.Mapping((0, 1))
    fwd.inverse = models.Mapping((2, 2, 1)) | lam2d & lam2d & models.Identity(1) | models.Identity(1) & inv_c | back
    if mid_frame == "v2v3":
        sky = models.Shift(-p.v2_ref) & models.Shift(-p.v3_ref) | tangent_to_sky(p)
        mid = cf.CompositeFrame(
            [
                cf.Frame2D(name="v2v3_spatial", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec)),
                _spec_frame(),
            ],
            name="v2v3",
        )
    else:
        sky = tangent_to_sky(p)
        mid = cf.CompositeFrame(
            [
                cf.Frame2D(
                    name="slit_spatial", axes_order=(0, 1), axes_names=("x_slit", "y_slit"), unit=(u.arcsec, u.arcsec)
                ),
                _spec_frame(),
            ],
            name="slit_frame",
        )
    mid2world = sky & models.Identity(1)
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CompositeFrame([_sky_frame("sky"), _spec_frame()], name="world")
    w = gwcs_wcs.WCS([(detector, fwd), (mid, mid2world), (world, None)])
    w.bounding_box = _bbox(shape)
    return w


def soss_wcs(
    shape: tuple[int, int],
    wave_order1: tuple[float, float],
    p: Pointing,
    per_order: dict[int, tuple[float, float]] | None = None,
) -> gwcs_wcs.WCS:
    """``detector → world`` for NIS_SOSS with jwst's ``NirissSOSSModel`` (inputs x, y, order).

    By default order m has wavelength ``λ1(x) / m`` with λ1 linear in x between ``wave_order1``; ``per_order``
    gives instead each order's (wavelength at x = 0 [micron], dλ/dx [micron/pixel]).
    """
    nx = shape[1]
    w0, w1 = wave_order1
    dlam = (w1 - w0) / max(nx - 1, 1)
    if per_order is None:
        per_order = {m: (w0 / m, dlam / m) for m in (1, 2, 3)}
    # NirissSOSSModel has no parameters, so gwcs calls it with Quantity (pixel) inputs: use units.
    transforms = []
    for m in (1, 2, 3):
        start, slope = per_order[m]
        lin = models.Multiply(slope * u.micron / u.pix) | models.Shift(start * u.micron)
        wl = models.Mapping((1,), n_inputs=2) | lin
        ra, dec = models.Const1D(p.ra * u.deg), models.Const1D(p.dec * u.deg)
        transforms.append((models.Mapping((0, 1, 1, 0)) | ra & dec & wl).rename(f"Order{m}"))
    soss = NirissSOSSModel([1, 2, 3], transforms).rename("3-order SOSS Model")
    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CompositeFrame([_sky_frame("sky"), _spec_frame()], name="world")
    return gwcs_wcs.WCS([(detector, soss), (world, None)])


def s_region(corners_radec: np.ndarray) -> str:
    """``POLYGON ICRS ...`` string from four (ra, dec) corners [deg]."""
    vals = " ".join(f"{ra:.9f} {dec:.9f}" for ra, dec in corners_radec)
    return f"POLYGON ICRS  {vals}"
