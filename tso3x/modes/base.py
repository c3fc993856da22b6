"""What every mode is: the measurements of one kind of exposure after outlier detection, and their products.

A mode is built from the exposures and the run's :class:`~tso3x.config.RunConfig`; building it checks
everything it will need (reference files, keywords, parameters), so that bad input is refused before anything
is written. The pipeline then asks it for its product names, has it prepare each flagged exposure cube
(lazily), and has it measure them and write its products in one compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import xarray as xr

from .. import product_names
from ..execution import PendingGroups
from ..io.asn import Association
from ..io.zarr_store import IntegrationStore
from ..jit import NUMBA


@dataclass
class ProductTarget:
    """Where and with what a mode writes its products.

    Attributes
    ----------
    asn : Association
        Product name, pool, member order.
    output_dir : Path
        Products are built in its temporary folder and renamed into it when complete.
    segment_order : list of Path
        The segments (crfints, or calints when outlier detection was skipped) in association order.
    store : IntegrationStore, optional
        The zarr integration store to write the measurements into, in the same pass.
    alongside : list of PendingGroups
        Products computed in the same pass (the crfints of the flagged chunks being measured).
    kernels : {"numba", "numpy"}
        The run's kernels (:func:`tso3x.jit.choose`), passed to every step.
    """

    asn: Association
    output_dir: Path
    segment_order: list[Path]
    store: IntegrationStore | None = None
    alongside: list[PendingGroups] = field(default_factory=list)
    kernels: str = NUMBA

    @property
    def tmp_dir(self) -> Path:
        return self.output_dir / product_names.TMP_DIR


class Mode(Protocol):
    """The interface :func:`tso3x.run` drives; :mod:`tso3x.modes` has one class per kind of exposure."""

    #: Whether the measurement reads each flagged chunk once, so it runs in the crfints' pass (otherwise the
    #: crfints are written first and read back).
    measures_in_one_pass: bool
    #: Whether the mode writes its measurements into the zarr integration store (``--zarr``); when not, the
    #: run writes no store.
    writes_store: bool

    def product_names(self, asn: Association) -> list[str]:
        """File names of the products the mode writes (crfints aside)."""
        ...

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        """A flagged exposure cube made ready for measuring (lazy; e.g. pixel replacement)."""
        ...

    def write(self, cubes: list[xr.Dataset], target: ProductTarget) -> list[Path]:
        """Measure every exposure cube, write the products, return their paths."""
        ...
