"""ATOCA's linear detector model (jwst 3.0.0 ``atoca.ExtractionEngine``) on arrays.

The flux f (per micron, sampled on a wavelength grid λ_k) of each spectral order n lands on pixel i as
B_n f with B_n = diag(P_n / σ) · W_n · diag(T_n λ) · C_n: P the spatial profile, W the trapezoidal
integration weights of the pixel's wavelength interval, T the throughput and C the line-spread convolution.
The fit minimises ‖B f − d/σ‖² + t² ‖D f‖² (D the first-derivative operator of the grid, t the Tikhonov
factor), so f = (BᵀB + t² DᵀD)⁻¹ Bᵀ d/σ, solved here by a sparse LU factorisation (:class:`NormalSolver`)
where jwst multiplies by the dense inverse.

Images are (ny, nx) with the dispersion along x; wavelengths in micron. Sparse matrices are scipy's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix, diags
from scipy.sparse.linalg import splu

from .atoca_kernel import convolution_matrix

#: An order needs this many modelled pixels (jwst's ``MaskOverlapError`` below it).
MIN_GOOD_PIXELS = 25


class MaskOverlapError(ValueError):
    """Fewer than :data:`MIN_GOOD_PIXELS` pixels of an order can be modelled."""


def pixel_wave_bounds(wave_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower wavelength edges of every pixel from the centres (jwst ``get_wave_p_or_m``, dispersion
    along x): half the step to the neighbouring valid pixel of the row (the end steps repeated); 0 at pixels
    that are not finite and ≥ 0.

    Returns
    -------
    wave_p, wave_m : ndarray (ny, nx)
        Upper and lower edge [micron].
    """
    left, right = np.zeros_like(wave_map), np.zeros_like(wave_map)
    for row in range(wave_map.shape[0]):
        values = wave_map[row]
        valid = np.isfinite(values) & (values >= 0)
        v = values[valid]
        half = np.diff(v) / 2
        left[row, valid] = v - np.insert(half, 0, half[0])
        right[row, valid] = v + np.append(half, half[-1])
    invalid = wave_map == 0
    if ((right >= left) | invalid).all():
        return right, left
    if ((right <= left) | invalid).all():
        return left, right
    raise ValueError("Some pixels do not follow the expected dispersion axis!")


@dataclass(frozen=True)
class Engine:
    """A detector model for one or more orders on a wavelength grid (what jwst's ``ExtractionEngine`` holds
    once built)."""

    grid: np.ndarray  #: (N_k,) wavelength grid [micron]
    profiles: np.ndarray  #: (n_ord, ny, nx) spatial profiles
    throughput: np.ndarray  #: (n_ord, N_k) throughput on the grid
    mask: np.ndarray  #: (ny, nx) pixels not modelled by any order
    i_bounds: list  #: per order [a, b): the order's convolved grid is grid[a:b]
    kernels: list  #: per order sparse (N_kc, N_k) convolution
    weights: list  #: per order sparse (n_valid, N_kc) integration weights

    def right_product(self, i: int) -> csr_matrix:
        """W_n · diag(T_n λ) · C_n of order ``i`` (pixels not in :attr:`mask`)."""
        a, b = self.i_bounds[i]
        product = diags((self.throughput[i] * self.grid)[a:b]).dot(self.kernels[i])
        return self.weights[i].dot(product)

    def pixel_mapping(self, i: int, error: np.ndarray | None = None) -> csr_matrix:
        """B_n of order ``i``: (n_valid, N_k), rows the pixels not in :attr:`mask` (row-major)."""
        profile = self.profiles[i][~self.mask]
        if error is not None:
            profile = profile / error[~self.mask]
        else:
            profile = profile / np.ones(self.mask.shape)[~self.mask]
        return diags(profile).dot(self.right_product(i))

    def design(self, error: np.ndarray) -> csr_matrix:
        """B = Σ_n B_n with the pixel errors ``error`` (ny, nx)."""
        out = csr_matrix((int((~self.mask).sum()), self.grid.size))
        for i in range(len(self.kernels)):
            out += self.pixel_mapping(i, error)
        return out

    def rebuild(self, spectrum: np.ndarray, fill_value: float = 0.0) -> np.ndarray:
        """Model image (ny, nx) of ``spectrum`` (N_k,) summed over the orders; ``fill_value`` where masked."""
        model = np.zeros(self.mask.shape)
        for i in range(len(self.kernels)):
            model[~self.mask] += self.pixel_mapping(i).dot(spectrum)
        model[self.mask] = fill_value
        return model


def build_engine(
    wave_maps: list,
    profiles: list,
    throughputs: list,
    kernels: list,
    grid: np.ndarray,
    mask_trace_profile: list,
    global_mask: np.ndarray | None = None,
    threshold: float = 1e-3,
) -> Engine:
    """Build an :class:`Engine` (jwst ``ExtractionEngine.__init__``).

    Parameters
    ----------
    wave_maps, profiles : list of ndarray (ny, nx)
        Per order: pixel wavelengths [micron] (NaN off the order) and spatial profile.
    throughputs : list of callable
        Per order: throughput of wavelength [micron].
    kernels : list
        Per order: a line-spread callable, a size-1 array or None (see :func:`convolution_matrix`).
    grid : ndarray (N_k,)
        Wavelength grid [micron]; sorted and made unique if it is not strictly increasing.
    mask_trace_profile : list of ndarray (ny, nx) bool
        Per order: pixels not to model.
    global_mask : ndarray (ny, nx) bool, optional
        Pixels masked for every order.
    threshold : float
        A profile above this marks a pixel as significantly lit by the order.

    Raises
    ------
    MaskOverlapError
        An order has fewer than :data:`MIN_GOOD_PIXELS` modelled pixels.
    """
    if not (np.diff(grid) > 0).all():
        grid = np.unique(grid)
    grid = np.asarray(grid, dtype=np.float64).copy()
    wave_maps = np.array(wave_maps).astype(np.float64)
    profiles = np.array(profiles).astype(np.float64)
    mask_trace = np.array(mask_trace_profile).astype(bool)
    bounds = [pixel_wave_bounds(w) for w in wave_maps]
    wave_p = np.array([b[0] for b in bounds])
    wave_m = np.array([b[1] for b in bounds])
    n_ord = len(wave_maps)
    i_bounds = [[0, len(grid)] for _ in range(n_ord)]
    _, mask_ord = _masks(grid, wave_p, wave_m, i_bounds, mask_trace, profiles, global_mask, threshold)
    if np.any(np.sum(~mask_ord, axis=(-2, -1)) < MIN_GOOD_PIXELS):
        raise MaskOverlapError(
            f"At least one order has less than {MIN_GOOD_PIXELS} valid pixels. "
            "(mask_trace_profile and mask_wave have insufficient overlap)"
        )
    i_bounds = _grid_bounds(grid, wave_maps, mask_ord, i_bounds)
    throughput = np.array([t(grid) for t in throughputs], dtype=np.float64)
    mask, mask_ord = _masks(grid, wave_p, wave_m, i_bounds, mask_trace, profiles, global_mask, threshold)
    thresh = [getattr(k, "min_value", 1e-5) for k in kernels]
    convolutions = [convolution_matrix(k, grid, i_bounds[i], thresh[i]) for i, k in enumerate(kernels)]
    weights = []
    for i in range(n_ord):
        w, k = integration_weights(grid[slice(*i_bounds[i])], wave_p[i][~mask], wave_m[i][~mask], mask_ord[i][~mask])
        weights.append(_sparse_rows(w, k, i_bounds[i][1] - i_bounds[i][0]))
    return Engine(grid, profiles, throughput, mask, i_bounds, convolutions, weights)


def _masks(grid, wave_p, wave_m, i_bounds, mask_trace, profiles, global_mask, threshold):
    """(general mask, per-order masks) (jwst ``_get_masks``)."""
    mask_wave = np.array([(wave_m[i] < grid[a]) | (wave_p[i] > grid[b - 1]) for i, (a, b) in enumerate(i_bounds)])
    mask_ord = mask_trace | mask_wave
    if global_mask is not None:
        mask_ord = mask_ord | global_mask[None]
    general = np.all(mask_ord, axis=0)
    lit = np.all(profiles > threshold, axis=0)
    general |= np.any(mask_wave, axis=0) & lit
    return general, mask_wave | general[None, :, :]


def _grid_bounds(grid, wave_maps, mask_ord, i_bounds) -> list:
    """Per order, the grid index range covering its modelled pixels' wavelengths (jwst ``_get_i_bnds``)."""
    out = []
    for wave_map, mask, (a0, b0) in zip(wave_maps, mask_ord, i_bounds, strict=True):
        wave = wave_map[~mask]
        a = np.min(np.where(grid >= wave.min())[0])
        b = np.max(np.where(grid <= wave.max())[0]) + 1
        out.append([int(max(a, a0)), int(min(b, b0))])
    return out


def _sparse_rows(values: np.ndarray, k: np.ndarray, n_k: int) -> csr_matrix:
    """(n, m) values at grid indices ``k`` (negative: none) → sparse (n, n_k) (jwst ``sparse_k``)."""
    rows = np.indices(k.shape)[0]
    ok = k >= 0
    return csr_matrix((values[ok], (rows[ok], k[ok])), shape=(len(k), n_k))


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Rows ``arange(start, stop)`` padded with −1 (int16, as jwst's ``arange_2d``)."""
    lengths = (stops - starts).astype(int)
    cols = np.arange(np.amax(lengths))[None, :]
    return np.where(cols < lengths[:, None], starts[:, None] + cols, -1).astype(np.int16)


def integration_weights(grid: np.ndarray, wave_p: np.ndarray, wave_m: np.ndarray, masked: np.ndarray):
    """Trapezoidal weights of the grid points inside each pixel's wavelength interval (jwst ``get_w``).

    Parameters
    ----------
    grid : ndarray (N_kc,)
        The order's convolved grid [micron].
    wave_p, wave_m : ndarray (n,)
        Upper and lower wavelength edge of each pixel [micron].
    masked : ndarray (n,) bool
        Pixels the order does not model.

    Returns
    -------
    w, k : ndarray (n, m)
        Weights [micron] (NaN where k < 0) and their grid indices (−1: none).
    """
    wave_p, wave_m = wave_p.copy(), wave_m.copy()
    d_grid = np.diff(grid)
    lo = np.searchsorted(grid, wave_m, side="right") - 1
    hi = np.searchsorted(grid, wave_p) - 1
    lo[masked], hi[masked] = -1, -2
    n = len(lo)
    rows = np.arange(n)
    k_first, k_last = -1 * np.ones(n), -1 * np.ones(n)
    ok = ~masked
    exact = grid[lo] == wave_m
    k_first[exact & ok] = lo[exact & ok]
    wave_m[exact & ok] = grid[lo[exact & ok]]
    k_first[~exact & ok] = lo[~exact & ok] - 1
    exact = wave_p == grid[hi]
    k_last[exact & ok] = hi[exact & ok]
    wave_p[exact & ok] = grid[hi[exact & ok]]
    k_last[~exact & ok] = hi[~exact & ok]
    k = _ranges(k_first, k_last + 1)
    n_k = np.sum(k != -1, axis=-1)
    w = np.zeros(k.shape, dtype=float)
    w[:, 0] = grid[k[:, 1]] - wave_m
    w[rows, n_k - 1] = wave_p - grid[k[rows, n_k - 2]]
    _weights_two(w, k, n_k, lo, hi, ok, grid, d_grid, wave_p, wave_m)
    _weights_three_plus(w, k, n_k, lo, hi, ok, grid, d_grid, wave_p, wave_m, rows)
    w /= 2.0
    w[k < 0] = np.nan
    return w, k


def _weights_two(w, k, n_k, lo, hi, ok, grid, d_grid, wave_p, wave_m) -> None:
    """Pixels covering two grid points (in place)."""
    case = (n_k == 2) & ok
    if not case.any():
        return
    cond = case & (k[:, 0] != lo)
    w[cond, 1] += wave_m[cond] - grid[k[cond, 0]]
    cond = case & (k[:, 1] != hi)
    w[cond, 0] += grid[k[cond, 1]] - wave_p[cond]
    w[case, :] *= ((wave_p[case] - wave_m[case]) / d_grid[k[case, 0]])[:, None]


def _weights_three_plus(w, k, n_k, lo, hi, ok, grid, d_grid, wave_p, wave_m, rows) -> None:
    """Pixels covering three grid points or more (in place)."""
    case = (n_k >= 3) & ok
    if case.any():
        n = n_k[case]
        w[case, 1] = grid[k[case, 1]] - wave_m[case]
        w[case, n - 2] += wave_p[case] - grid[k[case, n - 2]]
        cond = case & (k[:, 0] != lo)
        nume1 = grid[k[cond, 1]] - wave_m[cond]
        nume2 = wave_m[cond] - grid[k[cond, 0]]
        deno = d_grid[k[cond, 0]]
        w[cond, 0] *= nume1 / deno
        w[cond, 1] += nume1 * nume2 / deno
        cond = case & (k[rows, n_k - 1] != hi)
        n = n_k[cond]
        nume1 = wave_p[cond] - grid[k[cond, n - 2]]
        nume2 = grid[k[cond, n - 1]] - wave_p[cond]
        deno = d_grid[k[cond, n - 2]]
        w[cond, n - 1] *= nume1 / deno
        w[cond, n - 2] += nume1 * nume2 / deno
    case = (n_k >= 4) & ok
    if case.any():
        n = n_k[case]
        w[case, 1] += grid[k[case, 2]] - grid[k[case, 1]]
        w[case, n - 2] += grid[k[case, n - 2]] - grid[k[case, n - 3]]
    case = (n_k > 4) & ok
    if case.any():
        col = np.indices(k.shape)[-1]
        cond = case[:, None] & (2 <= col) & (col < n_k[:, None] - 2)
        i1, i2 = np.where(cond)
        w[i1, i2] = d_grid[k[i1, i2] - 1] + d_grid[k[i1, i2]]


def derivative_operator(grid: np.ndarray) -> csr_matrix:
    """First-derivative operator D (N_k − 1, N_k) on ``grid`` (jwst ``finite_first_d``): (Df)_k =
    (f_{k+1} − f_k) / (λ_{k+1} − λ_k)."""
    n = len(grid)
    d = diags([-1.0], shape=(n - 1, n))
    d += diags([1.0], 1, shape=(n - 1, n))
    return diags(1.0 / d.dot(grid)).dot(d)


def normal_matrix(gram, grid: np.ndarray, tikfac: float) -> csc_matrix:
    """The regularised normal matrix BᵀB + t² DᵀD (N_k, N_k), sparse, from ``gram`` = BᵀB (jwst
    ``precompute_detector_model`` inverts it densely)."""
    t_mat = derivative_operator(grid)
    return csc_matrix(gram + tikfac**2 * (t_mat.T).dot(t_mat))


def normal_inverse(design: csr_matrix, grid: np.ndarray, tikfac: float) -> np.ndarray:
    """(BᵀB + t² DᵀD)⁻¹, dense (N_k, N_k), as jwst ``precompute_detector_model`` computes it (the plain numpy
    reference of :class:`NormalSolver`)."""
    return np.linalg.inv(normal_matrix(design.T.dot(design), grid, tikfac).toarray())


class NormalSolver:
    """Solutions of the regularised normal equations (BᵀB + t² DᵀD) f = r by a sparse LU factorisation.

    jwst forms the dense inverse (O(N_k³), about 9 s for 5300 grid points, and N_k² of memory); the sparse
    factorisation takes a fraction of a second and agrees with it to about 1e-13 relative on the fluxes. The
    factorisation is made on first use in each process (SuperLU objects do not pickle) and shared by its
    threads; only the sparse matrix travels to other workers.
    """

    def __init__(self, matrix: csc_matrix) -> None:
        self.matrix = matrix
        self._lu = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"matrix": self.matrix}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["matrix"])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """f (N_k,) or (N_k, n) for right-hand sides ``rhs`` of the same shape."""
        if self._lu is None:
            with self._lock:
                if self._lu is None:
                    self._lu = splu(self.matrix)
        return self._lu.solve(np.ascontiguousarray(rhs, dtype=np.float64))


@dataclass(frozen=True)
class SpectrumBinning:
    """An order's ATOCA spectrum binned on its trace's pixel wavelengths (jwst ``_build_tracemodel_order``'s
    and ``_model_single_order``'s 1-D spectra, the ``soss_modelname`` AtocaSpectra)."""

    wavelength: np.ndarray  #: (n,) sorted pixel wavelengths kept (not masked by the binning engine) [micron]
    mapping: csr_matrix  #: (n, N) flux on the order's grid → binned flux [DN/s]

    def spectra(self, flux: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(wavelength, flux) of each column of ``flux`` (N, n_int), the finite values only (as jwst)."""
        binned = self.mapping.dot(flux)
        out = []
        for i in range(binned.shape[1]):
            ok = np.isfinite(binned[:, i])
            out.append((self.wavelength[ok], binned[ok, i]))
        return out


def spectrum_binning(
    grid: np.ndarray, throughput, kernel, wave_trace: np.ndarray, rebuild_mask: np.ndarray
) -> SpectrumBinning:
    """The binning of an order's spectrum on ``grid`` [micron] onto its trace's sorted pixel wavelengths
    (``wave_trace``: per column, NaN off the trace; jwst ``native_grid``), through ``throughput`` and
    ``kernel`` (:func:`~tso3x.kernels.atoca_engine.build_engine`'s), columns masked where every row of
    ``rebuild_mask`` is."""
    cols = np.arange(wave_trace.size)
    ok = np.isfinite(wave_trace)
    wave, cols = wave_trace[ok], cols[ok]
    order = np.argsort(wave)
    wave, cols = wave[order], cols[order]
    mask = np.all(rebuild_mask, axis=0)[cols]
    engine = build_engine([wave[None, :]], [np.ones((1, wave.size))], [throughput], [kernel], grid, [mask[None, :]])
    return SpectrumBinning(wave[~engine.mask[0]], engine.pixel_mapping(0))
