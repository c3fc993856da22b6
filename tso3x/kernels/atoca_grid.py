"""ATOCA's adaptive wavelength grid (jwst 3.0.0 ``Integration.make_decontamination_grid``,
``atoca_utils.make_combined_adaptive_grid``, ``oversample_grid``).

Each order's pixel-edge grid (from the trace wavelengths, oversampled ``n_os`` times) is refined where a
first-order Romberg estimate of the integral of the flux estimate over an interval is not within ``rtol``
(relative) or 1e-6 (absolute): intervals are halved up to 30 times, points closer than 1e-5 micron dropped,
within ``max_grid_size`` points in all. Priority: the part of order 2 shared with order 1, then order 1, then
the blue rest of order 2 (with a flat estimate); the grid starts at ``order2_separation_cutoff[0]``.
Wavelengths in micron.
"""

from __future__ import annotations

import logging

import numpy as np

from .atoca_engine import pixel_wave_bounds

log = logging.getLogger(__name__)

#: Absolute integration tolerance and the smallest grid step [micron] of the refinement.
ATOL, MIN_DLAMBDA = 1e-6, 1e-5
#: Subdivisions allowed per interval (jwst ``max_iter`` of ``make_decontamination_grid``).
MAX_ITER = 30


def oversample(grid: np.ndarray, n_os) -> np.ndarray:
    """``grid`` with every interval cut in ``n_os`` equal parts (scalar, or one per interval), sorted and
    unique (jwst ``oversample_grid``)."""
    n_os = np.asarray(n_os)
    if n_os.ndim == 0:
        n_os = np.repeat(n_os, len(grid) - 1)
    elif len(n_os) != len(grid) - 1:
        raise ValueError("n_os must be a scalar or an array of size len(wave_grid) - 1.")
    steps = np.insert(np.repeat(1 / n_os, n_os), 0, 0)
    return np.unique(np.interp(np.cumsum(steps), np.arange(grid.size), grid))


def pixel_edge_grid(wave_trace: np.ndarray, n_os: int) -> np.ndarray:
    """An order's grid of pixel edges from its trace wavelengths per column (NaN dropped), oversampled
    ``n_os`` times (jwst ``DetectorModelOrder.get_grid_from_trace``)."""
    wave = np.sort(wave_trace[np.isfinite(wave_trace)])
    upper, lower = pixel_wave_bounds(wave[None, :])
    grid = np.append(np.sort(lower[0]), np.sort(upper[0])[-1])
    return oversample(grid, n_os)


def integration_errors(grid: np.ndarray, fct) -> tuple[np.ndarray, np.ndarray]:
    """Absolute and relative error of the trapezoid integral of ``fct`` over each interval of ``grid``
    against its first Romberg extrapolation (relative: inf where that is 0)."""
    lo, hi = grid[:-1], grid[1:]
    width = np.diff(grid)
    ordsum = 0.5 * (fct(lo) + fct(hi))
    trapezoid = width * ordsum / 1
    ordsum = ordsum + np.sum(fct((lo + width * 0.5)[np.newaxis, :]), axis=0)
    finer = width * ordsum / 2
    romberg = (4.0 * finer - trapezoid) / 3.0
    err = np.abs(romberg - trapezoid)
    rel = np.full_like(err, np.inf)
    nonzero = romberg != 0
    rel[nonzero] = np.abs(err[nonzero] / romberg[nonzero])
    return err, rel


def adapt(grid: np.ndarray, fct, max_grid_size: int, rtol: float, max_iter: int = MAX_ITER):
    """Halve the intervals of ``grid`` that miss the tolerance (the worst ones only when ``max_grid_size``
    would be exceeded), at most ``max_iter`` times (jwst ``_adapt_grid``).

    Returns
    -------
    grid : ndarray
    converged : bool
    """
    full = grid.size > max_grid_size
    if full:
        raise ValueError("max_grid_size is too small for the input grid.")
    converged_all = False
    for _ in range(max_iter):
        abs_err, rel_err = integration_errors(grid, fct)
        converged = (rel_err < rtol) | (abs_err < ATOL)
        converged_all = bool(converged.all())
        if full or converged_all:
            break
        n_os = np.full(rel_err.shape, 2, dtype=int)
        n_os[converged] = 1
        if n_os.sum() > max_grid_size:
            full = True
            worst = np.argsort(rel_err)[-(max_grid_size - grid.size) :]
            n_os = np.ones(rel_err.shape, dtype=int)
            n_os[worst] = 2
        grid = _thin(oversample(grid, n_os))
    return grid, converged_all


def _thin(grid: np.ndarray) -> np.ndarray:
    """Drop the points closer than :data:`MIN_DLAMBDA` to the previous kept one."""
    kept = [grid[0]]
    for value in grid[1:]:
        if value - kept[-1] > MIN_DLAMBDA:
            kept.append(value)
    return np.array(kept)


def trim(grids: list, wave_range: tuple[float, float]) -> list:
    """The grids cut to ``wave_range`` (keeping one point beyond each end) and to what the preceding
    (higher-priority) grids do not cover (jwst ``_trim_grids``)."""
    out = []
    for grid in grids:
        i_min = max(np.searchsorted(grid, wave_range[0], side="right") - 1, 0)
        i_max = min(np.searchsorted(grid, wave_range[1], side="left"), len(grid) - 1)
        grid = grid[i_min : i_max + 1]
        if out:
            covered = np.concatenate(out)
            below, above = grid < np.min(covered), grid > np.max(covered)
            if below.any():
                grid = grid[: min(np.max(np.nonzero(below)) + 1, len(grid) - 1) + 1]
            if above.any():
                grid = grid[max(np.min(np.nonzero(above)) - 1, 0) :]
            if not below.any() and not above.any():
                grid = np.array([])
        out.append(grid)
    return out


def combined_grid(grids: list, estimates: list, wave_range, rtol: float, max_total_size: int) -> np.ndarray:
    """Adapt each grid in turn within what the total size leaves it, and merge (jwst
    ``make_combined_adaptive_grid``)."""
    grids = trim(grids, wave_range)
    sizes = [len(g) for g in grids]
    combined = np.array([])
    for i, grid in enumerate(grids):
        room = max_total_size - combined.size - sum(sizes[i + 1 :])
        room = max(room, sizes[i])
        grid, converged = adapt(grid, estimates[i], room, rtol)
        sizes[i] = grid.size
        if not converged:
            if grid.size < room:
                log.warning(
                    "Precision cannot be guaranteed: smallest subdivision 1/%2.1e was reached for grid index = %d",
                    2**MAX_ITER,
                    i,
                )
            else:
                log.warning(
                    "Precision cannot be guaranteed: max grid size of %s = %d was reached for grid index = %d.",
                    " + ".join(f"{s}" for s in sizes),
                    sum(sizes),
                    i,
                )
        combined = np.concatenate([combined, grid])
    return np.unique(combined)


def decontamination_grid(
    wave_order1: np.ndarray,
    wave_order2: np.ndarray,
    estimate,
    blue_cutoff: float,
    rtol: float,
    max_grid_size: int,
    n_os: int,
) -> np.ndarray:
    """The grid of the joint fit of orders 1 and 2 (jwst ``make_decontamination_grid``).

    Parameters
    ----------
    wave_order1, wave_order2 : ndarray
        Trace wavelength of each column of orders 1 and 2 [micron].
    estimate : callable
        Flux estimate of wavelength [micron].
    blue_cutoff : float
        ``order2_separation_cutoff[0]`` [micron].
    rtol, max_grid_size, n_os
        ``soss_rtol``, ``soss_max_grid_size``, ``soss_n_os``.
    """
    grid2 = pixel_edge_grid(wave_order2, n_os)
    grid1 = pixel_edge_grid(wave_order1, n_os)
    shared = grid2 >= np.min(grid1)
    grid1 = grid1[grid1 > np.min(grid2[shared])]

    def flat(wave):
        return np.ones_like(wave)

    grids = [grid2[shared], grid1, grid2[~shared]]
    return combined_grid(grids, [estimate, estimate, flat], (blue_cutoff, np.max(grid1)), rtol, max_grid_size)
