"""ATOCA fits of single, well-separated orders (jwst 3.0.0 ``soss_extract._model_single_order``): on
SUBSTRIP256, the blue part of order 2 (below ``order2_separation_cutoff[1]``) and order 3.

The order is fitted alone on the wavelengths of its trace columns oversampled 3 times, without throughput or
line spread, regularised by a Tikhonov factor searched once per segment on the typical integration (over 10^-2 to 10^8
times the joint fit's factor); the fit is then re-projected on the pixels outside every box aperture mask.
Images (ny, nx) in DN/s, wavelengths in micron.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from . import atoca_engine, atoca_grid, atoca_tikho

log = logging.getLogger(__name__)

#: Oversampling of the single-order grid, and the Tikhonov search range around the joint factor [decades].
N_OS, LOG_RANGE = 3, (-2, 8)


def _unit_throughput(wave: np.ndarray) -> np.ndarray:
    return np.ones_like(wave)


@dataclass(frozen=True)
class SingleOrder:
    """An order fitted on its own: its maps, fit grid and the fixed parts of its fit."""

    wave_map: np.ndarray  #: (ny, nx) [micron]
    profile: np.ndarray  #: (ny, nx)
    box_mask: np.ndarray  #: (ny, nx) bool: outside the order's box aperture
    grid: np.ndarray  #: oversampled pixel-edge grid [micron]
    rebuild: atoca_engine.Engine | None  #: re-projection on the pixels outside every box mask (None: no model)
    tikfac: float | None = None  #: Tikhonov factor (None: not searched yet)
    fit_mask: np.ndarray | None = None  #: the masked pixels ``fit_engine`` was built with
    fit_engine: atoca_engine.Engine | None = None  #: the fit's model for the typical integration's mask
    binning: atoca_engine.SpectrumBinning | None = None  #: its 1-D spectrum on the trace's pixel wavelengths

    def engine(self, scimask: np.ndarray) -> atoca_engine.Engine:
        """The fit's detector model with the integration's masked pixels ``scimask``."""
        if self.fit_engine is not None and np.array_equal(scimask, self.fit_mask):
            return self.fit_engine
        return atoca_engine.build_engine(
            [self.wave_map],
            [self.profile],
            [_unit_throughput],
            [np.array([1.0])],
            self.grid,
            [self.box_mask | scimask],
        )

    def fit(self, data: np.ndarray, error: np.ndarray, scimask: np.ndarray):
        """Model image (ny, nx) of one integration, NaN where not modelled or when too few pixels are left, and
        (wavelength, flux) of its binned 1-D spectrum, or None when the order could not be fitted or has no
        :attr:`binning`."""
        if self.rebuild is None:
            return np.full(data.shape, np.nan), None
        try:
            engine = self.engine(scimask)
        except atoca_engine.MaskOverlapError:
            log.error(
                "Not enough unmasked pixels to model the remaining part of order 2."
                " Model and spectrum will be NaN in that spectral region."
            )
            return np.full(data.shape, np.nan), None
        flux = system(engine, data, error).solve(self.tikfac)
        spectrum = None if self.binning is None else self.binning.spectra(flux[:, None])[0]
        return self.rebuild.rebuild(flux, fill_value=np.nan), spectrum


def system(engine: atoca_engine.Engine, data: np.ndarray, error: np.ndarray) -> atoca_tikho.TikhonovSystem:
    """The regularised system of ``engine`` for one image (jwst ``get_detector_model`` + ``Tikhonov``)."""
    pixels = csr_matrix(data[~engine.mask] / error[~engine.mask])
    return atoca_tikho.TikhonovSystem(engine.design(error), pixels, atoca_engine.derivative_operator(engine.grid))


def single_order(
    wave_map: np.ndarray,
    profile: np.ndarray,
    wave_trace: np.ndarray,
    box_mask: np.ndarray,
    rebuild_mask: np.ndarray,
    cutoff: float | None,
    spectra: bool = False,
) -> SingleOrder:
    """Set up an order's single fit: the wavelengths of its trace columns (below ``cutoff`` when given),
    oversampled :data:`N_OS` times, and its re-projection engine (with ``spectra``, the binning of its 1-D
    spectrum on those wavelengths, jwst ``_model_single_order``)."""
    wave = np.sort(wave_trace[np.isfinite(wave_trace)])
    if cutoff is not None:
        wave = wave[wave < cutoff]
    grid = atoca_grid.oversample(wave, N_OS)
    try:
        rebuild = atoca_engine.build_engine(
            [wave_map], [profile], [_unit_throughput], [np.array([1.0])], grid, [rebuild_mask]
        )
    except atoca_engine.MaskOverlapError:
        rebuild = None
    binning = None
    if spectra and rebuild is not None:
        trace = np.where(wave_trace < cutoff, wave_trace, np.nan) if cutoff is not None else wave_trace
        binning = atoca_engine.spectrum_binning(grid, _unit_throughput, np.array([1.0]), trace, rebuild_mask)
    return SingleOrder(wave_map, profile, box_mask, grid, rebuild, binning=binning)


def search_tikfac(order: SingleOrder, typical: np.ndarray, mederr: np.ndarray, scimask: np.ndarray, guess: float):
    """``order`` with its Tikhonov factor searched on the typical integration, starting from the joint fit's
    factor ``guess`` (unchanged if the order cannot be fitted)."""
    try:
        engine = order.engine(scimask)
    except atoca_engine.MaskOverlapError:
        return SingleOrder(order.wave_map, order.profile, order.box_mask, order.grid, None, guess)
    tikfac = atoca_tikho.search(system(engine, typical, mederr), guess, LOG_RANGE)
    return dataclasses.replace(order, tikfac=tikfac, fit_mask=scimask, fit_engine=engine)


def merge(joint: np.ndarray | None, single: np.ndarray) -> np.ndarray:
    """An order's trace model: the joint fit's where finite, the single fit's elsewhere (NaN where neither
    is); ``joint`` None: the single fit's."""
    if joint is None:
        return single
    single = np.where(np.isfinite(joint), 0.0, single)
    both_nan = np.isnan(joint) & np.isnan(single)
    out = np.nansum([joint, single], axis=0)
    out[both_nan] = np.nan
    return out
