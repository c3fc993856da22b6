"""Bad input: one line ``tso3x: error: <file>: <problem>``, exit status 2, nothing written, inputs intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from tso3x.cli import main
from tso3x.simulate import simulate


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return simulate("nrc_tsimage_clear", tmp_path_factory.mktemp("base"), nints=40, nseg=2, seed=5, shape=(24, 24))


def edit_segment(path, edit):
    """Rewrite a segment with ``edit(hdul)`` applied (astropy, whole file: the files are tiny)."""
    with fits.open(path) as hdul:
        hdul.readall()
        edit(hdul)
        hdul.writeto(path, overwrite=True, output_verify="silentfix")


def drop(ext):
    return lambda h: h.__delitem__(ext)


def set_key(ext, key, value):
    return lambda h: h[ext].header.__setitem__(key, value)


def set_data(ext, fn):
    def edit(h):
        h[ext].data = fn(h[ext].data)

    return edit


def edit_asn(fn, culprit="asn.json"):
    def case(folder):
        asn = folder / "asn.json"
        asn.write_text(fn(json.loads(asn.read_text())))
        return asn, culprit

    return case


def on_segment(index, edit):
    def case(folder):
        seg = sorted(folder.glob("*_calints.fits"))[index]
        edit_segment(seg, edit)
        return folder / "asn.json", seg.name

    return case


def raw_segment(index, fn):
    def case(folder):
        seg = sorted(folder.glob("*_calints.fits"))[index]
        seg.write_bytes(fn(seg.read_bytes()))
        return folder / "asn.json", seg.name

    return case


CASES = {
    "asn-missing": lambda f: (f / "nope.json", "nope.json"),
    "asn-not-json": edit_asn(lambda a: "this is not json"),
    "asn-truncated": edit_asn(lambda a: json.dumps(a)[:50]),
    "asn-no-products": edit_asn(lambda a: json.dumps({**a, "products": []})),
    "asn-no-asn-id": edit_asn(lambda a: json.dumps({k: v for k, v in a.items() if k != "asn_id"})),
    "asn-no-science": edit_asn(
        lambda a: json.dumps(
            {
                **a,
                "products": [
                    {
                        **a["products"][0],
                        "members": [{**m, "exptype": "background"} for m in a["products"][0]["members"]],
                    }
                ],
            }
        )
    ),
    "member-missing": edit_asn(
        lambda a: json.dumps(
            {
                **a,
                "products": [
                    {
                        **a["products"][0],
                        "members": [
                            *a["products"][0]["members"],
                            {"expname": "gone_calints.fits", "exptype": "science"},
                        ],
                    }
                ],
            }
        ),
        culprit="gone_calints.fits",
    ),
    "member-twice": edit_asn(
        lambda a: json.dumps(
            {
                **a,
                "products": [
                    {**a["products"][0], "members": [*a["products"][0]["members"], a["products"][0]["members"][0]]}
                ],
            }
        )
    ),
    "not-fits": raw_segment(0, lambda b: b"SIMPLE? no, just text\n" * 200),
    "truncated-fits": raw_segment(1, lambda b: b[: len(b) // 2]),
    "no-sci": on_segment(0, drop("SCI")),
    "no-err": on_segment(0, drop("ERR")),
    "no-dq": on_segment(1, drop("DQ")),
    "no-int-times": on_segment(0, drop("INT_TIMES")),
    "sci-2d": on_segment(0, set_data("SCI", lambda d: d[0])),
    "sci-integer": on_segment(0, set_data("SCI", lambda d: np.nan_to_num(d).astype(np.int32))),
    "dq-shape": on_segment(0, set_data("DQ", lambda d: d[:, :-1])),
    "int-times-short": on_segment(0, set_data("INT_TIMES", lambda d: d[:3])),
    "overlapping-integrations": on_segment(
        1, lambda h: (h[0].header.__setitem__("INTSTART", 10), h[0].header.__setitem__("INTEND", 29))
    ),
    "exp-type-differs": on_segment(1, set_key(0, "EXP_TYPE", "NRC_TSGRISM")),
    "frame-shape-differs": on_segment(
        1,
        lambda h: [
            h.__setitem__(e, fits.ImageHDU(h[e].data[:, :-2], h[e].header))
            for e in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")
        ],
    ),
    "not-tso": on_segment(
        0, lambda h: (h[0].header.__setitem__("TSOVISIT", False), h[0].header.__setitem__("EXP_TYPE", "NRC_IMAGE"))
    ),
    "nints-below-2": on_segment(0, set_key(0, "NINTS", 1)),
}


@pytest.mark.parametrize("case", CASES)
def test_refused_with_one_line(case, base, tmp_path, capsys):
    folder = tmp_path / "in"
    shutil.copytree(base.asn.parent, folder)
    shutil.copy(base.asn, folder / "asn.json")
    asn, culprit = CASES[case](folder)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["run", str(asn), "--output-dir", str(out)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("tso3x: error: ") and culprit in last, last
    assert not out.exists() or not any(out.iterdir())
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()} == before


def test_output_dir_is_a_file(base, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["run", str(base.asn), "--output-dir", str(target)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"tso3x: error: {target}: output directory is a file"


def test_missing_override_file(base, tmp_path, capsys):
    assert main(["run", str(base.asn), "--output-dir", str(tmp_path / "o"), "--override-gain", "nope.fits"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("tso3x: error: nope.fits: ")
    assert not (tmp_path / "o").exists()


def test_console_script_exit_status_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tso3x.cli", "run", str(tmp_path / "missing_asn.json")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"tso3x: error: {tmp_path / 'missing_asn.json'}: association file not found"
    )


def test_asn_without_asn_type_is_accepted_with_warning(base, tmp_path, caplog):
    folder = tmp_path / "in"
    shutil.copytree(base.asn.parent, folder)
    asn = json.loads(base.asn.read_text())
    asn.pop("asn_type", None)
    (folder / "asn.json").write_text(json.dumps(asn))
    assert main(["run", str(folder / "asn.json"), "--output-dir", str(tmp_path / "out")]) == 0
    assert "asn_type" in caplog.text
    assert len(list((tmp_path / "out").glob("*_crfints.fits"))) == 2
