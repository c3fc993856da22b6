"""ATOCA's flux estimate from order 1 when no ``soss_estimate`` is given (jwst 3.0.0
``Integration.estim_flux_first_order``).

Order 1 is fitted alone on the typical integration, without regularisation or line spread, on a grid of one
wavelength per column (the profile-weighted mean of the column's wavelengths), over the pixels of its box
aperture where order 2's profile is below 1e-4; the estimate is the interpolating cubic spline of that
solution. As in jwst, building that grid cleans order 1's profile in place (negative values and pixels of
non-positive wavelength set to 0, empty columns to 1), and the cleaned profile is the one modelled afterwards.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import UnivariateSpline
from scipy.sparse import csr_matrix

from . import atoca_engine, atoca_grid, atoca_tikho

#: Pixels where order 2's profile reaches this are left out of the estimate.
CONTAMINATION_THRESHOLD = 1e-4


def clean_profile(wave_map: np.ndarray, profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order 1's profile as jwst's ``grid_from_map`` leaves it (negative values and pixels of non-positive
    wavelength 0, columns that then sum to 0 set to 1), and those empty columns."""
    out = np.array(profile, copy=True)
    out[out < 0] = 0
    out[wave_map <= 0] = 0
    empty = np.sum(out, axis=0) == 0
    out[:, empty] = 1
    return out, empty


def column_grid(wave_map: np.ndarray, clean: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """One wavelength per non-empty column with a finite value: the ``clean``-profile-weighted mean, sorted."""
    centre = np.average(wave_map, weights=clean, axis=0)
    centre[empty] = np.nan
    return atoca_grid.oversample(np.sort(centre[~np.isnan(centre)]), 1)


def first_order_estimate(
    wave_map: np.ndarray,
    profile: np.ndarray,
    throughput,
    box_mask: np.ndarray,
    profile_order2: np.ndarray,
    scimask: np.ndarray,
    data: np.ndarray,
    error: np.ndarray,
) -> UnivariateSpline:
    """The flux estimate of wavelength [micron] (jwst ``estim_flux_first_order``).

    Parameters
    ----------
    wave_map, profile : ndarray (ny, nx)
        Order 1's wavelengths [micron] and profile (not cleaned yet).
    throughput : callable
        Order 1's throughput.
    box_mask : ndarray (ny, nx) bool
        Pixels outside order 1's box aperture.
    profile_order2 : ndarray (ny, nx)
        Order 2's profile.
    scimask : ndarray (ny, nx) bool
        Masked pixels of the typical integration.
    data, error : ndarray (ny, nx)
        The typical integration and the median error [DN/s].
    """
    profile, empty = clean_profile(wave_map, profile)
    grid = column_grid(wave_map, profile, empty)
    mask = (profile_order2 >= CONTAMINATION_THRESHOLD) | box_mask
    engine = atoca_engine.build_engine([wave_map], [profile], [throughput], [None], grid, [mask], scimask)
    design = engine.design(error)
    pixels = data[~engine.mask] / error[~engine.mask]
    matrix = design.T.dot(design)
    result = np.asarray(csr_matrix(pixels).dot(design).toarray()).squeeze()
    idx = np.nonzero(result)[0]
    solution = np.full(result.shape[-1], np.nan)
    solution[idx] = atoca_tikho.solve_sparse(matrix[idx, :][:, idx], result[idx])
    ok = np.isfinite(solution)
    return UnivariateSpline(grid[ok], solution[ok], k=3, s=0, ext=0)
