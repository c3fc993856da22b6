"""The EXTRACT1D JSON reference file: read and checked (parameters are resolved by
:mod:`tso3x.steps.extract_params`)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import Tso3xInputError


def read_extract1d_ref(path: str | Path | None) -> dict | None:
    """Load an EXTRACT1D reference file (None: no file; "N/A" is told from a path by
    :meth:`tso3x.config.References.path`).

    Raises
    ------
    Tso3xInputError
        If the file is missing, its name does not end in ``json``, it is not valid JSON, or it has no
        ``apertures`` list.
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise Tso3xInputError(path, "override_extract1d file not found")
    if not str(path)[-4:].lower() == "json":
        raise Tso3xInputError(path, "extract1d reference file must be JSON (name ending in .json)")
    try:
        ref = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Tso3xInputError(path, f"extract1d reference file is not valid JSON ({exc})") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("apertures"), list):
        raise Tso3xInputError(path, "extract1d reference file has no 'apertures' list")
    return ref
