"""Box extraction kernels (jwst 3.0.0 ``extract_1d`` box path): numpy in, numpy out, no I/O.

Every function works on a whole block of integrations at once, with the dispersion along the last axis:
data blocks are ``(n, ncross, ndisp)`` (vertical-dispersion data are transposed by the caller), profiles
``(ncross, ndisp)``. The arithmetic follows jwst's ``extract1d._fit_background_for_box_extraction`` and
``_box_extract`` operation for operation, vectorised over integrations and columns.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Output quantities of :func:`extract_block`, in order (before unit conversion).
RAW_FIELDS = (
    "sum",
    "var_poisson",
    "var_rnoise",
    "var_flat",
    "background",
    "bkg_var_poisson",
    "bkg_var_rnoise",
    "bkg_var_flat",
    "npixels",
)


def set_weights(profile: np.ndarray, idx: np.ndarray, lower, upper, allow_partial: bool = True) -> None:
    """jwst ``_set_weight_from_limits``: weight 1 in [lower, upper], partial weights at the edges (in place).

    Parameters
    ----------
    profile : ndarray
        Weights to update, same shape as ``idx``.
    idx : ndarray
        Cross-dispersion pixel index of every element [pixel].
    lower, upper : float or ndarray
        Inclusive limits [pixel, 0-based]; arrays broadcast against ``idx``.
    allow_partial : bool
        Set fractional weights where a limit cuts a pixel.
    """
    profile[(idx >= lower) & (idx <= upper)] = 1.0
    if allow_partial:
        for part in (idx - lower + 1, upper - idx + 1):
            part = np.broadcast_to(part, idx.shape)
            test = (part > 0) & (part < 1) & (profile < part)
            profile[test] = part[test]


def _poly(coeff: list[float], x: np.ndarray) -> np.ndarray:
    """Polynomial with constant term first, evaluated as astropy ``Polynomial1D`` (Horner, float64)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, float(coeff[-1]))
    for c in reversed(coeff[:-1]):
        out = out * x + float(c)
    return out


def box_profile(
    shape: tuple[int, int], params: dict, wavelength: np.ndarray | None, coefficients: str = "src_coeff"
) -> tuple[np.ndarray, float, float]:
    """Aperture weights of one frame (jwst ``box_profile``) in the detector orientation.

    Parameters
    ----------
    shape : (ny, nx)
        Frame shape.
    params : dict
        Extraction parameters (``dispaxis``, ``xstart``… ``extract_width``, ``trace``, ``src_coeff``,
        ``bkg_coeff``, ``bkg_fit``, ``independent_var``).
    wavelength : ndarray (ny, nx) or None
        Wavelength of every pixel [micron]; only used for coefficients in wavelength.
    coefficients : {"src_coeff", "bkg_coeff"}
        Which regions to build.

    Returns
    -------
    profile : ndarray (ny, nx) float64
    lower, upper : float
        Mean cross-dispersion limits (inclusive, 0-based) [pixel].
    """
    ny, nx = shape
    yidx, xidx = np.mgrid[:ny, :nx]
    horizontal = params["dispaxis"] == 1
    cross = yidx if horizontal else xidx
    xstart, xstop = params.get("xstart", 0), params.get("xstop", nx - 1)
    ystart, ystop = params.get("ystart", 0), params.get("ystop", ny - 1)
    allow_partial = not (coefficients == "bkg_coeff" and params.get("bkg_fit") == "median")
    profile = np.zeros(shape)
    coeffs = params.get(coefficients)
    if coeffs is not None:
        if str(params.get("independent_var", "pixel")).startswith("wavelength"):
            ival = wavelength
        else:
            ival = (xidx if horizontal else yidx).astype(np.float32)
        if len(coeffs) % 2:
            raise ValueError(f"{coefficients} must contain alternating lists of lower and upper limits.")
        lower = upper = None
        for lo_c, hi_c in zip(coeffs[::2], coeffs[1::2], strict=True):
            lo, hi = _poly(lo_c, ival) + 0.5, _poly(hi_c, ival) - 0.5
            set_weights(profile, cross, lo, hi, allow_partial)
            mlo, mhi = float(np.mean(lo)), float(np.mean(hi))
            lower = mlo if lower is None else min(lower, mlo)
            upper = mhi if upper is None else max(upper, mhi)
    elif params.get("extract_width") is not None and params.get("trace") is not None:
        width = params["extract_width"]
        trace = np.asarray(params["trace"], dtype=np.float64)
        if not horizontal:
            trace = np.tile(trace, (nx, 1)).T
        lo = trace - (width - 1.0) / 2.0
        hi = lo + width - 1
        set_weights(profile, cross, lo, hi)
        lower, upper = float(np.nanmean(lo)), float(np.nanmean(hi))
    elif params.get("extract_width") is not None:
        middle = (ystart + ystop) / 2.0 if horizontal else (xstart + xstop) / 2.0
        width = params["extract_width"]
        lower = middle - (width - 1.0) / 2.0
        upper = lower + width - 1
        set_weights(profile, cross, lower, upper)
    else:
        lower, upper = (ystart, ystop) if horizontal else (xstart, xstop)
        set_weights(profile, cross, lower, upper)
    if horizontal:
        profile[:, : int(np.ceil(xstart))] = 0
        profile[:, int(np.floor(xstop)) + 1 :] = 0
    else:
        profile[: int(np.ceil(ystart)), :] = 0
        profile[int(np.floor(ystop)) + 1 :, :] = 0
    return profile, lower, upper


def aperture_center(profile: np.ndarray, dispaxis: int = 1, middle_pix: int | None = None) -> tuple[float, float]:
    """jwst ``aperture_center``: profile-weighted (cross, dispersion) centre of an aperture [pixel]."""
    weights = np.where(profile <= 0, 0.0, profile)
    yidx, xidx = np.mgrid[: profile.shape[0], : profile.shape[1]]
    horizontal = dispaxis == 1
    spec_idx, slit_idx = (xidx, yidx) if horizontal else (yidx, xidx)
    if middle_pix is not None:
        slit_idx = slit_idx[:, middle_pix] if horizontal else slit_idx[middle_pix, :]
        weights = weights[:, middle_pix] if horizontal else weights[middle_pix, :]
    if np.sum(weights) == 0:
        weights = np.ones_like(weights)
    slit_center = float(np.average(slit_idx, weights=weights))
    spec_center = middle_pix if middle_pix is not None else float(np.average(spec_idx, weights=weights))
    return slit_center, spec_center


def spectrum_wavelength(wavelength: np.ndarray, profile: np.ndarray, dispaxis: int) -> np.ndarray:
    """Profile-weighted mean wavelength of each dispersion element (NaN where no weight) [micron]."""
    mask = np.isnan(wavelength) | (profile <= 0)
    w = np.where(mask, 0.0, profile)
    wl = np.where(mask, 0.0, wavelength)
    axis = 0 if dispaxis == 1 else 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sum(wl * w, axis=axis) / np.sum(w, axis=axis)
    out[np.all(mask, axis=axis)] = np.nan
    return out


def smooth_background(image: np.ndarray, length: int) -> np.ndarray:
    """Boxcar of ``length`` along the last axis as astropy ``convolve(boundary='extend')`` (NaNs interpolated).

    Parameters
    ----------
    image : ndarray (..., ndisp)
    length : int
        Odd kernel length [pixel].

    Returns
    -------
    ndarray
        Of the input's dtype (astropy computes in float64 and casts back).
    """
    half = length // 2
    pad = [(0, 0)] * (image.ndim - 1) + [(half, half)]
    padded = np.pad(image.astype(np.float64), pad, mode="edge")
    n = image.shape[-1]
    k = 1.0 / length
    top = np.zeros(image.shape)
    bot = np.zeros(image.shape)
    for i in range(length):  # astropy's order: accumulate value*kernel and kernel over the window
        window = padded[..., i : i + n]
        finite = np.isfinite(window)
        top += np.where(finite, window * k, 0.0)
        bot += np.where(finite, k, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = top / bot
    count = bot
    return np.where(count > 0, out, np.nan).astype(image.dtype, copy=False)


def _poly_background(bkg_image, weights, bg_mask, order, src_profile, variances):
    """Per-column unweighted least-squares polynomial (jwst ``build_coef_matrix`` path), all integrations."""
    ncross = bkg_image.shape[1]
    y = np.linspace(-1, 1, ncross)
    powers = np.stack([y**k for k in range(order + 1)], axis=-1)  # (ncross, p); jwst multiplies iteratively
    for k in range(2, order + 1):
        powers[:, k] = powers[:, k - 1] * y
    used = bg_mask[None] & np.isfinite(bkg_image) & weights  # (n, ncross, ndisp)
    used_f = used.astype(np.float64)
    target = np.where(used, bkg_image, 0.0)
    # normal matrices (n, ndisp, p, p) and vectors (n, ndisp, p)
    matrix = np.einsum("nyd,yi,yk->ndik", used_f, powers, powers, optimize=True)
    vec = np.einsum("nyd,yi->ndi", target, powers, optimize=True)
    if order == 0:
        ok = matrix[..., 0, 0] != 0
        cov = np.zeros_like(matrix)
        cov[ok, 0, 0] = 1.0 / matrix[ok, 0, 0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ok = np.linalg.cond(matrix) < 1e10
        cov = np.zeros_like(matrix)
        cov[ok] = np.linalg.inv(matrix[ok])
    coefs = np.einsum("ndik,ndk->ndi", cov, vec)
    bkg_2d = np.einsum("ndi,yi->nyd", coefs, powers)
    # variance of the background under the source aperture: per column, u = cov . (sum_y w y^k)
    bkg_mat = np.einsum("yd,yk->dk", src_profile, powers)  # (ndisp, p)
    u = np.einsum("ndki,di->ndk", cov, bkg_mat)
    pixwgt_tot = used_f * np.einsum("ndk,yk->nyd", u, powers)
    out = []
    for var in variances:
        with np.errstate(invalid="ignore", over="ignore"):
            out.append(np.nansum(var * pixwgt_tot**2, axis=1))
    return bkg_2d, out


def _median_background(bkg_image, image, variance_total, bg_mask, src_profile, variances):
    """jwst ``bkg_fit='median'``: nanmedian of the background pixels per column, all integrations."""
    masked = np.where(bg_mask[None], bkg_image, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bkg_1d = np.nanmedian(masked, axis=1)  # (n, ndisp)
    bkg_npix = np.sum(src_profile, axis=0)  # (ndisp,)
    wgt = np.isfinite(image) & np.isfinite(variance_total) & bg_mask[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        pixwgt = wgt / np.sum(wgt, axis=1)[:, None, :]
    out = []
    for var in variances:
        with np.errstate(invalid="ignore", over="ignore"):
            out.append(1.2**2 * bkg_npix**2 * np.nansum(var * pixwgt**2, axis=1))
    return np.broadcast_to(bkg_1d[:, None, :], image.shape), out


def extract_block(
    sci: np.ndarray,
    var_poisson: np.ndarray,
    var_rnoise: np.ndarray,
    var_flat: np.ndarray,
    profile: np.ndarray,
    bg_profile: np.ndarray | None = None,
    *,
    bkg_fit: str | None = None,
    bkg_order: int = 0,
    smoothing_length: int = 0,
) -> dict[str, np.ndarray]:
    """Box-extract every integration of a block (jwst ``extract1d`` box path).

    Parameters
    ----------
    sci, var_poisson, var_rnoise, var_flat : ndarray (n, ncross, ndisp)
        Data [input unit] and variances [input unit²], dispersion along the last axis, NaN where
        unusable (DO_NOT_USE already turned into NaN by the caller).
    profile : ndarray (ncross, ndisp)
        Source aperture weights.
    bg_profile : ndarray (ncross, ndisp) or None
        Background regions (non-zero where used); None for no background subtraction.
    bkg_fit : {"poly", "median"} or None
        Background model (``"mean"`` already mapped to ``"poly"`` of order 0).
    bkg_order : int
        Polynomial order for ``"poly"``.
    smoothing_length : int
        Odd boxcar length along the dispersion applied to the background image first (0: none).

    Returns
    -------
    dict of ndarray (n, ndisp) float64
        ``sum`` (Σ w·(d − b), NaN where no pixel contributes), the three flux variances (source plus
        background terms), ``background`` (Σ w·b), the three background variances and ``npixels`` (Σ w).
    """
    variances = (var_poisson, var_rnoise, var_flat)
    n, _, ndisp = sci.shape
    if bg_profile is not None:
        variance_total = var_rnoise + var_poisson + var_flat
        weights = np.isfinite(variance_total) & np.isfinite(sci)
        bkg_image = smooth_background(sci, smoothing_length) if smoothing_length > 1 else sci
        bg_mask = bg_profile != 0
        if bkg_fit == "median":
            bkg_2d, bvars = _median_background(bkg_image, sci, variance_total, bg_mask, profile, variances)
        else:
            bkg_2d, bvars = _poly_background(bkg_image, weights, bg_mask, bkg_order, profile, variances)
        image = sci - bkg_2d
    else:
        bkg_2d = None
        bvars = [np.zeros((n, ndisp)) for _ in variances]
        image = sci
    finite = np.isfinite(image)
    w = np.where(finite, profile[None], 0.0)
    total = np.sum(np.where(w == 0, 0.0, image) * w, axis=1)
    npixels = np.sum(w, axis=1)
    w2 = w**2
    out = {"sum": total, "npixels": npixels}
    with np.errstate(invalid="ignore", over="ignore"):
        for name, var, bvar in zip(("var_poisson", "var_rnoise", "var_flat"), variances, bvars, strict=True):
            out[name] = np.nansum(var * w2, axis=1) + (bvar if bkg_2d is not None else 0.0)
            out["bkg_" + name] = bvar
    if bkg_2d is not None:
        bkg = np.sum(bkg_2d * w, axis=1)
        bkg[~np.isfinite(bkg)] = 0.0
    else:
        bkg = np.zeros((n, ndisp))
    out["background"] = bkg
    out["sum"][np.isclose(npixels, 0)] = np.nan
    return out
