"""GAIN reference files: read one and cut it to a science subarray (jwst ``reffile_utils`` rules)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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


@dataclass(eq=False)
class GainRef:
    """A GAIN reference file, read on first use and then kept (one read however many segments it serves).

    Attributes
    ----------
    path : Path
        The file.
    """

    path: Path
    _read: tuple = field(default=(), init=False, repr=False)  #: (array (ny, nx), 1-based (x0, y0)) once read

    def image(self) -> tuple[np.ndarray, tuple[int, int]]:
        """The gain array as stored [electron/DN] and its 1-based (SUBSTRT1, SUBSTRT2).

        Raises
        ------
        Tso3xInputError
            If the file is not FITS or has no 2-D SCI image, or no subarray corner and is not full frame.
        """
        if not self._read:
            layout = read_layout(self.path)
            sci = find_hdu(layout, "SCI")
            if sci is None or sci.header.get("NAXIS") != 2:
                raise Tso3xInputError(self.path, "no 2-D SCI image in the gain file")
            source = image_source(self.path, sci)
            corner = _reference_corner(self.path, layout[0].header, source.shape)
            self._read = (source.read_planes(0, source.shape[0]), corner)
        return self._read

    def cut(self, substrt: tuple[int, int], subsize: tuple[int, int]) -> np.ndarray:
        """The gain [electron/DN] of a science subarray (jwst ``reffile_utils`` rules).

        Parameters
        ----------
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
            If the file cannot be read (see :meth:`image`) or does not cover the science subarray.
        """
        data, (x0_ref, y0_ref) = self.image()
        ny_ref, nx_ref = data.shape
        x0 = substrt[0] - x0_ref
        y0 = substrt[1] - y0_ref
        x1, y1 = x0 + subsize[0], y0 + subsize[1]
        if x0 < 0 or y0 < 0 or x1 > nx_ref or y1 > ny_ref:
            raise Tso3xInputError(
                self.path,
                f"gain array ({nx_ref}x{ny_ref} at SUBSTRT1={x0_ref}, SUBSTRT2={y0_ref}) does not cover the "
                f"science subarray ({subsize[0]}x{subsize[1]} at SUBSTRT1={substrt[0]}, SUBSTRT2={substrt[1]})",
            )
        return np.ascontiguousarray(data[y0:y1, x0:x1], dtype=np.float32)


def open_gain(gain: str | os.PathLike | GainRef | np.ndarray | None) -> GainRef | np.ndarray | None:
    """A gain given as a file → its :class:`GainRef` (read when first cut); an array, a GainRef or None as is."""
    if gain is None or isinstance(gain, GainRef | np.ndarray):
        return gain
    return GainRef(Path(gain))


def read_gain(path: str | Path, substrt: tuple[int, int], subsize: tuple[int, int]) -> np.ndarray:
    """The gain [electron/DN] of a science subarray, cut from a full-frame or subarray GAIN file.

    Parameters
    ----------
    path : path
        GAIN reference file (FITS, image in the SCI extension; stdatamodels ``GainModel`` layout).
    substrt, subsize :
        See :meth:`GainRef.cut`.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
    """
    return GainRef(Path(path)).cut(substrt, subsize)
