"""NIS_SOSS ``soss_modelname``: the SossExtractModel (ATOCA trace models, box weights) and AtocaSpectra files.

jwst 3.0.0 writes them once per segment (each segment's files overwrite the previous one's); tso3x writes one
file of each for the whole exposure. The slow tests run jwst calwebb_tso3 on a SUBSTRIP96 exposure of 2 segments
× 4 integrations (ATOCA with ``soss_tikfac`` and ``soss_wave_grid_in`` given, so it is quick), whose files hold
segment 2, and jwst's ``extract_1d`` on segment 1 alone; tso3x's planes and spectra of each segment must equal
them. The box path (``soss_atoca=False``) is tso3x's own: jwst 3.0.0 fails there (its empty trace-model lists
do not fit the schema), so tso3x writes what jwst means to (the APER cubes, no spectra), and the test pins
jwst's failure.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
from astropy.io import fits

import tso3x
from tso3x import product_names

S96 = {"nints": 8, "nseg": 2, "seed": 5}
NSEG_INTS = 4
GRID = np.linspace(0.7699, 2.8394, 1500)
ATOCA = {"soss_atoca": True, "soss_tikfac": 1e-8}
MODEL, SPECTRA = "model_SossExtractModel.fits", "model_AtocaSpectra.fits"


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def runs(simulated, tmp_path_factory):
    """(exposure, tso3x output folder, tso3x products, jwst calwebb_tso3 folder, jwst segment-1 folder, params)."""
    pytest.importorskip("jwst")
    from jwst.extract_1d import Extract1dStep
    from jwst_oracle import offline_crds, run_soss_tso3, soss_step_pars
    from stdatamodels.jwst import datamodels
    from test_soss_parity import _references

    exp = simulated("nis_soss", **S96)
    tmp = tmp_path_factory.mktemp("soss_modelname")
    grid = tmp / "grid.fits"
    datamodels.SossWaveGridModel(wavegrid=GRID).save(str(grid))
    params = {**ATOCA, "soss_wave_grid_in": str(grid), "soss_modelname": "model"}
    oracle = _quiet(run_soss_tso3, exp, tmp / "jwst", **params)
    seg1 = tmp / "jwst_seg1"
    pars = soss_step_pars(exp, **params)["extract_1d"]
    with offline_crds(), datamodels.open(os.fspath(oracle.crfints[0])) as cube:
        _quiet(Extract1dStep.call, cube, output_dir=str(seg1), **pars)
    products = tso3x.run(exp.asn, tmp / "tso3x", chunk_mb=0.5, **_references(exp, True, True), **params)
    return exp, tmp / "tso3x", products, tmp / "jwst", seg1, params


def _spectra(path) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    with fits.open(path) as h:
        return [
            (x.header["INT_NUM"], x.header["SPORDER"], np.array(x.data["WAVELENGTH"]), np.array(x.data["FLUX"]))
            for x in h
            if x.name == "EXTRACT1D"
        ]


def _same_layout(ours, theirs, nints: int) -> None:
    """Same HDU names and order, dtypes, plane shapes and image headers (but NAXIS3 and checksums)."""
    with fits.open(ours) as a, fits.open(theirs) as b:
        assert [h.name for h in a] == [h.name for h in b]
        for ha, hb in zip(a[1:-1], b[1:-1], strict=True):
            assert ha.data.dtype == hb.data.dtype == np.dtype(">f4"), ha.name
            assert ha.data.shape == (nints, *hb.data.shape[1:]), ha.name
            skip = {"NAXIS3", "CHECKSUM", "DATASUM"}
            assert {k: v for k, v in ha.header.items() if k not in skip} == {
                k: v for k, v in hb.header.items() if k not in skip
            }


def _assert_planes(ours, theirs, rows: slice) -> None:
    with fits.open(ours) as a, fits.open(theirs) as b:
        for hb in b[1:-1]:
            mine = a[hb.name].data[rows]
            np.testing.assert_allclose(mine, hb.data, rtol=1e-6, atol=0, err_msg=hb.name)


@pytest.mark.slow
def test_model_and_spectra_match_jwst_segment_by_segment(runs):
    """Planes of segment 2 = jwst calwebb_tso3's file (its last segment's), planes of segment 1 = jwst's
    extract_1d on segment 1 alone; the same for the ATOCA spectra (INT_NUM: the exposure's integration)."""
    _, out, products, jwst, seg1, _ = runs
    assert [p.name for p in products][-2:] == [MODEL, SPECTRA]
    _same_layout(out / MODEL, jwst / MODEL, 2 * NSEG_INTS)
    with fits.open(out / MODEL) as h:
        assert [x.name for x in h] == ["PRIMARY", "ORDER1", "ORDER2", "APER1", "APER2", "ASDF"]
        assert np.all(h["APER2"].data == 1.0)  # SUBSTRIP96 order 2: jwst's unit weights
    _assert_planes(out / MODEL, jwst / MODEL, slice(NSEG_INTS, None))
    _assert_planes(out / MODEL, seg1 / MODEL, slice(0, NSEG_INTS))
    ours = _spectra(out / SPECTRA)
    theirs = _spectra(seg1 / SPECTRA) + [(n + NSEG_INTS, *rest) for n, *rest in _spectra(jwst / SPECTRA)]
    assert [s[:2] for s in ours] == [s[:2] for s in theirs] == [(i, o) for i in range(1, 9) for o in (1, 2)]
    for (_, _, wave, flux), (_, _, wave_j, flux_j) in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(wave, wave_j, rtol=1e-6, atol=0)
        np.testing.assert_allclose(flux, flux_j, rtol=1e-6, atol=0)
    with fits.open(out / SPECTRA) as a, fits.open(jwst / SPECTRA) as b:
        assert a[1].columns.names == b[1].columns.names
        assert a[1].columns.units == b[1].columns.units


@pytest.mark.slow
def test_files_are_products_of_the_run(runs):
    """stdatamodels opens both files; they carry CHECKSUM/DATASUM, are in the manifest, pass ``tso3x verify``
    and are kept by a rerun (not rewritten)."""
    from stdatamodels.jwst import datamodels

    exp, out, products, _, _, params = runs
    with datamodels.SossExtractModel(str(out / MODEL)) as m:
        assert m.order1.shape == m.aperture1.shape == (2 * NSEG_INTS, 96, 2048)
        assert m.meta.filename == MODEL and m.meta.exposure.type == "NIS_SOSS"
    with datamodels.open(str(out / SPECTRA)) as m:
        assert isinstance(m, datamodels.MultiSpecModel) and len(m.spec) == 4 * NSEG_INTS
        assert (m.spec[2].int_num, m.spec[2].spectral_order) == (2, 1)
    for name in (MODEL, SPECTRA):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with fits.open(out / name, checksum=True) as h:
                assert all("CHECKSUM" in x.header for x in h)
    manifest = next(out.glob("*_manifest.json"))
    entries = json.loads(manifest.read_text())["products"]
    assert {MODEL, SPECTRA} <= set(entries)
    assert tso3x.verify(out).ok
    from test_soss_parity import _references

    before = {n: (out / n).stat().st_mtime_ns for n in (MODEL, SPECTRA)}
    tso3x.run(exp.asn, out, chunk_mb=0.5, **_references(exp, True, True), **params)
    assert {n: (out / n).stat().st_mtime_ns for n in (MODEL, SPECTRA)} == before


@pytest.mark.slow
def test_box_path_writes_the_apertures_where_the_user_says(runs, tmp_path):
    """``soss_atoca=False``: the SossExtractModel has the APER cubes only (jwst's box weights), the
    AtocaSpectra no spectrum; a name with a folder part is written there. jwst 3.0.0 fails on this set-up."""
    from jwst.extract_1d import Extract1dStep
    from jwst_oracle import offline_crds, soss_step_pars
    from stdatamodels.jwst import datamodels
    from test_soss_parity import _references

    exp, _, _, jwst, _, _ = runs
    where = tmp_path / "models"
    where.mkdir()
    name = where / "box_calints.fits"
    products = tso3x.run(
        exp.asn,
        tmp_path / "out",
        chunk_mb=0.5,
        soss_atoca=False,
        soss_modelname=str(name),
        **_references(exp, True, True),
    )
    model, spectra = where / "box_SossExtractModel.fits", where / "box_AtocaSpectra.fits"
    assert products[-2:] == [model, spectra]
    assert sorted(os.listdir(where)) == sorted([model.name, spectra.name])  # no temporary file left
    with fits.open(model, checksum=True) as h, fits.open(jwst / MODEL) as j:
        assert [x.name for x in h] == ["PRIMARY", "APER1", "APER2", "ASDF"]
        np.testing.assert_array_equal(h["APER1"].data[:NSEG_INTS], j["APER1"].data)
        np.testing.assert_array_equal(h["APER1"].data[NSEG_INTS:], j["APER1"].data)
    with datamodels.open(str(spectra)) as m:
        assert len(m.spec) == 0
    entries = json.loads(next((tmp_path / "out").glob("*_manifest.json")).read_text())["products"]
    assert {str(model), str(spectra)} <= set(entries)
    assert tso3x.verify(tmp_path / "out").ok
    pars = soss_step_pars(exp, soss_atoca=False, soss_modelname="box")["extract_1d"]
    with offline_crds(), datamodels.open(os.fspath(exp.segments[0])) as cube:
        with pytest.raises(ValueError, match="wrong number of dimensions"):
            _quiet(Extract1dStep.call, cube, output_dir=str(tmp_path / "jwst"), **pars)


@pytest.mark.parametrize(
    "name",
    ["model", "model.fits", "m_calints.fits", "m-x1dints.fits", "a_b_photom", "sub/dir/m_crfints.fits", "x.y.fits"],
)
def test_names_are_jwsts(name, tmp_path):
    """``<basename without extension and known suffix><sep><suffix>.fits`` as stpipe's make_output_path (bare
    names in the output folder; a folder part kept, absolute)."""
    jwst_suffix = pytest.importorskip("jwst.lib.suffix")
    root, sep = jwst_suffix.remove_suffix(os.path.splitext(os.path.basename(name))[0])
    expected = f"{root}{sep}SossExtractModel.fits"
    got = product_names.soss_model(name, "SossExtractModel")
    if os.path.dirname(name):
        assert got == os.path.abspath(os.path.join(os.path.dirname(name), expected))
    else:
        assert got == expected


@pytest.mark.slow
@pytest.mark.extended  # about 50 s of jwst and tso3x
def test_substrip256_separate_fits_match_jwst(simulated, tmp_path):
    """SUBSTRIP256 with order 3 (one segment): ORDER1–3 and APER1–3 as jwst's, and the spectra of the joint fit
    (orders 1, 2) then of the separate fits (order 2's blue end, order 3), as jwst lists them.

    Extended tier: run with ``pytest --extended``."""
    from jwst_oracle import run_soss_tso3
    from stdatamodels.jwst import datamodels
    from test_soss_parity import _references

    exp = simulated("nis_soss", nints=4, nseg=1, seed=6, subarray="SUBSTRIP256")
    grid = tmp_path / "grid.fits"
    datamodels.SossWaveGridModel(wavegrid=GRID).save(str(grid))
    params = {**ATOCA, "soss_wave_grid_in": str(grid), "soss_modelname": "model", "soss_bad_pix": "model"}
    _quiet(run_soss_tso3, exp, tmp_path / "jwst", **params)
    tso3x.run(exp.asn, tmp_path / "tso3x", chunk_mb=0.5, **_references(exp, True, True), **params)
    ours, theirs = tmp_path / "tso3x", tmp_path / "jwst"
    _same_layout(ours / MODEL, theirs / MODEL, 4)
    _assert_planes(ours / MODEL, theirs / MODEL, slice(None))
    a, b = _spectra(ours / SPECTRA), _spectra(theirs / SPECTRA)
    assert [s[:2] for s in a] == [s[:2] for s in b] == [(i, o) for i in range(1, 5) for o in (1, 2, 2, 3)]
    for (_, _, wave, flux), (_, _, wave_j, flux_j) in zip(a, b, strict=True):
        np.testing.assert_allclose(wave, wave_j, rtol=1e-6, atol=0)
        np.testing.assert_allclose(flux, flux_j, rtol=1e-6, atol=0)


@pytest.mark.slow  # a whole tso3x run (refused before anything is written)
def test_missing_folder_is_refused_before_anything_is_written(simulated, tmp_path):
    from test_soss_parity import _references

    from tso3x.errors import Tso3xInputError

    exp = simulated("nis_soss", **S96)
    with pytest.raises(Tso3xInputError, match="soss_modelname folder does not exist"):
        tso3x.run(
            exp.asn,
            tmp_path / "out",
            soss_atoca=False,
            soss_modelname=str(tmp_path / "nowhere" / "m"),
            **_references(exp, True, True),
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.fits"))


@pytest.mark.slow  # a whole tso3x run (box path)
def test_failed_write_leaves_no_partial_file(simulated, tmp_path, monkeypatch):
    """A write that fails (disk full while writing the AtocaSpectra) leaves no temporary file next to the
    user's name, and the manifest says failed."""
    import errno

    from test_soss_parity import _references

    from tso3x.errors import Tso3xRunError
    from tso3x.io import soss_model

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[1]))

    monkeypatch.setattr(soss_model, "write_atoca_spectra", full)
    exp = simulated("nis_soss", **S96)
    where = tmp_path / "models"
    where.mkdir()
    with pytest.raises(Tso3xRunError, match="writing the products failed"):
        tso3x.run(
            exp.asn,
            tmp_path / "out",
            chunk_mb=0.5,
            soss_atoca=False,
            soss_modelname=str(where / "m"),
            **_references(exp, True, True),
        )
    assert not any(p.name.startswith(".") for p in where.iterdir())
    manifest = json.loads(next((tmp_path / "out").glob("*_manifest.json")).read_text())
    assert manifest["status"] == "failed"
