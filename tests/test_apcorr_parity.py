"""Aperture correction (``override_apcorr``) of box extraction: parity with jwst 3.0.0, and bad APCORR files.

jwst runs the whole calwebb_tso3 with the simulator's APCORR file (MirLrsApcorrModel for MIRI LRS,
NrsFsApcorrModel with sizes in arcsec for NIRSpec BOTS); tso3x runs ``tso3x.run`` on the same calints.
The simulations have more cosmic rays than usual so that NPIXELS changes between integrations (MIRI
re-evaluates c per integration, NIRSpec reuses the first integration's factors).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from test_extract_parity import assert_same, run_tso3x, sim_kwargs

from tso3x.cli import main
from tso3x.simulate.reffiles import write_apcorr

CASES = {
    "mir_lrs": ("mir_lrs", {}),
    "mir_lrs_cube": ("mir_lrs_cube", {}),
    "nrs_brightobj": ("nrs_brightobj", {}),
    "nrs1-nrs2": ("nrs_brightobj", {"detectors": ["NRS1", "NRS2"]}),
}
#: NPIXELS varies between integrations (outlier-flagged cosmic rays in the aperture)
MORE_CRS = {"cosmic_ray_rate": 3e-3}
#: Wavelength range of the simulated NIRSpec table [micron]; c = 1 outside.
NRS_TABLE = (3.0, 4.6)


@pytest.fixture(scope="module")
def apcorr_case(simulated, tmp_path_factory):
    """Factory: case → (exposure, APCORR path, jwst x1dints, jwst whtlt), cached."""
    pytest.importorskip("jwst")
    from jwst_oracle import products_by_suffix, run_calwebb_tso3

    cache: dict = {}

    def get(case):
        if case not in cache:
            mode, extra = CASES[case]
            exp = simulated(mode, **sim_kwargs(mode, **MORE_CRS, **extra))
            folder = tmp_path_factory.mktemp(f"apcorr_{case}")
            apcorr = write_apcorr(folder / "apcorr_sim.fits", exp)
            found = products_by_suffix(run_calwebb_tso3(exp.asn, folder / "jwst", override_apcorr=apcorr))
            cache[case] = (exp, apcorr, found["x1dints"][0], found["whtlt"][0])
        return cache[case]

    return get


def _tables(path, col):
    with fits.open(path) as hdul:
        return [np.array(h.data[col], dtype=np.float64) for h in hdul if h.name == "EXTRACT1D"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    # the single-detector NIRSpec case and the MIRI cube are variants of nrs1-nrs2 and mir_lrs (extended tier)
    [pytest.param(c, marks=pytest.mark.extended) if c in ("nrs_brightobj", "mir_lrs_cube") else c for c in CASES],
)
def test_matches_jwst(case, apcorr_case, tmp_path):
    exp, apcorr, x1d, whtlt = apcorr_case(case)
    products = run_tso3x(exp.asn, tmp_path, override_extract1d=exp.extract1d, override_apcorr=apcorr)
    assert_same(products, x1d, whtlt)
    npix = _tables(x1d, "NPIXELS")
    assert any((n != n[:1]).any() for n in npix), "NPIXELS never changes: the test would not tell"
    if case.startswith("nrs"):  # some element in the table whose NPIXELS differs from the first integration's
        waves = _tables(x1d, "WAVELENGTH")
        inside = [(w[0] > NRS_TABLE[0]) & (w[0] < NRS_TABLE[1]) for w in waves]
        assert any(((n != n[:1]) & i).any() for n, i in zip(npix, inside, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("case", ["mir_lrs", pytest.param("nrs1-nrs2", marks=pytest.mark.extended)])
def test_correction_changes_flux_only(case, apcorr_case, tmp_path):
    """FLUX × c with c ≠ 1, variances × c², background, NPIXELS, DQ unchanged; clamping and c = 1 edges."""
    exp, apcorr, _, _ = apcorr_case(case)
    plain = run_tso3x(exp.asn, tmp_path / "plain", override_extract1d=exp.extract1d)[0]
    corrected = run_tso3x(exp.asn, tmp_path / "ap", override_extract1d=exp.extract1d, override_apcorr=apcorr)[0]
    for col in ("BACKGROUND", "BKGD_ERROR", "BKGD_VAR_POISSON", "NPIXELS", "DQ", "WAVELENGTH"):
        for a, b in zip(_tables(plain, col), _tables(corrected, col), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=col)
    flux0, flux1 = _tables(plain, "FLUX"), _tables(corrected, "FLUX")
    var0, var1 = _tables(plain, "FLUX_VAR_RNOISE"), _tables(corrected, "FLUX_VAR_RNOISE")
    waves, npix = _tables(plain, "WAVELENGTH"), _tables(plain, "NPIXELS")
    for f0, f1, v0, v1, wl, n in zip(flux0, flux1, var0, var1, waves, npix, strict=True):
        ok = np.isfinite(f0) & (f0 != 0)
        c = np.where(ok, f1 / np.where(ok, f0, 1.0), np.nan)
        assert np.nanmax(np.abs(c - 1.0)) > 0.01
        np.testing.assert_allclose(v1[ok], v0[ok] * c[ok] ** 2, rtol=1e-12)
        if case.startswith("nrs"):
            outside = (wl < NRS_TABLE[0]) | (wl > NRS_TABLE[1])
            assert outside.any() and np.all(c[ok & outside] == 1.0)
            # tabulated once per segment: the same c in every integration
            np.testing.assert_allclose(np.nanmax(c, axis=0), np.nanmin(c, axis=0), rtol=1e-14)
        else:  # clamped beyond 12.5 µm: one value per NPIXELS
            beyond = ok & (wl > 12.5) & (n == 9.0)
            assert beyond.sum() > 10 and np.ptp(c[beyond]) < 1e-12


def test_phase_factors_match_jwst_apcorrphase():
    """The vectorised NIRSpec tabulation equals jwst's per-element splines, including its c = 1 cases."""
    from astropy.table import Table
    from jwst.extract_1d.apply_apcorr import ApCorrPhase
    from stdatamodels.jwst.datamodels import JwstDataModel

    from tso3x.kernels.apcorr import phase_factors

    rng = np.random.default_rng(7)
    nwl, nsize, nphase = 12, 5, 3
    wl_table = rng.permutation(np.linspace(1.0, 3.0, nwl)).astype(np.float32)
    size = (np.array([2.0, 3.0, 5.0, 7.0, 10.0])[:, None] * (1.0 + 0.1 * wl_table[None, :])).astype(np.float32)
    size[0, wl_table > 2.7] = 20.0  # sizes not increasing there: jwst's spline raises, c = 1
    phase = np.array([0.0, 0.4, 0.8], np.float32)
    apcorr = rng.uniform(0.9, 1.4, (nsize, nwl, nphase)).astype(np.float32)
    table = Table(
        {
            "filter": ["F290LP", "CLEAR"],
            "grating": ["G395H", "PRISM"],
            "slit": ["S1600A1", "S1600A1"],
            "wavelength": [wl_table, wl_table],
            "nelem_wl": [nwl, nwl],
            "size": [size, size],
            "nelem_size": [nsize, nsize],
            "pixphase": [phase, phase],
            "apcorr": [apcorr, 2 * apcorr],
        }
    )
    model = JwstDataModel()
    model.meta.instrument.name = "NIRSPEC"
    model.meta.exposure.type = "NRS_BRIGHTOBJ"
    model.meta.instrument.filter = "F290LP"
    model.meta.instrument.grating = "G395H"
    jw = ApCorrPhase(model, fits.table_to_hdu(table).data, "pixels", slit="S1600A1")
    wl = np.linspace(0.8, 3.2, 400)
    npix = rng.uniform(0.5, 25.0, wl.size)
    jw.tabulate_correction(np.rec.fromarrays([wl, npix], names="wavelength,npixels"))
    ours = phase_factors(wl_table, size, phase, apcorr, wl, npix)
    np.testing.assert_allclose(ours, jw.tabulated_correction, rtol=1e-13, atol=0)
    assert np.sum(ours == 1.0) > 50 and np.sum(ours != 1.0) > 100


def test_lrs_factors_match_jwst_apcorr():
    from astropy.table import Table
    from jwst.extract_1d.apply_apcorr import ApCorr
    from stdatamodels.jwst.datamodels import JwstDataModel

    from tso3x.kernels.apcorr import lrs_factors

    rng = np.random.default_rng(8)
    wl_table = np.zeros(10, np.float32)
    wl_table[:8] = np.linspace(12.0, 5.0, 8)
    size = np.zeros(6, np.uint8)
    size[:4] = [3, 5, 8, 12]
    apcorr = rng.uniform(1.0, 1.5, (10, 6)).astype(np.float32)
    table = Table(
        {
            "subarray": ["FULL", "SLITLESSPRISM"],
            "wavelength": [wl_table, wl_table],
            "nelem_wl": [8, 8],
            "size": [size, size],
            "nelem_size": [4, 4],
            "apcorr": [2 * apcorr, apcorr],
        }
    )
    model = JwstDataModel()
    model.meta.instrument.name = "MIRI"
    model.meta.exposure.type = "MIR_LRS-SLITLESS"
    model.meta.subarray.name = "SLITLESSPRISM"
    jw = ApCorr(model, fits.table_to_hdu(table).data, "pixels")
    n = 300
    wl, npix = rng.uniform(4.0, 13.0, n), rng.uniform(1.0, 14.0, n)
    cols = ("flux", "flux_error", "surf_bright", "sb_error")
    cols += tuple(f"{g}_var_{v}" for g in ("flux", "sb") for v in ("poisson", "rnoise", "flat"))
    spec = np.rec.fromarrays([wl, npix] + [np.ones(n)] * len(cols), names=["wavelength", "npixels", *cols])
    jw.apply(spec)
    ours = lrs_factors(size[:4], wl_table[:8], apcorr[:8, :4], npix[None, :], wl)[0]
    np.testing.assert_array_equal(ours, spec["flux"])
    np.testing.assert_array_equal(ours * ours, spec["sb_var_flat"])


@pytest.mark.parametrize("mode", ["nrs_brightobj", "mir_lrs"])
def test_pixel_scale_matches_stcal(mode, simulated):
    pytest.importorskip("stcal")
    from stcal.alignment.util import compute_scale

    from tso3x.io.calints import load_wcs
    from tso3x.steps.apcorr import pixel_scale

    exp = simulated(mode, **sim_kwargs(mode))
    wcs = load_wcs(exp.segments[0])
    dispaxis = 1 if mode == "nrs_brightobj" else 2
    ra, dec, wl = wcs(10.3, 12.7)
    assert pixel_scale(wcs, (ra, dec, wl), dispaxis) == compute_scale(wcs, (ra, dec, wl), disp_axis=dispaxis)


# --- bad APCORR files: one line naming the file, exit status 2, nothing written ---------------------------


def _rewrite(src, dst, edit):
    with fits.open(src) as hdul:
        hdul.readall()
        edit(hdul)
        hdul.writeto(dst)
    return dst


def _set_row(column, value, row=-1):
    def edit(hdul):
        hdul["APCORR"].data[column][row] = value

    return edit


def _text(folder, exp):
    path = folder / "apcorr.fits"
    path.write_text("SIMPLE = not really a FITS file\n")
    return path


def _primary_only(folder, exp):
    path = folder / "apcorr.fits"
    fits.PrimaryHDU().writeto(path)
    return path


def _other_mode(folder, exp):
    return write_apcorr(folder / "apcorr.fits", "nrs_brightobj" if exp.mode.startswith("mir") else "mir_lrs")


def _edited(column, value):
    def case(folder, exp):
        good = write_apcorr(folder / "good_apcorr.fits", exp)
        return _rewrite(good, folder / "apcorr.fits", _set_row(column, value))

    return case


def _sizeunit_arcsec(folder, exp):
    good = write_apcorr(folder / "good_apcorr.fits", exp)
    return _rewrite(good, folder / "apcorr.fits", lambda h: h["APCORR"].header.__setitem__("SIZEUNIT", "arcsec"))


def _any_file_for_tsgrism(folder, exp):
    return write_apcorr(folder / "apcorr.fits", "mir_lrs")


BAD = {
    "not-fits": ("mir_lrs", _text, "not an APCORR file for MIR_LRS-SLITLESS"),
    "no-apcorr-table": ("mir_lrs", _primary_only, "no APCORR table"),
    "nrs-file-for-miri": ("mir_lrs", _other_mode, "not an APCORR file for MIR_LRS-SLITLESS"),
    "miri-file-for-nrs": ("nrs_brightobj", _other_mode, "not an APCORR file for NRS_BRIGHTOBJ"),
    "no-subarray-row": ("mir_lrs", _edited("subarray", "SUB256"), "no APCORR row for SUBARRAY=SLITLESSPRISM"),
    "no-slit-row": (
        "nrs_brightobj",
        _edited("slit", "S200A2"),
        "no APCORR row for FILTER=F290LP, GRATING=G395H, SLIT=S1600A1",
    ),
    "miri-sizes-arcsec": ("mir_lrs", _sizeunit_arcsec, "SIZEUNIT is arcsec but the sizes are uint8"),
    "nrc-tsgrism": ("nrc_tsgrism", _any_file_for_tsgrism, "no aperture correction for EXP_TYPE NRC_TSGRISM"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_apcorr_refused_before_writing(case, simulated, tmp_path, capsys):
    mode, make, problem = BAD[case]
    exp = simulated(mode, nints=8, nseg=1, seed=5, shape={"mir_lrs": (64, 40)}.get(mode, (32, 64)))
    apcorr = make(tmp_path, exp)
    out = tmp_path / "out"
    argv = ["run", str(exp.asn), "--output-dir", str(out), "--override-extract1d", str(exp.extract1d)]
    capsys.readouterr()
    assert main([*argv, "--override-apcorr", str(apcorr)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"tso3x: error: {apcorr}") and problem in last, last
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_apcorr_ignored_for_extended_source(simulated, tmp_path):
    """jwst reads the file but corrects only POINT sources: an EXTENDED source's x1dints is unchanged."""
    exp = simulated("mir_lrs", nints=8, nseg=1, seed=5, shape=(64, 40))
    folder = tmp_path / "ext"
    folder.mkdir()
    for seg in exp.segments:
        _rewrite(seg, folder / seg.name, lambda h: h["SCI"].header.__setitem__("SRCTYPE", "EXTENDED"))
    (folder / exp.asn.name).write_text(exp.asn.read_text())
    apcorr = _edited("subarray", "SUB256")(tmp_path, exp)  # no matching row: not even looked at
    asn = folder / exp.asn.name
    plain = run_tso3x(asn, tmp_path / "plain", override_extract1d=exp.extract1d)[0]
    corrected = run_tso3x(asn, tmp_path / "ap", override_extract1d=exp.extract1d, override_apcorr=apcorr)[0]
    np.testing.assert_array_equal(_tables(plain, "FLUX")[0], _tables(corrected, "FLUX")[0])
