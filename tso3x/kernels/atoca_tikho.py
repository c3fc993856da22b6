"""The Tikhonov-factor search of ATOCA (jwst 3.0.0 ``atoca_utils.Tikhonov``, ``TikhoTests``,
``soss_extract._do_tiktests`` and ``_refine_tikfac``).

For trial factors t the regularised system (AᵀA + t² DᵀD) f = Aᵀ b is solved (A the detector model weighted by
the errors, b the weighted pixels, D the first-derivative operator); the reduced Cauchy χ² of each solution,
mean(log(1 + (A f − b)²)), is splined against log10 t (modified Akima) and the best factor is the smallest one
where dχ²/dlog10 t exceeds 1e-3. Ten factors spread over ``log_range`` decades around a first guess are refined
three times by two factors around the best.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy.interpolate import Akima1DInterpolator, UnivariateSpline
from scipy.sparse import csr_matrix
from scipy.sparse.linalg import MatrixRankWarning, lsqr, spsolve

log = logging.getLogger(__name__)

#: dχ²/dlog10(factor) threshold of the Cauchy χ² (jwst ``DEFAULT_THRESH_DERIVATIVE["chi2_cauchy"]``).
D_CHI2_THRESHOLD = 1e-3


def first_guess(design_mask: np.ndarray, grid: np.ndarray, t_mat, estimate) -> float:
    """First Tikhonov factor: sqrt(n_pixels / ‖D f_est‖²) (jwst ``estimate_tikho_factors``).

    Parameters
    ----------
    design_mask : ndarray (ny, nx) bool
        Pixels outside the fit.
    grid : ndarray (N_k,)
        Wavelength grid [micron].
    t_mat : sparse (N_k − 1, N_k)
        First-derivative operator.
    estimate : callable
        Flux estimate of wavelength [micron].
    """
    reg = t_mat.dot(estimate(grid))
    return float(((~design_mask).sum() / np.nansum(np.array(reg) ** 2)) ** 0.5)


def solve_sparse(matrix, result) -> np.ndarray:
    """Sparse solve, least squares when the matrix is singular, NaN when that fails too (jwst
    ``try_solve_two_methods``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(action="error", category=MatrixRankWarning)
        try:
            return spsolve(matrix, result)
        except MatrixRankWarning:
            log.warning("ATOCA matrix solve failed with spsolve. Retrying with least-squares.")
            try:
                return lsqr(matrix, result)[0]
            except ValueError:
                log.warning("No solution found. Filling solution array with NaN.")
                return np.full(matrix.shape[1], np.nan)


class TikhonovSystem:
    """A regularised system with its products precomputed (jwst ``Tikhonov``).

    Parameters
    ----------
    a_mat : sparse (n_pixels, N_k)
        Error-weighted detector model.
    b_vec : sparse (1, n_pixels)
        Error-weighted pixels.
    t_mat : sparse (N_k − 1, N_k)
        Regularisation operator.
    a_mat_2 : sparse (N_k, N_k), optional
        AᵀA when already computed.
    """

    def __init__(self, a_mat, b_vec: csr_matrix, t_mat, a_mat_2=None) -> None:
        self.a_mat, self.b_vec, self.t_mat = a_mat, b_vec, t_mat
        self.t_mat_2 = (t_mat.T).dot(t_mat)
        self.a_mat_2 = a_mat.T.dot(a_mat) if a_mat_2 is None else a_mat_2
        self.result = (a_mat.T).dot(b_vec.T)
        self.valid = (self.result.toarray() != 0).squeeze()

    def solve(self, factor: float) -> np.ndarray:
        """Solution (N_k,) for ``factor``; NaN where Aᵀb is 0."""
        matrix = self.a_mat_2 + factor**2 * self.t_mat_2
        out = np.full(matrix.shape[0], np.nan)
        idx = self.valid
        out[idx] = solve_sparse(matrix[idx, :][:, idx], self.result[idx])
        return out

    def test(self, factors: np.ndarray) -> dict:
        """Solutions, residuals A f − b and regularisation D f of each factor."""
        sln, err, reg = [], [], []
        for factor in factors:
            sln.append(self.solve(factor))
            err.append(np.array(self.a_mat.dot(sln[-1]) - self.b_vec).flatten())
            reg.append(self.t_mat.dot(sln[-1]))
        return {"factors": np.asarray(factors), "solution": np.array(sln), "error": np.array(err), "reg": np.array(reg)}


def cauchy_chi2(error: np.ndarray) -> np.ndarray:
    """Reduced Cauchy χ² of each row of residuals: nanmean(log(1 + r²))."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        return np.nanmean(np.log(1 + error**2), axis=-1).squeeze()


def best_factor(factors: np.ndarray, chi2: np.ndarray, thresh: float = D_CHI2_THRESHOLD) -> float:
    """Smallest factor where dχ²/dlog10(factor) exceeds ``thresh`` on a 10000-point spline of χ² (modified
    Akima; a lower-order spline with few factors); the largest factor if it never does (jwst
    ``best_factor(mode="d_chi2")``)."""
    if len(factors) < 2:
        best = float(np.max(factors))
        log.warning(
            f"Could not compute d_chi2 because number of factors {len(factors)} is too small for that mode."
            f"Setting best factor to max factor: {best:.5e}"
        )
        return best
    ok = np.isfinite(chi2)
    idx = np.argsort(factors[ok])
    logx = np.log10(factors[ok][idx])
    order = min(3, np.sum(ok) - 1)
    if order >= 3:
        spline = Akima1DInterpolator(logx, chi2[ok][idx], method="makima")
    else:
        spline = UnivariateSpline(logx, chi2[ok][idx], k=order, s=0)
    fine = np.linspace(logx[0], logx[-1], 10000)
    deriv = spline.derivative()(fine)
    if np.any(deriv > thresh):
        return 10 ** np.amin(fine[deriv > thresh])
    log.warning("dchi2/dlog(factor) never reached the adopted threshold")
    return 10 ** logx[-1]


def search(system: TikhonovSystem, guess: float, log_range: tuple[float, float], n_refine: int = 3) -> float:
    """The best Tikhonov factor of ``system``: ten factors over ``guess`` × 10^log_range, then ``n_refine``
    rounds of two more around the best (jwst ``_do_tiktests``)."""
    log_guess = np.log10(guess)
    factors = np.logspace(log_guess + log_range[0], log_guess + log_range[1], 10)
    tests = system.test(factors)
    best = best_factor(tests["factors"], cauchy_chi2(tests["error"]))
    log.info("Coarse grid best tikfac: %.4e", best)
    for _ in range(n_refine):
        f = np.sort(tests["factors"])
        distance = np.abs(np.log(f) - np.log(best))
        j = np.where(distance == np.amin(distance))[0][0]
        if j == 0:
            new = np.array([f[0] ** 2 / f[1], np.sqrt(f[0] * f[1])])
        elif j == len(f) - 1:
            new = np.array([np.sqrt(f[-1] * f[-2]), f[-1] ** 2 / f[-2]])
        else:
            new = np.array([np.sqrt(f[j] * f[j - 1]), np.sqrt(f[j] * f[j + 1])])
        more = system.test(new)
        tests["factors"] = np.hstack([tests["factors"], more["factors"]])
        for key in ("error", "solution", "reg"):
            tests[key] = np.vstack([tests[key], more[key]])
        best = best_factor(tests["factors"], cauchy_chi2(tests["error"]))
    log.info("Final best tikfac: %.4e", best)
    return best
