"""Folders a run will write into, checked without creating anything and created when the run starts."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import Tso3xInputError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(path: str | os.PathLike, what: str = "output directory") -> Path:
    """Say why ``path`` cannot be used as a writable folder (or be created as one); creates nothing.

    Parameters
    ----------
    path : path
        The folder, existing or not.
    what : str
        How the error message names it.

    Raises
    ------
    Tso3xInputError
        ``path`` (or the ancestor it would be created in) is a file or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise Tso3xInputError(path, f"{what} is a file")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise Tso3xInputError(path, f"{what} cannot be created: {base} is a file")
    if not os.access(base, os.W_OK | os.X_OK):
        where = "" if base == Path(os.path.abspath(path)) else f" ({base} is not writable)"
        raise Tso3xInputError(path, f"{what} is not writable{where}")
    return path


def make_folder(path: str | os.PathLike, what: str = "output directory") -> Path:
    """Create the folder ``path`` (and its parents) after :func:`check_folder`'s checks."""
    path = check_folder(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Tso3xInputError(path, f"{what} is not writable ({exc.strerror})") from None
    return path
