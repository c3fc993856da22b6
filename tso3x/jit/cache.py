"""The kernel cache: where it is, and whether it holds every compiled kernel of this installation.

The cache is *ready* when the marker :func:`write_marker` leaves after a complete compilation exists for the
current :func:`cache_key`: the tso3x and numba versions, the Python version, the CPU numba compiles for, the
cache folder and the path and contents of every kernel source (so editing a kernel, upgrading or moving the
installation, or running on another CPU makes it not ready), and the index files it lists are still there.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import sys
from pathlib import Path

from .._version import __version__

#: Environment variable naming the cache folder.
CACHE_ENV = "TSO3X_CACHE_DIR"
#: The tso3x package folder (the kernel sources are found relative to it).
PACKAGE = Path(__file__).resolve().parent.parent
#: Source files holding numba kernels, relative to :data:`PACKAGE` (a test checks that none is missing).
KERNEL_SOURCES = (
    "kernels/outliers.py",
    "kernels/centroid.py",
    "kernels/trf.py",
    "kernels/box_extract_numba.py",
    "io/checksum.py",
)


def cache_dir() -> Path:
    """The folder of tso3x's compiled kernels, its marker, lock and compile log.

    ``$NUMBA_CACHE_DIR`` when the user set it (their own numba cache wins), else ``$TSO3X_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/tso3x``, else ``~/.cache/tso3x``.
    """
    for variable in ("NUMBA_CACHE_DIR", CACHE_ENV):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser().absolute()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().absolute() / "tso3x"


def shown(path: Path) -> str:
    """A path as the user reads it: ``~`` for the home folder."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != os.sep and text.startswith(home + os.sep) else text


def writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be created, and files can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _cpu() -> dict:
    """The CPU numba compiles for (its name and features, or the ``NUMBA_CPU_*`` overrides)."""
    import llvmlite.binding as llvm
    import numba

    name = numba.config.CPU_NAME or llvm.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    if features is None:
        features = llvm.get_host_cpu_features().flatten()
    return {"name": name, "features": hashlib.sha256(features.encode()).hexdigest()[:16]}


def cache_key() -> dict:
    """Everything the compiled kernels depend on (see the module documentation)."""
    import numba

    sources = {}
    for rel in KERNEL_SOURCES:
        path = PACKAGE / rel
        sources[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "tso3x": __version__,
        "numba": numba.__version__,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "cpu": _cpu(),
        "cache": str(cache_dir()),
        "sources": sources,
    }


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def marker_path(key: dict | None = None) -> Path:
    """The marker of a complete compilation for ``key`` (default: this installation's)."""
    return cache_dir() / f"ready-{_digest(key or cache_key())}.json"


def index_files(folders: set[str]) -> list[str]:
    """numba's index files (``*.nbi``) in ``folders``, relative to :func:`cache_dir` when inside it."""
    root = cache_dir()
    found = []
    for folder in sorted(folders):
        for path in sorted(Path(folder).glob("*.nbi")):
            found.append(str(path.relative_to(root)) if path.is_relative_to(root) else str(path))
    return found


def write_marker(folders: set[str]) -> Path:
    """Record a complete compilation whose index files are in ``folders`` (atomically); returns the marker."""
    key = cache_key()
    path = marker_path(key)
    record = {
        "key": key,
        "index_files": index_files(folders),
        "written": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def ready() -> bool:
    """Whether the cache holds every kernel compiled for this installation (a marker for the current key)."""
    key = cache_key()
    try:
        record = json.loads(marker_path(key).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("key") != key:
        return False
    root = cache_dir()
    files = record.get("index_files") or []
    return bool(files) and all((root / name).is_file() for name in files)
