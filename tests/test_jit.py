"""The kernel cache (tso3x.jit): where it is, the ready marker, the compile lock, the background process and
the choice of kernels with its one info line. The end-to-end cold/warm runs are in tests/test_first_run.py."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tso3x import jit
from tso3x.errors import Tso3xInputError
from tso3x.io import checksum
from tso3x.jit import background, cache

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Cold:
    """An empty kernel cache (``folder``, in TSO3X_CACHE_DIR) and the compilations started for it."""

    folder: Path
    spawned: list = field(default_factory=list)


@pytest.fixture
def cold(tmp_path, monkeypatch) -> Cold:
    """An empty kernel cache, auto kernels, and no background process really started."""
    state = Cold(tmp_path / "cache")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("TSO3X_CACHE_DIR", str(state.folder))
    monkeypatch.setenv("TSO3X_KERNELS", "auto")

    def fake_spawn(folder):
        state.spawned.append(folder)
        return os.getpid()  # a live process holds the lock

    monkeypatch.setattr(background, "_spawn", fake_spawn)
    return state


def _make_ready(folder: Path) -> Path:
    index = folder / "kernels_x" / "outliers._flag_dq-1.py311.nbi"
    index.parent.mkdir(parents=True)
    index.write_bytes(b"")
    return cache.write_marker({str(index.parent)})


# --- where the cache is --------------------------------------------------------------------------------------


def test_cache_dir_resolution(tmp_path, monkeypatch):
    for var in ("NUMBA_CACHE_DIR", "TSO3X_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "tso3x"
    assert cache.shown(cache.cache_dir()) == "~/.cache/tso3x"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "tso3x"
    monkeypatch.setenv("TSO3X_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))  # a user's own numba cache wins
    assert cache.cache_dir() == tmp_path / "numba"


def test_compiled_kernels_go_to_tso3x_cache_dir(tmp_path):
    """A fresh process compiles a kernel into $TSO3X_CACHE_DIR (a read-only installation works)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(TSO3X_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    code = "import numpy as np; from tso3x.io import checksum; checksum.disk_bytes(np.zeros(3, np.float32))"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    assert list(tmp_path.glob("io_*/checksum._to_disk-*.nbi")) and list(tmp_path.glob("io_*/*.nbc"))


def test_njit_leaves_numbas_cache_setting_alone(tmp_path, monkeypatch):
    import numba

    monkeypatch.setenv("TSO3X_CACHE_DIR", str(tmp_path))
    before = numba.config.CACHE_DIR

    def plus_one(x):
        return x + 1

    kernel = jit.njit()(plus_one)
    try:
        assert numba.config.CACHE_DIR == before  # numba functions of other packages keep their cache
        assert kernel.stats.cache_path.startswith(str(tmp_path))
        assert kernel in jit.dispatchers()
    finally:
        jit._DISPATCHERS.remove(kernel)


def test_every_numba_kernel_is_a_tso3x_jit_kernel():
    """Kernels are decorated by tso3x.jit.njit and live in the sources the marker is keyed on."""
    using = set()
    for path in (ROOT / "tso3x").rglob("*.py"):
        if path.parent.name == "jit":
            continue
        text = path.read_text()
        assert not re.search(r"numba\.(njit|jit)\b|from numba import", text), f"{path}: use tso3x.jit.njit"
        if re.search(r"^@njit\(", text, re.M):
            using.add(path.relative_to(ROOT / "tso3x").as_posix())
    assert using == set(cache.KERNEL_SOURCES)


def test_frozen_is_a_read_only_view():
    a = np.arange(4.0)
    view = jit.frozen(a)
    assert not view.flags.writeable and np.shares_memory(a, view) and a.flags.writeable


# --- the marker ----------------------------------------------------------------------------------------------


def test_ready_needs_the_marker_of_this_key(cold, monkeypatch):
    assert not cache.ready()
    marker = _make_ready(cold.folder)
    assert cache.ready() and marker.parent == cold.folder
    record = json.loads(marker.read_text())
    assert record["key"]["sources"] and record["index_files"] == ["kernels_x/outliers._flag_dq-1.py311.nbi"]
    monkeypatch.setattr(cache, "__version__", "9.9.9")  # another tso3x version
    assert not cache.ready()


def test_editing_a_kernel_makes_the_cache_not_ready(cold, tmp_path, monkeypatch):
    package = tmp_path / "package"
    for rel in cache.KERNEL_SOURCES:
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_bytes((cache.PACKAGE / rel).read_bytes())
    monkeypatch.setattr(cache, "PACKAGE", package)
    _make_ready(cold.folder)
    assert cache.ready()
    with open(package / "kernels" / "trf.py", "a") as f:
        f.write("\n# edited\n")
    assert not cache.ready()


def test_a_missing_index_file_makes_the_cache_not_ready(cold):
    _make_ready(cold.folder)
    next(cold.folder.glob("kernels_x/*.nbi")).unlink()
    assert not cache.ready()


# --- the lock ------------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_taken_once_and_released_by_its_holder(tmp_path):
    path = tmp_path / background.LOCK_NAME
    assert background.take_lock(path)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not background.take_lock(path)  # a live holder
    background.hand_over(path, 1)
    assert json.loads(path.read_text())["pid"] == 1
    background.release_lock(path)  # not ours any more: left alone
    assert path.exists()
    background.hand_over(path, os.getpid())
    background.release_lock(path)
    assert not path.exists()


@pytest.mark.parametrize("kind", ["dead", "old", "garbage"])
def test_stale_lock_is_taken_over(tmp_path, kind):
    path = tmp_path / background.LOCK_NAME
    if kind == "garbage":
        path.write_text("not json")
    else:
        host = socket.gethostname() if kind == "dead" else "elsewhere"
        pid = _dead_pid() if kind == "dead" else 1
        path.write_text(json.dumps({"host": host, "pid": pid}))
    if kind == "old":
        then = time.time() - background.LOCK_MAX_AGE_S - 10
        os.utime(path, (then, then))
    assert background.take_lock(path)


def test_fresh_lock_of_another_host_is_respected(tmp_path):
    path = tmp_path / background.LOCK_NAME
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    assert not background.take_lock(path)


# --- the choice and its one line -----------------------------------------------------------------------------


def _jit_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tso3x.jit"]


def test_cold_cache_uses_numpy_and_starts_one_compilation(cold, caplog):
    caplog.set_level(logging.INFO, logger="tso3x.jit")
    assert jit.choose() == jit.NUMPY
    assert cold.spawned == [cold.folder]
    assert _jit_lines(caplog) == [
        f"compiling tso3x's kernels in the background for later runs (once; cache: {cold.folder}); "
        "this run uses the numpy kernels"
    ]
    caplog.clear()
    assert jit.choose() == jit.NUMPY  # the compilation is under way: not started again
    assert cold.spawned == [cold.folder]
    assert len(_jit_lines(caplog)) == 1 and "being compiled in the background" in _jit_lines(caplog)[0]


def test_ready_cache_uses_numba_silently(cold, caplog):
    _make_ready(cold.folder)
    caplog.set_level(logging.INFO, logger="tso3x.jit")
    assert jit.choose() == jit.NUMBA
    assert cold.spawned == [] and _jit_lines(caplog) == []


@pytest.mark.parametrize("value, expected", [("numpy", jit.NUMPY), ("NUMBA", jit.NUMBA), (" ", jit.NUMPY)])
def test_environment_override(cold, monkeypatch, value, expected):
    monkeypatch.setenv("TSO3X_KERNELS", value)
    assert jit.choose() == expected
    assert cold.spawned == ([cold.folder] if value == " " else [])  # blank: auto


def test_bad_override_is_an_input_error(cold, monkeypatch):
    monkeypatch.setenv("TSO3X_KERNELS", "fortran")
    with pytest.raises(Tso3xInputError, match="TSO3X_KERNELS must be auto, numba or numpy, not 'fortran'"):
        jit.choose()


def test_unwritable_cache_warns_and_uses_numpy(cold, monkeypatch, caplog):
    blocker = cold.folder.parent / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("TSO3X_CACHE_DIR", str(blocker / "cache"))  # cannot be created, even by root
    caplog.set_level(logging.INFO, logger="tso3x.jit")
    assert jit.choose() == jit.NUMPY
    assert cold.spawned == []
    (line,) = _jit_lines(caplog)
    assert "cannot be written (set TSO3X_CACHE_DIR" in line


# --- the background process ----------------------------------------------------------------------------------


def test_background_process_is_detached_holds_the_lock_and_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("TSO3X_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    code = "import os, time; print('session leader', os.getsid(0) == os.getpid(), flush=True); time.sleep(1)"
    monkeypatch.setattr(background, "compile_command", lambda: [sys.executable, "-c", code])
    assert background.start() == background.STARTED
    lock = json.loads((tmp_path / background.LOCK_NAME).read_text())
    assert lock["pid"] != os.getpid()
    assert background.start() == background.RUNNING
    deadline = time.time() + 60
    while "session leader" not in (tmp_path / background.LOG_NAME).read_text() and time.time() < deadline:
        time.sleep(0.1)
    assert (tmp_path / background.LOG_NAME).read_text() == "session leader True\n"
    while background.holder(tmp_path / background.LOCK_NAME) and time.time() < deadline:
        if background._stale(tmp_path / background.LOCK_NAME):  # the fake compiler ended without releasing
            break
        time.sleep(0.1)
    assert background.start() == background.STARTED  # its lock is stale: a new compilation starts


def test_compile_in_background_releases_the_lock(tmp_path, monkeypatch):
    from tso3x.jit import warmup

    monkeypatch.setenv("TSO3X_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(background, "_lower_priority", lambda: None)
    monkeypatch.setattr(warmup, "compile_all", lambda: _make_ready(tmp_path))
    assert background.take_lock(tmp_path / background.LOCK_NAME)
    assert background.compile_in_background() == 0
    assert cache.ready() and not (tmp_path / background.LOCK_NAME).exists()


def test_status_command(cold):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tso3x.jit", "--status"], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == f"cache: {cold.folder}\nkernels: not compiled\n"


# --- the numpy twin of the checksum kernel -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.uint32])
def test_checksum_twin_is_bit_identical(dtype):
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**32, size=(3, 5, 14), dtype=np.uint64).astype(np.uint32)
    block = bits.view(dtype)[:, :, ::2]  # any bit pattern (NaN payloads too), not contiguous
    words, total = checksum.disk_bytes(block, kernels="numba")
    twin_words, twin_total = checksum.disk_bytes(block, kernels="numpy")
    assert words.tobytes() == twin_words.tobytes() and total == twin_total
    flip = np.uint32(2**31 if dtype is np.uint32 else 0)  # BZERO of uint32 data
    on_disk = (bits[:, :, ::2] ^ flip).astype(">u4")
    assert words.tobytes() == on_disk.tobytes() and total == checksum.words_sum(on_disk.astype(np.uint32))


def test_jit_is_a_core_module():
    """kernels and io import tso3x.jit, so it imports no kernel, io module or step (its warm-up aside, which the
    compiling process runs)."""
    import ast

    core = {"errors", "lock", "_version", "cache", "background", None}
    for name, allowed in (("__init__", core), ("cache", core), ("background", core | {"warmup"})):
        tree = ast.parse((ROOT / "tso3x" / "jit" / f"{name}.py").read_text())
        ours = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0}
        assert ours <= allowed, (name, ours - allowed)
