"""Imaging TSO (NRC_TSIMAGE; MIR_IMAGE with TSOVISIT): ``tso_photometry`` of every exposure into
``<product>_phot.ecsv``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import xarray as xr

from .. import product_names
from ..config import RunConfig
from ..dataset import segment_files
from ..execution import compute, compute_alongside
from ..io.asn import Association
from .base import ProductTarget

log = logging.getLogger(__name__)


class Imaging:
    """Aperture photometry per integration (jwst ``tso_photometry``).

    Parameters
    ----------
    exposures : list of xarray.Dataset
        The exposures (one per detector), as opened.
    config : RunConfig
        Uses ``tso_photometry`` and the GAIN reference file (needed for DN/s data only).

    Raises
    ------
    Tso3xInputError
        Any keyword, time or reference-file problem of any segment (checked here, before anything is written).
    """

    #: photometry makes several passes over the cube (centroids, then apertures): it reads the crfints
    measures_in_one_pass = False
    writes_store = True

    def __init__(self, exposures: list[xr.Dataset], config: RunConfig) -> None:
        from ..io.gain import open_gain
        from ..steps.photometry_setup import prepare_segments

        self.params = config.tso_photometry
        self.gain = open_gain(config.references.path("gain"))  # read once, for the checks and the photometry
        #: segment files of each exposure → their photometry set-ups (reused by the photometry)
        self.checked = {tuple(segment_files(ds)): prepare_segments(ds, self.gain) for ds in exposures}
        if config.outputs.spec_bins is not None:
            log.warning("spec_bins ignored: imaging exposures have no spectra")

    def product_names(self, asn: Association) -> list[str]:
        return [product_names.phot(asn.product_name)]

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        return cube

    def write(self, cubes: list[xr.Dataset], target: ProductTarget) -> list[Path]:
        from ..io.ecsv import write_phot_ecsv
        from ..steps.photometry import photometry

        compute_alongside([], target.alongside, label="outlier_detection")
        tables = [
            photometry(
                cube,
                self.params,
                gain=self.gain,
                segment_setups=self.checked.get(tuple(segment_files(cube))),
                kernels=target.kernels,
            )
            for cube in cubes
        ]
        name = product_names.phot(target.asn.product_name)
        tmp = write_phot_ecsv(tables, target.tmp_dir / name, order=target.segment_order)
        final = target.output_dir / name
        os.replace(tmp, final)
        if target.store is not None:
            write, finish = target.store.plan(tables)
            if write is not None:
                compute(write, label="zarr store")
            finish()
        return [final]
