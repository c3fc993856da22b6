"""scipy's Trust Region Reflective least squares, compiled, for the 3-parameter Gaussian PRF fit.

A line-by-line numba port of ``scipy.optimize.least_squares(method='trf')`` (scipy 1.17: ``trf_bounds``
with ``tr_solver='exact'``, ``x_scale=1``, linear loss) and of its ``'2-point'`` finite-difference
Jacobian with a relative ``diff_step`` and bounds — the path astropy's ``TRFLSQFitter`` takes inside
photutils' ``PSFPhotometry``. It follows scipy's arithmetic (BLAS ``dot``, LAPACK ``gesdd`` SVD, scipy's
``erf`` to an ulp), so it takes the same iterations and stops on the same test as jwst. That matters: jwst's
fit usually stops on the absolute ``gtol`` long before the optimum (see :mod:`tso3x.kernels.psf_fit`),
so only the same path gives the same numbers.

The residual is photutils' ``GaussianPRF.evaluate`` with θ = 0 minus the data, evaluated separably.
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import njit

_erf = math.erf  # libm's erf: within an ulp or two of scipy's (a ctypes pointer to scipy's would block caching)
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_SQRT2 = math.sqrt(2.0)
EPS = np.finfo(float).eps
_EPS_2POINT = EPS**0.5


@njit(nogil=True)
def residuals(p, xs, ys, ix, iy, values, x0, y0):
    """``model − data``: ``flux/4 · (Δerf_x · Δerf_y)`` at the fitted pixels (photutils' operations)."""
    x_sigma = p[1] * FWHM_TO_SIGMA
    y_sigma = p[2] * FWHM_TO_SIGMA
    ex = np.empty(xs.size)
    ey = np.empty(ys.size)
    for j in range(xs.size):
        dx = xs[j] - x0
        ex[j] = _erf((dx + 0.5) / (_SQRT2 * x_sigma)) - _erf((dx - 0.5) / (_SQRT2 * x_sigma))
    for j in range(ys.size):
        dy = ys[j] - y0
        ey[j] = _erf((dy + 0.5) / (_SQRT2 * y_sigma)) - _erf((dy - 0.5) / (_SQRT2 * y_sigma))
    f = np.empty(values.size)
    scale = p[0] / 4.0
    for k in range(values.size):
        f[k] = scale * (ex[ix[k]] * ey[iy[k]]) - values[k]
    return f


@njit(nogil=True)
def _norm(v):
    return math.sqrt(np.dot(v, v))


@njit(nogil=True)
def _jacobian(p, f0, lb, ub, diff_step, xs, ys, ix, iy, values, x0, y0):
    """scipy ``approx_derivative(method='2-point', rel_step=diff_step, bounds=(lb, ub))``."""
    n = p.size
    h = np.empty(n)
    for i in range(n):
        sign = 1.0 if p[i] >= 0 else -1.0
        h[i] = diff_step * sign * abs(p[i])
        if (p[i] + h[i]) - p[i] == 0:
            h[i] = _EPS_2POINT * sign * max(1.0, abs(p[i]))
        # _adjust_scheme_to_bounds, '1-sided', one step
        lower, upper = p[i] - lb[i], ub[i] - p[i]
        xh = p[i] + h[i]
        fitting = abs(h[i]) <= max(lower, upper)
        if (xh < lb[i] or xh > ub[i]) and fitting:
            h[i] = -h[i]
        elif not fitting:
            h[i] = upper if upper >= lower else -lower
    jt = np.empty((n, f0.size))
    for i in range(n):
        q = p.copy()
        q[i] = p[i] + h[i]
        dx = q[i] - p[i]
        jt[i] = (residuals(q, xs, ys, ix, iy, values, x0, y0) - f0) / dx
    return jt.T.copy()


@njit(nogil=True)
def _strictly_feasible(x, lb, ub, rstep):
    out = x.copy()
    for i in range(x.size):
        if rstep == 0:
            low, up = x[i] <= lb[i], x[i] >= ub[i]
        else:
            ld, ud = x[i] - lb[i], ub[i] - x[i]
            low = np.isfinite(lb[i]) and ld <= min(ud, rstep * max(1.0, abs(lb[i])))
            up = np.isfinite(ub[i]) and ud <= min(ld, rstep * max(1.0, abs(ub[i])))
        if up:
            out[i] = np.nextafter(ub[i], lb[i]) if rstep == 0 else ub[i] - rstep * max(1.0, abs(ub[i]))
        elif low:
            out[i] = np.nextafter(lb[i], ub[i]) if rstep == 0 else lb[i] + rstep * max(1.0, abs(lb[i]))
        if out[i] < lb[i] or out[i] > ub[i]:
            out[i] = 0.5 * (lb[i] + ub[i])
    return out


@njit(nogil=True)
def _cl_scaling(x, g, lb, ub):
    v = np.ones(x.size)
    dv = np.zeros(x.size)
    for i in range(x.size):
        if g[i] < 0 and np.isfinite(ub[i]):
            v[i] = ub[i] - x[i]
            dv[i] = -1.0
        if g[i] > 0 and np.isfinite(lb[i]):
            v[i] = x[i] - lb[i]
            dv[i] = 1.0
    return v, dv


@njit(nogil=True)
def _phi(alpha, suf, s, delta):
    denom = s**2 + alpha
    p_norm = _norm(suf / denom)
    return p_norm - delta, -np.sum(suf**2 / denom**3) / p_norm


@njit(nogil=True)
def _solve_tr(n, m, uf, s, v, delta, initial_alpha):
    """scipy ``solve_lsq_trust_region`` (rtol=0.01, max_iter=10)."""
    suf = s * uf
    full_rank = s[-1] > EPS * m * s[0] if m >= n else False
    if full_rank:
        p = -np.dot(v, uf / s)
        if _norm(p) <= delta:
            return p, 0.0
    alpha_upper = _norm(suf) / delta
    if full_rank:
        phi, phi_prime = _phi(0.0, suf, s, delta)
        alpha_lower = -phi / phi_prime
    else:
        alpha_lower = 0.0
    if not full_rank and initial_alpha == 0:
        alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
    else:
        alpha = initial_alpha
    for _ in range(10):
        if alpha < alpha_lower or alpha > alpha_upper:
            alpha = max(0.001 * alpha_upper, (alpha_lower * alpha_upper) ** 0.5)
        phi, phi_prime = _phi(alpha, suf, s, delta)
        if phi < 0:
            alpha_upper = alpha
        ratio = phi / phi_prime
        alpha_lower = max(alpha_lower, alpha - ratio)
        alpha -= (phi + delta) * ratio / delta
        if abs(phi) < 0.01 * delta:
            break
    p = -np.dot(v, suf / (s**2 + alpha))
    p *= delta / _norm(p)
    return p, alpha


@njit(nogil=True)
def _step_to_bound(x, s, lb, ub):
    steps = np.full(x.size, np.inf)
    for i in range(x.size):
        if s[i] != 0:
            steps[i] = max((lb[i] - x[i]) / s[i], (ub[i] - x[i]) / s[i])
    min_step = steps.min()
    hits = np.zeros(x.size)
    for i in range(x.size):
        if steps[i] == min_step:
            hits[i] = np.sign(s[i])
    return min_step, hits


@njit(nogil=True)
def _quad_1d(jh, g, s, diag, s0, with_s0):
    v = np.dot(jh, s)
    a = np.dot(v, v)
    a += np.dot(s * diag, s)
    a *= 0.5
    b = np.dot(g, s)
    c = 0.0
    if with_s0:
        u = np.dot(jh, s0)
        b += np.dot(u, v)
        c = 0.5 * np.dot(u, u) + np.dot(g, s0)
        b += np.dot(s0 * diag, s)
        c += 0.5 * np.dot(s0 * diag, s0)
    return a, b, c


@njit(nogil=True)
def _min_quad_1d(a, b, lo, hi, c):
    ts = [lo, hi]
    if a != 0:
        extremum = -0.5 * b / a
        if lo < extremum < hi:
            ts.append(extremum)
    best_t, best_y = ts[0], ts[0] * (a * ts[0] + b) + c
    for t in ts[1:]:
        y = t * (a * t + b) + c
        if y < best_y:
            best_t, best_y = t, y
    return best_t, best_y


@njit(nogil=True)
def _eval_quad(jh, g, s, diag):
    js = np.dot(jh, s)
    q = np.dot(js, js) + np.dot(s * diag, s)
    return 0.5 * q + np.dot(s, g)


@njit(nogil=True)
def _select_step(x, jh, diag_h, g_h, p, p_h, d, delta, lb, ub, theta):
    """scipy ``trf.select_step``: the TR step, its reflection or the anti-gradient, whichever is best."""
    inside = True
    for i in range(x.size):
        if not (lb[i] <= x[i] + p[i] <= ub[i]):
            inside = False
    if inside:
        return p, p_h, -_eval_quad(jh, g_h, p_h, diag_h)
    p_stride, hits = _step_to_bound(x, p, lb, ub)
    r_h = p_h.copy()
    for i in range(x.size):
        if hits[i] != 0:
            r_h[i] *= -1
    r = d * r_h
    p = p * p_stride
    p_h = p_h * p_stride
    x_on_bound = x + p
    # intersect_trust_region(p_h, r_h, delta): the larger root
    a = np.dot(r_h, r_h)
    b = np.dot(p_h, r_h)
    c = np.dot(p_h, p_h) - delta**2
    disc = math.sqrt(b * b - a * c)
    q = -(b + math.copysign(disc, b))
    t1, t2 = q / a, c / q
    to_tr = max(t1, t2)
    to_bound, _ = _step_to_bound(x_on_bound, r, lb, ub)
    r_stride = min(to_bound, to_tr)
    if r_stride > 0:
        r_stride_l = (1 - theta) * p_stride / r_stride
        r_stride_u = theta * to_bound if r_stride == to_bound else to_tr
    else:
        r_stride_l, r_stride_u = 0.0, -1.0
    if r_stride_l <= r_stride_u:
        qa, qb, qc = _quad_1d(jh, g_h, r_h, diag_h, p_h, True)
        r_stride, r_value = _min_quad_1d(qa, qb, r_stride_l, r_stride_u, qc)
        r_h = r_h * r_stride + p_h
        r = r_h * d
    else:
        r_value = np.inf
    p = p * theta
    p_h = p_h * theta
    p_value = _eval_quad(jh, g_h, p_h, diag_h)
    ag_h = -g_h
    ag = d * ag_h
    to_tr = delta / _norm(ag_h)
    to_bound, _ = _step_to_bound(x, ag, lb, ub)
    ag_stride = theta * to_bound if to_bound < to_tr else to_tr
    qa, qb, _ = _quad_1d(jh, g_h, ag_h, diag_h, ag_h, False)
    ag_stride, ag_value = _min_quad_1d(qa, qb, 0.0, ag_stride, 0.0)
    ag_h = ag_h * ag_stride
    ag = ag * ag_stride
    if p_value < r_value and p_value < ag_value:
        return p, p_h, -p_value
    if r_value < p_value and r_value < ag_value:
        return r, r_h, -r_value
    return ag, ag_h, -ag_value


@njit(nogil=True)
def trf(x0, lb, ub, xs, ys, ix, iy, values, xc, yc, max_nfev, diff_step, ftol, xtol, gtol):
    """``least_squares(residuals, x0, bounds=(lb, ub), method='trf', jac='2-point', …).x``.

    Returns
    -------
    x : ndarray of float64, shape (3,)
        The parameters where scipy's TRF stops (flux, x_fwhm, y_fwhm).
    ok : bool
        False where scipy would raise (non-finite residuals at the start).
    """
    n = x0.size
    x = _strictly_feasible(x0, lb, ub, 1e-10)
    f = residuals(x, xs, ys, ix, iy, values, xc, yc)
    for k in range(f.size):
        if not np.isfinite(f[k]):
            return x, False
    m = f.size
    jac = _jacobian(x, f, lb, ub, diff_step, xs, ys, ix, iy, values, xc, yc)
    nfev = 1
    cost = 0.5 * np.dot(f, f)
    g = np.dot(jac.T, f)
    v, dv = _cl_scaling(x, g, lb, ub)
    delta = _norm(x / v**0.5)
    if delta == 0:
        delta = 1.0
    alpha = 0.0
    f_aug = np.zeros(m + n)
    j_aug = np.zeros((m + n, n))
    while True:
        v, dv = _cl_scaling(x, g, lb, ub)
        g_norm = np.max(np.abs(g * v))
        if g_norm < gtol or nfev == max_nfev:
            break
        d = v**0.5
        diag_h = g * dv
        g_h = d * g
        f_aug[:m] = f
        j_aug[:m] = jac * d
        jh = j_aug[:m].copy()
        j_aug[m:] = np.diag(diag_h**0.5)
        u, s, vt = np.linalg.svd(j_aug, full_matrices=False)
        vv = vt.T.copy()
        uf = np.dot(u.T, f_aug)
        theta = max(0.995, 1 - g_norm)
        actual_reduction = -1.0
        done = False
        x_new = x
        f_new = f
        cost_new = cost
        while actual_reduction <= 0 and nfev < max_nfev:
            p_h, alpha = _solve_tr(n, m, uf, s, vv, delta, alpha)
            p = d * p_h
            step, step_h, predicted = _select_step(x, jh, diag_h, g_h, p, p_h, d, delta, lb, ub, theta)
            x_new = _strictly_feasible(x + step, lb, ub, 0.0)
            f_new = residuals(x_new, xs, ys, ix, iy, values, xc, yc)
            nfev += 1
            step_h_norm = _norm(step_h)
            finite = True
            for k in range(m):
                if not np.isfinite(f_new[k]):
                    finite = False
            if not finite:
                delta = 0.25 * step_h_norm
                continue
            cost_new = 0.5 * np.dot(f_new, f_new)
            actual_reduction = cost - cost_new
            # update_tr_radius
            if predicted > 0:
                ratio = actual_reduction / predicted
            elif predicted == actual_reduction == 0:
                ratio = 1.0
            else:
                ratio = 0.0
            delta_new = delta
            if ratio < 0.25:
                delta_new = 0.25 * step_h_norm
            elif ratio > 0.75 and step_h_norm > 0.95 * delta:
                delta_new = delta * 2.0
            # check_termination
            ftol_ok = actual_reduction < ftol * cost and ratio > 0.25
            xtol_ok = _norm(step) < xtol * (xtol + _norm(x))
            if ftol_ok or xtol_ok:
                done = True
                break
            alpha *= delta / delta_new
            delta = delta_new
        if actual_reduction > 0:
            x = x_new
            f = f_new
            cost = cost_new
            jac = _jacobian(x, f, lb, ub, diff_step, xs, ys, ix, iy, values, xc, yc)
            g = np.dot(jac.T, f)
        if done:
            break
    return x, True
