"""Fused numba box extraction: one pass over each integration for the common jwst ``extract_1d`` cases.

:func:`extract_block_fused` gives the same quantities as :func:`tso3x.kernels.box_extract.extract_block`
(the numpy reference, which follows jwst operation for operation) for no background or a polynomial
background of order 0 or 1 without smoothing, and it also applies the caller's bad-pixel rule (NaN in
SCI or ERR, DO_NOT_USE in DQ, NaN variance) itself. Each integration's data are read once to fit the
background and once to sum the aperture, instead of through a dozen full-size numpy temporaries.
Sums run in a different order than numpy's pairwise sums, so results agree to rounding (~1e-15 relative).

Its numpy twin (``kernels="numpy"``, for a run on a cold kernel cache, :mod:`tso3x.jit`) runs the same loop
over cross-dispersion rows with the operations on every integration and column of a row vectorised: the
same additions in the same order, so the results are bit-identical.
"""

from __future__ import annotations

import math

import numpy as np

from ..jit import NUMBA, check, frozen, njit
from .box_extract import RAW_FIELDS

#: Background fits this kernel handles: ``None`` or ``("poly", order)`` with these orders.
FUSED_ORDERS = (0, 1)


@njit(nogil=True, inline="always")
def _is_bad(s, e, q, vp, vr, vf, dnu):
    return math.isnan(s) or math.isnan(e) or (q & dnu) != 0 or math.isnan(vp) or math.isnan(vr) or math.isnan(vf)


@njit(nogil=True, inline="always")
def _fits_background(s, vp, vr, vf):
    """jwst's background-fit weight test beyond the bad-pixel rule: finite data and finite total variance."""
    return not math.isinf(s) and not math.isinf(vr + vp + vf)


@njit(nogil=True)
def _cond_inv2(a, b, c):
    """Inverse of the symmetric 2×2 [[a, b], [b, c]] if its 2-norm condition number is < 1e10, else zeros."""
    half = 0.5 * (a + c)
    rad = math.sqrt((0.5 * (a - c)) ** 2 + b * b)
    lmax, lmin = abs(half) + rad, abs(half) - rad
    det = a * c - b * b
    if not (lmin > 0.0 and lmax / lmin < 1e10) or det == 0.0:
        return 0.0, 0.0, 0.0
    return c / det, -b / det, a / det


@njit(nogil=True)
def _fused(sci, err, dq, vp, vr, vf, profile, bg_mask, yv, use_bg, order, dnu, out):
    n, ncross, ndisp = sci.shape
    # background-variance weights depend only on the source profile: bkg_mat[d, k] = sum_y w0[y, d] y^k
    bm0 = np.zeros(ndisp)
    bm1 = np.zeros(ndisp)
    for y in range(ncross):
        for d in range(ndisp):
            bm0[d] += profile[y, d]
            bm1[d] += profile[y, d] * yv[y]
    m00 = np.empty(ndisp)
    m01 = np.empty(ndisp)
    m11 = np.empty(ndisp)
    v0 = np.empty(ndisp)
    v1 = np.empty(ndisp)
    c0 = np.empty(ndisp)
    c1 = np.empty(ndisp)
    u0 = np.empty(ndisp)
    u1 = np.empty(ndisp)
    for i in range(n):
        c0[:] = 0.0
        c1[:] = 0.0
        u0[:] = 0.0
        u1[:] = 0.0
        if use_bg:
            m00[:] = 0.0
            m01[:] = 0.0
            m11[:] = 0.0
            v0[:] = 0.0
            v1[:] = 0.0
            for y in range(ncross):
                yy = yv[y]
                for d in range(ndisp):
                    if bg_mask[y, d]:
                        s = sci[i, y, d]
                        p, r, f = vp[i, y, d], vr[i, y, d], vf[i, y, d]
                        if not _is_bad(s, err[i, y, d], dq[i, y, d], p, r, f, dnu):
                            if _fits_background(s, p, r, f):
                                m00[d] += 1.0
                                m01[d] += yy
                                m11[d] += yy * yy
                                v0[d] += s
                                v1[d] += s * yy
            for d in range(ndisp):
                if order == 0:
                    k00 = 1.0 / m00[d] if m00[d] != 0.0 else 0.0
                    c0[d] = k00 * v0[d]
                    u0[d] = k00 * bm0[d]
                else:
                    k00, k01, k11 = _cond_inv2(m00[d], m01[d], m11[d])
                    c0[d] = k00 * v0[d] + k01 * v1[d]
                    c1[d] = k01 * v0[d] + k11 * v1[d]
                    u0[d] = k00 * bm0[d] + k01 * bm1[d]
                    u1[d] = k01 * bm0[d] + k11 * bm1[d]
        for d in range(ndisp):
            for k in range(out.shape[1]):
                out[i, k, d] = 0.0
        for y in range(ncross):
            yy = yv[y]
            for d in range(ndisp):
                s = sci[i, y, d]
                p, r, f = vp[i, y, d], vr[i, y, d], vf[i, y, d]
                bad = _is_bad(s, err[i, y, d], dq[i, y, d], p, r, f, dnu)
                b = c0[d] + c1[d] * yy
                if use_bg and bg_mask[y, d] and not bad and _fits_background(s, p, r, f):
                    pw = (u0[d] + u1[d] * yy) ** 2
                    out[i, 5, d] += p * pw
                    out[i, 6, d] += r * pw
                    out[i, 7, d] += f * pw
                w = profile[y, d]
                if bad or w == 0.0:
                    continue
                img = s - b if use_bg else s
                if math.isnan(img) or math.isinf(img):
                    continue
                w2 = w * w
                out[i, 0, d] += img * w
                out[i, 1, d] += p * w2
                out[i, 2, d] += r * w2
                out[i, 3, d] += f * w2
                out[i, 4, d] += b * w
                out[i, 8, d] += w
        for d in range(ndisp):
            for k in range(3):
                out[i, 1 + k, d] += out[i, 5 + k, d]
            if not math.isfinite(out[i, 4, d]) or not use_bg:
                out[i, 4, d] = 0.0
            if abs(out[i, 8, d]) <= 1e-8:
                out[i, 0, d] = np.nan


def _bad_np(s, e, q, vp, vr, vf, dnu):
    return np.isnan(s) | np.isnan(e) | ((q & dnu) != 0) | np.isnan(vp) | np.isnan(vr) | np.isnan(vf)


def _fits_background_np(s, vp, vr, vf):
    return ~np.isinf(s) & ~np.isinf(vr + vp + vf)


def _cond_inv2_np(a, b, c):
    """:func:`_cond_inv2` of arrays of matrices."""
    with np.errstate(divide="ignore", invalid="ignore"):
        half = 0.5 * (a + c)
        rad = np.sqrt((0.5 * (a - c)) ** 2 + b * b)
        lmax, lmin = np.abs(half) + rad, np.abs(half) - rad
        det = a * c - b * b
        ok = (lmin > 0.0) & (lmax / lmin < 1e10) & (det != 0.0)
        return tuple(np.where(ok, v, 0.0) for v in (c / det, -b / det, a / det))


def _fit_background_np(sci, err, dq, vp, vr, vf, profile, bg_mask, yv, order, dnu):
    """The background coefficients (c0, c1) and variance weights (u0, u1) of every integration and column."""
    n, ncross, ndisp = sci.shape
    m00, m01, m11, v0, v1 = (np.zeros((n, ndisp)) for _ in range(5))
    for y in range(ncross):
        s, p, r, f = sci[:, y], vp[:, y], vr[:, y], vf[:, y]
        fit = bg_mask[y] & ~_bad_np(s, err[:, y], dq[:, y], p, r, f, dnu) & _fits_background_np(s, p, r, f)
        yy = yv[y]
        for acc, term in ((m00, 1.0), (m01, yy), (m11, yy * yy), (v0, s), (v1, s * yy)):
            np.add(acc, term, out=acc, where=fit)
    bm0 = np.zeros(ndisp)
    bm1 = np.zeros(ndisp)
    for y in range(ncross):
        bm0 += profile[y]
        bm1 += profile[y] * yv[y]
    if order == 0:
        k00 = np.zeros((n, ndisp))
        np.divide(1.0, m00, out=k00, where=m00 != 0.0)
        zero = np.zeros((n, ndisp))
        return k00 * v0, zero, k00 * bm0, zero
    k00, k01, k11 = _cond_inv2_np(m00, m01, m11)
    return k00 * v0 + k01 * v1, k01 * v0 + k11 * v1, k00 * bm0 + k01 * bm1, k01 * bm0 + k11 * bm1


def _fused_np(sci, err, dq, vp, vr, vf, profile, bg_mask, yv, use_bg, order, dnu, out):
    """:func:`_fused` with the integrations and columns of each row at once (the same sums, in the same order)."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # as the kernel: inf and NaN, no warnings
        _fused_rows(sci, err, dq, vp, vr, vf, profile, bg_mask, yv, use_bg, order, dnu, out)


def _fused_rows(sci, err, dq, vp, vr, vf, profile, bg_mask, yv, use_bg, order, dnu, out):
    n, ncross, ndisp = sci.shape
    if use_bg:
        c0, c1, u0, u1 = _fit_background_np(sci, err, dq, vp, vr, vf, profile, bg_mask, yv, order, dnu)
    else:
        c0 = c1 = u0 = u1 = np.zeros((n, ndisp))
    out[:] = 0.0
    acc = [out[:, k] for k in range(out.shape[1])]
    for y in range(ncross):
        s, p, r, f = sci[:, y], vp[:, y], vr[:, y], vf[:, y]
        bad = _bad_np(s, err[:, y], dq[:, y], p, r, f, dnu)
        yy = yv[y]
        b = c0 + c1 * yy
        if use_bg:
            fit = bg_mask[y] & ~bad & _fits_background_np(s, p, r, f)
            pw = (u0 + u1 * yy) ** 2
            for k, v in ((5, p), (6, r), (7, f)):
                np.add(acc[k], v * pw, out=acc[k], where=fit)
        w = profile[y]
        img = s - b if use_bg else s
        good = ~bad & (w != 0.0) & np.isfinite(img)
        w2 = w * w
        for k, term in (
            (0, img * w),
            (1, p * w2),
            (2, r * w2),
            (3, f * w2),
            (4, b * w),
            (8, np.broadcast_to(w, b.shape)),
        ):
            np.add(acc[k], term, out=acc[k], where=good)
    for k in range(3):
        acc[1 + k] += acc[5 + k]
    if use_bg:
        acc[4][~np.isfinite(acc[4])] = 0.0
    else:
        acc[4][:] = 0.0
    acc[0][np.abs(acc[8]) <= 1e-8] = np.nan


def extract_block_fused(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    var_poisson: np.ndarray,
    var_rnoise: np.ndarray,
    var_flat: np.ndarray,
    profile: np.ndarray,
    bg_profile: np.ndarray | None = None,
    *,
    bkg_order: int = 0,
    do_not_use: int = 1,
    kernels: str = NUMBA,
) -> dict[str, np.ndarray]:
    """Box-extract every integration of a block in one fused pass (no smoothing, poly order 0 or 1).

    Parameters
    ----------
    sci, err : ndarray (n, ncross, ndisp)
        Data and error [input unit], dispersion along the last axis (views of transposed data are fine).
    dq : ndarray (n, ncross, ndisp) of uint32
        Pixels with ``do_not_use`` set are excluded, as are NaN SCI, ERR or variance.
    var_poisson, var_rnoise, var_flat : ndarray (n, ncross, ndisp)
        Variances [input unit²] (zeros where the file has none).
    profile : ndarray (ncross, ndisp)
        Source aperture weights.
    bg_profile : ndarray (ncross, ndisp) or None
        Background regions (non-zero where used); None for no background subtraction.
    bkg_order : int
        Polynomial order of the background fit, 0 or 1.
    do_not_use : int
        The DQ bit of DO_NOT_USE.
    kernels : {"numba", "numpy"}
        The compiled kernel or its numpy twin (bit-identical).

    Returns
    -------
    dict of ndarray (n, ndisp) float64
        The fields of :func:`tso3x.kernels.box_extract.extract_block`.
    """
    if bg_profile is not None and bkg_order not in FUSED_ORDERS:
        raise ValueError(f"the fused kernel fits background orders {FUSED_ORDERS}, not {bkg_order}")
    n, ncross, ndisp = sci.shape
    out = np.empty((n, len(RAW_FIELDS), ndisp))
    use_bg = bg_profile is not None
    bg_mask = (bg_profile != 0) if use_bg else np.zeros((ncross, ndisp), dtype=np.bool_)
    # inputs read-only: one compiled version whether the blocks are writable or not
    data = [frozen(a) for a in (sci, err, dq, var_poisson, var_rnoise, var_flat)]
    impl = _fused if check(kernels) == NUMBA else _fused_np
    impl(
        *data,
        frozen(np.ascontiguousarray(profile, dtype=np.float64)),
        frozen(np.ascontiguousarray(bg_mask)),
        frozen(np.linspace(-1, 1, ncross)),  # jwst's cross-dispersion coordinate of the background polynomial
        use_bg,
        int(bkg_order),
        np.uint32(do_not_use),
        out,
    )
    return {name: out[:, k, :] for k, name in enumerate(RAW_FIELDS)}
