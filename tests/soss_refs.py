"""Small NIS_SOSS reference files and cubes for unit tests (written with stdatamodels, as jwst reads them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tso3x.simulate.soss_reffiles import photom_row_dtype

PWCPOS_CMD = 245.76
#: order → (trace row in SUBSTRIP256 at x=0, slope, cutoff, wavelength at x=0, wavelength span)
ORDERS = {1: (80.0, 0.004, 2048, 2.84, -2.0), 2: (130.0, 0.01, 1783, 1.42, -0.85), 3: (200.0, 0.01, 1134, 0.95, -0.35)}


def _ref_meta(model, reftype: str, **extra) -> None:
    model.meta.reftype = reftype
    model.meta.author = "tso3x tests"
    model.meta.description = f"test {reftype}"
    model.meta.pedigree = "DUMMY"
    model.meta.useafter = "2020-01-01T00:00:00"
    model.meta.instrument.name = "NIRISS"
    model.meta.exposure.type = "NIS_SOSS"
    for k, v in extra.items():
        setattr(model.meta, k, v)


def write_pastasoss(path: Path, orders=(1, 2, 3)) -> Path:
    from stdatamodels.jwst import datamodels

    m = datamodels.PastasossModel()
    _ref_meta(m, "PASTASOSS")
    m.meta.instrument.filter = "CLEAR"
    m.meta.pwcpos_cmd = PWCPOS_CMD
    m.meta.pwcpos_bounds = [245.5, 246.0]
    m.meta.order2_separation_cutoff = [0.77, 0.95]
    m.meta.wavemap_wlmin, m.meta.wavemap_wlmax, m.meta.wavemap_nwl = 0.5, 3.0, 2501
    m.meta.subarray_ymin, m.meta.soss_xdim, m.meta.soss_ydim = 1792, 2048, 300
    traces, wavecal, thru = [], [], []
    for order in orders:
        y0, slope, cutoff, w0, span = ORDERS[order]
        x = np.arange(0.0, 2048.0, 4.0)
        y = y0 - slope * x + 5e-6 * (x - 1000.0) ** 2
        traces.append(
            {
                "spectral_order": order,
                "pivot_x": 1000.0,
                "pivot_y": y0,
                "trace": np.stack([x, y], axis=1),
                "oversampling": 1,
                "cutoff": cutoff,
            }
        )
        coeffs = np.array([w0, span, 0.002, 0.05, 0.001, 0.0, -0.01, 0.0, 0.0, 0.0])
        wavecal.append(
            {
                "spectral_order": order,
                "polynomial_degree": 3,
                "coefficients": coeffs,
                "coefficient_labels": "C00 C10 C01 C20 C11 C02 C30 C21 C12 C03",
                "scale_extents": np.array([[0.0, -0.3], [2048.0, 0.3]]),
            }
        )
        wl = np.linspace(0.5, 3.0, 200)
        thru.append({"spectral_order": order, "wavelength": wl, "throughput": 0.5 * np.exp(-((wl - 1.5) ** 2))})
    m.traces, m.wavecal_models, m.throughputs = traces, wavecal, thru
    m.save(str(path))
    return path


def write_specprofile(path: Path, ny: int) -> Path:
    from stdatamodels.jwst import datamodels

    m = datamodels.SpecProfileModel()
    _ref_meta(m, "SPECPROFILE")
    for _ in range(3):
        prof = np.full((ny, 2048), 1.0 / ny, dtype=np.float32)
        m.profile.append({"data": prof, "order": 1, "oversampling": 1, "padding": 0})
    m.save(str(path))
    return path


def write_speckernel(path: Path) -> Path:
    from stdatamodels.jwst import datamodels

    nw, os_, half = 60, 10, 7
    npx = os_ * (2 * half + 1) - (os_ - 1)
    centers = np.linspace(0.5, 3.0, nw)
    pix = np.linspace(-half, half, npx)
    kern = np.exp(-0.5 * (pix[:, None] / 1.2) ** 2) * np.ones((1, nw))
    waves = centers[None, :] + pix[:, None] * 1e-3
    m = datamodels.SpecKernelModel(wavelengths=waves.astype(np.float32), kernels=kern.astype(np.float32))
    _ref_meta(m, "SPECKERNEL")
    m.meta.halfwidth, m.meta.spectral_oversampling, m.meta.nwave = half, os_, nw
    m.meta.centroid_index = npx // 2
    m.save(str(path))
    return path


def write_photom(path: Path, orders=(1, 2, 3), timecoeff: bool = False, metres: bool = False) -> Path:
    from stdatamodels.jwst import datamodels

    n = 100
    rows = []
    for order in orders:
        wl = np.zeros(n, np.float32)
        rel = np.zeros(n, np.float32)
        k = 80
        lo, hi = {1: (0.9, 2.8), 2: (0.6, 1.3), 3: (0.6, 0.9)}[order]
        wl[:k] = np.linspace(lo, hi, k) * (1e-6 if metres else 1.0)
        rel[:k] = 1.0 + 0.2 * np.sin(np.arange(k) / 7.0)
        rows.append(("CLEAR", "GR700XD", order, 2.5e-3 * order, 1e-5, k, wl, rel, np.zeros(n, np.float32)))
    m = datamodels.NisSossPhotomModel()
    _ref_meta(m, "PHOTOM")
    row_dtype = photom_row_dtype(n)
    table = np.array(rows, dtype=row_dtype)
    m.phot_table = table
    if timecoeff:
        lin = np.array(
            [("CLEAR", "GR700XD", o, 59000.0, 0.02) for o in orders],
            dtype=[("filter", "S12"), ("pupil", "S15"), ("order", "<i2"), ("t0", "<f4"), ("lossperyear", "<f4")],
        )
        m.timecoeff_linear = lin
    m.save(str(path))
    return path


def write_wavelengthrange(path: Path) -> Path:
    from stdatamodels.jwst import datamodels

    m = datamodels.WavelengthrangeModel()
    _ref_meta(m, "WAVELENGTHRANGE")
    m.wavelengthrange = [[1, "CLEAR", 0.9, 2.8], [2, "CLEAR", 0.6, 1.3], [3, "CLEAR", 0.6, 0.95]]
    m.waverange_selector = ["CLEAR"]
    m.order = [1, 2, 3]
    m.save(str(path))
    return path


def cube(ny: int, nints: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SCI, ERR (float32) and DQ of a SOSS-like exposure: traces, noise, a few NaN pixels (DO_NOT_USE),
    reference-pixel columns NaN and flagged, one pixel NaN in every integration."""
    rng = np.random.default_rng(seed)
    y = np.arange(ny)[:, None]
    x = np.arange(2048)[None, :]
    shift = 10 if ny == 96 else 0
    img = np.zeros((ny, 2048))
    for order, (y0, slope, cutoff, _, _) in ORDERS.items():
        yc = y0 - shift - slope * x
        img += (x < cutoff) * 1000.0 / order * np.exp(-0.5 * ((y - yc) / 6.0) ** 2)
    sci = img[None] * (1 + 0.01 * rng.standard_normal((nints, 1, 1))) + rng.normal(0, 3.0, (nints, ny, 2048)) + 5.0
    err = np.sqrt(np.abs(sci) + 9.0)
    dq = np.zeros((nints, ny, 2048), np.uint32)
    bad = rng.random((nints, ny, 2048)) < 0.002
    dq[bad] |= 1 | 4
    dq[:, :, :4] |= 1 | 2**31
    dq[:, :, -4:] |= 1 | 2**31
    dq[:, 50, 700] |= 1
    err[rng.random((nints, ny, 2048)) < 0.0005] = 0.0
    dq[0, 10, 10] |= 2**31  # a reference pixel flagged in the first integration only
    nan = (dq & 1) != 0
    sci[nan] = np.nan
    err[nan] = np.nan
    return sci.astype(np.float32), err.astype(np.float32), dq
