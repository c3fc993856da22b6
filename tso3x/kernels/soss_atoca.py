"""NIRISS SOSS ATOCA modelling of an integration (jwst 3.0.0 ``soss_extract.Integration``) on arrays.

A segment's model is fixed once (:class:`JointModel`: the orders 1 + 2 detector model built with the median
error, the factorisation of its regularised normal matrix, and each order's re-projection); every integration is
then one matrix product for the flux, one per order for its trace model, and the decontaminated box sums.
Images (ny, nx) in DN/s, wavelengths in micron.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import UnivariateSpline, make_interp_spline
from scipy.sparse import csr_matrix

from . import atoca_engine, atoca_single, atoca_tikho

log = logging.getLogger(__name__)

#: Seed of the noise jwst adds to the mean integration (its "typical" integration).
TYPICAL_SEED = 42


@dataclass(frozen=True)
class Throughput:
    """An order's throughput curve: cubic spline clamped to 0 at both ends, constant beyond them (jwst
    ``ThroughputInterpolator``)."""

    wavelength: np.ndarray  #: sorted [micron]
    throughput: np.ndarray  #: ends set to 0

    @classmethod
    def from_table(cls, wavelength: np.ndarray, throughput: np.ndarray) -> Throughput:
        t = np.array(throughput, dtype=np.float64)
        t[0], t[-1] = 0.0, 0.0
        return cls(np.sort(np.asarray(wavelength, dtype=np.float64)), t)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        spline = make_interp_spline(self.wavelength, self.throughput, k=3, bc_type=("clamped", "clamped"))
        return spline(np.clip(wave, self.wavelength[0], self.wavelength[-1]))


@dataclass(frozen=True)
class OrderProjection:
    """Re-projection of the joint solution onto one order's pixels (jwst ``_build_tracemodel_order``)."""

    convolution: csr_matrix  #: (N_kc, N_k) the order's line spread on the joint grid
    valid: np.ndarray  #: (N_kc,) bool: grid points kept (finite convolved flux)
    mapping: csr_matrix  #: (n_valid_pixels, n_kept) unconvolved model of the order on its pixels
    mask: np.ndarray  #: (ny, nx) pixels not modelled (NaN in the model)
    binning: atoca_engine.SpectrumBinning | None = None  #: the order's 1-D ATOCA spectrum (None: not made)

    def spectra(self, flux: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The order's binned ATOCA spectrum (wavelength, flux) of each joint solution of ``flux`` (N_k, n)."""
        return self.binning.spectra(self.convolution.dot(flux)[self.valid])

    def model(self, flux: np.ndarray) -> np.ndarray:
        """Trace model image (ny, nx) [DN/s] of the joint solutions ``flux`` (N_k,) or (N_k, n) →
        (ny, nx) or (n, ny, nx); NaN where not modelled."""
        convolved = self.convolution.dot(flux)[self.valid]
        values = self.mapping.dot(convolved)
        if values.ndim == 1:
            out = np.full(self.mask.shape, np.nan)
            out[~self.mask] = values
            return out
        out = np.full((values.shape[1], *self.mask.shape), np.nan)
        out[:, ~self.mask] = values.T
        return out


@dataclass(frozen=True)
class JointModel:
    """The fixed part of the joint fit of orders 1 and 2 of a segment."""

    mask: np.ndarray  #: (ny, nx) pixels not in the fit
    normal: atoca_engine.NormalSolver  #: solves (BᵀB + t² DᵀD) f = Bᵀ d/σ
    design: csr_matrix  #: (n_fit_pixels, N_k) B with the median error
    mederr: np.ndarray  #: (ny, nx) median error [DN/s]
    orders: tuple  #: OrderProjection per order (1, 2)
    tikfac: float  #: Tikhonov factor of the fit
    n_orders: int = 2  #: extracted orders (2 or 3)
    grid: np.ndarray | None = None  #: wavelength grid of the joint fit [micron]
    singles: tuple = ()  #: (index of the order, atoca_single.SingleOrder) fitted separately

    def solve(self, data: np.ndarray) -> np.ndarray:
        """Flux solutions (N_k, n) of images ``data`` (n, ny, nx) [DN/s] (jwst: m_inv · Bᵀ · d/σ)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = (data / self.mederr)[:, ~self.mask]
        return self.normal.solve(self.design.T.dot(scaled.T))

    def models(self, data: np.ndarray) -> list[np.ndarray]:
        """Trace models (n, ny, nx) of orders 1 and 2 from the joint fit of images ``data`` (n, ny, nx)."""
        flux = self.solve(data)
        return [o.model(flux) for o in self.orders]

    def trace_models(self, data: np.ndarray, errors: np.ndarray, masks: np.ndarray, spectra: bool = False):
        """Trace models (n, ny, nx) of every extracted order: the joint fit's, completed by the separate
        fits (with each integration's ``errors`` and masked pixels ``masks``); NaN where not modelled.

        With ``spectra``, also returns per integration the ATOCA spectra jwst lists (``atoca_list``): (order,
        wavelength [micron], flux [DN/s]) of orders 1 and 2 from the joint fit, then of each separate fit
        (an order whose separate fit fails has none)."""
        flux = self.solve(data)
        models = [o.model(flux) for o in self.orders]
        lists: list[list] = [[] for _ in range(data.shape[0])]
        if spectra:
            for j, o in enumerate(self.orders):
                for i, (wave, values) in enumerate(o.spectra(flux)):
                    lists[i].append((j + 1, wave, values))
        if self.n_orders > 2:
            models.append(np.full(data.shape, np.nan))
        for k, single in self.singles:
            for i in range(data.shape[0]):
                image, spectrum = single.fit(data[i], errors[i], masks[i])
                models[k][i] = atoca_single.merge(models[k][i], image)
                if spectra and spectrum is not None:
                    lists[i].append((k + 1, *spectrum))
        return (models, lists) if spectra else models


def order_projection(
    engine: atoca_engine.Engine, i: int, wave_map, profile, throughput, rebuild_mask
) -> OrderProjection:
    """The re-projection of order ``i`` of a joint ``engine`` (jwst ``_build_tracemodel_order``): the order's
    convolved grid, and an unconvolved single-order engine on it modelling the pixels outside
    ``rebuild_mask``."""
    a, b = engine.i_bounds[i]
    grid = engine.grid[a:b]
    valid = np.ones(grid.size, dtype=bool)
    single = atoca_engine.build_engine(
        [wave_map], [profile], [throughput], [np.array([1.0])], grid[valid], [rebuild_mask]
    )
    return OrderProjection(engine.kernels[i], valid, single.pixel_mapping(0), single.mask)


def accumulate(total: np.ndarray | None, data: np.ndarray) -> np.ndarray:
    """``total`` plus every image of ``data`` (n, ny, nx), added one after the other in ``data``'s dtype
    (numpy's order for a mean along the first axis)."""
    out = np.zeros(data.shape[1:], data.dtype) if total is None else total.copy()
    for image in data:
        out += image
    return out


def typical_integration(total: np.ndarray, nints: int, mederr: np.ndarray) -> np.ndarray:
    """jwst's typical integration: the mean of the imputed integrations (``total`` / ``nints`` in its dtype)
    plus Gaussian noise of σ = ``mederr`` · sqrt((n − 1) / n) drawn with seed 42 over the whole image."""
    out = (total.astype(np.float64) / nints).astype(total.dtype)
    rng = np.random.default_rng(seed=TYPICAL_SEED)
    out += rng.normal(0, mederr * np.sqrt((nints - 1) / nints))
    return out


def estimate_spline(wave: np.ndarray, flux: np.ndarray) -> UnivariateSpline:
    """The interpolating cubic spline of a flux estimate (jwst: ``UnivariateSpline(k=3, s=0, ext=0)``)."""
    return UnivariateSpline(wave, flux, k=3, s=0, ext=0)


def search_tikfac(
    engine: atoca_engine.Engine, design, data: np.ndarray, error: np.ndarray, guess, log_range, gram=None
) -> float:
    """The Tikhonov factor of ``engine`` (its ``design`` matrix with ``error``, and its ``gram`` BᵀB if
    computed) for image ``data`` with errors ``error``, from the first ``guess`` (jwst ``_do_tiktests``)."""
    t_mat = atoca_engine.derivative_operator(engine.grid)
    pixels = csr_matrix(data[~engine.mask] / error[~engine.mask])
    system = atoca_tikho.TikhonovSystem(design, pixels, t_mat, gram)
    return atoca_tikho.search(system, guess, log_range)


def joint_model(
    wave_maps: list,
    profiles: list,
    throughputs: list,
    kernels: list,
    grid: np.ndarray,
    box_masks: list,
    scimask: np.ndarray,
    mederr: np.ndarray,
    tikfac: float | None,
    threshold: float,
    typical: np.ndarray | None = None,
    estimate=None,
    wave_traces: list | None = None,
    singles: tuple = (),
    spectra: bool = False,
) -> JointModel:
    """Build a segment's :class:`JointModel` (jwst ``Integration.model_image``'s first call).

    Parameters
    ----------
    wave_maps, profiles, throughputs, kernels : list
        Per extracted order (1, 2[, 3]): wavelength map [micron], spatial profile, :class:`Throughput`,
        :class:`~tso3x.kernels.atoca_kernel.LineSpread`.
    grid : ndarray (N_k,)
        Wavelength grid of the joint fit [micron].
    box_masks : list of ndarray (ny, nx) bool
        Per order: pixels outside its box aperture.
    scimask : ndarray (ny, nx) bool
        Pixels masked in the fit (masked in every integration, or a median error that is not positive).
    mederr : ndarray (ny, nx)
        Median error [DN/s].
    tikfac : float or None
        Tikhonov factor (None: searched with ``typical`` and ``estimate``).
    threshold : float
        ``soss_threshold``.
    typical : ndarray (ny, nx), optional
        The typical integration (background subtracted when asked) [DN/s].
    estimate : callable, optional
        Flux estimate of wavelength [micron].
    wave_traces : list of ndarray, optional
        Per order: trace wavelength of each column [micron] (for ``singles``).
    singles : tuple of (int, float or None)
        Orders fitted separately after the joint fit (index, wavelength cutoff [micron]), with Tikhonov
        factors searched on ``typical`` from the joint one.
    spectra : bool
        Also make the binnings of each order's ATOCA spectrum (:meth:`JointModel.trace_models` ``spectra``;
        needs ``wave_traces``).
    """
    engine = atoca_engine.build_engine(
        wave_maps[:2], profiles[:2], throughputs[:2], kernels[:2], grid, box_masks[:2], scimask, threshold
    )
    design = engine.design(mederr)
    gram = design.T.dot(design)
    if tikfac is None:
        log.info("Solving for the optimal Tikhonov factor for overlapping orders 1 & 2.")
        t_mat = atoca_engine.derivative_operator(engine.grid)
        guess = atoca_tikho.first_guess(engine.mask, engine.grid, t_mat, estimate)
        log.info("First guess of tikhonov factor: %s", guess)
        tikfac = search_tikfac(engine, design, typical, mederr, guess, (-4, 4), gram)
    normal = atoca_engine.NormalSolver(atoca_engine.normal_matrix(gram, engine.grid, tikfac))
    rebuild_mask = np.all(box_masks, axis=0)
    orders = tuple(
        order_projection(engine, i, wave_maps[i], profiles[i], throughputs[i], rebuild_mask) for i in range(2)
    )
    if spectra:
        orders = tuple(
            dataclasses.replace(
                o,
                binning=atoca_engine.spectrum_binning(
                    engine.grid[slice(*engine.i_bounds[i])], throughputs[i], kernels[i], wave_traces[i], rebuild_mask
                ),
            )
            for i, o in enumerate(orders)
        )
    separate = []
    for k, cutoff in singles:
        one = atoca_single.single_order(
            wave_maps[k], profiles[k], wave_traces[k], box_masks[k], rebuild_mask, cutoff, spectra
        )
        separate.append((k, atoca_single.search_tikfac(one, typical, mederr, scimask, tikfac)))
    return JointModel(engine.mask, normal, design, mederr, orders, tikfac, len(box_masks), engine.grid, tuple(separate))


def decontaminate(data: np.ndarray, models: list[np.ndarray], k: int) -> np.ndarray:
    """``data`` minus the (finite) models of every order but ``k``."""
    out = data.copy()
    for j, model in enumerate(models):
        if j != k:
            out = out - np.where(np.isfinite(model), model, 0.0)
    return out


def replace_bad_pixels(data, err, mask, model, weights):
    """``soss_bad_pix="model"`` for one order (jwst ``Integration.extract_image``): masked pixels with a
    finite model take the model's value and the error of the valid box pixel of nearest value, and are no
    longer masked.

    Parameters
    ----------
    data, err : ndarray (n, ny, nx)
        Decontaminated data and errors [DN/s].
    mask : ndarray (n, ny, nx) bool
        Masked pixels of each integration.
    model : ndarray (n, ny, nx)
        The order's trace model [DN/s], NaN where not modelled.
    weights : ndarray (ny, nx)
        The order's box weights.

    Returns
    -------
    data, err, mask : ndarray (n, ny, nx)
    """
    modelled = np.isfinite(model)
    data = np.where(mask & modelled, model, data)
    region = weights > 0
    err = err.copy()
    for i in range(data.shape[0]):
        err[i] = nearest_value_error(err[i], data[i], region & mask[i] & modelled[i], region & ~mask[i])
    return data, err, np.where(modelled, False, mask)


def nearest_value_error(err: np.ndarray, data: np.ndarray, to_estimate: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``err`` with the pixels ``to_estimate`` given the error of the ``valid`` pixel whose value is nearest
    theirs (of the two neighbours in sorted order, the nearer; jwst ``estim_error_nearest_data``)."""
    targets = data[to_estimate]
    order = np.argsort(data[valid])
    values, errors = data[valid][order], err[valid][order]
    higher = np.clip(np.searchsorted(values, targets), 0, errors.size - 1)
    lower = np.clip(higher - 1, 0, errors.size - 1)
    around = np.vstack([lower, higher])
    best = np.argmin(np.abs(values[around] - targets[None, :]), axis=0)
    out = err.copy()
    out[to_estimate] = errors[around[best, np.arange(best.size)]]
    return out
