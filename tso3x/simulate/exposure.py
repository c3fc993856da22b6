"""Per-mode scene set-up: source geometry, WCS, static metadata and the true count-rate cube.

:func:`build_scene` returns a :class:`Scene`, whose :meth:`Scene.rate` gives the noise-free count
rate [DN/s] of any run of integrations; everything static (PSF/trace images, WCS, wavelengths) is
computed once per detector, so segments are generated one at a time with bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tso3x.simulate import scene as sc
from tso3x.simulate.calints import TARGET_DEC, TARGET_RA, Timing
from tso3x.simulate.modes import SOSS_SUBARRAYS, ModeSpec
from tso3x.simulate.wcs import Pointing, imaging_wcs, s_region, slit_wcs, soss_wcs, tangent_to_sky

#: Total stellar count rate [DN/s] of imaging modes, and per-dispersion-pixel rate of spectra.
_FLUX = {
    "nrc_tsimage_wlp8": 3.0e6,
    "nrc_tsimage_clear": 2.5e4,
    "mir_image": 1.7e4,
    "nrs_brightobj": 2.0e3,
    "nrc_tsgrism": 8.0e2,
    "mir_lrs": 6.0e2,
    "mir_lrs_cube": 6.0e2,
    "nis_soss": 3.0e3,
}
#: Background count rate [DN/s/pixel].
_BKG = {"NIRCAM": 2.0, "NIRSPEC": 1.0, "MIRI": 40.0, "NIRISS": 5.0}
#: (V2_REF, V3_REF) [arcsec] of the apertures (SIAF-like values).
_V23 = {
    "NIRCAM": (-0.3, -492.0),
    "NIRSPEC": (321.9, -473.4),
    "MIRI": (-378.8, -344.9),
    "NIRISS": (-290.1, -697.5),
}
if TYPE_CHECKING:
    from tso3x.simulate.soss import SossScene

ROLL = 100.0  # deg, PA_V3 == ROLL_REF (V3IDLYANG and parity folded in)


@dataclass
class Scene:
    """Static description of the simulated detector image.

    Attributes
    ----------
    wcs : gwcs.WCS
        The ``meta.wcs`` of every segment.
    wcsinfo : dict
        ``meta.wcsinfo`` values (SCI header WCS / reference keywords).
    slit : dict
        SlitModel attributes (``name``, ``source_xpos`` …), empty for CubeModel modes.
    wavelength : ndarray or None
        WAVELENGTH array (float32) for SlitModel modes.
    protect : ndarray of bool
        Pixels kept free of static DO_NOT_USE (the PSF core of imaging modes).
    trace0 : float or None
        Cross-dispersion centre of the trace (slit modes), for the EXTRACT1D aperture.
    rate : callable
        ``rate(i0, i1)`` → float32 (i1 − i0, ny, nx) true count rate of 0-based integrations i0..i1−1.
    reference_pixels : ndarray of bool or None
        Detector reference pixels on the frame (DO_NOT_USE | REFERENCE_PIXEL in the calints), if flagged.
    soss : SossScene or None
        NIS_SOSS at a subarray's own shape: the geometry and profiles the reference files must agree with.
    """

    wcs: object
    wcsinfo: dict
    rate: Callable[[int, int], np.ndarray]
    protect: np.ndarray
    slit: dict = field(default_factory=dict)
    wavelength: np.ndarray | None = None
    trace0: float | None = None
    reference_pixels: np.ndarray | None = None
    soss: SossScene | None = None


def _background(shape: tuple[int, int], level: float) -> np.ndarray:
    ny, nx = shape
    gx = np.linspace(-0.5, 0.5, nx)[None, :]
    gy = np.linspace(-0.5, 0.5, ny)[:, None]
    return level * (1.0 + 0.06 * gx - 0.04 * gy)


def _occultation(timing: Timing) -> np.ndarray:
    bjd = Timing.to_tdb(timing.mjd_mid)
    return sc.transit_occultation(bjd, Timing.to_tdb(timing.mjd_start[0]), Timing.to_tdb(timing.mjd_end[-1]))


def build_scene(
    spec: ModeSpec,
    detector: str,
    shape: tuple[int, int],
    timing: Timing,
    rng: np.random.Generator,
    *,
    order3: bool = True,
) -> Scene:
    """Source geometry, WCS and rate model of ``spec`` on one detector (static random draws use ``rng``).

    ``order3`` (NIS_SOSS only) puts light in SOSS order 3.
    """
    v2, v3 = _V23[spec.instrument]
    if detector == "NRS2":
        v2 += 40.0
    pointing = Pointing(ra=TARGET_RA, dec=TARGET_DEC, roll=ROLL, v2_ref=v2, v3_ref=v3)
    common = {
        "ra_ref": TARGET_RA,
        "dec_ref": TARGET_DEC,
        "roll_ref": ROLL,
        "v2_ref": v2,
        "v3_ref": v3,
        "vparity": -1,
        "v3yangle": 0.0,
    }
    if spec.imaging:
        return _imaging(spec, shape, timing, rng, pointing, common)
    if spec.exp_type == "NIS_SOSS":
        if shape == SOSS_SUBARRAYS[spec.subarray][0]:
            return _soss_real(spec, shape, timing, pointing, common, order3)
        return _soss(spec, detector, shape, timing, pointing, common)
    return _slit(spec, detector, shape, timing, pointing, common)


def _imaging(spec, shape, timing, rng, p, common) -> Scene:
    ny, nx = shape
    cx, cy = (nx - 1) / 2.0 + 0.23, (ny - 1) / 2.0 - 0.31
    wcs = imaging_wcs(shape, cx, cy, spec.pixel_scale, p)
    corners = np.array(
        wcs(
            np.array([-0.5, nx - 0.5, nx - 0.5, -0.5]),
            np.array([-0.5, -0.5, ny - 0.5, ny - 0.5]),
            with_bounding_box=False,
        )
    ).T
    c, s = np.cos(np.deg2rad(p.roll)), np.sin(np.deg2rad(p.roll))
    cdelt = spec.pixel_scale / 3600.0
    wcsinfo = dict(
        common,
        wcsaxes=2,
        ctype1="RA---TAN",
        ctype2="DEC--TAN",
        cunit1="deg",
        cunit2="deg",
        crpix1=cx + 1.0,
        crpix2=cy + 1.0,
        crval1=p.ra,
        crval2=p.dec,
        cdelt1=cdelt,
        cdelt2=cdelt,
        pc1_1=c,
        pc1_2=-s,
        pc2_1=s,
        pc2_2=c,
        siaf_xref_sci=cx + 1.0,
        siaf_yref_sci=cy + 1.0,
        s_region=s_region(corners),
    )
    jitter = rng.normal(0.0, 0.003, size=(2, timing.nints))  # pointing jitter [pixel]
    occ = _occultation(timing)
    flux = _FLUX[spec.name]
    bkg = _background(shape, _BKG[spec.instrument])
    wlp8 = spec.pupil == "WLP8"
    ring_r, ring_w = 0.17 * min(ny, nx), max(1.2, 0.04 * min(ny, nx))
    if wlp8:  # keep the per-pixel brightness of the 64x64 default when the ring is scaled down
        flux *= ring_r * ring_w / (0.17 * 64 * 0.04 * 64)
    yy, xx = np.mgrid[0:ny, 0:nx]
    protect = np.hypot(xx - cx, yy - cy) < (3.0 if not wlp8 else 1.0)

    def rate(i0: int, i1: int) -> np.ndarray:
        xs, ys = cx + jitter[0, i0:i1], cy + jitter[1, i0:i1]
        if wlp8:
            psf = sc.ring_psf_stack(shape, xs, ys, ring_r, ring_w)
        else:
            psf = sc.gaussian_psf_stack(shape, xs, ys, 1.9 if spec.instrument == "MIRI" else 1.0)
        amp = flux * (1.0 - sc.TRANSIT_DEPTH * occ[i0:i1])
        return (psf * amp[:, None, None] + bkg).astype(np.float32)

    return Scene(wcs=wcs, wcsinfo=wcsinfo, rate=rate, protect=protect)


def _static_rate(a: np.ndarray, b: np.ndarray, occ: np.ndarray, bkg: np.ndarray) -> Callable:
    """rate(i) = bkg + a − occ(i)·b, with a, b the out-of-transit and occulted 2-D images."""
    a32 = (a + bkg).astype(np.float32)
    b32 = b.astype(np.float32)

    def rate(i0: int, i1: int) -> np.ndarray:
        out = np.empty((i1 - i0, *a32.shape), np.float32)
        for k, o in enumerate(occ[i0:i1].astype(np.float32)):
            np.multiply(b32, -o, out=out[k])
            out[k] += a32
        return out

    return rate


def _slit(spec, detector, shape, timing, p, common) -> Scene:
    ny, nx = shape
    ncross, ndisp = (ny, nx) if spec.dispaxis == 1 else (nx, ny)
    if spec.exp_type == "NRC_TSGRISM":
        trace0 = 34.0 if ny >= 48 else (ny - 1) / 2.0
    else:
        trace0 = (ncross - 1) / 2.0 + 0.3
    tilt = {"NRS_BRIGHTOBJ": 1.5, "NRC_TSGRISM": 0.6}.get(spec.exp_type, 0.4) / ndisp
    wave_range = spec.wave_range[detector]
    mid = "slit_frame" if spec.exp_type == "NRS_BRIGHTOBJ" else "v2v3"
    wcs = slit_wcs(shape, spec.dispaxis, wave_range, trace0, tilt, spec.pixel_scale, p, mid_frame=mid)
    yy, xx = np.mgrid[0:ny, 0:nx]
    wl = wcs(xx.astype(float), yy.astype(float))[2]
    d = np.arange(ndisp)
    lam = wave_range[0] + (wave_range[1] - wave_range[0]) * d / max(ndisp - 1, 1)
    center = trace0 + tilt * (d - (ndisp - 1) / 2.0)
    sigma = {"NRS_BRIGHTOBJ": 0.9, "NRC_TSGRISM": 1.3}.get(spec.exp_type, None)
    if sigma is None:  # MIRI: diffraction-limited width grows with wavelength
        sigma = 0.55 + 0.12 * lam
    band = (3.88, 4.98) if spec.exp_type == "NRC_TSGRISM" else wave_range
    profile = sc.trace_profile(shape, spec.dispaxis, center, sigma)
    spec1d = _FLUX[spec.name] * sc.stellar_spectrum(lam, band)
    depth = sc.transit_depth(lam, band)
    along = (lambda v: v[None, :]) if spec.dispaxis == 1 else (lambda v: v[:, None])
    a = profile * along(spec1d)
    b = a * along(depth)
    mid_frame_pts = _slit_corner_points(spec, mid, p, ncross, wave_range)
    corners = np.array(wcs.get_transform(mid, "world")(*mid_frame_pts)[:2]).T
    wcsinfo = dict(
        common,
        dispersion_direction=spec.dispaxis,
        spectral_order=1,
        waverange_start=min(wave_range) * 1e-6,
        waverange_end=max(wave_range) * 1e-6,
        s_region=s_region(corners),
    )
    slit = {"source_type": "POINT", "source_ra": TARGET_RA, "source_dec": TARGET_DEC}
    if spec.exp_type == "NRS_BRIGHTOBJ":
        slit.update(name=spec.slit_name, source_xpos=0.0, source_ypos=0.0, slitlet_id=0)
    elif spec.exp_type == "NRC_TSGRISM":
        slit.update(name=spec.slit_name, source_xpos=0.433 * nx, source_ypos=trace0)
        wcsinfo.update(siaf_xref_sci=0.433 * nx, siaf_yref_sci=trace0)
    else:
        wcsinfo.update(siaf_xref_sci=trace0 + 1.0, siaf_yref_sci=0.72 * ny)
    return Scene(
        wcs=wcs,
        wcsinfo=wcsinfo,
        rate=_static_rate(a, b, _occultation(timing), _background(shape, _BKG[spec.instrument])),
        protect=np.zeros(shape, bool),
        slit=slit if spec.model == "SlitModel" else {},
        wavelength=wl.astype(np.float32) if spec.with_wavelength else None,
        trace0=trace0,
    )


def _slit_corner_points(spec, mid, p, ncross, wave_range):
    """Four mid-frame points spanning the slit/aperture, for S_REGION."""
    h = 0.5 * ncross * spec.pixel_scale
    w = 0.8
    lam = np.full(4, 0.5 * sum(wave_range))
    du, dv = np.array([-w, w, w, -w]), np.array([-h, -h, h, h])
    if mid == "v2v3":
        return p.v2_ref + du, p.v3_ref + dv, lam
    return du, dv, lam


def _soss_corners(spec, shape, p) -> str:
    ny, nx = shape
    half_x, half_y = 0.5 * nx * spec.pixel_scale, 0.5 * ny * spec.pixel_scale
    corners = np.array(
        tangent_to_sky(p)(np.array([-half_x, half_x, half_x, -half_x]), np.array([-half_y, -half_y, half_y, half_y]))
    ).T
    return s_region(corners)


def _soss_real(spec, shape, timing, p, common, order3) -> Scene:
    """NIS_SOSS on a subarray's own shape: the scene jwst's pastasoss/ATOCA model describes (see
    :mod:`tso3x.simulate.soss`), a sky background varying along x, and the detector reference pixels."""
    from tso3x.simulate import soss

    sscene = soss.build_soss_scene(spec.subarray, spec.filter, order3)
    a, b = soss.scene_images(sscene, shape)
    per_order = {}
    for order in (1, 2, 3):
        geom = sscene.geometry.get(order) or soss.order_geometry(order, sscene.pwcpos)
        slope, start = np.polyfit(np.arange(geom.cutoff), geom.wavelength, 1)
        per_order[order] = (float(start), float(slope))
    wcs = soss_wcs(shape, spec.wave_range["NIS"], p, per_order=per_order)
    wcsinfo = dict(common, dispersion_direction=1, s_region=_soss_corners(spec, shape, p))
    return Scene(
        wcs=wcs,
        wcsinfo=wcsinfo,
        rate=_static_rate(a, b, _occultation(timing), soss.background(shape)),
        protect=np.zeros(shape, bool),
        reference_pixels=soss.reference_pixels(shape, spec.substrt),
        soss=sscene,
    )


def _soss(spec, detector, shape, timing, p, common) -> Scene:
    """NIS_SOSS on a custom (small) shape: curved traces scaled to the frame, no reference files."""
    ny, nx = shape
    w1 = spec.wave_range[detector]
    wcs = soss_wcs(shape, w1, p)
    lam1 = w1[0] + (w1[1] - w1[0]) * np.arange(nx) / max(nx - 1, 1)
    sigma = max(1.0, 4.0 * ny / 256.0)
    a = np.zeros(shape)
    b = np.zeros(shape)
    for order, ycen, valid, thru in sc.soss_traces(shape):
        lam = lam1 / order
        band = (min(lam), max(lam))
        prof = sc.trace_profile(shape, 1, ycen, sigma) * valid[None, :]
        img = prof * (thru * _FLUX[spec.name] * sc.stellar_spectrum(lam, band))[None, :]
        a += img
        b += img * sc.transit_depth(lam, band)[None, :]
    wcsinfo = dict(common, dispersion_direction=1, s_region=_soss_corners(spec, shape, p))
    return Scene(
        wcs=wcs,
        wcsinfo=wcsinfo,
        rate=_static_rate(a, b, _occultation(timing), _background(shape, _BKG[spec.instrument])),
        protect=np.zeros(shape, bool),
    )
