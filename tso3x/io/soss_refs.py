"""The reference files of jwst 3.0.0's NIS_SOSS extraction, photom and white light, each read once.

PASTASOSS and WAVELENGTHRANGE are ASDF files (read with ``asdf``); SPECPROFILE, SPECKERNEL and the NIS_SOSS
PHOTOM are FITS files (read with stdatamodels, as jwst reads them). Every problem is a one-line
:class:`~tso3x.errors.Tso3xInputError` naming the file (and HDU).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Tso3xInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PastasossOrder:
    """One order of a PASTASOSS file."""

    order: int
    trace: np.ndarray  #: (n, 2) reference trace x, y [pixel] at ``pwcpos_cmd``
    pivot: tuple[float, float]  #: rotation pivot (x, y) [pixel]
    cutoff: int  #: columns 0 … cutoff − 1 are extracted
    coefficients: np.ndarray  #: wavelength-calibration polynomial coefficients
    scale_extents: np.ndarray  #: (2, 2) [[x_min, offset_min], [x_max, offset_max]]
    throughput: tuple[np.ndarray, np.ndarray] | None = None  #: (wavelength [micron], throughput)
    short_cutoff: float | None = None


@dataclass(frozen=True)
class PastasossRef:
    """A PASTASOSS reference file, read."""

    path: Path
    pwcpos_cmd: float  #: commanded pupil-wheel position [degree]
    pwcpos_bounds: tuple[float, float] | None
    order2_separation_cutoff: tuple[float, float] | None
    wavemap: dict  #: wavemap_wlmin, wavemap_wlmax, wavemap_nwl, subarray_ymin, soss_xdim, soss_ydim
    orders: dict[int, PastasossOrder] = field(default_factory=dict)  #: in the file's order

    def grid(self) -> np.ndarray:
        """The wavelength grid traces are resampled on [micron]."""
        m = self.wavemap
        return np.linspace(m["wavemap_wlmin"], m["wavemap_wlmax"], m["wavemap_nwl"])

    def check_pwcpos(self, pwcpos: float, segment: str | Path) -> None:
        """jwst refuses a PWCPOS outside ``pwcpos_bounds`` (or without bounds)."""
        b = self.pwcpos_bounds
        if b is None or not b[0] <= pwcpos <= b[1]:
            raise Tso3xInputError(segment, f"PWCPOS {pwcpos} is outside the PASTASOSS bounds {b} of {self.path}")


def _asdf_tree(path: Path, reftype: str) -> dict:
    import asdf

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            af = asdf.open(path, lazy_load=False, memmap=False)
    except Exception as exc:  # noqa: BLE001 - any failure to open means "not readable ASDF"
        if _is_fits(path):
            raise Tso3xInputError(path, "a FITS file, not an ASDF file") from None
        raise Tso3xInputError(path, f"not a readable ASDF file ({type(exc).__name__}: {exc})") from None
    with af:
        tree = af.tree
        meta = tree.get("meta") or {}
        found = str(meta.get("reftype", "")).upper()
        if found != reftype:
            raise Tso3xInputError(path, f"not a {reftype} reference file (REFTYPE {found or 'missing'})")
        return _to_plain(dict(tree))


def _is_fits(path: Path) -> bool:
    """Whether a file starts as a FITS file does."""
    try:
        with open(path, "rb") as f:
            return f.read(9) == b"SIMPLE  ="
    except OSError:
        return False


def _to_plain(obj):
    """ASDF tree → plain dicts, lists and numpy arrays (read into memory)."""
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items() if not str(k).startswith("asdf_library")}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, str | bytes | int | float):
        return np.array(obj)
    return obj


def read_pastasoss(path: str | Path) -> PastasossRef:
    """Read a PASTASOSS reference file (ASDF).

    Raises
    ------
    Tso3xInputError
        Unreadable ASDF, another REFTYPE, or a missing trace, wavelength model or meta value.
    """
    path = Path(path)
    tree = _asdf_tree(path, "PASTASOSS")
    meta = tree["meta"]
    try:
        wavemap = {k: meta[k] for k in ("wavemap_wlmin", "wavemap_wlmax", "wavemap_nwl")}
        wavemap.update({k: meta.get(k) for k in ("subarray_ymin", "soss_xdim", "soss_ydim")})
        wavecal = {int(m["spectral_order"]): m for m in tree["wavecal_models"]}
        thru = {int(t["spectral_order"]): t for t in tree.get("throughputs", [])}
        orders = {}
        for t in tree["traces"]:
            order = int(t["spectral_order"])
            if order not in wavecal:
                raise Tso3xInputError(path, f"no wavelength model for order {order}", "wavecal_models")
            w = wavecal[order]
            throughput = None
            if order in thru:
                throughput = (np.asarray(thru[order]["wavelength"]), np.asarray(thru[order]["throughput"]))
            orders[order] = PastasossOrder(
                order,
                np.asarray(t["trace"], dtype=np.float64),
                (float(t["pivot_x"]), float(t["pivot_y"])),
                int(t["cutoff"]),
                np.asarray(w["coefficients"], dtype=np.float64),
                np.asarray(w["scale_extents"], dtype=np.float64),
                throughput,
                t.get("short_cutoff"),
            )
        bounds = meta.get("pwcpos_bounds")
        cut = meta.get("order2_separation_cutoff")
        return PastasossRef(
            path,
            float(meta["pwcpos_cmd"]),
            None if bounds is None else (float(bounds[0]), float(bounds[1])),
            None if cut is None else (float(cut[0]), float(cut[1])),
            wavemap,
            orders,
        )
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise Tso3xInputError(path, f"PASTASOSS file is missing {exc}") from None


def _open_model(path: Path, model: str, reftype: str):
    from stdatamodels.jwst import datamodels

    if path.is_file() and not _is_fits(path):
        raise Tso3xInputError(path, f"not a FITS file (a {reftype} reference file is FITS)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dm = getattr(datamodels, model)(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure to read means "not such a file"
        raise Tso3xInputError(path, f"not a {reftype} reference file ({type(exc).__name__}: {exc})") from None
    found = str(dm.meta.reftype or "").upper()
    if found != reftype:
        dm.close()
        raise Tso3xInputError(path, f"not a {reftype} reference file (REFTYPE {found or 'missing'})", "PRIMARY")
    return dm


@dataclass(frozen=True)
class SpecProfileRef:
    """A SPECPROFILE reference file: one 2-D profile per order (for ATOCA)."""

    path: Path
    profiles: list[np.ndarray]


#: SUBARRAY values of a SPECPROFILE file made for one subarray (CRDS selects the file by SUBARRAY)
SOSS_PROFILE_SUBARRAYS = ("SUBSTRIP96", "SUBSTRIP256", "FULL")


def read_specprofile(path: str | Path, shape: tuple[int, int], subarray: str | None = None) -> SpecProfileRef:
    """Read a SPECPROFILE file and check it fits a ``shape`` (ny, nx) subarray (jwst trims equal padding).

    Parameters
    ----------
    path : path
    shape : (int, int)
        The exposure's frame (ny, nx) [pixel].
    subarray : str, optional
        The exposure's SUBARRAY: a file made for another SOSS subarray (its SUBARRAY keyword SUBSTRIP96,
        SUBSTRIP256 or FULL) is refused, even when its shape could be trimmed to the frame: its profiles are
        for other detector rows (jwst would trim it symmetrically without a word).

    Raises
    ------
    Tso3xInputError
        Unreadable, another REFTYPE, made for another subarray, no profile, or a profile smaller than the
        subarray or with unequal padding.
    """
    path = Path(path)
    with _open_model(path, "SpecProfileModel", "SPECPROFILE") as dm:
        profiles = [np.array(p.data) for p in dm.profile]
        made_for = str(dm.meta.subarray.name or "").upper()
    if subarray is not None and made_for in SOSS_PROFILE_SUBARRAYS and made_for != str(subarray).upper():
        raise Tso3xInputError(
            path, f"SPECPROFILE file for subarray {made_for}, the exposure is {str(subarray).upper()}", "PRIMARY"
        )
    if not profiles:
        raise Tso3xInputError(path, "no ORDER profile")
    for k, prof in enumerate(profiles):
        extra = np.subtract(prof.shape, shape)
        if prof.ndim != 2 or np.any(extra < 0) or np.any(extra % 2):
            raise Tso3xInputError(
                path, f"profile shape {prof.shape} does not fit the {shape[0]}x{shape[1]} subarray", f"ORDER,{k + 1}"
            )
    return SpecProfileRef(path, profiles)


@dataclass(frozen=True)
class SpecKernelRef:
    """A SPECKERNEL reference file (for ATOCA)."""

    path: Path
    wavelengths: np.ndarray
    kernels: np.ndarray
    halfwidth: int


def read_speckernel(path: str | Path) -> SpecKernelRef:
    """Read a SPECKERNEL file.

    Raises
    ------
    Tso3xInputError
        Unreadable, another REFTYPE, no kernels or no HALFWIDT.
    """
    path = Path(path)
    with _open_model(path, "SpecKernelModel", "SPECKERNEL") as dm:
        wavelengths = None if dm.wavelengths is None else np.array(dm.wavelengths)
        kernels = None if dm.kernels is None else np.array(dm.kernels)
        halfwidth = dm.meta.halfwidth
    if wavelengths is None or wavelengths.size == 0 or kernels is None or kernels.size == 0:
        raise Tso3xInputError(path, "no WAVELENGTHS or KERNELS")
    if halfwidth is None:
        raise Tso3xInputError(path, "no HALFWIDT keyword", "KERNELS")
    return SpecKernelRef(path, wavelengths, kernels, int(halfwidth))


PHOTOM_COLUMNS = ("filter", "pupil", "order", "photmj", "nelem", "wavelength", "relresponse")
TIMECOEFF = {"linear": "timecoeff_linear", "exponential": "timecoeff_exponential", "powerlaw": "timecoeff_powerlaw"}


@dataclass(frozen=True)
class SossPhotomRef:
    """A NIS_SOSS PHOTOM reference file."""

    path: Path
    table: np.ndarray  #: PHOTOM rows
    timecoeff: dict[str, np.ndarray]  #: "linear" / "exponential" / "powerlaw" → table (when present)

    def row(self, filter_: str | None, pupil: str | None, order: int) -> int | None:
        """The one row matching (jwst ``find_row``); None, with jwst's warning, when none does."""

        def text(col):
            return np.array([(v.decode() if isinstance(v, bytes) else str(v)).upper() for v in self.table[col]])

        rows = (text("filter") == str(filter_).upper()) & (text("pupil") == str(pupil).upper())
        rows &= self.table["order"] == order
        found = np.flatnonzero(rows)
        if len(found) > 1:
            raise Tso3xInputError(self.path, f"{len(found)} PHOTOM rows match {filter_}, {pupil}, order {order}")
        if len(found) == 0:
            log.warning("Expected to find one matching row in table, found 0.")
            return None
        return int(found[0])


def read_soss_photom(path: str | Path) -> SossPhotomRef:
    """Read a NIS_SOSS PHOTOM file (NisSossPhotomModel).

    Raises
    ------
    Tso3xInputError
        Unreadable, another REFTYPE, no PHOTOM table or columns, time-coefficient tables of another length.
    """
    path = Path(path)
    with _open_model(path, "NisSossPhotomModel", "PHOTOM") as dm:
        table = None if dm.phot_table is None else np.array(dm.phot_table)
        coeffs = {}
        for key, attr in TIMECOEFF.items():
            if dm.hasattr(attr):
                coeffs[key] = np.array(getattr(dm, attr))
    if table is None or table.dtype.names is None or len(table) == 0:
        raise Tso3xInputError(path, "no PHOTOM table")
    missing = [c for c in PHOTOM_COLUMNS if c not in table.dtype.names]
    if missing:
        raise Tso3xInputError(path, f"not a NIS_SOSS PHOTOM file: no {', '.join(missing)} column", "PHOTOM")
    for key, t in coeffs.items():
        if len(t) != len(table):
            raise Tso3xInputError(path, f"{len(t)} rows, the PHOTOM table has {len(table)}", TIMECOEFF[key].upper())
    return SossPhotomRef(path, table, coeffs)


def read_wavelengthrange(path: str | Path) -> list[tuple[int, str, float, float]]:
    """Read a WAVELENGTHRANGE file (ASDF): its (order, filter, min, max [micron]) rows, as jwst's
    ``white_light`` tabulates them.

    Raises
    ------
    Tso3xInputError
        Unreadable ASDF, another REFTYPE, or rows that are not (order, filter, min, max).
    """
    path = Path(path)
    tree = _asdf_tree(path, "WAVELENGTHRANGE")
    try:
        rows = np.array(tree["wavelengthrange"])
        return [(int(r[0]), str(r[1]), float(r[2]), float(r[3])) for r in rows]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise Tso3xInputError(path, f"no (order, filter, min, max) wavelength ranges ({exc})") from None


def wavelength_range(rows: list[tuple[int, str, float, float]], order: int, filter_: str, path) -> tuple[float, float]:
    """The white-light range of ``order`` and ``filter_`` (jwst ``_determine_wavelength_range``).

    Raises
    ------
    Tso3xInputError
        No row, or more than one row.
    """
    found = [(lo, hi) for o, f, lo, hi in rows if o == int(order) and f == filter_]
    if len(found) != 1:
        what = "No" if not found else "Multiple"
        raise Tso3xInputError(path, f"{what} reference wavelength range found for order {order} and filter {filter_}")
    return found[0]


def read_wave_grid(path: str | Path) -> np.ndarray:
    """Read a ``soss_wave_grid_in`` file (SossWaveGridModel): its WAVEGRID [micron], float64.

    Raises
    ------
    Tso3xInputError
        Unreadable, or no non-empty one-dimensional WAVEGRID.
    """
    from stdatamodels.jwst import datamodels

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with datamodels.SossWaveGridModel(str(path)) as dm:
                grid = None if dm.wavegrid is None else np.array(dm.wavegrid[:], dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure to read means "not a wavelength grid"
        raise Tso3xInputError(path, f"not a SossWaveGridModel file ({type(exc).__name__}: {exc})") from None
    if grid is None or grid.ndim != 1 or grid.size < 2:
        raise Tso3xInputError(path, "no one-dimensional WAVEGRID")
    return grid


def read_soss_estimate(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``soss_estimate`` file (a SpecModel): its WAVELENGTH [micron] and FLUX where FLUX is finite.

    Raises
    ------
    Tso3xInputError
        Unreadable, or not a spectrum with WAVELENGTH and FLUX columns.
    """
    from stdatamodels.jwst import datamodels

    path = Path(path)
    if path.is_file() and not _is_fits(path):
        raise Tso3xInputError(path, "soss_estimate is not a spectrum (not a FITS file; a SpecModel is FITS)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with datamodels.SpecModel(str(path)) as dm:
                table = dm.spec_table
                wave = np.array(table["WAVELENGTH"], dtype=np.float64)
                flux = np.array(table["FLUX"], dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure to read means "not a spectrum"
        raise Tso3xInputError(
            path, f"soss_estimate is not a spectrum (SpecModel with WAVELENGTH and FLUX): {exc}"
        ) from None
    keep = np.isfinite(flux)
    if keep.sum() < 4:
        raise Tso3xInputError(path, "soss_estimate has fewer than 4 finite FLUX values")
    return wave[keep], flux[keep]


def write_wave_grid(path: str | Path, grid: np.ndarray) -> Path:
    """Write a wavelength grid [micron] as jwst's ``soss_wave_grid_out`` (SossWaveGridModel, float64)."""
    from stdatamodels.jwst import datamodels

    with datamodels.SossWaveGridModel(wavegrid=np.asarray(grid, dtype=np.float64)) as model:
        model.save(str(path))
    return Path(path)
