"""GAIN reference files: read one and cut it to a science subarray (jwst ``reffile_utils`` rules)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from ..errors import Tso3xInputError
from .fitsfile import find_hdu, image_source, read_layout

#: Full-frame (ny, nx) of the detectors whose gain files may omit the subarray keywords.
_FULL_FRAMES = {"MIRI": (1024, 1032)}
_DEFAULT_FULL_FRAME = (2048, 2048)


def _reference_corner(path: Path, header: fits.Header, shape: tuple[int, int]) -> tuple[int, int]:
    """1-based (SUBSTRT1, SUBSTRT2) of the gain array; full-frame defaults when the keywords are missing."""
    x0, y0 = header.get("SUBSTRT1"), header.get("SUBSTRT2")
    if isinstance(x0, int) and isinstance(y0, int):
        if x0 < 1 or y0 < 1:
            raise Tso3xInputError(path, f"invalid subarray corner SUBSTRT1={x0}, SUBSTRT2={y0}", "PRIMARY")
        return x0, y0
    full = _FULL_FRAMES.get(str(header.get("INSTRUME", "")).upper(), _DEFAULT_FULL_FRAME)
    if shape == full:
        return 1, 1
    raise Tso3xInputError(path, "no SUBSTRT1/SUBSTRT2 keywords and not a full-frame array", "PRIMARY")


def read_gain(path: str | Path, substrt: tuple[int, int], subsize: tuple[int, int]) -> np.ndarray:
    """The gain [electron/DN] of a science subarray, cut from a full-frame or subarray GAIN file.

    Parameters
    ----------
    path : path
        GAIN reference file (FITS, image in the SCI extension; stdatamodels ``GainModel`` layout).
    substrt : tuple of int
        1-based (SUBSTRT1, SUBSTRT2) of the science data.
    subsize : tuple of int
        (SUBSIZE1, SUBSIZE2) = (nx, ny) of the science data.

    Returns
    -------
    ndarray of float32, shape (ny, nx)

    Raises
    ------
    Tso3xInputError
        If the file is not FITS, has no 2-D SCI image, or does not cover the science subarray.
    """
    path = Path(path)
    layout = read_layout(path)
    sci = find_hdu(layout, "SCI")
    if sci is None or sci.header.get("NAXIS") != 2:
        raise Tso3xInputError(path, "no 2-D SCI image in the gain file")
    source = image_source(path, sci)
    ny_ref, nx_ref = source.shape
    x0_ref, y0_ref = _reference_corner(path, layout[0].header, (ny_ref, nx_ref))
    x0 = substrt[0] - x0_ref
    y0 = substrt[1] - y0_ref
    x1, y1 = x0 + subsize[0], y0 + subsize[1]
    if x0 < 0 or y0 < 0 or x1 > nx_ref or y1 > ny_ref:
        raise Tso3xInputError(
            path,
            f"gain array ({nx_ref}x{ny_ref} at SUBSTRT1={x0_ref}, SUBSTRT2={y0_ref}) does not cover the "
            f"science subarray ({subsize[0]}x{subsize[1]} at SUBSTRT1={substrt[0]}, SUBSTRT2={substrt[1]})",
        )
    data = source.read_planes(0, ny_ref)
    return np.ascontiguousarray(data[y0:y1, x0:x1], dtype=np.float32)
