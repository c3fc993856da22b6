"""The ``tso3x`` command: simulate, run with options, demo."""

from __future__ import annotations

import pytest
from astropy.io import fits

from tso3x.cli import main


@pytest.mark.slow
def test_simulate_then_run_with_jwst_style_options(tmp_path, capsys):
    assert (
        main(
            [
                "simulate",
                "mir_image",
                str(tmp_path / "data"),
                "--nints",
                "40",
                "--nseg",
                "2",
                "--seed",
                "3",
                "--shape",
                "32x32",
            ]
        )
        == 0
    )
    asn = next((tmp_path / "data").glob("*_asn.json"))
    assert (
        main(
            [
                "run",
                str(asn),
                "--output-dir",
                str(tmp_path / "out"),
                "--rolling-window-width",
                "7",
                "--snr",
                "4.0 3.0",
                "--maskpt",
                "0.7",
                "--good-bits",
                "~DO_NOT_USE",
                "--chunk-mb",
                "0.05",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.split()
    products = sorted((tmp_path / "out").glob("*_crfints.fits"))
    assert len(products) == 2 and [str(p) for p in products] == sorted(p for p in printed if "crfints" in p)
    history = "".join(str(h) for h in fits.getheader(products[0])["HISTORY"])
    assert "'rolling_window_width': 7" in history.replace('"', "'") and "4.0" in history


def test_unknown_simulate_mode(tmp_path, capsys):
    assert main(["simulate", "nrc_coronagraphy", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("tso3x: error: unknown mode")


def test_bad_parameter_is_one_line(tmp_path, capsys):
    assert main(["simulate", "mir_image", str(tmp_path / "d"), "--nints", "30", "--shape", "16x16"]) == 0
    asn = next((tmp_path / "d").glob("*_asn.json"))
    assert main(["run", str(asn), "--output-dir", str(tmp_path / "o"), "--good-bits", "NOT_A_FLAG"]) == 2
    assert "good_bits" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nrc_tsimage_wlp8"])
def test_demo(mode, tmp_path, capsys):
    assert main(["demo", str(tmp_path / "demo"), "--mode", mode]) == 0
    out = capsys.readouterr().out
    assert "crfints.fits" in out and len(list((tmp_path / "demo" / "products").glob("*_crfints.fits"))) == 2
    plots = sorted(p.name for p in (tmp_path / "demo" / "plots").glob("*.png"))
    assert plots == ["centroids.png", "light_curve.png", "outlier_fraction.png", "outlier_maps.png"]
    assert all(f"plots/{name}" in out for name in plots)


def test_run_help_shows_every_default_and_choice(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for shown in (
        "--rolling-window-width ROLLING_WINDOW_WIDTH rolling-median window",
        "(default: 25)",
        "(default: ~DO_NOT_USE)",
        "(default: 3.0)",
        "one of poly, mean, median",
        "one of mingrad, fit_profile (default: mingrad)",
        "--override-apcorr FILE APCORR reference file (default: none)",
        "(default: 128.0)",
    ):
        assert shown in text


def test_mistyped_option_names_its_command_and_the_closest_option(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "asn.json", "--rolling-window-widht", "3"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tso3x run ")
    assert "--rolling-window-widht (did you mean --rolling-window-width?)" in err.splitlines()[-1]


def test_simulate_help_lists_the_modes(capsys):
    from tso3x.simulate import MODES

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(mode in text for mode in MODES)


def test_simulate_prints_the_run_command_with_its_reference_files(tmp_path, capsys):
    args = ["simulate", "mir_lrs", str(tmp_path / "data"), "--nints", "8", "--nseg", "1", "--shape", "64x40"]
    assert main(args) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("next:")]
    asn = next((tmp_path / "data").glob("*_asn.json"))
    extract1d = next((tmp_path / "data").glob("*extract1d*.json"))
    assert line.split()[1:4] == ["tso3x", "run", str(asn)]
    assert f"--override-extract1d {extract1d}" in line
