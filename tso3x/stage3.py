"""The two kinds of calwebb_tso3 measurement after outlier detection, behind one interface for :func:`tso3x.run`.

:class:`Imaging` (``tso_photometry`` → ``_phot.ecsv``) and :class:`Spectroscopy` (``pixel_replace`` →
``extract_1d`` → ``_x1dints.fits`` and ``white_light`` → ``_whtlt.ecsv``) each

- check their inputs and parameters when built (before anything is written),
- name their products (:meth:`names`),
- prepare a flagged exposure cube for measuring (:meth:`prepare`, lazy),
- measure every cube and write the products (:meth:`write`), also handing the per-integration results
  to an optional store writer (the zarr integration store) so they are computed once, and computing
  ``alongside`` products (the crfints) in the same pass when :attr:`measures_in_one_pass` says the
  measurement reads each flagged chunk once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from . import names
from .execution import PendingGroups, compute, compute_alongside
from .io.asn import Association

log = logging.getLogger(__name__)

#: Given the per-exposure integration Datasets (and optionally an exposure-wide Dataset merged as is, e.g. the
#: spectroscopic light curves), returns (lazy store write or None, function finishing it).
StorePlan = Callable[..., tuple[object, Callable[[], None]]]


def phot_name(asn: Association) -> str:
    """``<product name>_phot.ecsv``: the imaging photometry catalog of an association."""
    return f"{asn.product_name}_phot.ecsv"


def write_phot(tables: list[xr.Dataset], order: list[Path], asn: Association, output_dir: Path) -> Path:
    """Write ``<product>_phot.ecsv`` in the temporary folder, then rename it into place."""
    from .io.ecsv import write_phot_ecsv

    name = phot_name(asn)
    tmp = write_phot_ecsv(tables, output_dir / names.TMP_DIR / name, order=order)
    final = output_dir / name
    os.replace(tmp, final)
    return final


@dataclass
class Imaging:
    """``tso_photometry`` of every exposure into one ``<product>_phot.ecsv``."""

    exposures: list[xr.Dataset]
    gain: str | Path | None
    params: dict

    def __post_init__(self) -> None:
        from .io.gain import open_gain
        from .steps.photometry import PhotometryParameters
        from .steps.photometry_setup import prepare_segments

        self.gain = open_gain(self.gain)  # read once, for the checks and the photometry
        PhotometryParameters.from_user(**self.params)
        for ds in self.exposures:
            prepare_segments(ds, self.gain)

    #: photometry makes several passes over the cube (centroids, then apertures): it reads the crfints
    measures_in_one_pass = False

    def names(self, asn: Association) -> list[str]:
        return [phot_name(asn)]

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        return cube

    def write(
        self,
        cubes: list[xr.Dataset],
        asn: Association,
        out: Path,
        segment_order: list[Path],
        store: StorePlan | None,
        alongside: list[PendingGroups] = (),
    ) -> list[Path]:
        from .steps.photometry import photometry

        compute_alongside([], alongside, label="outlier_detection")
        tables = [photometry(cube, gain=self.gain, **self.params) for cube in cubes]
        path = write_phot(tables, segment_order, asn, out)
        if store is not None:
            write, finish = store(tables)
            if write is not None:
                compute(write, label="zarr store")
            finish()
        return [path]


@dataclass
class Spectroscopy:
    """``pixel_replace`` (optional), ``extract_1d`` and ``white_light`` of every exposure."""

    exposures: list[xr.Dataset]
    params: dict
    override_extract1d: str | Path | None = None
    override_apcorr: str | Path | None = None
    replace: object | None = None  #: PixelReplaceParameters when pixel_replace runs
    spec_bins: object | None = None  #: number of bins or edges [micron] of the speclc (None: no speclc)
    checked: dict = field(init=False, default_factory=dict)  #: extraction set-ups made by the checks

    def __post_init__(self) -> None:
        from .spectroscopy import check_spec_bins, check_spectroscopy_inputs
        from .steps.pixel_replace import check_pixel_replace

        self.spec_bins = check_spec_bins(self.spec_bins)
        self.checked = check_spectroscopy_inputs(
            self.exposures,
            override_extract1d=self.override_extract1d,
            override_apcorr=self.override_apcorr,
            **self.params,
        )
        if self.replace is not None:
            check_pixel_replace(self.exposures, self.replace)

    @property
    def measures_in_one_pass(self) -> bool:
        """Extraction reads each flagged chunk once, so it runs in the crfints' pass (pixel_replace aside)."""
        return self.replace is None

    def names(self, asn: Association) -> list[str]:
        from .spectroscopy import spectroscopy_names

        return spectroscopy_names(asn, speclc=self.spec_bins is not None)

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        if self.replace is None:
            return cube
        from .steps.pixel_replace import pixel_replace

        # calwebb_tso3 replaces pixels of spectroscopic segments only
        return pixel_replace(cube, self.replace.algorithm, self.replace.n_adjacent_cols)

    def write(
        self,
        cubes: list[xr.Dataset],
        asn: Association,
        out: Path,
        segment_order: list[Path],
        store: StorePlan | None,
        alongside: list[PendingGroups] = (),
    ) -> list[Path]:
        from .spectroscopy import write_spectroscopy_products

        return write_spectroscopy_products(
            cubes,
            asn,
            out,
            out / names.TMP_DIR,
            override_extract1d=self.override_extract1d,
            override_apcorr=self.override_apcorr,
            store=store,
            spec_bins=self.spec_bins,
            alongside=alongside,
            checked=self.checked,
            **self.params,
        )
