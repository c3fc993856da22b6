"""NIRISS SOSS (NIS_SOSS): outlier detection only for now; extraction is not implemented yet (a warning
says so), so the crfints are its only products."""

from __future__ import annotations

import logging
from pathlib import Path

import xarray as xr

from ..config import RunConfig
from ..execution import compute_alongside
from ..io.asn import Association
from .base import ProductTarget

log = logging.getLogger(__name__)

SOSS_WARNING = "NIS_SOSS extraction is not supported yet: no x1dints or whtlt product is written"


class Soss:
    """NIS_SOSS exposures: the crfints, and a warning that no spectra are extracted."""

    measures_in_one_pass = True  #: nothing is measured: the crfints are written in the one pass

    def __init__(self, exposures: list[xr.Dataset], config: RunConfig) -> None:
        self.exposures = exposures

    def product_names(self, asn: Association) -> list[str]:
        return []

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        return cube

    def write(self, cubes: list[xr.Dataset], target: ProductTarget) -> list[Path]:
        log.warning(SOSS_WARNING)
        compute_alongside([], target.alongside, label="outlier_detection")
        return []
