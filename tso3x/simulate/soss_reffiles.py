"""NIRISS SOSS reference files in their CRDS formats, consistent with the simulated scene.

- PASTASOSS (``PastasossModel``, asdf): reference traces, pivots, wavecal polynomials, throughputs, cutoffs;
- SPECPROFILE (``SpecProfileModel``, FITS): the cross-dispersion profile of each order at the exposure's PWCPOS;
- SPECKERNEL (``SpecKernelModel``, FITS): the line-spread kernels;
- PHOTOM (``NisSossPhotomModel``, FITS): photmj and relresponse per order;
- WAVELENGTHRANGE (``WavelengthrangeModel``, asdf): white-light ranges per order;
- a ``soss_estimate`` (``SpecModel``, FITS): the out-of-transit stellar flux in ATOCA's units.

Every file is usable as the matching jwst ``override_*`` (or the ``soss_estimate`` parameter).
"""

from __future__ import annotations

import logging
import pathlib

import numpy as np
from stdatamodels.jwst import datamodels

from tso3x.simulate import soss
from tso3x.simulate.modes import SOSS_SUBARRAYS

log = logging.getLogger(__name__)

#: White-light wavelength ranges [micron] per (filter, order).
WHITE_LIGHT_RANGES = {("CLEAR", 1): (0.90, 2.80), ("CLEAR", 2): (0.60, 1.30), ("CLEAR", 3): (0.60, 0.90)}
#: Length of the PHOTOM table's wavelength and relresponse arrays.
PHOTOM_NELEM_MAX = 600
#: Relative response sampling step [micron].
PHOTOM_STEP = 0.005


def _common_meta(model, reftype: str, description: str) -> None:
    m = model.meta
    m.reftype = reftype
    m.author = "tso3x.simulate"
    m.pedigree = "DUMMY"
    m.useafter = "2022-01-01T00:00:00"
    m.description = description
    m.telescope = "JWST"
    m.instrument.name = "NIRISS"
    m.instrument.detector = "NIS"
    m.exposure.type = "NIS_SOSS"


def _save(model, path: pathlib.Path) -> pathlib.Path:
    model.validate()
    model.save(path)
    model.close()
    log.debug("wrote %s", path)
    return path


def write_pastasoss(path: pathlib.Path) -> pathlib.Path:
    """Write the PASTASOSS reference file (asdf) of :mod:`tso3x.simulate.soss`'s instrument model."""
    m = datamodels.PastasossModel()
    _common_meta(m, "PASTASOSS", "Simulated SOSS traces and wavelength solutions for tso3x tests")
    m.meta.instrument.filter = "CLEAR"
    m.meta.instrument.pupil = "GR700XD"
    m.meta.order2_separation_cutoff = list(soss.ORDER2_SEPARATION_CUTOFF)
    m.meta.pwcpos_bounds = list(soss.PWCPOS_BOUNDS)
    m.meta.pwcpos_cmd = soss.PWCPOS_CMD
    m.meta.soss_xdim, m.meta.soss_ydim = 2048, 300
    m.meta.subarray_ymin = soss.SUBARRAY_YMIN
    m.meta.wavemap_nwl = soss.WAVEMAP_NWL
    m.meta.wavemap_wlmin, m.meta.wavemap_wlmax = soss.WAVEMAP_RANGE
    traces, wavecals, thrus = [], [], []
    extents = np.array([[soss.X_EXTENTS[0], soss.OFFSET_EXTENTS[0]], [soss.X_EXTENTS[1], soss.OFFSET_EXTENTS[1]]])
    for order in (1, 2, 3):
        x, y = soss.reference_trace(order)
        px, py = soss.PIVOT[order]
        traces.append(
            {
                "spectral_order": order,
                "pivot_x": px,
                "pivot_y": py,
                "trace": np.column_stack([x, y]).astype(np.float64),
                "oversampling": 1,
                "cutoff": soss.CUTOFF[order],
            }
        )
        wavecals.append(
            {
                "spectral_order": order,
                "polynomial_degree": 3,
                "coefficients": soss.WAVECAL[order].astype(np.float64),
                "coefficient_labels": "C00 C10 C01 C20 C11 C02 C30 C21 C12 C03",
                "scale_extents": extents.copy(),
            }
        )
        wl = soss.THROUGHPUT_WAVELENGTH.astype(np.float64)
        thrus.append({"spectral_order": order, "wavelength": wl, "throughput": soss.throughput(order, wl)})
    m.traces, m.wavecal_models, m.throughputs = traces, wavecals, thrus
    return _save(m, path)


def write_specprofile(path: pathlib.Path, scene: soss.SossScene) -> pathlib.Path:
    """Write the SPECPROFILE file: one ORDER extension per order 1–3, subarray-sized, no padding.

    Orders without light in the scene (order 3 when it is off) get a zero profile, so the file always has
    the three orders the PASTASOSS file defines.
    """
    m = datamodels.SpecProfileModel()
    _common_meta(m, "SPECPROFILE", f"Simulated SOSS {scene.subarray} trace profiles at PWCPOS {scene.pwcpos}")
    m.meta.instrument.filter = "CLEAR"
    m.meta.instrument.pupil = "GR700XD"
    gsub = soss.geometry_subarray(scene.subarray)
    ny = next(iter(scene.profiles.values())).shape[0]
    m.meta.subarray.name = gsub
    m.meta.subarray.xstart, m.meta.subarray.ystart = 1, SOSS_SUBARRAYS[gsub][1][1]
    m.meta.subarray.xsize, m.meta.subarray.ysize = 2048, ny
    for order in (1, 2, 3):
        prof = scene.profiles.get(order, np.zeros((ny, 2048)))
        single = datamodels.SpecProfileSingleModel()
        single.data = prof.astype(np.float32)
        single.order, single.oversampling, single.padding = order, 1, 0
        m.profile.append(single)
    return _save(m, path)


def write_speckernel(path: pathlib.Path) -> pathlib.Path:
    """Write the SPECKERNEL file (Gaussian line-spread kernels, SPECOS 10, HALFWIDT 7, 0.5–3 micron)."""
    waves, kern = soss.kernel_table()
    m = datamodels.SpecKernelModel(wavelengths=waves.astype(np.float32), kernels=kern.astype(np.float32))
    _common_meta(m, "SPECKERNEL", "Simulated SOSS line-spread kernels for tso3x tests")
    m.meta.nwave = int(waves.shape[1])
    m.meta.wavemin, m.meta.wavemax = float(waves[0, 0]), float(waves[0, -1])
    m.meta.spectral_oversampling = soss.KERNEL_OVERSAMPLING
    m.meta.halfwidth = soss.KERNEL_HALF_WIDTH
    m.meta.centroid_index = int(waves.shape[0] // 2)
    return _save(m, path)


def relresponse(geom: soss.OrderGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths [micron] and relative response × photmj [MJy per DN/s] of one order.

    The response turns the column count rate T λ f Δλ into the flux density f · MJY_PER_ATOCA · λ², so it is
    MJY_PER_ATOCA λ / (T Δλ), sampled every :data:`PHOTOM_STEP` over the order's columns.
    """
    cols = np.arange(geom.cutoff)
    lam_col, disp_col = geom.wave_center[cols], geom.dispersion[cols]
    order = np.argsort(lam_col)
    lo, hi = float(lam_col.min()), float(lam_col.max())
    n = min(int(np.ceil((hi - lo) / PHOTOM_STEP)) + 1, PHOTOM_NELEM_MAX)
    wl = np.linspace(lo, hi, n)
    disp = np.interp(wl, lam_col[order], disp_col[order])
    return wl, soss.MJY_PER_ATOCA * wl / (soss.throughput(geom.order, wl) * disp)


def photom_row_dtype(nelem: int) -> list[tuple]:
    """The row dtype of a NIS_SOSS PHOTOM table (NisSossPhotomModel ``phot_table``), with ``nelem``-long
    wavelength/relresponse arrays."""
    return [
        ("filter", "S12"),
        ("pupil", "S15"),
        ("order", "<i2"),
        ("photmj", "<f4"),
        ("uncertainty", "<f4"),
        ("nelem", "<i2"),
        ("wavelength", "<f4", (nelem,)),
        ("relresponse", "<f4", (nelem,)),
        ("reluncertainty", "<f4", (nelem,)),
    ]


def write_photom(path: pathlib.Path, scene: soss.SossScene) -> pathlib.Path:
    """Write the NIRISS SOSS PHOTOM file: CLEAR/GR700XD rows for orders 1–3 (relresponse peak 1) and one
    F277W row that must not match a CLEAR exposure."""
    dtype = photom_row_dtype(PHOTOM_NELEM_MAX)
    rows = [("CLEAR", order) for order in (1, 2, 3)] + [("F277W", 1)]
    table = np.zeros(len(rows), dtype=dtype)
    gsub = soss.geometry_subarray(scene.subarray)
    for i, (filt, order) in enumerate(rows):
        geom = scene.geometry.get(order) or soss.order_geometry(order, scene.pwcpos, gsub)
        wl, conv = relresponse(geom)
        photmj = float(np.max(conv)) * (2.0 if filt == "F277W" else 1.0)
        t = table[i]
        t["filter"], t["pupil"], t["order"] = filt, "GR700XD", order
        t["photmj"], t["uncertainty"], t["nelem"] = photmj, 0.01 * photmj, wl.size
        t["wavelength"][: wl.size] = wl
        t["relresponse"][: wl.size] = conv / photmj
        t["reluncertainty"][: wl.size] = 0.01
    m = datamodels.NisSossPhotomModel(phot_table=table)
    _common_meta(m, "PHOTOM", "Simulated SOSS flux calibration for tso3x tests")
    m.meta.exposure.p_exptype = "NIS_SOSS|"
    m.meta.photometry.pixelarea_steradians = 1.0e-13
    m.meta.photometry.pixelarea_arcsecsq = 0.0043
    return _save(m, path)


def write_wavelengthrange(path: pathlib.Path) -> pathlib.Path:
    """Write the WAVELENGTHRANGE file (asdf) with the white-light ranges of CLEAR orders 1–3."""
    wrange = [[order, filt, lo, hi] for (filt, order), (lo, hi) in WHITE_LIGHT_RANGES.items()]
    m = datamodels.WavelengthrangeModel(
        wrange_selector=["CLEAR"], wrange=wrange, order=[1, 2, 3], extract_orders=[["CLEAR", [1, 2, 3]]]
    )
    _common_meta(m, "WAVELENGTHRANGE", "Simulated SOSS white-light wavelength ranges for tso3x tests")
    m.meta.wavelength_units = "micron"
    return _save(m, path)


def write_soss_estimate(path: pathlib.Path) -> pathlib.Path:
    """Write a ``soss_estimate`` (SpecModel): the out-of-transit stellar flux in ATOCA's units, 0.5–3 micron."""
    wl = np.round(np.arange(0.5, 3.0001, 0.005), 6)
    m = datamodels.SpecModel()
    table = np.zeros(wl.size, dtype=m.get_dtype("spec_table"))
    table["WAVELENGTH"] = wl
    table["FLUX"] = soss.stellar_flux(wl)
    m.spec_table = table
    m.meta.exposure.type = "NIS_SOSS"
    m.meta.instrument.name = "NIRISS"
    m.spectral_order = 1
    m.save(path)
    m.close()
    log.debug("wrote %s", path)
    return path
