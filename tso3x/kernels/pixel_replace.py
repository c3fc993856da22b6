"""jwst 3.0.0 ``pixel_replace`` kernels (``mingrad``, ``fit_profile``): numpy in, numpy out, no I/O.

Both work on a chunk of integrations ``(n, ny, nx)`` of SCI/ERR/DQ/VAR_* and return new arrays (the inputs
are not modified). Every integration is processed independently, as jwst does for TSO cubes. The
arithmetic follows ``jwst.pixel_replace.pixel_replace.PixelReplacement`` operation for operation, in the
same dtypes (float32 data stay float32), so values agree with jwst's to the last bit:

- :func:`mingrad` replaces non-finite SCI at 2 ≤ y ≤ ny−2, 2 ≤ x ≤ nx−2 by the mean of the neighbour pair
  (left/right or up/down) with the smaller absolute difference, vectorised over all pixels at once.
- :func:`fit_profile` replaces DO_NOT_USE (and not NON_SCIENCE) pixels from the median normalised spatial
  profile of up to ``n_adjacent_cols`` good profiles on each side, scaled to the profile by a Nelder–Mead
  fit (scipy, as jwst). Everything but the fit is vectorised over the (integration, profile) pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import dqflags

DO_NOT_USE = np.uint32(dqflags.DO_NOT_USE)
NON_SCIENCE = np.uint32(dqflags.NON_SCIENCE)
FLUX_ESTIMATED = np.uint32(dqflags.FLUX_ESTIMATED)
#: (integration, profile) pairs handled at once by :func:`fit_profile` (bounds its memory).
FIT_BATCH = 2048


class Replaced(NamedTuple):
    """The arrays of a chunk after pixel replacement (``None`` where the input had no such variance)."""

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    var_poisson: np.ndarray | None
    var_rnoise: np.ndarray | None
    var_flat: np.ndarray | None


def _copy(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else np.array(a, dtype=a.dtype.newbyteorder("="), copy=True)


def mingrad(sci, err, dq, var_poisson=None, var_rnoise=None, var_flat=None) -> Replaced:
    """jwst ``PixelReplacement.mingrad`` on every integration of a chunk.

    Parameters
    ----------
    sci, err : ndarray
        (n, ny, nx) science and error arrays [data units].
    dq : ndarray of uint32
        (n, ny, nx) data-quality flags.
    var_poisson, var_rnoise, var_flat : ndarray or None
        (n, ny, nx) variances [data units squared].

    Returns
    -------
    Replaced
        Non-finite SCI pixels with a usable neighbour pair get the pair's mean in SCI and ERR and the
        square of the mean square root in each variance; their DQ loses DO_NOT_USE (unless NON_SCIENCE)
        and gains FLUX_ESTIMATED. Every value comes from the input arrays (not from earlier replacements).
    """
    out = Replaced(*(_copy(a) for a in (sci, err, dq, var_poisson, var_rnoise, var_flat)))
    _, ny, nx = sci.shape
    inner = np.zeros((ny, nx), bool)
    inner[2 : ny - 1, 2 : nx - 1] = True  # jwst: pad=1 with strict comparisons
    t, y, x = np.nonzero(~np.isfinite(sci) & inner)
    if t.size == 0:
        return out
    with np.errstate(invalid="ignore", over="ignore"):
        dh = np.abs(sci[t, y, x - 1] - sci[t, y, x + 1])
        dv = np.abs(sci[t, y - 1, x] - sci[t, y + 1, x])
    dh = np.where(np.isnan(dh), np.inf, dh)
    dv = np.where(np.isnan(dv), np.inf, dv)
    use = ~(np.isinf(dh) & np.isinf(dv))
    vertical = (dv < dh)[use]  # np.argmin: the horizontal pair on ties
    t, y, x = t[use], y[use], x[use]
    floats = {"sci": sci, "err": err, "var_poisson": var_poisson, "var_rnoise": var_rnoise, "var_flat": var_flat}
    for name, src in floats.items():
        if src is None:
            continue
        pairs = (src[t, y, x - 1], src[t, y, x + 1], src[t, y - 1, x], src[t, y + 1, x])
        with np.errstate(invalid="ignore", over="ignore"):
            if name.startswith("var"):  # jwst: interpolate sqrt(var), then square
                pairs = tuple(np.sqrt(p) for p in pairs)
            value = np.where(vertical, (pairs[2] + pairs[3]) / 2.0, (pairs[0] + pairs[1]) / 2.0)
            if name.startswith("var"):
                value = value**2
        getattr(out, name)[t, y, x] = value
    flags = dq[t, y, x].astype(np.uint32)
    clear = ((flags & DO_NOT_USE) != 0) & ((flags & NON_SCIENCE) == 0)
    flags[clear] -= DO_NOT_USE
    out.dq[t, y, x] = flags | FLUX_ESTIMATED
    return out


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """numpy ``nanmedian`` of an N-d array along ``axis`` (its masked-array path: (low + high) / 2 in the
    input dtype), without the all-NaN warning; all-NaN slices give NaN."""
    s = np.sort(a, axis=axis)  # NaN last
    count = np.sum(~np.isnan(s), axis=axis, keepdims=True)
    high = count // 2
    low = np.where(count % 2 == 1, high, high - 1)
    lo = np.take_along_axis(s, np.maximum(low, 0), axis=axis)
    hi = np.take_along_axis(s, np.minimum(high, s.shape[axis] - 1), axis=axis)
    with np.errstate(over="ignore", invalid="ignore"):
        med = (lo + hi) / np.asarray(2.0, dtype=a.dtype)
    return np.squeeze(np.where(count > 0, med, np.nan).astype(a.dtype), axis=axis)


def _nanmax(a: np.ndarray, axis) -> np.ndarray:
    """``nanmax`` without the all-NaN warning (all-NaN slices give NaN)."""
    return np.fmax.reduce(a, axis=axis)


def profile_mse(scale, median, current):
    """jwst ``PixelReplacement.profile_mse``: mean squared difference of ``current`` and ``median * scale``."""
    return np.nansum((current - (median * scale)) ** 2.0) / (len(median) - np.count_nonzero(np.isnan(current)))


def _fit_scale(median_row, cleaned_row, rows):
    """jwst's Nelder–Mead scale of one profile: (norm_scale, scale)."""
    from scipy.optimize import minimize

    min_median = median_row[rows]
    min_current = cleaned_row[rows]
    norm_current = min_current / np.max(min_current)
    with np.errstate(all="ignore"):
        norm_scale = minimize(
            profile_mse,
            x0=np.abs(np.nanmax(norm_current)),
            args=(np.abs(min_median), np.abs(norm_current)),
            method="Nelder-Mead",
        ).x
    return norm_scale, np.max(min_current)


def _classify(dq: np.ndarray):
    """Per integration: the rows of the good-pixel bounding box, valid profiles and profiles to replace."""
    n, ny, nx = dq.shape
    good = (dq & DO_NOT_USE) == 0
    rows_good, cols_good = good.any(axis=2), good.any(axis=1)
    has_good = rows_good.any(axis=1)
    iy, ix = np.arange(ny), np.arange(nx)
    r0 = np.argmax(rows_good, axis=1)
    r1 = ny - np.argmax(rows_good[:, ::-1], axis=1)
    c0 = np.argmax(cols_good, axis=1)
    c1 = nx - np.argmax(cols_good[:, ::-1], axis=1)
    in_cut = (iy >= r0[:, None]) & (iy < r1[:, None]) & has_good[:, None]
    in_range = (ix >= c0[:, None]) & (ix < c1[:, None]) & has_good[:, None]
    nonsci = (dq & NON_SCIENCE) != 0
    bad = ((dq & DO_NOT_USE) != 0) & ~nonsci
    n_bad = np.sum(bad & in_cut[:, :, None], axis=1)
    n_nonsci = np.sum(nonsci & in_cut[:, :, None], axis=1)
    valid = in_range & (n_bad + n_nonsci != (r1 - r0)[:, None])
    return in_cut, valid, valid & (n_bad > 0)


def _fit_batch(src: dict, out: Replaced, t, c, in_cut, valid, n_adjacent_cols: int) -> None:
    """Replace the pixels of the profiles ``[t[i], :, c[i]]`` in ``out`` (canonical layout, profiles along y).

    ``src`` holds the input arrays: neighbours are read there, with their DO_NOT_USE pixels masked, which
    is what jwst reads too although it updates its arrays profile by profile (it only changes such pixels).
    """
    sci, dq = src["sci"], src["dq"]
    nx = sci.shape[2]
    offsets = np.array([d for d in range(-n_adjacent_cols, n_adjacent_cols + 1) if d != 0], dtype=np.int64)
    cols = c[:, None] + offsets[None, :]  # (P, K) neighbouring profiles
    ok = (cols >= 0) & (cols < nx)
    cols = np.clip(cols, 0, nx - 1)
    ok &= valid[t[:, None], cols]
    cut = in_cut[t]  # (P, ny): jwst's cross-dispersion range of good pixels
    masked = ~ok[:, :, None] | ((dq[t[:, None], :, cols] & DO_NOT_USE) != 0) | ~cut[:, None, :]

    def neighbours(arr, root=False):  # (P, K, ny), NaN where masked
        values = arr[t[:, None], :, cols]
        return np.where(masked, np.nan, np.sqrt(values) if root else values)

    with np.errstate(all="ignore"):
        data, error = neighbours(sci), neighbours(src["err"])
        scale = _nanmax(np.abs(data), axis=2)  # (P, K): each neighbour's peak |data|
        low_snr = _nanmax(np.abs(data / error).reshape(len(t), -1), axis=1) < 5
        scale[low_snr] = np.where(ok[low_snr], 1.0, np.nan)
        norm = scale[:, :, None]
        medians = {"sci": _nanmedian(data / norm, axis=1), "err": _nanmedian(error / norm, axis=1)}
        for name in ("var_poisson", "var_rnoise", "var_flat"):
            if src[name] is not None:
                medians[name] = _nanmedian(neighbours(src[name], root=True) / norm, axis=1)
    current, cur_dq = sci[t, :, c], dq[t, :, c]  # (P, ny)
    cleaned = np.where((cur_dq & DO_NOT_USE) != 0, np.nan, current)
    rows = ~np.isnan(cleaned) & cut
    todo = ok.any(axis=1) & rows.any(axis=1)  # jwst skips profiles without neighbours or valid values
    with np.errstate(all="ignore"):
        peak = _nanmax(np.where(rows, cleaned, np.nan), axis=1)
        fit = (
            (_nanmedian(scale, axis=1) != 1.0)
            & (_nanmax(np.where(rows, np.abs(medians["sci"]), np.nan), axis=1) < 1e20)
            & (_nanmax(np.where(rows, np.abs(cleaned / peak[:, None]), np.nan), axis=1) < 1e20)
        )
        # unfitted profiles: norm_scale = scale = 1.0
        new = {k: (v**2 if k.startswith("var") else v.copy()) for k, v in medians.items()}
        for i in np.flatnonzero(todo & fit):
            norm_scale, top = _fit_scale(medians["sci"][i], cleaned[i], np.flatnonzero(rows[i]))
            new["sci"][i] = medians["sci"][i] * norm_scale * top
            new["err"][i] = medians["err"][i] * norm_scale * top
            for name in medians:
                if name.startswith("var"):
                    new[name][i] = (medians[name][i] * norm_scale * top) ** 2
    replace = ((((cur_dq & DO_NOT_USE) ^ (cur_dq & NON_SCIENCE)) == 1) & cut)[todo]
    t, c, cut, cur_dq = t[todo], c[todo], cut[todo], cur_dq[todo]
    sci_col = np.where(cut, np.where(replace, new["sci"][todo], cleaned[todo]), current[todo])
    out.sci[t, :, c] = sci_col
    out.dq[t, :, c] = np.where(replace & ~np.isnan(sci_col), cur_dq ^ DO_NOT_USE ^ FLUX_ESTIMATED, cur_dq)
    for name in ("err", "var_poisson", "var_rnoise", "var_flat"):
        if src[name] is not None:
            getattr(out, name)[t, :, c] = np.where(replace, new[name][todo], src[name][t, :, c])


def fit_profile(
    sci, err, dq, var_poisson=None, var_rnoise=None, var_flat=None, *, dispaxis: int, n_adjacent_cols: int = 3
) -> Replaced:
    """jwst ``PixelReplacement.fit_profile`` on every integration of a chunk.

    Parameters
    ----------
    sci, err : ndarray
        (n, ny, nx) science and error arrays [data units].
    dq : ndarray of uint32
        (n, ny, nx) data-quality flags.
    var_poisson, var_rnoise, var_flat : ndarray or None
        (n, ny, nx) variances [data units squared].
    dispaxis : int
        Dispersion axis (DISPAXIS): 1 along x (profiles are columns), 2 along y (profiles are rows).
    n_adjacent_cols : int
        Profiles used on each side of a profile to replace.

    Returns
    -------
    Replaced
        In each profile with a DO_NOT_USE (not NON_SCIENCE) pixel inside the bounding box of the
        integration's good pixels: those pixels get the scaled median profile of the neighbours (ERR and
        the square roots of the variances likewise), lose DO_NOT_USE and gain FLUX_ESTIMATED (when the new
        value is not NaN); DO_NOT_USE pixels of the profile inside the box become NaN otherwise.
    """
    if dispaxis not in (1, 2):
        raise ValueError(f"dispaxis must be 1 or 2, not {dispaxis!r}")
    src = {"sci": sci, "err": err, "dq": dq, "var_poisson": var_poisson, "var_rnoise": var_rnoise, "var_flat": var_flat}
    if dispaxis == 2:  # profiles along the last axis → transpose so they run along y
        src = {k: None if v is None else v.transpose(0, 2, 1) for k, v in src.items()}
    out = Replaced(*(_copy(src[k]) for k in Replaced._fields))
    if n_adjacent_cols >= 1:
        in_cut, valid, to_replace = _classify(src["dq"])
        t, c = np.nonzero(to_replace)
        for start in range(0, len(t), FIT_BATCH):
            part = slice(start, start + FIT_BATCH)
            _fit_batch(src, out, t[part], c[part], in_cut, valid, n_adjacent_cols)
    if dispaxis == 2:
        out = Replaced(*(None if a is None else np.ascontiguousarray(a.transpose(0, 2, 1)) for a in out))
    return out
