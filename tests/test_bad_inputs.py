"""The bad-input suite: ``tso3x run`` on broken inputs, each of one of two kinds.

The refused cases call the command's entry point (``tso3x.cli.main``) in the test process, with its stderr
captured at the file-descriptor level: what a shell would see, without a Python start-up per case. The
accepted cases and the checks at the end run ``tso3x`` as a real subprocess.

**Refused** — exit status 2, the last stderr line ``tso3x: error: <file>[<HDU/keyword>]: <problem>`` naming the
culprit, no traceback, nothing written to the output folder, inputs byte-identical afterwards.

**Accepted as jwst accepts them** — exit status 0, the products jwst writes, and a warning saying what was odd;
inputs byte-identical afterwards.

Every case says which kind it is and why (``Case.why``). ``test_suite_size`` keeps the count honest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from tso3x.simulate import simulate

SIM = {"nints": 16, "nseg": 2, "seed": 5}


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    """Small simulated exposures: MJy/sr imaging, DN/s imaging (gain needed), NRC_TSGRISM spectroscopy, NIS_SOSS
    (SUBSTRIP96, run with ``--soss-atoca false`` and its simulated reference files)."""
    return {
        "img": simulate("nrc_tsimage_clear", tmp_path_factory.mktemp("img"), shape=(24, 24), **SIM),
        "img_dn": simulate("nrc_tsimage_clear", tmp_path_factory.mktemp("dn"), shape=(24, 24), bunit="DN/s", **SIM),
        "spec": simulate("nrc_tsgrism", tmp_path_factory.mktemp("spec"), shape=(16, 64), **SIM),
        "soss": simulate("nis_soss", tmp_path_factory.mktemp("soss"), nints=6, nseg=2, seed=5),
    }


def tso3x_run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tso3x", "run", *args, "--scheduler", "threads"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def tso3x_run_here(capfd, *args: str) -> subprocess.CompletedProcess:
    """``tso3x run`` through its entry point in this process: exit status and captured stdout/stderr."""
    from tso3x import cli

    capfd.readouterr()
    try:
        status = cli.main(["run", *args, "--scheduler", "threads"])
    except SystemExit as exit_:  # argparse
        status = exit_.code
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["tso3x", "run", *args], status, out, err)


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Case:
    """A broken input: ``make(folder)`` breaks a copy of the base exposure in ``folder`` and returns the extra
    command-line arguments and the text the last stderr line must contain (refused) or the warning (accepted)."""

    base: str
    make: Callable[[Path], tuple[list[str], str]]
    why: str
    refused: bool = True


# --- helpers that break a copy -------------------------------------------------------------------------------


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*_calints.fits"))


def asn_of(folder: Path) -> Path:
    return next(folder.glob("*_asn.json"))


def edit_segments(indices, edit) -> Callable[[Path], tuple[list[str], str]]:
    """Rewrite the segments at ``indices`` with ``edit(hdul)`` applied (astropy; the files are tiny)."""

    def make(folder):
        for i in indices:
            with fits.open(segments(folder)[i]) as hdul:
                hdul.readall()
                edit(hdul)
                hdul.writeto(segments(folder)[i], overwrite=True, output_verify="silentfix")
        return [], segments(folder)[indices[0]].name

    return make


def on_segment(index, edit):
    return edit_segments([index], edit)


def raw_segment(index, fn):
    def make(folder):
        seg = segments(folder)[index]
        seg.write_bytes(fn(seg.read_bytes()))
        return [], seg.name

    return make


def edit_asn(fn, culprit=None):
    def make(folder):
        asn = asn_of(folder)
        asn.write_text(fn(json.loads(asn.read_text())))
        return [], culprit or asn.name

    return make


def with_members(fn):
    """An association edit on products[0].members."""

    def edit(a):
        product = {**a["products"][0], "members": fn(a["products"][0]["members"])}
        return json.dumps({**a, "products": [product]})

    return edit


def drop(ext):
    return lambda h: h.__delitem__(ext)


def set_key(ext, key, value):
    return lambda h: h[ext].header.__setitem__(key, value)


def del_key(ext, key):
    return lambda h: h[ext].header.__delitem__(key)


def set_data(ext, fn):
    def edit(h):
        h[ext].data = fn(h[ext].data)

    return edit


def reference(name, text_or_fn, option):
    """A reference file written into the folder and passed with ``option``."""

    def make(folder):
        path = folder / name
        if callable(text_or_fn):
            text_or_fn(folder, path)
        else:
            path.write_text(text_or_fn)
        return [option, str(path)], name

    return make


def small_gain(folder, path):
    primary = fits.PrimaryHDU()
    primary.header.update(SUBSTRT1=1, SUBSTRT2=1, SUBSIZE1=16, SUBSIZE2=16, INSTRUME="NIRCAM")
    fits.HDUList([primary, fits.ImageHDU(np.ones((16, 16), np.float32), name="SCI")]).writeto(path)


def extract1d(edit):
    def write(folder, path):
        ref = json.loads(next(folder.glob("*extract1d*.json")).read_text())
        edit(ref["apertures"][0])
        path.write_text(json.dumps(ref))

    return write


def output_is_a_file(folder):
    target = folder.parent / "out"
    target.write_text("not a folder")
    return [], "output directory is a file"


def output_not_writable(folder):
    if os.geteuid() == 0:  # root writes through permissions: use a folder no one may create
        return ["--output-dir", "/sys/tso3x-test-out"], "/sys/tso3x-test-out: output directory is not writable"
    locked = folder.parent / "locked"
    locked.mkdir(mode=0o500)
    return ["--output-dir", str(locked / "out")], "output directory is not writable"


def all_nan(h):
    h["SCI"].data = np.full_like(h["SCI"].data, np.nan)


EXTRACT1D = "--override-extract1d"
#: NIS_SOSS reference-file options → the simulated file (glob in the base folder)
SOSS_REFERENCES = {
    "--override-pastasoss": "jwst_niriss_pastasoss_*.asdf",
    "--override-specprofile": "jwst_niriss_specprofile_*.fits",
    "--override-speckernel": "jwst_niriss_speckernel_*.fits",
    "--override-photom": "jwst_niriss_photom_*.fits",
    "--override-wavelengthrange": "jwst_niriss_wavelengthrange_*.asdf",
}


def soss_reference(option: str, source: str | Callable[[Path, Path], None], name: str):
    """A NIS_SOSS reference file of the wrong kind passed with ``option``: a copy of another simulated reference
    file (``source``: one of the SOSS_REFERENCES options, or the gain), or written by ``source(folder, path)``."""

    def write(folder, path):
        if callable(source):
            source(folder, path)
        else:
            pattern = SOSS_REFERENCES.get(source, "jwst_niriss_gain_*.fits")
            shutil.copyfile(next(folder.glob(pattern)), path)

    return reference(name, write, option)


def specprofile_substrip256(folder, path):
    from tso3x.simulate.soss import build_soss_scene
    from tso3x.simulate.soss_reffiles import write_specprofile

    write_specprofile(path, build_soss_scene("SUBSTRIP256", "CLEAR", True))


def truncated(pattern):
    def write(folder, path):
        data = next(folder.glob(pattern)).read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return write


def warns(make, warning):
    """An accepted case: ``make`` breaks the copy, ``warning`` must be logged."""
    return lambda folder: (make(folder)[0], warning)


def accepted(base, make_warning, why):
    return Case(base, make_warning, why, refused=False)


CASES: dict[str, Case] = {
    # association
    "asn-missing": Case("img", lambda f: (["NOPE"], "association file not found"), "no association to read"),
    "asn-directory": Case("img", lambda f: (["DIR"], "association is a directory"), "a folder given as association"),
    "asn-not-json": Case("img", edit_asn(lambda a: "this is not json"), "association is not JSON"),
    "asn-truncated": Case("img", edit_asn(lambda a: json.dumps(a)[:50]), "association cut short"),
    "asn-no-products": Case("img", edit_asn(lambda a: json.dumps({**a, "products": []})), "nothing to make"),
    "asn-no-asn-id": Case(
        "img", edit_asn(lambda a: json.dumps({k: v for k, v in a.items() if k != "asn_id"})), "crfints need asn_id"
    ),
    "asn-no-science": Case(
        "img",
        edit_asn(with_members(lambda ms: [{**m, "exptype": "background"} for m in ms])),
        "no science members: nothing to process",
    ),
    "asn-member-no-expname": Case(
        "img", edit_asn(with_members(lambda ms: [{"exptype": "science"}, *ms])), "a member without a file name"
    ),
    "member-missing": Case(
        "img",
        edit_asn(
            with_members(lambda ms: [*ms, {"expname": "gone_calints.fits", "exptype": "science"}]), "gone_calints"
        ),
        "a listed segment does not exist",
    ),
    "member-twice": Case("img", edit_asn(with_members(lambda ms: [*ms, ms[0]])), "the same segment listed twice"),
    # calints files
    "not-fits": Case("img", raw_segment(0, lambda b: b"SIMPLE? no, just text\n" * 200), "a text file as segment"),
    "truncated-fits": Case("img", raw_segment(1, lambda b: b[: len(b) // 2]), "a segment cut short"),
    "no-sci": Case("img", on_segment(0, drop("SCI")), "no SCI extension"),
    "no-err": Case("img", on_segment(0, drop("ERR")), "no ERR extension"),
    "no-dq": Case("img", on_segment(1, drop("DQ")), "no DQ extension"),
    "no-int-times": Case("img", on_segment(0, drop("INT_TIMES")), "no INT_TIMES: integration times unknown"),
    "sci-2d": Case("img", on_segment(0, set_data("SCI", lambda d: d[0])), "SCI is not a cube of integrations"),
    "sci-integer": Case(
        "img", on_segment(0, set_data("SCI", lambda d: np.nan_to_num(d).astype(np.int32))), "SCI not floating point"
    ),
    "dq-shape": Case("img", on_segment(0, set_data("DQ", lambda d: d[:, :-1])), "DQ does not match SCI"),
    "int-times-short": Case(
        "img", on_segment(0, set_data("INT_TIMES", lambda d: d[:3])), "fewer INT_TIMES rows than integrations"
    ),
    "overlapping-integrations": Case(
        "img",
        on_segment(1, lambda h: (set_key(0, "INTSTART", 4)(h), set_key(0, "INTEND", 11)(h))),
        "two segments claim the same integrations",
    ),
    "exp-type-differs": Case("img", on_segment(1, set_key(0, "EXP_TYPE", "NRC_TSGRISM")), "segments of two modes"),
    "frame-shape-differs": Case(
        "img",
        on_segment(
            1,
            lambda h: [
                h.__setitem__(e, fits.ImageHDU(h[e].data[:, :-2], h[e].header))
                for e in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")
            ],
        ),
        "segments of different frame sizes",
    ),
    "not-tso": Case(
        "img",
        on_segment(0, lambda h: (set_key(0, "TSOVISIT", False)(h), set_key(0, "EXP_TYPE", "NRC_IMAGE")(h))),
        "not a time-series exposure",
    ),
    "nints-below-2": Case("img", on_segment(0, set_key(0, "NINTS", 1)), "one integration is no time series"),
    # keywords a step needs
    "no-bunit": Case("img", on_segment(0, del_key("SCI", "BUNIT")), "photometry needs the data unit"),
    "no-xref-sci": Case("img", on_segment(0, del_key("SCI", "XREF_SCI")), "photometry needs the planned position"),
    "no-pixar-sr-imaging": Case(
        "img", on_segment(0, del_key("SCI", "PIXAR_SR")), "MJy/sr → Jy needs PIXAR_SR (jwst fails with a TypeError)"
    ),
    # reference files
    "override-missing": Case(
        "img", lambda f: (["--override-gain", "nope_gain.fits"], "nope_gain.fits"), "a named file that is not there"
    ),
    "dn-without-gain": Case("img_dn", lambda f: ([], segments(f)[0].name), "DN/s photometry needs a gain file"),
    "gain-not-fits": Case(
        "img_dn", reference("gain_text.fits", "not FITS\n" * 100, "--override-gain"), "gain file is not FITS"
    ),
    "gain-not-cuttable": Case(
        "img_dn", reference("gain_small.fits", small_gain, "--override-gain"), "gain does not cover the subarray"
    ),
    "extract1d-not-json": Case(
        "spec",
        reference("bad_extract1d.json", '{"apertures": [ {"id": "NRC_TSGRISM",, } ]', "--override-extract1d"),
        "EXTRACT1D file is not JSON",
    ),
    "extract1d-no-aperture": Case(
        "spec",
        reference("other_extract1d.json", extract1d(lambda a: a.update(id="MIR_LRS-SLITLESS")), "--override-extract1d"),
        "EXTRACT1D file has no aperture for the exposure",
    ),
    "apcorr-for-tsgrism": Case(
        "spec",
        reference("apcorr.fits", lambda f, p: fits.PrimaryHDU().writeto(p), "--override-apcorr"),
        "jwst has no aperture correction for NRC_TSGRISM",
    ),
    # NIS_SOSS reference files (box path)
    "pastasoss-is-wavelengthrange": Case(
        "soss",
        soss_reference("--override-pastasoss", "--override-wavelengthrange", "pastasoss_wlr.asdf"),
        "an ASDF reference file of another type as PASTASOSS",
    ),
    "pastasoss-is-fits": Case(
        "soss",
        soss_reference("--override-pastasoss", "--override-speckernel", "pastasoss_fits.asdf"),
        "a FITS file (SPECKERNEL) as PASTASOSS",
    ),
    "pastasoss-not-asdf": Case(
        "soss",
        reference("pastasoss_text.asdf", "#ASDF 1.0.0\nnot yaml: [\n" * 20, "--override-pastasoss"),
        "PASTASOSS file that is not readable ASDF",
    ),
    "pastasoss-truncated": Case(
        "soss",
        soss_reference("--override-pastasoss", truncated(SOSS_REFERENCES["--override-pastasoss"]), "pasta_cut.asdf"),
        "PASTASOSS file cut short",
    ),
    "specprofile-is-speckernel": Case(
        "soss",
        soss_reference("--override-specprofile", "--override-speckernel", "specprofile_k.fits"),
        "a SPECKERNEL as SPECPROFILE",
    ),
    "specprofile-substrip256": Case(
        "soss",
        soss_reference("--override-specprofile", specprofile_substrip256, "specprofile_substrip256.fits"),
        "a SUBSTRIP256 SPECPROFILE for SUBSTRIP96 data: its profiles are for other detector rows",
    ),
    "specprofile-not-fits": Case(
        "soss",
        reference("specprofile_text.fits", "not FITS\n" * 100, "--override-specprofile"),
        "SPECPROFILE file that is not FITS",
    ),
    "speckernel-is-photom": Case(
        "soss",
        soss_reference("--override-speckernel", "--override-photom", "speckernel_p.fits"),
        "a PHOTOM file as SPECKERNEL",
    ),
    "photom-is-gain": Case(
        "soss", soss_reference("--override-photom", "gain", "photom_gain.fits"), "a GAIN file as PHOTOM"
    ),
    "wavelengthrange-is-pastasoss": Case(
        "soss",
        soss_reference("--override-wavelengthrange", "--override-pastasoss", "wlr_pasta.asdf"),
        "a PASTASOSS file as WAVELENGTHRANGE",
    ),
    "wavelengthrange-not-asdf": Case(
        "soss",
        reference("wlr_text.asdf", "not asdf at all\n" * 50, "--override-wavelengthrange"),
        "WAVELENGTHRANGE file that is not readable ASDF",
    ),
    "soss-estimate-not-a-spectrum": Case(
        "soss",
        lambda folder: (
            ["--soss-atoca", "true"]
            + soss_reference("--soss-estimate", "--override-speckernel", "estimate_kernel.fits")(folder)[0],
            "estimate_kernel.fits",
        ),
        "a SPECKERNEL as the ATOCA soss_estimate (a spectrum with WAVELENGTH and FLUX)",
    ),
    "soss-estimate-text-file": Case(
        "soss",
        lambda folder: (
            ["--soss-atoca", "true"]
            + reference("estimate.fits", "WAVELENGTH FLUX\n1.0 2.0\n" * 20, "--soss-estimate")(folder)[0],
            "estimate.fits: soss_estimate is not a spectrum (not a FITS file",
        ),
        "a text file as the ATOCA soss_estimate",
    ),
    "soss-n-os-1": Case(
        "soss",
        lambda folder: (["--soss-atoca", "true", "--soss-n-os", "1"], "soss_n_os must be at least 2"),
        "soss_n_os=1 with a generated ATOCA grid (jwst 3.0.0 fails with an IndexError)",
    ),
    # output folder
    "output-is-a-file": Case("img", output_is_a_file, "products cannot go into a file"),
    "output-not-writable": Case("img", output_not_writable, "products cannot be written there"),
    # accepted as jwst accepts them
    "asn-without-asn-type": accepted(
        "img",
        edit_asn(lambda a: json.dumps({k: v for k, v in a.items() if k != "asn_type"}), "asn_type"),
        "jwst reads any association with products and members",
    ),
    "all-nan-imaging": accepted(
        "img",
        warns(edit_segments([0, 1], all_nan), "every SCI value is NaN"),
        "jwst measures NaN data: NaN catalogue rows",
    ),
    "all-nan-spectra": accepted(
        "spec",
        warns(edit_segments([0, 1], all_nan), "every SCI value is NaN"),
        "jwst extracts NaN data: NaN fluxes, white light 0",
    ),
    "no-pixar-sr-spectra": accepted(
        "spec",
        warns(edit_segments([0, 1], del_key("SCI", "PIXAR_SR")), "Pixel area (solid angle) is not populated"),
        "jwst's extract_1d assumes a pixel area of 1 with a warning",
    ),
    "aperture-partly-off-frame": accepted(
        "spec",
        warns(
            reference("edge_extract1d.json", extract1d(lambda a: a.update(ystart=10, ystop=25)), EXTRACT1D),
            "aperture partly off the",
        ),
        "jwst extracts the part of the aperture inside the frame",
    ),
}


def test_suite_size():
    refused = [k for k, c in CASES.items() if c.refused]
    assert len(refused) >= 30 and len(CASES) - len(refused) >= 4


def prepare(case: Case, bases: dict, tmp_path: Path) -> tuple[Path, list[str], str, Path]:
    folder = tmp_path / "in"
    shutil.copytree(bases[case.base].asn.parent, folder)
    args, expect = case.make(folder)
    asn = asn_of(folder)
    if args[:1] == ["NOPE"]:
        asn, args = folder / "nope_asn.json", args[1:]
    elif args[:1] == ["DIR"]:
        (folder / "asn_dir.json").mkdir()
        asn, args = folder / "asn_dir.json", args[1:]
    if "--override-extract1d" not in args and case.base == "spec":
        args += ["--override-extract1d", str(next(folder.glob("jwst_*extract1d*.json")))]
    if case.base == "soss":
        args += ([] if "--soss-atoca" in args else ["--soss-atoca", "false"]) + ["--override-area", "N/A"]
        for option, pattern in SOSS_REFERENCES.items():
            if option not in args:
                args += [option, str(next(folder.glob(pattern)))]
    out = tmp_path / "out"
    if "--output-dir" not in args:
        args += ["--output-dir", str(out)]
    else:
        out = Path(args[args.index("--output-dir") + 1])
    return asn, args, expect, out


@pytest.mark.slow
@pytest.mark.parametrize("name", [k for k, c in CASES.items() if c.refused])
def test_refused(name, bases, tmp_path, capfd):
    case = CASES[name]
    asn, args, culprit, out = prepare(case, bases, tmp_path)
    before = digest(tmp_path / "in")
    out_before = digest(out) if out.is_dir() else None
    proc = tso3x_run_here(capfd, str(asn), *args)
    assert proc.returncode == 2, (case.why, proc.stderr[-2000:])
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tso3x: error: ") and culprit in last, (case.why, last)
    assert "Traceback" not in proc.stderr
    if out.is_file():
        assert out.read_text() == "not a folder"
    elif out.is_dir():
        assert digest(out) == out_before and not any(out.iterdir())
    assert digest(tmp_path / "in") == before


@pytest.mark.slow
@pytest.mark.parametrize("name", [k for k, c in CASES.items() if not c.refused])
def test_accepted_as_jwst(name, bases, tmp_path):
    case = CASES[name]
    asn, args, warning, out = prepare(case, bases, tmp_path)
    before = digest(tmp_path / "in")
    proc = tso3x_run(str(asn), *args)
    assert proc.returncode == 0, (case.why, proc.stderr[-2000:])
    assert warning in proc.stderr and "warning: " in proc.stderr, (case.why, proc.stderr[-2000:])
    assert digest(tmp_path / "in") == before
    crf = sorted(out.glob("*_crfints.fits"))
    assert len(crf) == 2 and not (out / ".tso3x-tmp").exists() and not (out / ".tso3x.lock").exists()
    if case.base == "img":
        (phot,) = out.glob("*_phot.ecsv")
        table = QTable.read(phot)
        assert len(table) == SIM["nints"]
        if name == "all-nan-imaging":
            assert np.isnan(table["aperture_sum"].value).all()
    else:
        (x1d,) = out.glob("*_x1dints.fits")
        (whtlt,) = out.glob("*_whtlt.ecsv")
        curve = QTable.read(whtlt)
        assert len(curve) == SIM["nints"]
        with fits.open(x1d) as hdul:
            flux = np.concatenate([h.data["FLUX"].ravel() for h in hdul if h.name == "EXTRACT1D"])
        if name == "all-nan-spectra":
            assert np.isnan(flux).all() and (curve["whitelight_flux"].value == 0).all()
        else:
            assert np.isfinite(flux).any()
    proc = subprocess.run([sys.executable, "-m", "tso3x", "verify", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# --- the cheap checks come first ---------------------------------------------------------------------------


@pytest.mark.slow
def test_output_folder_checked_before_any_input(bases, tmp_path):
    """An output folder that is a file is reported first: no input is read (no warning about them), even
    when the association itself is broken."""
    out = tmp_path / "out"
    out.write_text("not a folder")
    broken = tmp_path / "broken_asn.json"
    broken.write_text("{not json")
    proc = tso3x_run(str(broken), "--output-dir", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"tso3x: error: {out}: output directory is a file"]


@pytest.mark.slow
def test_refused_run_creates_no_output_folder(bases, tmp_path):
    """A run refused for bad input leaves no empty output folder (nor its missing parents) behind."""
    out = tmp_path / "new" / "out"
    proc = tso3x_run(str(tmp_path / "missing_asn.json"), "--output-dir", str(out))
    assert proc.returncode == 2 and "missing_asn.json" in proc.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_zarr_parent_folders_are_created_like_the_output_folder(bases, tmp_path):
    exp = bases["img"]
    store = tmp_path / "stores" / "deeper" / "run.zarr"
    proc = tso3x_run(str(exp.asn), "--output-dir", str(tmp_path / "out"), "--zarr", str(store))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (store / ".zmetadata").is_file()
