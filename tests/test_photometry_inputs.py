"""Photometry inputs: refused bad inputs (exit 2, one line naming the file, nothing written), CLI options,
spectroscopic modes untouched."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

import tso3x
from tso3x.cli import main

SIM = {"nints": 20, "nseg": 2, "seed": 5, "shape": (24, 24)}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    from tso3x.simulate import simulate

    return {
        bunit: simulate("nrc_tsimage_clear", tmp_path_factory.mktemp(f"base_{bunit[:2]}"), bunit=bunit, **SIM)
        for bunit in ("MJy/sr", "DN/s")
    }


def _delete(ext, key):
    def edit(hdul):
        del hdul[ext].header[key]

    return edit


def _on_first_segment(edit):
    def case(folder, gain):
        seg = sorted(folder.glob("*_calints.fits"))[0]
        with fits.open(seg) as hdul:
            hdul.readall()
            edit(hdul)
            hdul.writeto(seg, overwrite=True, output_verify="silentfix")
        return [], seg.name

    return case


def _gain_text(folder, gain):
    bad = folder / "gain_text.fits"
    bad.write_text("this is not a FITS file\n" * 100)
    return ["--override-gain", str(bad)], bad.name


def _gain_too_small(folder, gain):
    small = folder / "gain_small.fits"
    primary = fits.PrimaryHDU()
    primary.header.update(SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=16, SUBSIZE2=16, INSTRUME="NIRCAM")
    fits.HDUList([primary, fits.ImageHDU(np.ones((16, 16), np.float32), name="SCI")]).writeto(small)
    return ["--override-gain", str(small)], small.name


CASES = {
    "no-xref": ("MJy/sr", _on_first_segment(_delete("SCI", "XREF_SCI"))),
    "no-yref": ("MJy/sr", _on_first_segment(_delete("SCI", "YREF_SCI"))),
    "no-bunit": ("MJy/sr", _on_first_segment(_delete("SCI", "BUNIT"))),
    "no-err-bunit": ("MJy/sr", _on_first_segment(_delete("ERR", "BUNIT"))),
    "no-pixar-sr": ("MJy/sr", _on_first_segment(_delete("SCI", "PIXAR_SR"))),
    "dn-per-s-without-gain": ("DN/s", lambda folder, gain: ([], sorted(folder.glob("*_calints.fits"))[0].name)),
    "gain-not-fits": ("DN/s", _gain_text),
    "gain-not-cuttable": ("DN/s", _gain_too_small),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_before_anything_is_written(case, bases, tmp_path, capsys):
    bunit, make = CASES[case]
    folder = tmp_path / "in"
    shutil.copytree(bases[bunit].asn.parent, folder)
    args, culprit = make(folder, bases[bunit].gain)
    out = tmp_path / "out"
    asn = folder / bases[bunit].asn.name
    capsys.readouterr()
    assert main(["run", str(asn), "--output-dir", str(out), *args]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("tso3x: error: ") and culprit in last, last
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    "args",
    [["--radius-inner", "6", "--radius-outer", "5"], ["--radius", "0"], ["--fit-box-width", "0"]],
)
def test_bad_parameters_refused(args, bases, tmp_path, capsys):
    assert main(["run", str(bases["MJy/sr"].asn), "--output-dir", str(tmp_path / "o"), *args]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("tso3x: error: ")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_mjy_data_need_no_gain_file(bases, tmp_path):
    products = tso3x.run(bases["MJy/sr"].asn, tmp_path)
    assert [p.suffix for p in products] == [".fits", ".fits", ".ecsv"]
    assert not (tmp_path / ".tso3x-tmp").exists()


@pytest.mark.slow
def test_cli_photometry_options(bases, tmp_path):
    argv = ["run", str(bases["MJy/sr"].asn), "--output-dir", str(tmp_path), "--radius", "2.5"]
    assert main([*argv, "--radius-inner", "5", "--radius-outer", "7", "--centroid-source", "false"]) == 0
    (phot,) = tmp_path.glob("*_phot.ecsv")
    table = QTable.read(phot)
    assert "r=2.5 pixels" in table.meta["apertures"] and "r_inner=5.0 pixels" in table.meta["apertures"]
    assert "centroid_x" not in table.colnames
    assert table.meta["number_of_integrations"] == SIM["nints"]


@pytest.mark.slow
def test_spectroscopic_modes_write_no_catalog(simulated, tmp_path):
    exp = simulated("nrc_tsgrism", nints=64, nseg=2, seed=7, shape=(32, 160))
    products = tso3x.run(exp.asn, tmp_path, chunk_mb=0.05, radius=1.0)
    assert [p.name.split("_")[-1] for p in products] == ["crfints.fits"] * 2 + ["x1dints.fits", "whtlt.ecsv"]
    assert not list(tmp_path.glob("*_phot.ecsv"))
