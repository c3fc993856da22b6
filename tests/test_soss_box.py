"""NIS_SOSS box path (soss_atoca=False): kernels and step against the jwst 3.0.0 functions doing the same,
reference-file readers, and the mode's checks."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits
from soss_refs import (
    PWCPOS_CMD,
    cube,
    write_pastasoss,
    write_photom,
    write_speckernel,
    write_specprofile,
    write_wavelengthrange,
)

import tso3x
from tso3x.config import RunConfig
from tso3x.io import soss_refs
from tso3x.kernels import soss_box, soss_photom, soss_trace
from tso3x.modes import mode_for

COLUMNS = ("WAVELENGTH", "FLUX", "FLUX_ERROR", "BACKGROUND", "NPIXELS", "DQ", "FLUX_VAR_POISSON", "BKGD_ERROR")


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    d = tmp_path_factory.mktemp("soss_refs")
    return {
        "pastasoss": write_pastasoss(d / "pastasoss.asdf"),
        "specprofile96": write_specprofile(d / "specprofile96.fits", 96),
        "specprofile256": write_specprofile(d / "specprofile256.fits", 256),
        "speckernel": write_speckernel(d / "speckernel.fits"),
        "photom": write_photom(d / "photom.fits", timecoeff=True),
        "photom_metres": write_photom(d / "photom_m.fits", metres=True),
        "wavelengthrange": write_wavelengthrange(d / "wavelengthrange.asdf"),
    }


def test_box_weights_as_jwst():
    from jwst.extract_1d.soss_extract.soss_boxextract import get_box_weights

    cols = np.arange(300)
    centroid = 40.0 + 0.013 * cols + 0.3 * np.sin(cols / 9.0)
    for width in (40.0, 17.3, 5.0):
        expected = get_box_weights(centroid, width, (96, 320), cols)
        assert np.array_equal(soss_box.box_weights(centroid, width, (96, 320), cols), expected)


@pytest.mark.parametrize("nints", [1, 4, 7, 12])
def test_statistics_and_imputation_as_jwst(nints):
    from jwst.extract_1d.soss_extract.soss_extract import _infill_data_get_mederr
    from stdatamodels.jwst import datamodels

    sci, err, dq = cube(96, nints, seed=nints)
    sci, err, dq = sci[:, :, :300], err[:, :, :300], dq[:, :, :300]
    sci[:, 20, 30] = np.nan  # NaN in every integration
    err[:, 21, 31] = np.nan
    model = datamodels.CubeModel(data=sci.copy(), err=err.copy(), dq=dq.copy())
    refmask = (dq[0] & 2**31) != 0
    expected_data, expected_err = _infill_data_get_mederr(model, refmask.copy())
    meddata, mederr, _ = soss_box.segment_statistics(sci, err, dq, 1, 2**31)
    assert np.array_equal(mederr, expected_err)
    # imputation chunk by chunk, each chunk seeing only the integrations its windows need
    half = min(nints, soss_box.NINTERP) // 2
    for start in range(0, nints, 3):
        stop = min(nints, start + 3)
        first, last = max(0, start - half), min(nints, stop + half)
        got = soss_box.impute(sci[first:last], meddata, first, start, stop, nints)
        assert np.array_equal(got, expected_data[start:stop])


@pytest.mark.parametrize("n", [1, 2, 7, 8, 51])
def test_nanmedian_is_numpys(n):
    """The sort-based temporal median equals np.nanmedian bit for bit (NaN ignored, ±inf kept, all-NaN)."""
    rng = np.random.default_rng(n)
    cube = rng.normal(size=(n, 30, 200)).astype(np.float32)
    cube[rng.random(cube.shape) < 0.3] = np.nan
    cube[:, :2, :4] = np.nan
    cube[rng.random(cube.shape) < 0.02] = np.inf
    cube[rng.random(cube.shape) < 0.02] = -np.inf
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanmedian(cube, axis=0)
    got = soss_box._nanmedian(cube)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_box_sums_as_jwst():
    from jwst.extract_1d.soss_extract.soss_boxextract import box_extract

    rng = np.random.default_rng(2)
    data = rng.normal(10, 2, (3, 96, 200)).astype(np.float32)
    err = rng.uniform(0.5, 2, (3, 96, 200))
    mask = rng.random((3, 96, 200)) < 0.05
    mask[:, :, 5] = True  # a column with no pixel left
    err[mask] = np.inf
    weights = soss_box.box_weights(np.full(200, 48.3), 40.0, (96, 200), np.arange(200))
    flux, flux_err, npix = soss_box.box_sums(data, err, mask, weights)
    for i in range(3):
        _, f, fe, n = box_extract(data[i], err[i], mask[i], weights)
        assert np.array_equal(flux[i], f, equal_nan=True)
        assert np.array_equal(flux_err[i], fe, equal_nan=True)
        assert np.array_equal(npix[i], n)
    assert np.isnan(flux[:, 5]).all()


@pytest.mark.parametrize("ny", [96, 256])
def test_background_as_jwst(ny):
    from jwst.extract_1d.soss_extract.soss_syscor import make_background_mask, soss_background

    sci, _, dq = cube(ny, 1, seed=ny)
    data = np.where(np.isfinite(sci[0]), sci[0], 0.0).astype(np.float32)
    mask = (dq[0] & 1) != 0
    bkg_mask = make_background_mask(data, width=40)
    assert np.array_equal(soss_box.background_mask(data), bkg_mask)
    _, expected = soss_background(data, mask, bkg_mask)
    assert np.array_equal(soss_box.column_background(data, mask | bkg_mask), expected)


def test_traces_as_jwst(refs):
    from jwst.extract_1d.soss_extract.pastasoss import get_soss_wavemaps
    from jwst.extract_1d.soss_extract.soss_extract import DetectorModelOrder
    from stdatamodels.jwst import datamodels

    ref = soss_refs.read_pastasoss(refs["pastasoss"])
    model = datamodels.PastasossModel(str(refs["pastasoss"]))
    for subarray in ("SUBSTRIP256", "SUBSTRIP96"):
        pwcpos = PWCPOS_CMD + 0.07
        _, traces = get_soss_wavemaps(pwcpos, subarray, model, spectraces=True, orders_requested=[1, 2, 3])
        for k, order in enumerate((1, 2, 3)):
            o = ref.orders[order]
            mine = soss_trace.spectrace(
                o.trace, o.pivot, pwcpos, ref.pwcpos_cmd, o.coefficients, o.scale_extents, ref.grid(),
                subarray == "SUBSTRIP96",
            )  # fmt: skip
            assert np.array_equal(mine, traces[k])
            det = DetectorModelOrder(order, None, traces[k], None, None, trace_cutoff=o.cutoff)
            for a, b in zip(soss_trace.column_trace(mine, o.cutoff), det.trace, strict=True):
                assert np.array_equal(a, b)


@pytest.mark.parametrize("which", ["photom", "photom_metres"])
def test_photom_conversion_as_jwst(refs, which):
    from jwst.photom import photom
    from stdatamodels.jwst import datamodels

    ref = soss_refs.read_soss_photom(refs[which])
    wave = np.linspace(2.9, 0.8, 50)
    wave[3] = np.nan
    flux = np.linspace(1, 2, 50)[None, :] * np.ones((2, 1))
    spec = datamodels.TSOSpecModel()
    table = np.zeros(2, dtype=_full_dtype(50))
    table["WAVELENGTH"], table["FLUX"], table["FLUX_ERROR"] = wave, flux, flux / 10
    spec.spec_table = table
    spec.spectral_order = 1
    model = datamodels.TSOMultiSpecModel()
    model.spec.append(spec)
    model.meta.instrument.name, model.meta.instrument.detector = "NIRISS", "NIS"
    model.meta.instrument.filter, model.meta.instrument.pupil = "CLEAR", "GR700XD"
    model.meta.exposure.type, model.meta.exposure.mid_time = "NIS_SOSS", 59700.0
    out = photom.DataSet(model, apply_time_correction=True).apply_photom(str(refs[which]), "N/A")
    row = ref.row("CLEAR", "GR700XD", 1)
    r = ref.table[row]
    waves, rel = soss_photom.response_curve(r["wavelength"], r["relresponse"], r["nelem"])
    corr = soss_photom.time_correction(ref.timecoeff, len(ref.table), 59700.0)[row]
    conv, wl = soss_photom.conversion_1d(wave, r["photmj"], waves, rel, corr)
    assert np.array_equal(out.spec[0].spec_table["FLUX"][0], flux[0] * conv)
    assert np.array_equal(out.spec[0].spec_table["WAVELENGTH"][0], wl)
    assert (conv == 0).any() and (wl == -1).sum() == 1


def _full_dtype(n):
    from stdatamodels.jwst import datamodels

    schema = datamodels.TSOSpecModel().schema["properties"]["spec_table"]["datatype"]
    return [
        (c["name"], c["datatype"], (n,)) if c["name"] in tso3x.names.SPEC_COLUMNS else (c["name"], c["datatype"])
        for c in schema
    ]


def _write_cube(path, ny, nints, segment=1, filter_="CLEAR", subarray=None):
    from stdatamodels.jwst import datamodels

    sci, err, dq = cube(ny, nints, seed=segment)
    m = datamodels.CubeModel(data=sci, err=err, dq=dq)
    m.meta.instrument.name, m.meta.instrument.detector = "NIRISS", "NIS"
    m.meta.instrument.filter, m.meta.instrument.pupil = filter_, "GR700XD"
    m.meta.instrument.pupil_position = PWCPOS_CMD + 0.03
    m.meta.exposure.type, m.meta.visit.tsovisit = "NIS_SOSS", True
    m.meta.subarray.name = subarray or ("SUBSTRIP96" if ny == 96 else "SUBSTRIP256")
    m.meta.exposure.segment_number, m.meta.exposure.nints = segment, nints
    m.meta.exposure.integration_start, m.meta.exposure.integration_end = 1, nints
    m.meta.exposure.mid_time = 59800.0
    m.meta.observation.date, m.meta.observation.time = "2022-07-01", "00:00:00"
    it = np.zeros(nints, dtype=datamodels.CubeModel().get_dtype("int_times"))
    it["integration_number"] = np.arange(1, nints + 1)
    for c in it.dtype.names[1:]:
        it[c] = 59800.0 + np.arange(nints) * 1e-3
    m.int_times = it
    m.save(str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("ny", "background"), [(96, True), (256, None)])
def test_step_matches_jwst_run_extract1d(refs, tmp_path, ny, background):
    """tso3x's chunked box extraction + photom of one segment equals jwst's run_extract1d + photom, bit for bit."""
    from jwst.extract_1d.soss_extract import soss_extract as jwst_soss
    from jwst.photom import photom
    from stdatamodels.jwst import datamodels

    from tso3x.io.calints import open_segment
    from tso3x.steps import soss_extract

    path = _write_cube(tmp_path / "seg_calints.fits", ny, 7, segment=2)
    kwargs = dict(
        order_3=True, threshold=1e-2, n_os=2, tikfac=None, width=40.0, bad_pix="masking",
        subtract_background=background, rtol=1e-4, max_grid_size=20000, wave_grid_in=None, wave_grid_out=None,
        estimate=None, atoca=False, model=False,
    )  # fmt: skip
    profile = refs[f"specprofile{ny}"]
    subarray = "SUBSTRIP96" if ny == 96 else "SUBSTRIP256"
    result, _, _ = jwst_soss.run_extract1d(
        datamodels.CubeModel(str(path)), str(refs["pastasoss"]), str(profile), str(refs["speckernel"]), subarray,
        "CLEAR", kwargs,
    )  # fmt: skip
    expected = photom.DataSet(result).apply_photom(str(refs["photom"]), "N/A")
    ds = open_segment(path, chunk_mb=1.5)
    assert ds.sci.data.numblocks[0] > 2
    setups = soss_extract.setups_for(
        ds, soss_refs.read_pastasoss(refs["pastasoss"]), soss_refs.read_soss_photom(refs["photom"]),
        width=40.0, order_3=True, background=bool(background),
    )  # fmt: skip
    spectra = soss_extract.soss_extract(ds, setups)
    assert len(spectra) == len(expected.spec) == (2 if ny == 96 else 3)
    for sp, spec in zip(spectra, expected.spec, strict=True):
        sp = sp.compute()
        table = spec.spec_table
        for col in COLUMNS:
            mine = sp["wavelength"] if col == "WAVELENGTH" else sp[col]
            assert np.array_equal(np.asarray(mine, float), np.asarray(table[col], float), equal_nan=True), col
        for col in ("FLUX", "FLUX_ERROR", "BACKGROUND", "FLUX_VAR_POISSON", "WAVELENGTH"):
            assert sp[col if col != "WAVELENGTH" else "wavelength"].attrs.get("units") == table.columns[col].unit
        length = table["WAVELENGTH"].shape[1]
        assert json_keywords(sp) == [{"SPORDER": spec.spectral_order, "SEGMENT": 2, "N_ALONGDISP": length}]
        assert int(sp["N_ALONGDISP"][0]) == table["N_ALONGDISP"][0]


def json_keywords(sp):
    import json

    return json.loads(sp.attrs["spectra"])


def test_readers_refuse_wrong_files(refs, tmp_path):
    bad = tmp_path / "bad.asdf"
    bad.write_text("not asdf")
    with pytest.raises(tso3x.Tso3xInputError, match="not a readable ASDF file"):
        soss_refs.read_pastasoss(bad)
    with pytest.raises(tso3x.Tso3xInputError, match="not a PASTASOSS reference file"):
        soss_refs.read_pastasoss(refs["wavelengthrange"])
    with pytest.raises(tso3x.Tso3xInputError, match="not a SPECPROFILE"):
        soss_refs.read_specprofile(refs["speckernel"], (96, 2048))
    with pytest.raises(tso3x.Tso3xInputError, match="does not fit the 256x2048 subarray") as err:
        soss_refs.read_specprofile(refs["specprofile96"], (256, 2048))
    assert "[ORDER,1]" in str(err.value)
    with pytest.raises(tso3x.Tso3xInputError, match="not a PHOTOM"):
        soss_refs.read_soss_photom(refs["speckernel"])
    with pytest.raises(tso3x.Tso3xInputError, match="not a SPECKERNEL"):
        soss_refs.read_speckernel(refs["photom"])
    rows = soss_refs.read_wavelengthrange(refs["wavelengthrange"])
    assert soss_refs.wavelength_range(rows, 2, "CLEAR", "f") == (0.6, 1.3)
    with pytest.raises(tso3x.Tso3xInputError, match="No reference wavelength range"):
        soss_refs.wavelength_range(rows, 1, "F277W", "f")


def _asn(tmp_path, segments):
    import json

    asn = {
        "asn_id": "o001", "asn_pool": "pool", "asn_type": "tso3", "program": "01234",
        "products": [{"name": "jw01234-o001_t001_niriss_clear-gr700xd",
                      "members": [{"expname": p.name, "exptype": "science"} for p in segments]}],
    }  # fmt: skip
    path = tmp_path / "asn.json"
    path.write_text(json.dumps(asn))
    return path


def _refs_kw(refs, ny):
    return {
        "override_pastasoss": refs["pastasoss"],
        "override_specprofile": refs[f"specprofile{ny}"],
        "override_speckernel": refs["speckernel"],
        "override_photom": refs["photom"],
        "override_area": "N/A",
        "override_wavelengthrange": "N/A",
    }


def test_mode_checks(refs, tmp_path, caplog):
    seg = _write_cube(tmp_path / "a_nis_calints.fits", 96, 3)
    exps = tso3x.open_exposures([seg])
    kw = _refs_kw(refs, 96)
    # default soss_atoca=True (ATOCA) needs the reference files as the box path
    with pytest.raises(tso3x.Tso3xInputError, match="--override-pastasoss FILE"):
        mode_for(exps, RunConfig.from_user())
    for option in ("override_pastasoss", "override_photom"):
        partial = {k: v for k, v in kw.items() if k != option}
        with pytest.raises(tso3x.Tso3xInputError, match=f"--{option.replace('_', '-')} FILE") as err:
            mode_for(exps, RunConfig.from_user(soss_atoca=False, **partial))
        assert ('"N/A"' in str(err.value)) == (option == "override_photom")
    with pytest.raises(tso3x.Tso3xInputError, match="not a SPECPROFILE"):
        mode_for(exps, RunConfig.from_user(soss_atoca=False, **{**kw, "override_specprofile": refs["speckernel"]}))
    stripe = tso3x.open_exposures([_write_cube(tmp_path / "b_nis_calints.fits", 96, 3, subarray="SUB60STRIPE_SOSS")])
    with pytest.raises(tso3x.Tso3xInputError, match="superstripe subarray SUB60STRIPE_SOSS is not supported yet"):
        mode_for(stripe, RunConfig.from_user(soss_atoca=False, **kw))
    f277 = tso3x.open_exposures([_write_cube(tmp_path / "c_nis_calints.fits", 96, 3, filter_="F277W")])
    mode = mode_for(f277, RunConfig.from_user(soss_atoca=False))
    assert not mode.extracting and mode.measures_in_one_pass


@pytest.mark.slow
def test_run_box_segments(refs, tmp_path):
    """tso3x.run with soss_atoca=False: one EXTRACT1D per order and segment, per-order white light."""
    from astropy.io import fits
    from astropy.table import Table

    segs = [_write_cube(tmp_path / f"jw01234001001_04101_00001-seg00{k}_nis_calints.fits", 96, 4, k) for k in (1, 2)]
    for k, p in enumerate(segs):
        with fits.open(p, mode="update") as h:
            h[0].header["EXSEGNUM"], h[0].header["EXSEGTOT"] = k + 1, 2
            h[0].header["INTSTART"], h[0].header["INTEND"], h[0].header["NINTS"] = 4 * k + 1, 4 * k + 4, 8
            times = h["INT_TIMES"].data
            times["integration_number"] += 4 * k
            for c in times.names[1:]:
                times[c] += 4 * k * 1e-3
    kw = {**_refs_kw(refs, 96), "override_wavelengthrange": refs["wavelengthrange"]}
    out = tso3x.run(_asn(tmp_path, segs), tmp_path / "out", soss_atoca=False, subtract_background=True, **kw)
    x1d, whtlt = out[-2], out[-1]
    with fits.open(x1d) as h:
        tables = [hdu for hdu in h if hdu.name == "EXTRACT1D"]
        assert [t.header["SPORDER"] for t in tables] == [1, 2, 1, 2]
        assert [len(t.data) for t in tables] == [4] * 4
        assert tables[0].columns["FLUX"].unit == "MJy"
        assert h[0].header["S_PHOTOM"] == "COMPLETE" and h[0].header["SOSSWDTH"] == 40.0
        assert np.isfinite(tables[0].data["FLUX"][:, 100:1900]).all()
    curve = Table.read(whtlt)
    assert curve.colnames == ["MJD_UTC", "BJD_TDB", "whitelight_flux_order_1", "whitelight_flux_order_2"]
    assert len(curve) == 8 and str(curve["whitelight_flux_order_1"].unit) == "MJy"


def test_spec_bins_and_zarr_without_spectra_say_so(refs, tmp_path, caplog):
    """No spectra extracted (F277W: jwst skips the extraction): spec_bins and zarr each say they are ignored, and
    no zarr store is written or returned (per-order products: tests/test_soss_orders.py)."""
    seg = _write_cube(tmp_path / "jw01234001001_04101_00001_nis_calints.fits", 96, 3)
    fits.setval(seg, "FILTER", value="F277W")
    store = tmp_path / "store" / "run.zarr"
    with caplog.at_level(logging.WARNING):
        out = tso3x.run(_asn(tmp_path, [seg]), tmp_path / "out", spec_bins=5, zarr=store)
    assert [p.name.rsplit("_", 1)[-1] for p in out] == ["crfints.fits"]
    assert not store.parent.exists()
    for option in ("spec_bins", "zarr"):
        assert f"{option} ignored: no NIS_SOSS spectra are extracted in this run" in caplog.text


def test_atoca_default_needs_the_reference_files(refs, tmp_path):
    seg = _write_cube(tmp_path / "jw01234001001_04101_00001_nis_calints.fits", 96, 3)
    with pytest.raises(tso3x.Tso3xInputError, match="--override-pastasoss FILE"):
        tso3x.run(_asn(tmp_path, [seg]), tmp_path / "out")
