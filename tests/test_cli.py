"""The ``tso3x`` command: simulate, run with options, demo; what it prints on stdout and stderr."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

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


def test_simulate_soss_options(tmp_path, capsys):
    """nis_soss: --subarray, --filter, --order3; --nints defaults to the mode's own (20 for nis_soss)."""
    args = ["simulate", "nis_soss", str(tmp_path / "d"), "--subarray", "full", "--filter", "F277W", "--nseg", "1"]
    assert main([*args, "--shape", "16x64", "--order3", "false"]) == 0
    (seg,) = sorted((tmp_path / "d").glob("*_calints.fits"))
    header = fits.getheader(seg)
    assert (header["NINTS"], header["SUBARRAY"], header["FILTER"]) == (20, "FULL", "F277W")
    assert "next:" in capsys.readouterr().out


def test_simulate_passes_the_soss_options(tmp_path, monkeypatch):
    import tso3x.simulate
    from tso3x import cli

    seen = {}
    monkeypatch.setattr(tso3x.simulate, "simulate", lambda mode, outdir, **kw: seen.update(kw))
    cli._simulate(cli._parse(["simulate", "nis_soss", str(tmp_path), "--order3", "false", "--subarray", "SUBSTRIP256"]))
    assert seen["order3"] is False and seen["subarray"] == "SUBSTRIP256" and seen["nints"] is None
    cli._simulate(cli._parse(["simulate", "mir_lrs", str(tmp_path)]))
    assert seen["order3"] is True and seen["subarray"] is None and seen["filter"] is None and seen["nints"] is None


@pytest.mark.parametrize("option", [["--order3", "false"], ["--subarray", "SUBSTRIP96"], ["--filter", "CLEAR"]])
def test_simulate_refuses_soss_options_for_other_modes(tmp_path, capsys, option):
    assert main(["simulate", "mir_lrs", str(tmp_path / "d"), "--nints", "4", *option]) == 2
    assert "only be chosen for nis_soss" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not list(tmp_path.glob("d/*"))


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
        "one of mingrad, fit_profile, trace_model (default: mingrad)",
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


def _tso3x(*args: str) -> subprocess.CompletedProcess:
    """``tso3x ARGS`` as a user runs it (stdout and stderr are pipes, not terminals)."""
    return subprocess.run([sys.executable, "-m", "tso3x", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def three_segments(tmp_path_factory):
    """A small three-segment NIRSpec BOTS exposure and the ``tso3x run`` arguments for it."""
    from tso3x.simulate import simulate

    exposure = simulate("nrs_brightobj", tmp_path_factory.mktemp("cli") / "data", nints=24, nseg=3, shape=(32, 256))
    refs = ["--override-extract1d", str(exposure.extract1d), "--override-gain", str(exposure.gain)]
    return [str(exposure.asn), *refs]


SIZE = r"\d+(\.\d+)? (B|kB|MB|GB)"


@pytest.mark.slow
def test_run_talks_like_a_tool(three_segments, tmp_path):
    out = tmp_path / "out"
    proc = _tso3x("run", *three_segments, "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    products = [Path(line) for line in proc.stdout.splitlines()]
    assert len(products) == 5 and all(p.is_file() for p in products), "stdout: one product path a line"
    err = proc.stderr
    assert "\r" not in err and "\x1b" not in err, "no bar drawn where stderr is not a terminal"
    assert not re.search(r"\d{4}-\d\d-\d\d|\d\d:\d\d:\d\d", err) and not re.search(r"tso3x\.[a-z_]+:", err)
    lines = err.splitlines()
    log_lines = lines[: next(i for i, line in enumerate(lines) if line.startswith("done in "))]
    assert log_lines and all(re.match(r"(info|warning): ", line) for line in log_lines), log_lines
    assert err.count("dask dashboard") == 1
    assert [line for line, n in Counter(lines).items() if n > 1] == []
    manifest = next(out.glob("*_manifest.json"))
    for path in [*products, manifest]:
        assert any(re.fullmatch(rf"  {re.escape(path.name)} +{SIZE}", line) for line in lines), path.name
    (outliers,) = re.findall(r"^outliers: [\d,]+ of [\d,]+ pixels flagged \([\d.]+ %\)$", err, re.M)
    assert f"next: tso3x plot {out} --to {out / 'plots'}" in lines
    assert f'tso3x.open_products("{out}")' in lines[-1]
    again = _tso3x("run", *three_segments, "--output-dir", str(out))  # keeps every product, and their counts
    assert again.returncode == 0 and again.stdout == proc.stdout and outliers in again.stderr.splitlines()


@pytest.mark.slow
def test_quiet_run_prints_the_products_only(three_segments, tmp_path):
    proc = _tso3x("-q", "run", *three_segments, "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(proc.stdout.splitlines()) == 5


def test_quiet_still_prints_errors(tmp_path, capsys):
    assert main(["-q", "run", str(tmp_path / "missing_asn.json"), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tso3x: error: ") and "missing_asn.json" in err
