"""The simulator writes real-format calints that jwst 3.0.0 calwebb_tso3 processes (tiny shapes, fast)."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from tso3x import dqflags
from tso3x.errors import Tso3xInputError
from tso3x.simulate import MODES, SimulatedExposure, simulate

#: Small frames that keep each mode's geometry (trace row 34 for TSGRISM needs ny >= 48).
SHAPES = {
    "nrc_tsimage_wlp8": (32, 32),
    "nrc_tsimage_clear": (40, 40),
    "mir_image": (40, 44),
    "nrs_brightobj": (32, 256),
    "nrc_tsgrism": (48, 256),
    "mir_lrs": (96, 40),
    "mir_lrs_cube": (96, 40),
    "nis_soss": (64, 256),
}
NINTS, NSEG = 16, 2
SPECTRAL = ("nrs_brightobj", "nrc_tsgrism", "mir_lrs", "mir_lrs_cube")
IMAGING = ("nrc_tsimage_wlp8", "nrc_tsimage_clear", "mir_image")
MODEL = {"nrs_brightobj": "SlitModel", "nrc_tsgrism": "SlitModel", "mir_lrs": "SlitModel"}
BUNIT = {"nrs_brightobj": "MJy", "nis_soss": "DN/s"}
PRODUCT = {
    "nrc_tsimage_wlp8": "jw01234-o001_t001_nircam_f210m-wlp8-sub64p",
    "nrc_tsimage_clear": "jw01234-o001_t001_nircam_clear-f444w-sub160p",
    "mir_image": "jw01234-o001_t001_miri_f1500w-sub64",
    "nrs_brightobj": "jw01234-o001_t001_nirspec_f290lp-g395h-s1600a1-sub2048",
    "nrc_tsgrism": "jw01234-o001_t001_nircam_f444w-grismr-subgrism64",
    "mir_lrs": "jw01234-o001_t001_miri_p750l-slitlessprism",
    "mir_lrs_cube": "jw01234-o001_t001_miri_p750l-slitlessprism",
    "nis_soss": "jw01234-o001_t001_niriss_clear-gr700xd-substrip96",
}
PRIMARY_KEYS = (
    "TELESCOP INSTRUME DETECTOR FILTER EXP_TYPE TSOVISIT NINTS INTSTART INTEND EXSEGNUM EXSEGTOT NGROUPS "
    "NFRAMES TFRAME TGROUP EFFINTTM EXPSTART EXPMID EXPEND SUBARRAY SUBSTRT1 SUBSTRT2 SUBSIZE1 SUBSIZE2 "
    "PROGRAM OBSERVTN VISIT EXPOSURE OBS_ID TARG_RA TARG_DEC DATE-OBS TIME-OBS S_WCS S_FLAT S_PHOTOM S_RAMP "
    "DATAMODL FILENAME"
).split()
INT_TIMES_COLUMNS = [
    "integration_number",
    "int_start_MJD_UTC",
    "int_mid_MJD_UTC",
    "int_end_MJD_UTC",
    "int_start_BJD_TDB",
    "int_mid_BJD_TDB",
    "int_end_BJD_TDB",
]
#: Arguments of the shared per-mode simulation (a few cosmic rays even in tiny frames).
SIM = {"nints": NINTS, "nseg": NSEG, "seed": 3, "cosmic_ray_rate": 2e-3}


def sim_kwargs(mode: str, **extra) -> dict:
    return dict(SIM, shape=SHAPES[mode], **extra)


@pytest.fixture(params=MODES)
def exposure(request, simulated) -> SimulatedExposure:
    return simulated(request.param, **sim_kwargs(request.param))


def _cube(path, name="SCI"):
    return fits.getdata(path, name)


def _zscore(sci: np.ndarray, err: np.ndarray) -> np.ndarray:
    """(SCI − per-pixel temporal median) / ERR; NaN at bad pixels."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return (sci - np.nanmedian(sci, axis=0)) / err


# --------------------------------------------------------------------------------------------- format


def test_files_names_and_asn(exposure):
    mode = exposure.mode
    assert exposure.product_name == PRODUCT[mode]
    assert len(exposure.segments) == NSEG
    pattern = r"jw01234001001_04101_00001-seg00[12]_(nrca3|nrcalong|mirimage|nrs1|nis)_calints\.fits"
    for p in exposure.segments:
        assert re.fullmatch(pattern, p.name), p.name
    assert re.fullmatch(r"jw01234-o001_\d{8}t\d{6}_tso3_00001_asn\.json", exposure.asn.name)
    asn = json.loads(exposure.asn.read_text())
    assert asn["asn_type"] == "tso3" and asn["asn_id"] == "o001" and asn["asn_pool"]
    (product,) = asn["products"]
    assert product["name"] == exposure.product_name
    assert [m["expname"] for m in product["members"]] == [p.name for p in exposure.segments]
    assert {m["exptype"] for m in product["members"]} == {"science"}
    assert (exposure.extract1d is not None) == (mode in SPECTRAL)


def test_opens_as_datamodel(exposure):
    from stdatamodels.jwst import datamodels

    mode = exposure.mode
    ny, nx = SHAPES[mode]
    total = 0
    for k, path in enumerate(exposure.segments, start=1):
        with datamodels.open(path) as m:
            assert type(m).__name__ == MODEL.get(mode, "CubeModel")
            assert m.data.ndim == 3 and m.data.shape[1:] == (ny, nx)
            assert m.data.dtype.newbyteorder("=") == np.float32 and m.dq.dtype.newbyteorder("=") == np.uint32
            assert m.meta.exposure.segment_number == k
            assert m.meta.exposure.nints == NINTS
            n = m.data.shape[0]
            assert m.meta.exposure.integration_start == total + 1
            assert m.meta.exposure.integration_end == total + n
            total += n
            assert m.meta.visit.tsovisit is True
            assert m.meta.bunit_data == m.meta.bunit_err == BUNIT.get(mode, "MJy/sr")
    assert total == NINTS


def test_hdus_and_keywords(exposure):
    mode = exposure.mode
    # stdatamodels' (and so jwst's) order: SCI/ERR headers first, then the arrays in schema order
    if MODEL.get(mode) == "SlitModel":
        expected = "SCI ERR DQ WAVELENGTH VAR_POISSON VAR_RNOISE VAR_FLAT INT_TIMES"
    else:
        expected = "SCI ERR DQ INT_TIMES VAR_POISSON VAR_RNOISE VAR_FLAT"
    with fits.open(exposure.segments[0]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", *expected.split(), "ASDF"]
        assert all(h.header.get("EXTVER") == 1 for h in hdul[1:-1])  # stdatamodels gives ASDF no EXTVER
        prim, sci, err = hdul[0].header, hdul["SCI"].header, hdul["ERR"].header
        missing = [k for k in PRIMARY_KEYS if k not in prim]
        assert not missing
        assert prim["TSOVISIT"] is True and prim["NINTS"] == NINTS and prim["EXSEGTOT"] == NSEG
        assert (prim["SUBSIZE2"], prim["SUBSIZE1"]) == SHAPES[mode]
        assert prim["EFFINTTM"] > 0 and prim["EXPSTART"] < prim["EXPMID"] < prim["EXPEND"]
        assert sci["BUNIT"] == err["BUNIT"] == BUNIT.get(mode, "MJy/sr")
        assert sci["SRCTYPE"] == "POINT" and sci["S_REGION"].startswith("POLYGON ICRS")
        if mode not in ("nis_soss",):
            assert sci["PIXAR_SR"] > 0 and sci["PIXAR_A2"] > 0
        if mode in IMAGING:
            assert sci["PHOTMJSR"] > 0
            assert ("PUPIL" in prim) == (mode != "mir_image")
            ny, nx = SHAPES[mode]
            assert 1 <= sci["XREF_SCI"] <= nx and 1 <= sci["YREF_SCI"] <= ny
            assert sci["CTYPE1"] == "RA---TAN"
        else:
            assert sci["DISPAXIS"] == (2 if mode.startswith("mir_lrs") else 1)
        if mode in ("nrs_brightobj", "nrc_tsgrism"):
            assert sci["SLTNAME"] == {"nrs_brightobj": "S1600A1", "nrc_tsgrism": "1"}[mode]
            assert "SLTSTRT1" in sci and "SRCYPOS" in sci


def test_int_times(exposure):
    prev_end = None
    for path in exposure.segments:
        with fits.open(path) as hdul:
            tab = hdul["INT_TIMES"].data
            prim = hdul[0].header
            assert tab.columns.names == INT_TIMES_COLUMNS
            assert tab["integration_number"].dtype.kind == "i"
            assert list(tab["integration_number"]) == list(range(prim["INTSTART"], prim["INTEND"] + 1))
            assert len(tab) == hdul["SCI"].data.shape[0]
            for kind in ("MJD_UTC", "BJD_TDB"):
                s, m, e = (tab[f"int_{x}_{kind}"] for x in ("start", "mid", "end"))
                assert np.all(s < m) and np.all(m < e) and np.all(np.diff(m) > 0)
                np.testing.assert_allclose(m, 0.5 * (s + e), rtol=0, atol=1e-9)
            dt = (tab["int_mid_BJD_TDB"] - tab["int_mid_MJD_UTC"]) * 86400.0
            assert np.all((dt > 60) & (dt < 600))  # TT-UTC + light-time, days → seconds
            cadence = np.diff(tab["int_mid_MJD_UTC"]) * 86400.0
            np.testing.assert_allclose(cadence, cadence[0], rtol=1e-6)
            assert prim["EFFINTTM"] <= cadence[0] <= 1.5 * prim["EFFINTTM"] + 2 * prim["TFRAME"]
            if prev_end is not None:
                assert tab["int_start_MJD_UTC"][0] > prev_end
            prev_end = tab["int_end_MJD_UTC"][-1]


def test_err_is_variance_sum(exposure):
    path = exposure.segments[0]
    err = _cube(path, "ERR")
    vp, vr, vf = (_cube(path, n) for n in ("VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"))
    assert err.dtype.kind == vp.dtype.kind == "f" and err.itemsize == 4
    good = np.isfinite(err)
    np.testing.assert_array_equal(err[good], np.sqrt(vp + vr + vf)[good])
    assert np.all(vp[good] >= 0) and np.all(vr[good] > 0) and np.all(vf[good] >= 0)


def test_bad_pixels_nan_and_flags(exposure):
    path = exposure.segments[0]
    dq = _cube(path, "DQ")
    dnu = (dq & dqflags.DO_NOT_USE) != 0
    assert dnu.any(), "some static DO_NOT_USE pixels"
    assert np.all(dnu == dnu[0]), "DO_NOT_USE pixels are static"
    for name in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
        np.testing.assert_array_equal(np.isnan(_cube(path, name)), dnu, err_msg=name)
    other = (dq[0] & (dqflags.HOT | dqflags.WARM | dqflags.LOW_QE | dqflags.UNRELIABLE_FLAT)) != 0
    assert np.any(other & ~dnu[0]), "informational flags without DO_NOT_USE"


def test_cosmic_rays_are_unflagged_outliers(exposure):
    hits = 0
    for path in exposure.segments:
        sci, err, dq = _cube(path), _cube(path, "ERR"), _cube(path, "DQ")
        big = _zscore(sci, err) > 15
        hits += int(big.sum())
        assert not np.any(dq[big] & (dqflags.DO_NOT_USE | dqflags.OUTLIER))
    assert hits > 0


def test_wcs_and_wavelengths(exposure):
    from stdatamodels.jwst import datamodels

    mode = exposure.mode
    ny, nx = SHAPES[mode]
    with datamodels.open(exposure.segments[0]) as m:
        w = m.meta.wcs
        assert w is not None
        if mode == "nis_soss":
            lam1 = w(np.arange(nx, dtype=float), np.full(nx, 10.0), np.ones(nx))[2]
            lam2 = w(np.arange(nx, dtype=float), np.full(nx, 10.0), np.full(nx, 2))[2]
            assert np.all(np.diff(lam1) < 0) and np.allclose(lam2, lam1 / 2)
            return
        out = w(nx / 2.0, ny / 2.0)
        assert abs(out[0] - m.meta.target.ra) < 0.01 and abs(out[1] - m.meta.target.dec) < 0.01
        if mode in IMAGING:
            assert w.available_frames == ["detector", "v2v3", "world"]
            x0, y0 = m.meta.wcsinfo.siaf_xref_sci - 1, m.meta.wcsinfo.siaf_yref_sci - 1
            np.testing.assert_allclose(w(x0, y0), (m.meta.wcsinfo.ra_ref, m.meta.wcsinfo.dec_ref), atol=1e-9)
            return
        yy, xx = np.mgrid[0:ny, 0:nx].astype(float)
        lam = w(xx, yy)[2]
        assert np.all(np.isfinite(lam))
        disp_axis = 1 if m.meta.wcsinfo.dispersion_direction == 1 else 0
        grad = np.diff(lam, axis=disp_axis)
        assert np.all(grad > 0) or np.all(grad < 0)
        assert np.allclose(np.diff(lam, axis=1 - disp_axis), 0)
        if getattr(m, "wavelength", None) is not None:
            np.testing.assert_allclose(m.wavelength, lam, rtol=1e-6)
        if mode == "nrs_brightobj":
            assert w.available_frames == ["detector", "slit_frame", "world"]
            x, y = w.get_transform("slit_frame", "detector")(0.0, 0.0, lam[0, nx // 2])
            assert abs(x - nx // 2) < 1e-6 and 0 < y < ny - 1


@pytest.mark.slow  # two more simulations
def test_reproducible(tmp_path, simulated):
    mode = "nrs_brightobj"
    a = simulated(mode, **sim_kwargs(mode))
    b = simulate(mode, tmp_path / "again", **sim_kwargs(mode))
    c = simulate(mode, tmp_path / "other", **dict(sim_kwargs(mode), seed=4))
    for pa, pb, pc in zip(a.segments, b.segments, c.segments, strict=True):
        for name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "INT_TIMES"):
            da, db = fits.getdata(pa, name), fits.getdata(pb, name)
            assert da.tobytes() == db.tobytes(), name
        assert fits.getdata(pa).tobytes() != fits.getdata(pc).tobytes()


def test_reference_files(exposure):
    from stdatamodels.jwst import datamodels

    with datamodels.GainModel(exposure.gain) as g:
        assert g.meta.subarray.name == "FULL" and g.meta.reftype == "GAIN"
        assert g.data.shape == ((1024, 1032) if exposure.mode.startswith("mir") else (2048, 2048))
        assert 0.5 < float(np.median(g.data)) < 10
    if exposure.extract1d is not None:
        from jwst.extract_1d.extract import read_extract1d_ref

        ref = read_extract1d_ref(str(exposure.extract1d))
        (ap,) = ref["apertures"]
        assert ap["bkg_coeff"] and ap["region_type"] == "target"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "nope"},
        {"mode": "mir_image", "nints": 1},
        {"mode": "mir_image", "nints": 4, "nseg": 5},
        {"mode": "mir_image", "bunit": "Jy"},
        {"mode": "mir_image", "detectors": ("NRS1",)},
        {"mode": "nrs_brightobj", "detectors": ("NRS1", "NRS1")},
        {"mode": "mir_image", "shape": (4, 4)},
    ],
)
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(Tso3xInputError):
        simulate(outdir=tmp_path, **kwargs)


def test_dn_per_s_and_two_detectors(simulated):
    exp = simulated("nrs_brightobj", **sim_kwargs("nrs_brightobj", bunit="DN/s", detectors=("NRS1", "NRS2")))
    dets = [fits.getval(p, "DETECTOR") for p in exp.segments]
    assert dets == ["NRS1", "NRS2", "NRS1", "NRS2"]
    assert {fits.getval(p, "BUNIT", "SCI") for p in exp.segments} == {"DN/s"}
    assert {fits.getval(p, "S_PHOTOM") for p in exp.segments} == {"SKIPPED"}
    lam1, lam2 = (fits.getdata(p, "WAVELENGTH") for p in exp.segments[:2])
    assert lam1.max() < lam2.min()


# ------------------------------------------------------------------------------------- jwst oracle


def _dip(flux: np.ndarray) -> float:
    """Relative depth: out-of-transit median / in-transit median − 1 (transit centred, 40 % long)."""
    n = flux.size
    out = np.r_[flux[: n // 5], flux[-(n // 5) :]]
    inn = flux[int(0.4 * n) : int(0.6 * n) + 1]
    return float(np.median(out) / np.median(inn) - 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", IMAGING)
def test_jwst_tso3_imaging(tso3_oracle, mode):
    run = tso3_oracle(mode, **sim_kwargs(mode))
    crf = run.by_suffix["crfints"]
    assert [p.name for p in crf] == [p.name.replace("_calints", "_o001_crfints") for p in run.exposure.segments]
    phot = Table.read(run.one("phot"), format="ascii.ecsv")
    assert run.one("phot").name == f"{run.exposure.product_name}_phot.ecsv"
    assert len(phot) == NINTS == phot.meta["number_of_integrations"]
    flux = np.asarray(phot["net_aperture_sum"], float)
    assert np.all(np.isfinite(flux)) and np.all(flux > 0)
    assert 0.004 < _dip(flux) < 0.02
    assert np.all(np.isfinite(phot["BJD_TDB"])) and np.all(np.diff(phot["MJD"]) > 0)


@pytest.mark.slow
def test_jwst_tso3_imaging_dn_per_s_uses_gain(tso3_oracle):
    mode = "nrc_tsimage_clear"
    run = tso3_oracle(mode, **sim_kwargs(mode, bunit="DN/s"))
    phot = Table.read(run.one("phot"), format="ascii.ecsv")
    assert str(phot["net_aperture_sum"].unit) == "electron"
    flux = np.asarray(phot["net_aperture_sum"], float)
    assert np.all(np.isfinite(flux)) and 0.004 < _dip(flux) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("mode", SPECTRAL)
def test_jwst_tso3_spectra(tso3_oracle, mode):
    run = tso3_oracle(mode, **sim_kwargs(mode))
    assert len(run.by_suffix["crfints"]) == NSEG
    assert run.one("x1dints").name == f"{run.exposure.product_name}_x1dints.fits"
    with fits.open(run.one("x1dints")) as hdul:
        assert sum(h.name == "EXTRACT1D" for h in hdul) == NSEG
        tab = hdul["EXTRACT1D"].data
        assert np.isfinite(tab["FLUX"]).mean() > 0.9 and np.all(np.isfinite(tab["WAVELENGTH"]))
    wl = Table.read(run.one("whtlt"), format="ascii.ecsv")
    col = "whitelight_flux_NRS1" if mode == "nrs_brightobj" else "whitelight_flux"
    flux = np.asarray(wl[col], float)
    assert len(flux) == NINTS and np.all(np.isfinite(flux)) and np.all(flux > 0)
    assert 0.004 < _dip(flux) < 0.02


@pytest.mark.slow
def test_jwst_tso3_nrs_two_detectors(tso3_oracle):
    mode = "nrs_brightobj"
    run = tso3_oracle(mode, **sim_kwargs(mode, detectors=("NRS1", "NRS2")))
    assert len(run.by_suffix["crfints"]) == 2 * NSEG
    wl = Table.read(run.one("whtlt"), format="ascii.ecsv")
    for det in ("NRS1", "NRS2"):
        flux = np.asarray(wl[f"whitelight_flux_{det}"], float)
        assert len(flux) == NINTS and np.all(np.isfinite(flux))
        assert 0.004 < _dip(flux) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nis_soss", "nrs_brightobj", "nrc_tsimage_clear"])
def test_jwst_outlier_detection_finds_cosmic_rays(outlier_oracle, mode):
    res = outlier_oracle(mode, sim=sim_kwargs(mode))
    for cal, crf in zip(res.exposure.segments, res.crfints, strict=True):
        assert crf.name == cal.name.replace("_calints", "_o001_crfints")
        sci, err = _cube(cal), _cube(cal, "ERR")
        new = (_cube(crf, "DQ") & dqflags.OUTLIER) != 0
        hits = _zscore(sci, err) > 30
        assert hits.any()
        assert new[hits].mean() > 0.95
        assert new.sum() < 3 * hits.sum() + 10
