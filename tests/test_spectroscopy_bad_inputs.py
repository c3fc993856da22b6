"""Bad spectroscopic inputs are reported as Tso3xInputError (file: problem) before anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

import tso3x
from tso3x.config import Extract1d, RunConfig, WhiteLight
from tso3x.kernels.white_light import duplicate_times
from tso3x.modes import mode_for

SIM = {"nints": 8, "nseg": 1, "seed": 5}


def exposures(exp):
    return tso3x.open_exposures(tso3x.open_asn(exp.asn).members)


def check_spectroscopy_inputs(exps, **parameters):
    """The checks the spectroscopy mode makes when it is built (before anything is written)."""
    return mode_for(exps, RunConfig.from_user(**parameters))


def test_invalid_json(simulated, tmp_path):
    exp = simulated("nrc_tsgrism", shape=(32, 64), **SIM)
    bad = tmp_path / "bad_extract1d.json"
    bad.write_text('{"apertures": [ {"id": "NRC_TSGRISM",, } ]')
    with pytest.raises(tso3x.Tso3xInputError, match="not valid JSON") as err:
        check_spectroscopy_inputs(exposures(exp), override_extract1d=bad)
    assert str(err.value).startswith(str(bad) + ": ")


def test_not_json_name(simulated, tmp_path):
    exp = simulated("nrc_tsgrism", shape=(32, 64), **SIM)
    bad = tmp_path / "extract1d.asdf"
    bad.write_text("{}")
    with pytest.raises(tso3x.Tso3xInputError, match="must be JSON"):
        check_spectroscopy_inputs(exposures(exp), override_extract1d=bad)


def test_no_aperture_for_exposure(simulated, tmp_path):
    exp = simulated("mir_lrs", shape=(64, 40), **SIM)
    ref = json.loads(exp.extract1d.read_text())
    ref["apertures"][0]["id"] = "NRC_TSGRISM"
    path = tmp_path / "other_extract1d.json"
    path.write_text(json.dumps(ref))
    with pytest.raises(tso3x.Tso3xInputError, match="no extraction aperture") as err:
        check_spectroscopy_inputs(exposures(exp), override_extract1d=path)
    assert str(path) in str(err.value)


def test_no_wavelength_information(simulated, tmp_path):
    """A CubeModel LRS exposure (no WAVELENGTH) whose ASDF extension (the WCS) was removed."""
    exp = simulated("mir_lrs_cube", shape=(64, 40), **SIM)
    folder = tmp_path / "nowcs"
    folder.mkdir()
    for seg in exp.segments:
        with fits.open(seg) as hdul:
            del hdul["ASDF"]
            hdul.writeto(folder / seg.name)
    asn = json.loads(exp.asn.read_text())
    (folder / exp.asn.name).write_text(json.dumps(asn))
    exps = tso3x.open_exposures(tso3x.open_asn(folder / exp.asn.name).members)
    with pytest.raises(tso3x.Tso3xInputError, match="no wavelength information") as err:
        check_spectroscopy_inputs(exps, override_extract1d=exp.extract1d)
    assert str(err.value).startswith(str(folder / exp.segments[0].name))


@pytest.mark.parametrize("params", [{"bkg_fit": "spline"}, {"bkg_order": -1}, {"nonsense": 1}])
def test_bad_parameters(params, simulated):
    exp = simulated("nrc_tsgrism", shape=(32, 64), **SIM)
    with pytest.raises(tso3x.Tso3xInputError):
        check_spectroscopy_inputs(exposures(exp), override_extract1d=exp.extract1d, **params)


def test_apcorr_without_apcorr_table(simulated, tmp_path):
    """More bad APCORR files: tests/test_apcorr_parity.py."""
    exp = simulated("mir_lrs", shape=(64, 40), **SIM)
    apcorr = tmp_path / "apcorr.fits"
    fits.PrimaryHDU().writeto(apcorr)
    with pytest.raises(tso3x.Tso3xInputError, match="no APCORR table") as err:
        check_spectroscopy_inputs(exposures(exp), override_extract1d=exp.extract1d, override_apcorr=apcorr)
    assert str(err.value).startswith(str(apcorr))


def test_soss_without_reference_files_is_refused(simulated):
    """ATOCA (the default) needs the SOSS reference files, as the box path."""
    exp = simulated("nis_soss", shape=(64, 128), **SIM)
    with pytest.raises(tso3x.Tso3xInputError, match="--override-pastasoss FILE"):
        check_spectroscopy_inputs(exposures(exp))


def test_parameters_have_jwst_names_and_defaults():
    assert {**Extract1d().as_dict(), **WhiteLight().as_dict()} == {
        "subtract_background": None,
        "use_source_posn": None,
        "position_offset": 0.0,
        "smoothing_length": None,
        "bkg_fit": None,
        "bkg_order": None,
        "min_wavelength": None,
        "max_wavelength": None,
    }


def test_duplicate_times_keep_first():
    t = np.array([0.1, 0.1, 0.2, 0.1, 0.3])
    assert duplicate_times(t).tolist() == [False, True, False, True, False]
