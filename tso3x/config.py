"""Every parameter of a tso3x run, written once: jwst's names, defaults and validation, one class per step.

:func:`tso3x.run` takes ``**parameters`` and hands them to :meth:`RunConfig.from_user`; the ``tso3x run``
options are built from the same classes (``--`` + the name with ``_`` → ``-``, help with the default and
choices); the manifest records :meth:`RunConfig.as_dict`. A new parameter is one field here.

Each class is a frozen dataclass whose fields are the parameters (declared with :func:`parameter`); building
one validates and normalises its values (``Tso3xInputError`` for a bad one), so a config object in hand is
always valid. Reference files are one family, ``override_<reftype>`` (:class:`References`), where ``None``
(not given) and ``"N/A"`` (jwst's "none") are told apart in one place, :meth:`References.path`.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .errors import Tso3xInputError

log = logging.getLogger(__name__)

#: Default megabytes of all arrays of one chunk of integrations together.
DEFAULT_CHUNK_MB = 128.0
#: The value jwst uses for "no reference file".
NOT_APPLICABLE = "N/A"


@dataclass(frozen=True)
class Spec:
    """How a parameter shows on the command line (its default lives in the dataclass field).

    Attributes
    ----------
    help : str
        One line for ``--help``.
    cli : str
        ``"value"`` (``--name VALUE``), ``"bool"`` (``--name true|false``), ``"flag"`` (``--name`` sets
        True) or ``"none"`` (Python API only).
    type : callable, optional
        Conversion of the command-line text (before validation).
    choices : tuple of str
        Values listed in the help (validation is the class's, so errors stay one line).
    metavar : str, optional
    default_text : str, optional
        What the default means, for ``--help``, where the value itself does not say (e.g. None).
    recipe : bool
        Whether the parameter changes a product (recorded in the products' recipes); False for how a
        run executes or what else it writes.
    """

    help: str
    cli: str = "value"
    type: Any = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    default_text: str | None = None
    recipe: bool = True


def parameter(default: Any, help: str, **spec: Any) -> Any:
    """A dataclass field for a parameter: its default and its :class:`Spec`."""
    return dataclasses.field(default=default, metadata={"spec": Spec(help, **spec)})


def spec_of(field: dataclasses.Field) -> Spec:
    """The :class:`Spec` of a parameter field."""
    return field.metadata["spec"]


class StepParameters:
    """Base of the parameter classes: construction from user values, and their listing."""

    #: Title of the group in ``tso3x run --help`` (jwst step name, and when it applies).
    title: ClassVar[str] = ""

    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(cls)  # type: ignore[arg-type]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls.fields())

    @classmethod
    def from_user(cls, **values: Any):
        """Build from user values (unset names take their defaults); unknown names are refused."""
        unknown = set(values) - set(cls.names())
        if unknown:
            raise Tso3xInputError(None, _unknown_message(unknown, cls.names()))
        return cls(**values)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in self.fields()}


def _unknown_message(unknown: set[str], known: tuple[str, ...] | list[str]) -> str:
    parts = []
    for name in sorted(unknown):
        close = difflib.get_close_matches(name, known, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown parameter {', '.join(parts)}"


def _integer(name: str, value: Any, minimum: int | None = None, floats: bool = True) -> int:
    """An integer parameter: integers (numpy's too), strings of digits and (``floats``) integral floats;
    bools are refused."""
    v = value
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        v = int(v)
    if floats and isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or (minimum is not None and v < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise Tso3xInputError(None, f"{name} must be an integer{bound}, not {value!r}")
    return int(v)


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Tso3xInputError(None, f"{name} must be a number, not {value!r}") from None


def bool_text(text: str) -> bool:
    """Command-line booleans: true/false, 1/0, yes/no, on/off."""
    import argparse

    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


@dataclass(frozen=True)
class OutlierDetection(StepParameters):
    """jwst ``outlier_detection`` in TSO mode."""

    title: ClassVar[str] = "outlier_detection (jwst names and defaults)"

    skip_outlier_detection: bool = parameter(False, "skip outlier detection (no crfints, as jwst)", cli="flag")
    rolling_window_width: int = parameter(
        25, "rolling-median window [integrations]; <= 1 or >= a segment's integrations: whole-segment median"
    )
    snr: float = parameter(5.0, 'detection threshold [sigma], e.g. "5" or jwst\'s "5.0 4.0" (first used)', type=str)
    maskpt: float = parameter(0.7, "weight threshold fraction")
    good_bits: str = parameter("~DO_NOT_USE", "DQ bits counted as good (jwst syntax)")

    def __post_init__(self) -> None:
        snr = self.snr
        if isinstance(snr, str):
            try:
                values = [float(v) for v in snr.split()]
            except ValueError:
                values = []
            if not values:
                raise Tso3xInputError(None, f"snr must be one or two numbers, not {snr!r}")
            snr = values[0]
        width = self.rolling_window_width
        if isinstance(width, float) and width.is_integer():
            width = int(width)
        if not isinstance(width, numbers.Integral) or isinstance(width, bool):
            raise Tso3xInputError(None, f"rolling_window_width must be an integer, not {self.rolling_window_width!r}")
        import numpy as np

        from .kernels.outliers import bad_pixel_mask

        try:
            bad_pixel_mask(np.zeros(1, np.uint32), self.good_bits)
        except (ValueError, TypeError, KeyError) as exc:
            raise Tso3xInputError(None, f"good_bits {self.good_bits!r} is not valid ({exc})") from None
        self._set("rolling_window_width", int(width))
        self._set("snr", float(snr))
        self._set("maskpt", _number("maskpt", self.maskpt))
        self._set("skip_outlier_detection", bool(self.skip_outlier_detection))

    def jwst_parameters(self) -> dict[str, Any]:
        """The step parameters as jwst's step records them (crfints HISTORY, products' recipes)."""
        return {
            "rolling_window_width": self.rolling_window_width,
            "snr": self.snr,
            "maskpt": self.maskpt,
            "good_bits": str(self.good_bits),
        }


@dataclass(frozen=True)
class TsoPhotometry(StepParameters):
    """jwst ``tso_photometry`` (imaging); radii and boxes in pixels."""

    title: ClassVar[str] = "tso_photometry (imaging; jwst names and defaults)"

    radius: float = parameter(3.0, "aperture radius [pix]")
    radius_inner: float = parameter(4.0, "background annulus inner radius [pix]")
    radius_outer: float = parameter(5.0, "background annulus outer radius [pix]")
    centroid_source: bool = parameter(True, "centroid the source before photometry", cli="bool")
    search_box_width: int = parameter(41, "first centroid box width [pix] (odd)")
    fit_box_width: int = parameter(11, "second centroid and PSF-fit box width [pix] (odd)")
    moving_centroid: bool = parameter(False, "use each integration's centroid instead of the median", cli="bool")

    def __post_init__(self) -> None:
        radii = [_number(k, getattr(self, k)) for k in ("radius", "radius_inner", "radius_outer")]
        boxes = {}
        for k in ("search_box_width", "fit_box_width"):
            v = getattr(self, k)
            if isinstance(v, str):
                raise Tso3xInputError(None, f"bad photometry parameter: {k} must be an integer, not {v!r}")
            try:
                boxes[k] = _integer(k, v)
            except Tso3xInputError:
                raise Tso3xInputError(None, f"bad photometry parameter: {k} must be an integer, not {v!r}") from None
        radius, r_in, r_out = radii
        if not (all(math.isfinite(r) for r in radii) and radius > 0 and 0 <= r_in < r_out):
            raise Tso3xInputError(
                None, f"photometry radii must satisfy radius > 0 and 0 <= radius_inner < radius_outer, got {radii}"
            )
        centroid = bool(self.centroid_source)
        if centroid:
            for k, v in boxes.items():
                if v % 2 == 0:
                    log.warning("Even box widths are not supported. Rounding the %s down to %d.", k, v - 1)
                    boxes[k] = v - 1
                if boxes[k] < 1:
                    raise Tso3xInputError(None, f"{k} must be at least 1, got {v}")
        for k, v in zip(("radius", "radius_inner", "radius_outer"), radii, strict=True):
            self._set(k, v)
        for k, v in boxes.items():
            self._set(k, v)
        self._set("centroid_source", centroid)
        self._set("moving_centroid", bool(self.moving_centroid))

    def apertures_text(self) -> str:
        """jwst's ``apertures`` meta text of the normal (circular aperture) case."""
        return (
            f"Photometry measured in a circular aperture of r={self.radius} pixels.  Background calculated as "
            f"the mean in a circular annulus with r_inner={self.radius_inner} pixels and "
            f"r_outer={self.radius_outer} pixels."
        )


_REF = "the EXTRACT1D reference file's value"


@dataclass(frozen=True)
class Extract1d(StepParameters):
    """jwst ``extract_1d`` (spectroscopy); None: the EXTRACT1D reference file's value."""

    title: ClassVar[str] = "extract_1d (spectroscopy; jwst names; unset: the EXTRACT1D reference file's value)"

    subtract_background: bool | None = parameter(
        None, "subtract the background", cli="bool", default_text=_REF + "; NIS_SOSS: no"
    )
    use_source_posn: bool | None = parameter(
        None, "place the aperture at the source position", cli="bool", default_text=_REF
    )
    position_offset: float = parameter(0.0, "aperture offset [pix]", type=float)
    smoothing_length: int | None = parameter(None, "background smoothing length [pix]", type=int, default_text=_REF)
    bkg_fit: str | None = parameter(None, "background fit type", choices=("poly", "mean", "median"), default_text=_REF)
    bkg_order: int | None = parameter(None, "background polynomial order", type=int, default_text=_REF)

    def __post_init__(self) -> None:
        if self.bkg_fit not in (None, "poly", "mean", "median"):
            raise Tso3xInputError(None, f"bkg_fit must be poly, mean or median, not {self.bkg_fit!r}")
        order = self.bkg_order
        if order is not None and (not isinstance(order, int) or isinstance(order, bool) or order < 0):
            raise Tso3xInputError(None, f"bkg_order must be an integer >= 0, not {order!r}")


@dataclass(frozen=True)
class WhiteLight(StepParameters):
    """jwst ``white_light``: the wavelength range summed [micron]."""

    title: ClassVar[str] = "white_light (spectroscopy; jwst names and defaults)"

    min_wavelength: float | None = parameter(
        None, "white-light lower wavelength [micron]", type=float, default_text="no limit"
    )
    max_wavelength: float | None = parameter(
        None, "white-light upper wavelength [micron]", type=float, default_text="no limit"
    )

    def __post_init__(self) -> None:
        for k in ("min_wavelength", "max_wavelength"):
            if getattr(self, k) is not None:
                self._set(k, _number(k, getattr(self, k)))

    def range(self) -> tuple[float, float]:
        """The inclusive range jwst sums over (-1 and 1e10 for an open end)."""
        lo = -1.0 if self.min_wavelength is None else float(self.min_wavelength)
        hi = 1.0e10 if self.max_wavelength is None else float(self.max_wavelength)
        return lo, hi


SOSS_BAD_PIX = ("masking", "model")


def _optional_file(name: str, value: Any) -> str | None:
    """An optional input file parameter: None, or a path that exists."""
    if value is None:
        return None
    if not Path(value).is_file():
        raise Tso3xInputError(value, f"{name} file not found")
    return str(value)


@dataclass(frozen=True)
class SossExtract(StepParameters):
    """jwst ``extract_1d`` for NIS_SOSS (ATOCA and box extraction); jwst's names and defaults."""

    title: ClassVar[str] = "extract_1d for NIS_SOSS (jwst names and defaults)"

    soss_atoca: bool = parameter(True, "ATOCA decontamination (false: box extraction only)", cli="bool")
    soss_threshold: float = parameter(1e-2, "ATOCA: relative trace-profile threshold of modelled pixels", type=float)
    soss_n_os: int = parameter(2, "ATOCA: minimum oversampling of the wavelength grid", type=int)
    soss_wave_grid_in: str | None = parameter(
        None, "ATOCA: wavelength grid file (SossWaveGridModel)", metavar="FILE", default_text="adaptive grid"
    )
    soss_wave_grid_out: str | None = parameter(
        None,
        "ATOCA: write the wavelength grid used to this file",
        metavar="FILE",
        default_text="not written",
        recipe=False,
    )
    soss_estimate: str | None = parameter(
        None, "ATOCA: flux estimate (SpecModel) for the grid and Tikhonov factor", metavar="FILE", default_text="none"
    )
    soss_rtol: float = parameter(1.0e-4, "ATOCA: relative tolerance of a pixel model", type=float)
    soss_max_grid_size: int = parameter(20000, "ATOCA: maximum wavelength grid size", type=int)
    soss_tikfac: float | None = parameter(
        None, "ATOCA: Tikhonov regularisation factor", type=float, default_text="searched"
    )
    soss_width: float = parameter(40.0, "box aperture width [pix]", type=float)
    soss_bad_pix: str = parameter("masking", "bad pixels: masked, or replaced by the ATOCA model", choices=SOSS_BAD_PIX)
    soss_modelname: str | None = parameter(
        None,
        "write the trace models, box weights and ATOCA spectra (FILE_SossExtractModel, FILE_AtocaSpectra)",
        metavar="FILE",
        default_text="not written",
        recipe=False,
    )
    soss_order_3: bool = parameter(True, "extract order 3 (SUBSTRIP256)", cli="bool")

    def __post_init__(self) -> None:
        if self.soss_bad_pix not in SOSS_BAD_PIX:
            raise Tso3xInputError(None, f"soss_bad_pix must be masking or model, not {self.soss_bad_pix!r}")
        for k in ("soss_threshold", "soss_rtol", "soss_width"):
            self._set(k, _number(k, getattr(self, k)))
        if not (math.isfinite(self.soss_width) and self.soss_width > 0):
            raise Tso3xInputError(None, f"soss_width must be a positive number, not {self.soss_width!r}")
        if self.soss_tikfac is not None:
            self._set("soss_tikfac", _number("soss_tikfac", self.soss_tikfac))
        self._set("soss_n_os", _integer("soss_n_os", self.soss_n_os, minimum=1))
        self._set("soss_max_grid_size", _integer("soss_max_grid_size", self.soss_max_grid_size, minimum=1))
        for k in ("soss_wave_grid_in", "soss_estimate"):
            self._set(k, _optional_file(k, getattr(self, k)))
        self._set("soss_atoca", bool(self.soss_atoca))
        self._set("soss_order_3", bool(self.soss_order_3))

    @property
    def generates_model(self) -> bool:
        """Whether jwst builds the ATOCA model (``soss_atoca``, or ``soss_bad_pix="model"``)."""
        return self.soss_atoca or self.soss_bad_pix == "model"


@dataclass(frozen=True)
class Photom(StepParameters):
    """jwst ``photom`` on the extracted NIS_SOSS spectra."""

    title: ClassVar[str] = "photom (NIS_SOSS spectra; jwst names and defaults)"

    apply_time_correction: bool = parameter(
        True, "apply the PHOTOM file's time-dependence correction, if it has one", cli="bool"
    )

    def __post_init__(self) -> None:
        self._set("apply_time_correction", bool(self.apply_time_correction))


PIXEL_REPLACE_ALGORITHMS = ("mingrad", "fit_profile", "trace_model")
#: jwst's trace_model needs adaptive_trace_model, not implemented yet: refused but for NIS_SOSS, where jwst 3.0.0's
#: adaptive_trace_model fails on the CubeModel and pixel_replace falls back to mingrad (tso3x.steps.pixel_replace)
TRACE_MODEL_REFUSED = (
    "algorithm trace_model is not supported (it needs adaptive_trace_model); use mingrad or fit_profile"
)


@dataclass(frozen=True)
class PixelReplace(StepParameters):
    """jwst ``pixel_replace`` (spectroscopy; skipped by default, as in calwebb_tso3)."""

    title: ClassVar[str] = "pixel_replace (spectroscopy; jwst names and defaults)"

    pixel_replace: bool = parameter(False, "run pixel_replace before extraction (jwst: skipped)", cli="flag")
    algorithm: str = parameter(
        "mingrad",
        "replacement algorithm (trace_model: NIS_SOSS only: mingrad, as jwst)",
        choices=PIXEL_REPLACE_ALGORITHMS,
    )
    n_adjacent_cols: int = parameter(3, "fit_profile: profiles used on each side", type=str)

    def __post_init__(self) -> None:
        if self.algorithm not in PIXEL_REPLACE_ALGORITHMS:
            choices = "mingrad, fit_profile or trace_model"
            raise Tso3xInputError(None, f"algorithm must be {choices}, not {self.algorithm!r}")
        self._set("n_adjacent_cols", _integer("n_adjacent_cols", self.n_adjacent_cols, minimum=1, floats=False))
        self._set("pixel_replace", bool(self.pixel_replace))


@dataclass(frozen=True)
class References(StepParameters):
    """Reference files: ``override_<reftype>``, a path or "N/A" (none, as jwst says it)."""

    title: ClassVar[str] = "reference files (a path, or N/A for none)"

    override_gain: str | None = parameter(
        None, "GAIN reference file (photometry of DN/s data)", metavar="FILE", default_text="none"
    )
    override_extract1d: str | None = parameter(
        None, "EXTRACT1D reference file (JSON)", metavar="FILE", default_text="none: the whole array, no background"
    )
    override_apcorr: str | None = parameter(None, "APCORR reference file", metavar="FILE", default_text="none")
    override_pastasoss: str | None = parameter(
        None, "NIS_SOSS: PASTASOSS reference file (asdf; required, no N/A)", metavar="FILE", default_text="none"
    )
    override_specprofile: str | None = parameter(
        None, "NIS_SOSS: SPECPROFILE reference file (required, no N/A)", metavar="FILE", default_text="none"
    )
    override_speckernel: str | None = parameter(
        None, "NIS_SOSS: SPECKERNEL reference file (required, no N/A)", metavar="FILE", default_text="none"
    )
    override_photom: str | None = parameter(
        None, "NIS_SOSS: PHOTOM reference file (N/A: photom skipped, flux in DN/s)", metavar="FILE", default_text="none"
    )
    override_area: str | None = parameter(
        None, "NIS_SOSS: AREA reference file (accepted, unused, as jwst)", metavar="FILE", default_text="none"
    )
    override_wavelengthrange: str | None = parameter(
        None,
        "NIS_SOSS: WAVELENGTHRANGE file for the white light (N/A: full range)",
        metavar="FILE",
        default_text="none",
    )

    def __post_init__(self) -> None:
        for f in self.fields():
            value = getattr(self, f.name)
            if value is None or str(value) == NOT_APPLICABLE:
                continue
            if not Path(value).is_file():
                raise Tso3xInputError(value, f"{f.name} file not found")

    @staticmethod
    def option(reftype: str) -> str:
        return f"override_{reftype}"

    def given(self, reftype: str) -> str | Path | None:
        """The value as given: a path, "N/A", or None (not given)."""
        return getattr(self, self.option(reftype))

    def path(self, reftype: str) -> Path | None:
        """The reference file to read, or None when none is to be used (not given, or "N/A")."""
        value = self.given(reftype)
        return None if value is None or str(value) == NOT_APPLICABLE else Path(value)

    def files(self) -> dict[str, Path]:
        """Option name → resolved path of every reference file to be read."""
        return {self.option(r): self.path(r).resolve() for r in self.reftypes() if self.path(r) is not None}

    @classmethod
    def reftypes(cls) -> tuple[str, ...]:
        return tuple(name.removeprefix("override_") for name in cls.names())


def check_spec_bins(spec_bins: Any) -> int | tuple[float, ...] | None:
    """Validate ``spec_bins``: a number of bins or increasing edges [micron].

    Accepts an int, a sequence of numbers, or a string (``"10"``, ``"2.9 3.2 3.5"``, ``"2.9,3.2,3.5"``).

    Raises
    ------
    Tso3xInputError
        Anything else.
    """
    import numpy as np

    if spec_bins is None:
        return None
    value = spec_bins
    if isinstance(value, str):
        words = value.replace(",", " ").split()
        try:
            value = int(words[0]) if len(words) == 1 else [float(w) for w in words]
        except (ValueError, IndexError):
            raise Tso3xInputError(None, f"spec_bins must be a number of bins or bin edges, not {spec_bins!r}") from None
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if value < 1:
            raise Tso3xInputError(None, f"spec_bins must be at least 1, not {value}")
        return int(value)
    try:
        edges = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        edges = np.array([])
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)) or not np.all(np.diff(edges) > 0):
        raise Tso3xInputError(None, f"spec_bins edges must be two or more increasing wavelengths, not {spec_bins!r}")
    return tuple(float(e) for e in edges)


@dataclass(frozen=True)
class Outputs(StepParameters):
    """What else a run writes, and whether it keeps the products of an earlier run."""

    title: ClassVar[str] = "products"

    spec_bins: int | tuple[float, ...] | None = parameter(
        None,
        "spectroscopy: also write <product>_speclc.ecsv, N equal-width bins over the white-light range or bin "
        'edges [micron] ("2.9,3.2,3.5")',
        metavar="N|EDGES",
        default_text="no speclc",
    )
    zarr: str | None = parameter(
        None,
        "also write the per-integration results to this zarr store",
        metavar="PATH",
        default_text="none",
        recipe=False,
    )
    zarr_cube: bool = parameter(False, "store the flagged cube (sci, err, dq) too", cli="flag", recipe=False)
    overwrite: bool = parameter(
        False,
        "recompute every product (default: keep products an earlier run completed with the same inputs and "
        "parameters, if they still match the manifest)",
        cli="flag",
        recipe=False,
    )

    def __post_init__(self) -> None:
        self._set("spec_bins", check_spec_bins(self.spec_bins))


@dataclass(frozen=True)
class Execution(StepParameters):
    """Where and how the run computes (dask.distributed); nothing here changes a product."""

    title: ClassVar[str] = "execution (dask.distributed)"

    scheduler: str | None = parameter(
        None,
        "dask scheduler address (tcp://host:8786), or threads / synchronous (no cluster)",
        metavar="ADDRESS",
        default_text="a LocalCluster sized to this machine",
        recipe=False,
    )
    workers: int | None = parameter(
        None,
        "LocalCluster worker processes",
        type=int,
        default_text="one in-process worker, a thread per core",
        recipe=False,
    )
    threads_per_worker: int | None = parameter(
        None, "LocalCluster threads per worker", type=int, default_text="cores / workers", recipe=False
    )
    memory_limit: str | None = parameter(
        None, "LocalCluster memory limit per worker, e.g. 4GB", default_text="auto", recipe=False
    )
    chunk_mb: float = parameter(
        DEFAULT_CHUNK_MB, "megabytes of all arrays of one chunk of integrations", type=float, recipe=False
    )
    quiet: bool = parameter(False, "no progress display and no dashboard link", cli="none", recipe=False)
    client: Any = parameter(None, "a distributed.Client to run on", cli="none", recipe=False)

    def __post_init__(self) -> None:
        chunk_mb = _number("chunk_mb", self.chunk_mb)
        if not chunk_mb > 0:
            raise Tso3xInputError(None, f"--chunk-mb must be positive, not {self.chunk_mb}")
        self._set("chunk_mb", chunk_mb)

    def cluster_options(self) -> dict[str, Any]:
        """Keywords of :func:`tso3x.execution.cluster`."""
        return {k: v for k, v in self.as_dict().items() if k != "chunk_mb"}


#: The parameter classes of a run, in the order ``--help`` shows them: attribute of RunConfig → class.
SECTIONS: dict[str, type[StepParameters]] = {
    "outlier_detection": OutlierDetection,
    "tso_photometry": TsoPhotometry,
    "extract_1d": Extract1d,
    "white_light": WhiteLight,
    "pixel_replace": PixelReplace,
    "soss_extract": SossExtract,
    "photom": Photom,
    "references": References,
    "outputs": Outputs,
    "execution": Execution,
}


@dataclass(frozen=True)
class RunConfig:
    """Every parameter of one :func:`tso3x.run`, validated."""

    outlier_detection: OutlierDetection
    tso_photometry: TsoPhotometry
    extract_1d: Extract1d
    white_light: WhiteLight
    pixel_replace: PixelReplace
    soss_extract: SossExtract
    photom: Photom
    references: References
    outputs: Outputs
    execution: Execution

    @classmethod
    def from_user(cls, **parameters: Any) -> RunConfig:
        """Route every keyword to its step's class and validate it.

        Raises
        ------
        Tso3xInputError
            An unknown parameter (with the closest known name) or a bad value.
        """
        owner = {name: section for section, kind in SECTIONS.items() for name in kind.names()}
        unknown = set(parameters) - set(owner)
        if unknown:
            raise Tso3xInputError(None, _unknown_message(unknown, sorted(owner)))
        grouped: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        for name, value in parameters.items():
            grouped[owner[name]][name] = value
        return cls(**{section: SECTIONS[section](**values) for section, values in grouped.items()})

    def as_dict(self) -> dict[str, Any]:
        """Every parameter by its name (the keywords of :func:`tso3x.run`)."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            out.update(getattr(self, section).as_dict())
        return out

    @staticmethod
    def recipe_names() -> tuple[str, ...]:
        """The parameters that change a product (recorded in its recipe)."""
        return tuple(f.name for kind in SECTIONS.values() for f in kind.fields() if spec_of(f).recipe)


def parameter_names() -> tuple[str, ...]:
    """Every keyword :func:`tso3x.run` accepts besides the association and output folder."""
    return tuple(name for kind in SECTIONS.values() for name in kind.names())
