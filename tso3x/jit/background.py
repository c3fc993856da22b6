"""Compiling the kernels once, in the background: one detached, low-priority process per cache, under a lock.

:func:`start` (called by a run's client on a cold cache) takes ``compile.lock`` in the cache folder, starts
``python -m tso3x.jit --background`` in a session of its own (a Ctrl-C of the run does not reach it), with its
output in ``compile.log`` there, and hands the lock to it. That process (:func:`compile_in_background`) lowers
its priority, compiles every kernel into the cache, writes the marker and releases the lock. A lock whose
process is gone (same host), that cannot be read or that is older than :data:`LOCK_MAX_AGE_S` is stale and
taken over, so a compilation that crashed or was killed is retried by a later run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..lock import holder, is_stale, owner
from .cache import PACKAGE, cache_dir, ready, writable

LOCK_NAME = "compile.lock"
LOG_NAME = "compile.log"
#: A compilation lock older than this [s] is stale whatever its process (a hung compiler, another host).
LOCK_MAX_AGE_S = 3600.0

#: What :func:`start` found: the compilation started now, was already under way, or cannot be done.
STARTED, RUNNING, UNWRITABLE = "started", "running", "unwritable"

#: Runs the package the calling process uses (its folder goes on ``sys.path`` unless already there).
_CHILD_CODE = (
    "import sys; p = sys.argv.pop(1); sys.path.insert(0, p) if p not in sys.path else None; "
    "from tso3x.jit.__main__ import main; sys.exit(main(['--background']))"
)


def lock_path() -> Path:
    """The compilation lock of the cache."""
    return cache_dir() / LOCK_NAME


def log_path() -> Path:
    """The output of the last background compilation."""
    return cache_dir() / LOG_NAME


def _stale(path: Path) -> bool:
    info = holder(path)
    if info is None:
        return True  # released meanwhile
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return not info or age > LOCK_MAX_AGE_S or is_stale(info)


def take_lock(path: Path) -> bool:
    """Take the compilation lock for this process (atomically: hard link of a complete file); False if a live
    compilation holds it. A stale lock is taken over."""
    mine = owner()
    private = path.with_name(f"{path.name}.{mine['host']}.{mine['pid']}")
    try:
        private.write_text(json.dumps(mine) + "\n")
        for _ in range(2):
            try:
                os.link(private, path)
                return True
            except FileExistsError:
                if not _stale(path):
                    return False
                path.unlink(missing_ok=True)
        return False
    finally:
        private.unlink(missing_ok=True)


def hand_over(path: Path, pid: int) -> None:
    """Give the lock this process holds to process ``pid`` (atomic rewrite)."""
    private = path.with_name(f"{path.name}.{os.getpid()}.handover")
    private.write_text(json.dumps(owner(pid)) + "\n")
    os.replace(private, path)


def release_lock(path: Path) -> None:
    """Remove the lock if this process holds it."""
    info = holder(path)
    if info and info.get("host") == owner()["host"] and info.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _detached() -> dict:
    if sys.platform == "win32":  # pragma: no cover - tso3x runs on POSIX
        return {"creationflags": subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def compile_command() -> list[str]:
    """The command of the background compilation (``python -m tso3x.jit --background`` of this package)."""
    return [sys.executable, "-c", _CHILD_CODE, str(PACKAGE.parent)]


def _spawn(folder: Path) -> int:
    """Start the compilation detached, output to the log; returns its PID (a thread reaps it when it ends)."""
    with open(folder / LOG_NAME, "w") as log_file:
        proc = subprocess.Popen(
            compile_command(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env={**os.environ, "TSO3X_CACHE_DIR": str(folder)},
            close_fds=True,
            **_detached(),
        )
    threading.Thread(target=proc.wait, name="tso3x-jit-reaper", daemon=True).start()
    return proc.pid


def start() -> str:
    """Start the background compilation unless one is under way: :data:`STARTED`, :data:`RUNNING` or
    :data:`UNWRITABLE` (the cache folder cannot be written)."""
    folder = cache_dir()
    if not writable(folder):
        return UNWRITABLE
    path = folder / LOCK_NAME
    try:
        if not take_lock(path):
            return RUNNING
        pid = _spawn(folder)
    except OSError:
        release_lock(path)
        return UNWRITABLE
    hand_over(path, pid)
    return STARTED


def _lower_priority() -> None:
    if hasattr(os, "nice"):
        try:
            os.nice(19)
        except OSError:  # pragma: no cover - not allowed
            pass


def compile_in_background() -> int:
    """The background process: lowest priority, compile everything unless ready, write the marker, release
    the lock. Returns the exit status."""
    from .warmup import compile_all

    _lower_priority()
    try:
        if ready():
            print("tso3x: kernels already compiled", flush=True)
        else:
            compile_all()
        return 0
    finally:
        release_lock(lock_path())
