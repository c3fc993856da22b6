"""Reliability: manifest and ``tso3x verify``, reruns that keep complete products, a full disk, interrupts
(SIGINT, SIGKILL) and the output-folder lock. The commands run as subprocesses, as an operator runs them."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import tso3x
from tso3x.lock import LOCK_NAME
from tso3x.simulate import simulate
from tso3x.verification import fits_problems

pytestmark = pytest.mark.slow  # whole tso3x commands as subprocesses (failures, signals, locks)

TMP = ".tso3x-tmp"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Three short segments: a full run takes a few seconds."""
    return simulate("nrc_tsgrism", tmp_path_factory.mktemp("small"), nints=24, nseg=3, seed=3, shape=(16, 64))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Large enough (with small chunks) that a signal lands in the middle of writing a crfints."""
    return simulate("nrc_tsgrism", tmp_path_factory.mktemp("big"), nints=300, nseg=3, seed=2, shape=(32, 256))


def command(exp, out, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tso3x",
        "run",
        str(exp.asn),
        "--output-dir",
        str(out),
        "--override-extract1d",
        str(exp.extract1d),
        "--scheduler",
        "threads",
        *extra,
    ]


def run(exp, out, *extra, env=None, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(exp, out, *extra),
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        preexec_fn=preexec_fn,
    )


def verify(out) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tso3x", "verify", str(out)], capture_output=True, text=True)


def manifest(out) -> dict:
    (path,) = Path(out).glob("*_manifest.json")
    return json.loads(path.read_text())


def products(out) -> list[Path]:
    return sorted(p for p in Path(out).iterdir() if p.name.endswith((".fits", ".ecsv")))


def inodes(out) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in products(out)}


def assert_same_products(a, b):
    """Arrays bit-identical, headers equal apart from DATE and checksums, tables equal."""
    assert [p.name for p in products(a)] == [p.name for p in products(b)]
    for pa, pb in zip(products(a), products(b), strict=True):
        if pa.suffix == ".ecsv":
            ta, tb = Table.read(pa), Table.read(pb)
            assert ta.colnames == tb.colnames and ta.meta == tb.meta
            for col in ta.colnames:
                np.testing.assert_array_equal(np.asarray(ta[col]), np.asarray(tb[col]))
            continue
        with fits.open(pa) as ha, fits.open(pb) as hb:
            assert [h.name for h in ha] == [h.name for h in hb]
            for x, y in zip(ha, hb, strict=True):
                ignore = {"DATE", "CHECKSUM", "DATASUM"}
                assert {k: v for k, v in x.header.items() if k not in ignore} == {
                    k: v for k, v in y.header.items() if k not in ignore
                }, (pa.name, x.name)
                if x.name == "ASDF":
                    continue
                if isinstance(x, fits.BinTableHDU):
                    for col in set(x.columns.names) - {"DATE"}:  # HDRTAB: the crfints' DATE
                        np.testing.assert_array_equal(x.data[col], y.data[col])
                elif x.data is not None:
                    assert x.data.tobytes() == y.data.tobytes(), (pa.name, x.name)


def assert_only_complete_products(out):
    """Nothing half-written is visible: every FITS product passes its checksums."""
    for p in products(out):
        if p.suffix == ".fits":
            assert fits_problems(p)[0] == [], p


# --- manifest, verify, reruns ---------------------------------------------------------------------------------


def test_manifest_verify_and_reruns(small, tmp_path):
    out = tmp_path / "out"
    first = run(small, out)
    assert first.returncode == 0, first.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "complete" and m["tso3x_version"] == tso3x.__version__
    assert m["parameters"]["rolling_window_width"] == 25
    assert sorted(m["products"]) == [p.name for p in products(out)] and len(m["products"]) == 5
    assert {v["role"] for v in m["inputs"].values()} == {"association", "segment", "override_extract1d"}
    assert all(len(v["xxh3_128"]) == 32 for v in [*m["inputs"].values(), *m["products"].values()])
    assert not (out / TMP).exists() and not (out / LOCK_NAME).exists()
    check = verify(out)
    assert check.returncode == 0 and check.stdout == "", check.stdout
    assert tso3x.verify(out).ok

    # a rerun keeps every product (not rewritten: same inodes)
    before = inodes(out)
    again = run(small, out)
    assert again.returncode == 0 and inodes(out) == before
    assert again.stderr.count("complete and unchanged; kept") == 5

    # damage a crfints, remove the whtlt: verify names both; a rerun redoes exactly what is needed
    crf = sorted(out.glob("*seg002*_crfints.fits"))[0]
    with open(crf, "r+b") as f:
        f.seek(crf.stat().st_size - 3000)
        f.write(b"\x7f\x7f")
    (whtlt,) = out.glob("*_whtlt.ecsv")
    whtlt.unlink()
    check = verify(out)
    assert check.returncode == 1
    assert any(crf.name in line and "damaged" in line for line in check.stdout.splitlines())
    assert any(whtlt.name in line and "missing" in line for line in check.stdout.splitlines())
    reference = tmp_path / "reference"
    shutil_copy = run(small, reference)
    assert shutil_copy.returncode == 0
    again = run(small, out)
    assert again.returncode == 0, again.stderr[-2000:]
    now = inodes(out)
    rewritten = {name for name in now if now[name] != before.get(name)}
    assert rewritten == {crf.name, whtlt.name, next(out.glob("*_x1dints.fits")).name}
    assert verify(out).returncode == 0
    assert_same_products(out, reference)

    # a changed parameter redoes what depends on it; --overwrite redoes everything
    before = inodes(out)
    changed = run(small, out, "--min-wavelength", "3.0")
    assert changed.returncode == 0
    now = inodes(out)
    assert {n for n in now if now[n] != before[n]} == {n for n in now if not n.endswith("_crfints.fits")}
    before = now
    forced = run(small, out, "--min-wavelength", "3.0", "--overwrite")
    assert forced.returncode == 0 and all(inodes(out)[n] != before[n] for n in before)
    assert verify(out).returncode == 0

    # a manifest of an earlier tso3x version (SHA-256 hashes): verify says so; a rerun recomputes everything
    path = next(out.glob("*_manifest.json"))
    old_manifest = manifest(out)
    old_manifest["manifest_version"] = 1
    for entry in [*old_manifest["inputs"].values(), *old_manifest["products"].values()]:
        entry["sha256"] = "0" * 64
        del entry["xxh3_128"]
    path.write_text(json.dumps(old_manifest))
    check = verify(out)
    assert check.returncode == 1 and "manifest version 1" in check.stdout
    before = inodes(out)
    again = run(small, out, "--min-wavelength", "3.0")
    assert again.returncode == 0 and all(inodes(out)[n] != before[n] for n in before if n != path.name)
    assert verify(out).returncode == 0


def test_verify_without_manifest_is_bad_input(tmp_path):
    proc = verify(tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"tso3x: error: {tmp_path}: no *_manifest.json")


# --- failures while writing ----------------------------------------------------------------------------------


def test_disk_full_during_segment_3_keeps_complete_products(small, tmp_path):
    out = tmp_path / "out"
    proc = run(small, out, env={"TSO3X_TEST_FAIL_WRITE": "seg003"})
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tso3x: error: {out}: writing the products failed: No space left on device"), last
    assert "2 of 5 products complete and kept" in last
    assert "Traceback (most recent call last)" not in proc.stderr
    assert [p.name.split("-")[-1][:6] for p in products(out)] == ["seg001", "seg002"]
    assert_only_complete_products(out)
    assert not (out / TMP).exists() and not (out / LOCK_NAME).exists()
    m = manifest(out)
    assert m["status"] == "failed" and "No space left on device" in m["reason"]
    assert sum(1 for v in m["products"].values() if v["xxh3_128"]) == 2
    check = verify(out)
    assert check.returncode == 1 and "run failed" in check.stdout and "seg003" in check.stdout

    kept = inodes(out)
    finish = run(small, out)
    assert finish.returncode == 0, finish.stderr[-2000:]
    assert all(inodes(out)[name] == ino for name, ino in kept.items())  # the two complete ones were kept
    assert len(products(out)) == 5 and verify(out).returncode == 0


def test_file_size_limit_is_a_clean_failure(small, tmp_path):
    """A real OS error (EFBIG under RLIMIT_FSIZE) while the crfints are allocated: exit 1, one line."""

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    out = tmp_path / "out"
    proc = run(small, out, preexec_fn=limit)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tso3x: error: {out}: writing the products failed: File too large"), last
    assert "Traceback" not in proc.stderr
    assert products(out) == [] and not (out / TMP).exists()
    assert manifest(out)["status"] == "failed"


# --- interrupts and the lock ---------------------------------------------------------------------------------


def interruptible() -> None:
    """In the child, before exec: SIGINT deliverable and not ignored, as from a terminal (a test worker's
    process may have inherited it ignored or blocked, and the run would then never see the interrupt)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_wait_for_crfints(exp, out) -> subprocess.Popen:
    """Start a run and return once a crfints is being written in the temporary folder."""
    proc = subprocess.Popen(
        command(exp, out, "--chunk-mb", "0.5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 120
    while not list((out / TMP).glob("*_crfints.fits")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)  # some blocks written
    return proc


@pytest.fixture(scope="module")
def big_reference(big, tmp_path_factory):
    out = tmp_path_factory.mktemp("big_reference")
    proc = run(big, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_sigint_leaves_only_complete_products_and_a_rerun_finishes(big, big_reference, tmp_path):
    out = tmp_path / "out"
    proc = start_and_wait_for_crfints(big, out)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    sig = [line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
    assert proc.returncode == 130, (sig, err[-2000:])
    assert err.strip().splitlines()[-1].startswith("tso3x: error: interrupted")
    assert "Traceback" not in err
    assert not (out / TMP).exists() and not (out / LOCK_NAME).exists()
    assert_only_complete_products(out)
    m = manifest(out)
    assert m["status"] == "failed" and m["reason"] == "interrupted"
    assert len(products(out)) < 5

    finish = run(big, out)
    assert finish.returncode == 0, finish.stderr[-2000:]
    assert verify(out).returncode == 0
    assert_same_products(out, big_reference)


def test_sigkill_then_rerun_takes_over_the_lock_and_a_second_run_is_refused(big, big_reference, tmp_path):
    out = tmp_path / "out"
    proc = start_and_wait_for_crfints(big, out)
    proc.send_signal(signal.SIGKILL)  # in the middle of writing a crfints
    proc.communicate(timeout=60)
    assert (out / LOCK_NAME).exists() and (out / TMP).exists()  # what a killed run leaves behind
    assert_only_complete_products(out)  # ... but no partial product is visible
    assert manifest(out)["status"] == "running"
    assert verify(out).returncode == 1

    rerun = subprocess.Popen(
        command(big, out, "--chunk-mb", "0.5"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while f'"pid": {rerun.pid},' not in ((out / LOCK_NAME).read_text() if (out / LOCK_NAME).exists() else ""):
        assert rerun.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    second = run(big, out)  # a second run into the same folder while the rerun writes: refused
    assert second.returncode == 2
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith(f"tso3x: error: {out / LOCK_NAME}: output directory is in use by another run"), last
    assert f"PID {rerun.pid}" in last
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    assert "taking over the stale lock" in err
    assert not (out / TMP).exists() and not (out / LOCK_NAME).exists()
    assert verify(out).returncode == 0
    assert_same_products(out, big_reference)


def test_lock_of_a_live_process_refuses_and_a_foreign_lock_is_not_taken(small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    lock = out / LOCK_NAME
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    proc = run(small, out)
    assert proc.returncode == 2 and "output directory is in use by another run" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    lock.write_text(json.dumps({"host": "some-other-node", "pid": 1}))
    proc = run(small, out)
    assert proc.returncode == 2 and "a run on another host" in proc.stderr.strip().splitlines()[-1]
    lock.write_text("garbage")
    proc = run(small, out)
    assert proc.returncode == 2 and "not a tso3x lock" in proc.stderr
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock.write_text(json.dumps({"host": socket.gethostname(), "pid": gone.pid}))
    proc = run(small, out)
    assert proc.returncode == 0 and "taking over the stale lock" in proc.stderr
    assert not lock.exists()
