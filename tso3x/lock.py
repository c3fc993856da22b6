"""``OUTPUT_DIR/.tso3x.lock``: one run at a time writes into an output folder.

The lock is a small JSON file holding the host, PID (and, on Linux, the process start time) of the run
that writes. It is created atomically (written under a private name, then hard-linked to the lock name,
which fails if the lock exists), so a lock file is never seen half written. A lock whose process is gone
(same host, PID not running or running a different process) is stale and taken over with a warning; a
live lock, or one held on another host, refuses the run.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from .errors import Tso3xInputError

log = logging.getLogger(__name__)

LOCK_NAME = ".tso3x.lock"


def _start_time(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (Linux ``/proc``), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22 counted from the state (field 3)


def _alive(pid: int, start: str | None) -> bool:
    """Whether ``pid`` is a running process and, when ``start`` is known, still the same process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    now = _start_time(pid)
    return start is None or now is None or now == start


def holder(path: str | os.PathLike) -> dict | None:
    """The contents of a lock file, or None if there is none; ``{}`` if it cannot be read as a lock."""
    try:
        info = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) and isinstance(info.get("pid"), int) and "host" in info else {}


def is_stale(info: dict, host: str | None = None) -> bool:
    """A lock of this host whose process is gone."""
    host = host or socket.gethostname()
    return info.get("host") == host and not _alive(info["pid"], info.get("start"))


def owner(pid: int | None = None) -> dict:
    """The lock record of a process (default: this one): host, PID, process start time, ISO time now."""
    pid = os.getpid() if pid is None else pid
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "start": _start_time(pid),
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _describe(info: dict) -> str:
    return f"host {info.get('host')}, PID {info.get('pid')}, since {info.get('started', '?')}"


def acquire(output_dir: str | os.PathLike) -> Path:
    """Take the lock of an output folder (which must exist); returns the lock path.

    Raises
    ------
    Tso3xInputError
        If another live run holds the lock, it is held on another host, or it cannot be read or written.
    """
    path = Path(output_dir) / LOCK_NAME
    mine = owner()
    host, pid = mine["host"], mine["pid"]
    private = path.with_name(f"{LOCK_NAME}.{host}.{pid}")
    try:
        private.write_text(json.dumps(mine) + "\n")
        for _ in range(2):
            try:
                os.link(private, path)
                break
            except FileExistsError:
                info = holder(path)
                if info is None:
                    continue  # released meanwhile
                if not info:
                    problem = "lock file is not a tso3x lock; remove it if no run is writing"
                    raise Tso3xInputError(path, problem) from None
                if not is_stale(info, host):
                    where = "another run" if info.get("host") == host else "a run on another host"
                    problem = f"output directory is in use by {where} ({_describe(info)}); remove the lock if gone"
                    raise Tso3xInputError(path, problem) from None
                log.warning("%s: taking over the stale lock of a run that is gone (%s)", path, _describe(info))
                path.unlink(missing_ok=True)
        else:
            raise Tso3xInputError(path, "could not take the lock of the output directory")
    except OSError as exc:
        raise Tso3xInputError(path, f"cannot create the lock ({exc.strerror})") from None
    finally:
        private.unlink(missing_ok=True)
    if holder(path) != mine:  # two runs took over the same stale lock at once: the later one wins
        raise Tso3xInputError(path, "output directory was locked by another run at the same moment")
    return path


def release(path: str | os.PathLike) -> None:
    """Remove the lock if this process holds it."""
    info = holder(path)
    if info and info.get("host") == socket.gethostname() and info.get("pid") == os.getpid():
        Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def output_lock(output_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``output_dir`` for the enclosed block (see :func:`acquire`)."""
    path = acquire(output_dir)
    try:
        yield path
    finally:
        release(path)
