"""NIRISS SOSS geometry and scene, consistent with jwst 3.0.0's pastasoss and ATOCA models.

The simulator owns the instrument model: the reference traces and wavelength solutions it writes into the
PASTASOSS file (:mod:`tso3x.simulate.soss_reffiles`) are the ones defined here, and the scene is drawn through
them exactly as jwst derives them at the exposure's pupil-wheel position (PWCPOS):

- the reference trace of each order (at the commanded position ``PWCPOS_CMD``, SUBSTRIP256 rows) is rotated
  by PWCPOS − PWCPOS_CMD about the order's pivot and resampled on the columns (``pastasoss._rotate``);
  SUBSTRIP96 rows are SUBSTRIP256 rows − 10;
- the wavelength of column x is the wavecal polynomial in (scaled x, scaled PWCPOS offset);
- the per-column wavelength map (``_calc_2d_wave_map`` with zero tilt) and the trace centre and wavelength
  per column (``DetectorModelOrder.trace``: cubic splines through the trace sampled on the wavemap grid);
- ATOCA's forward model of order n: pixel (y, x) = P_n(y, x) ∫ T_n(λ) λ (K ⊗ f)(λ) dλ over the pixel's
  wavelength span (midpoints between column centres), with P_n the SPECPROFILE, T_n the PASTASOSS throughput,
  K the SPECKERNEL line spread and f the stellar flux in ATOCA's units (what ``soss_estimate`` holds).

Photometry: the flux density in MJy is f(λ) · ``MJY_PER_ATOCA`` · λ², so the PHOTOM relative response of order
n is that factor over T_n(λ) λ Δλ_n(λ) (Δλ_n the wavelength span of one column): a box-extracted spectrum
calibrated with it recovers :func:`flux_mjy`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline, interp1d
from scipy.special import erf

from tso3x.simulate.modes import SOSS_PWCPOS

log = logging.getLogger(__name__)

#: Commanded pupil-wheel position [deg] of the reference traces (PASTASOSS ``pwcpos_cmd``).
PWCPOS_CMD = 245.76
#: Pupil-wheel position [deg] of the simulated exposures (PWCPOS), 0.03° off the commanded one.
PWCPOS = SOSS_PWCPOS
#: PASTASOSS ``pwcpos_bounds`` [deg].
PWCPOS_BOUNDS = (245.54, 246.04)
#: Min/max PWCPOS offsets [deg] of the wavecal polynomials' scaling.
OFFSET_EXTENTS = (-0.103552, 0.162882)
#: Column range of the wavecal polynomials' scaling.
X_EXTENTS = (0.0, 2047.0)
#: PASTASOSS wavemap grid: (min, max) [micron] and number of wavelengths.
WAVEMAP_RANGE = (0.5, 5.5)
WAVEMAP_NWL = 5001
#: PASTASOSS ``order2_separation_cutoff`` [micron].
ORDER2_SEPARATION_CUTOFF = (0.77, 0.95)
#: Full-frame row of SUBSTRIP256's first row (0-based; PASTASOSS ``subarray_ymin``).
SUBARRAY_YMIN = 1792
#: Trace cutoffs in columns (as in the operational PASTASOSS file).
CUTOFF = {1: 2048, 2: 1783, 3: 1134}
#: Rotation pivots (x, y) in SUBSTRIP256 pixels.
PIVOT = {1: (1890.0, 50.0), 2: (1680.0, 200.0), 3: (1444.0, 240.0)}
#: Wavecal coefficients C00, C10, C01, C20, C11, C02, C30, C21, C12, C03 (micron) in scaled (x, offset).
_OS0 = (0.0 - OFFSET_EXTENTS[0]) / (OFFSET_EXTENTS[1] - OFFSET_EXTENTS[0])  # scaled offset of PWCPOS_CMD
WAVECAL = {
    1: np.array([2.84 + 0.010 * _OS0, -2.05, -0.010, 0.08, 0.0, 0.0, -0.02, 0.0, 0.0, 0.0]),
    2: np.array([1.41 + 0.005 * _OS0, -1.00, -0.005, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
    3: np.array([0.95 + 0.0035 * _OS0, -0.70, -0.0035, 0.02, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
}
#: Throughput of each order: (peak, centre [micron], width [micron]) of exp(−((λ − c)/w)²).
THROUGHPUT = {1: (0.60, 1.40, 1.20), 2: (0.30, 0.85, 0.45), 3: (0.06, 0.75, 0.25)}
#: Wavelengths [micron] of the PASTASOSS throughput tables.
THROUGHPUT_WAVELENGTH = np.round(np.arange(0.30, 3.4001, 0.005), 6)
#: Cross-dispersion profile: core half-width [pixel] and edge blur σ [pixel]; wing fraction and σ [pixel].
PROFILE_HALF_WIDTH, PROFILE_EDGE_SIGMA = 12.0, 2.0
PROFILE_WING_FRACTION, PROFILE_WING_SIGMA = 0.03, 6.0
#: Line-spread kernel: Gaussian σ [pixel] at 0.5 and 3.0 micron (linear in between).
KERNEL_SIGMA = (0.9, 1.3)
#: SPECKERNEL sampling: oversampling (SPECOS), half width in pixels (HALFWIDT), wavelengths [micron].
KERNEL_OVERSAMPLING, KERNEL_HALF_WIDTH = 10, 7
KERNEL_WAVELENGTH = np.round(np.arange(0.5, 3.0001, 0.025), 6)
#: Stellar flux in ATOCA's units (DN s⁻¹ µm⁻² with the throughput and λ factor of ATOCA's model) at 1.4 micron.
FLUX_AT_1P4 = 3.6e6
#: MJy per ATOCA flux unit per micron² (flux density = f · MJY_PER_ATOCA · λ²).
MJY_PER_ATOCA = 1.4e-14
#: Sky background [DN/s/pixel] at the first column.
BACKGROUND_LEVEL = 4.5
#: Transit depth at its reference and the amplitude of its wavelength dependence.
TRANSIT_DEPTH = 0.01


# --------------------------------------------------------------------------------- pastasoss geometry


def reference_trace(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference trace of ``order`` at ``PWCPOS_CMD``: columns 0..2047 and rows (SUBSTRIP256 pixels)."""
    x = np.arange(2048, dtype=np.float64)
    y1 = 62.0 + 18.0 * ((x - 1000.0) / 1048.0) ** 2
    if order == 1:
        return x, y1
    if order == 2:
        return x, y1 + 36.0 + 142.0 * (x / 1782.0) ** 1.5
    if order == 3:
        return x, y1 + 72.0 + 110.0 * (x / 1133.0) ** 1.5
    raise ValueError(f"SOSS order must be 1, 2 or 3, not {order}")


def _poly2d(coeffs: np.ndarray, xs: np.ndarray, os_: np.ndarray) -> np.ndarray:
    """Σ C_ij xs^i os^j with PASTASOSS's coefficient order (C00, C10, C01, C20, C11, C02, C30, …)."""
    degree = int(np.sqrt(2 * len(coeffs))) - 1
    out = np.zeros_like(xs, dtype=np.float64)
    k = 0
    for total in range(degree + 1):
        for j in range(total + 1):
            out = out + coeffs[k] * xs ** (total - j) * os_**j
            k += 1
    return out


def wavecal(order: int, x: np.ndarray, pwcpos: float) -> np.ndarray:
    """Wavelength [micron] of columns ``x`` of ``order`` at pupil-wheel position ``pwcpos`` [deg]."""
    xs = (np.asarray(x, dtype=np.float64) - X_EXTENTS[0]) / (X_EXTENTS[1] - X_EXTENTS[0])
    off = np.full_like(xs, pwcpos - PWCPOS_CMD)
    os_ = (off - OFFSET_EXTENTS[0]) / (OFFSET_EXTENTS[1] - OFFSET_EXTENTS[0])
    return _poly2d(WAVECAL[order], xs, os_)


def _rotated_trace(order: int, pwcpos: float, subarray: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pastasoss._get_soss_traces``: columns, rows and wavelengths of the trace at ``pwcpos``."""
    x, y = reference_trace(order)
    if subarray == "SUBSTRIP96":
        y = y - 10.0
    angle = np.radians(pwcpos - PWCPOS_CMD)
    c, s = np.cos(angle), np.sin(angle)
    px, py = PIVOT[order]
    x_new = c * (x - px) - s * (y - py) + px
    y_new = s * (x - px) + c * (y - py) + py
    y_new = interp1d(x_new, y_new, fill_value="extrapolate")(x)
    keep = y_new <= 255.0
    return x[keep], y_new[keep], wavecal(order, x[keep], pwcpos)


def _to_wavemap_grid(grid: np.ndarray, wave: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``pastasoss._extrapolate_to_wavegrid``: ``q(wave)`` linearly inter/extrapolated onto ``grid``."""
    i = np.argsort(wave)
    w, q = wave[i], q[i]
    right, left = grid > w[-1], grid < w[0]
    q_right = q[-1] + (grid[right] - w[-1]) * (q[-1] - q[-2]) / (w[-1] - w[-2])
    q_left = q[0] + (grid[left] - w[0]) * (q[1] - q[0]) / (w[1] - w[0])
    return np.interp(grid, np.concatenate((grid[left], w, grid[right])), np.concatenate((q_left, q, q_right)))


@dataclass(frozen=True)
class OrderGeometry:
    """One order's geometry on the subarray, as jwst derives it at the exposure's PWCPOS.

    Attributes
    ----------
    order : int
        Spectral order.
    cutoff : int
        Columns 0..cutoff−1 carry the order.
    ycen : ndarray
        Trace centre row per column (0..cutoff−1) [pixel, subarray rows of SUBSTRIP96/256].
    wavelength : ndarray
        x1dints WAVELENGTH per column (0..cutoff−1) [micron].
    wave_center : ndarray
        Wavelength map value of each of the 2048 columns [micron] (ATOCA's pixel wavelength).
    wave_lo, wave_hi : ndarray
        Wavelength span of each column [micron] (ATOCA's pixel boundaries).
    """

    order: int
    cutoff: int
    ycen: np.ndarray
    wavelength: np.ndarray
    wave_center: np.ndarray
    wave_lo: np.ndarray
    wave_hi: np.ndarray

    @property
    def dispersion(self) -> np.ndarray:
        """Wavelength span of each of the 2048 columns [micron/pixel]."""
        return self.wave_hi - self.wave_lo


def order_geometry(order: int, pwcpos: float = PWCPOS, subarray: str = "SUBSTRIP256") -> OrderGeometry:
    """Trace, column wavelengths and pixel wavelength spans of ``order`` (jwst 3.0.0's pastasoss + ATOCA).

    Parameters
    ----------
    order : int
        1, 2 or 3.
    pwcpos : float
        Pupil-wheel position [deg].
    subarray : str
        ``"SUBSTRIP96"`` (rows shifted by −10) or ``"SUBSTRIP256"`` (also the rows 1792.. of FULL).
    """
    x, y, wl = _rotated_trace(order, pwcpos, subarray)
    grid = np.linspace(*WAVEMAP_RANGE, WAVEMAP_NWL)
    xt, yt = _to_wavemap_grid(grid, wl, x), _to_wavemap_grid(grid, wl, y)
    cols = np.arange(2048, dtype=np.float64)
    wave_center = np.interp(cols, xt[::-1], grid[::-1], left=np.nan, right=np.nan)
    half = np.diff(wave_center) / 2.0
    lo = wave_center - np.insert(half, 0, half[0])
    hi = wave_center + np.append(half, half[-1])
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    if xt[0] > xt[1]:  # DetectorModelOrder.trace: splines in increasing x
        xt, yt, gw = xt[::-1], yt[::-1], grid[::-1]
    else:
        gw = grid
    xc = np.arange(CUTOFF[order], dtype=np.float64)
    return OrderGeometry(
        order=order,
        cutoff=CUTOFF[order],
        ycen=CubicSpline(xt, yt)(xc),
        wavelength=CubicSpline(xt, gw)(xc),
        wave_center=wave_center,
        wave_lo=lo,
        wave_hi=hi,
    )


# ----------------------------------------------------------------------------------- spectra and optics


def throughput(order: int, wavelength: np.ndarray) -> np.ndarray:
    """GR700XD throughput of ``order`` at ``wavelength`` [micron] (dimensionless)."""
    peak, centre, width = THROUGHPUT[order]
    return peak * np.exp(-(((np.asarray(wavelength) - centre) / width) ** 2))


def filter_transmission(filt: str, wavelength: np.ndarray) -> np.ndarray:
    """Transmission of the filter-wheel element (CLEAR: 1; F277W: a 2.42–3.13 micron band pass)."""
    lam = np.asarray(wavelength, dtype=np.float64)
    if filt == "CLEAR":
        return np.ones_like(lam)
    return 0.25 * (1.0 + np.tanh((lam - 2.42) / 0.02)) * (1.0 - np.tanh((lam - 3.13) / 0.02))


def stellar_flux(wavelength: np.ndarray) -> np.ndarray:
    """Out-of-transit stellar flux in ATOCA's units [DN s⁻¹ µm⁻²]: a power law with three absorption bands."""
    lam = np.asarray(wavelength, dtype=np.float64)
    feats = 1.0
    for centre, width, depth in ((1.12, 0.03, 0.10), (1.40, 0.05, 0.08), (1.90, 0.06, 0.06)):
        feats = feats - depth * np.exp(-0.5 * ((lam - centre) / width) ** 2)
    return FLUX_AT_1P4 * (lam / 1.4) ** -1.5 * feats


def flux_mjy(wavelength: np.ndarray) -> np.ndarray:
    """Out-of-transit flux density [MJy] that photom-calibrated spectra recover."""
    lam = np.asarray(wavelength, dtype=np.float64)
    return stellar_flux(lam) * MJY_PER_ATOCA * lam**2


def transit_depth(wavelength: np.ndarray) -> np.ndarray:
    """Relative transit depth at full occultation: 1 % with ±10 % wavelength structure (larger at 1.4 micron)."""
    lam = np.asarray(wavelength, dtype=np.float64)
    bump = np.exp(-(((lam - 1.4) / 0.1) ** 2))
    return TRANSIT_DEPTH * (1.0 + 0.1 * np.sin(2.0 * np.pi * (lam - 0.6) / 1.2) + 0.1 * bump)


def kernel_sigma(wavelength: np.ndarray) -> np.ndarray:
    """Gaussian σ [pixel] of the line-spread kernel at ``wavelength`` [micron]."""
    lam = np.clip(np.asarray(wavelength, dtype=np.float64), 0.5, 3.0)
    return KERNEL_SIGMA[0] + (KERNEL_SIGMA[1] - KERNEL_SIGMA[0]) * (lam - 0.5) / 2.5


def kernel_pixels() -> np.ndarray:
    """Pixel offsets of the kernel samples (−HALFWIDT … HALFWIDT, 1/SPECOS steps)."""
    n = KERNEL_OVERSAMPLING * (2 * KERNEL_HALF_WIDTH + 1) - (KERNEL_OVERSAMPLING - 1)
    return np.linspace(-KERNEL_HALF_WIDTH, KERNEL_HALF_WIDTH, n)


def kernel_table() -> tuple[np.ndarray, np.ndarray]:
    """SPECKERNEL arrays ``(wavelengths, kernels)``, both (n_pixels_oversampled, n_wavelengths).

    Each column is a unit-sum Gaussian of σ :func:`kernel_sigma` [pixel]; ``wavelengths`` repeats the kernel's
    central wavelength down each column.
    """
    pix = kernel_pixels()
    sig = kernel_sigma(KERNEL_WAVELENGTH)
    kern = np.exp(-0.5 * (pix[:, None] / sig[None, :]) ** 2)
    kern /= kern.sum(axis=0, keepdims=True)
    waves = np.broadcast_to(KERNEL_WAVELENGTH[None, :], kern.shape).copy()
    return waves, kern


# --------------------------------------------------------------------------------------------- the scene


def _integrated_gauss(u: np.ndarray) -> np.ndarray:
    """∫ Φ(u) du = u Φ(u) + φ(u) (Φ, φ: standard normal CDF and density)."""
    return u * 0.5 * (1.0 + erf(u / np.sqrt(2.0))) + np.exp(-0.5 * u * u) / np.sqrt(2.0 * np.pi)


def _pixel_gauss(rows: np.ndarray, centre: np.ndarray, sigma: float) -> np.ndarray:
    s = np.sqrt(2.0) * sigma
    c = rows - centre
    return 0.5 * (erf((c + 0.5) / s) - erf((c - 0.5) / s))


def cross_profile(ycen: np.ndarray, ny: int) -> np.ndarray:
    """Pixel-integrated cross-dispersion profile (ny, len(ycen)), unit area per column (minus what falls off).

    A top hat of half-width :data:`PROFILE_HALF_WIDTH` blurred by a Gaussian of σ :data:`PROFILE_EDGE_SIGMA`
    (the defocused SOSS trace), plus :data:`PROFILE_WING_FRACTION` of the light in Gaussian wings.
    """
    rows = np.arange(ny, dtype=np.float64)[:, None]
    yc = np.asarray(ycen, dtype=np.float64)[None, :]
    h, sig = PROFILE_HALF_WIDTH, PROFILE_EDGE_SIGMA
    a, b = yc - h, yc + h
    g = _integrated_gauss
    core = (
        sig
        / (b - a)
        * (
            g((rows + 0.5 - a) / sig)
            - g((rows - 0.5 - a) / sig)
            - g((rows + 0.5 - b) / sig)
            + g((rows - 0.5 - b) / sig)
        )
    )
    wing = _pixel_gauss(rows, yc, PROFILE_WING_SIGMA)
    return (1.0 - PROFILE_WING_FRACTION) * core + PROFILE_WING_FRACTION * wing


#: Gauss-Legendre nodes and weights on [0, 1] for the integral over a column's wavelength span.
_GL_X, _GL_W = (lambda n, w: ((n + 1.0) / 2.0, w / 2.0))(*np.polynomial.legendre.leggauss(8))


def column_flux(geom: OrderGeometry, flux, filt: str = "CLEAR") -> np.ndarray:
    """ATOCA's column integral ∫ T(λ) λ (K ⊗ f)(λ) dλ over each column's wavelength span [DN/s].

    Parameters
    ----------
    geom : OrderGeometry
        The order.
    flux : callable
        f(λ) [DN s⁻¹ µm⁻²], λ in micron.
    filt : str
        Filter (its transmission multiplies the throughput).

    Returns
    -------
    ndarray
        (cutoff,) count rate of each column carrying the order, summed over rows.
    """
    n = geom.cutoff
    lo, hi = geom.wave_lo[:n], geom.wave_hi[:n]
    lam = lo[:, None] + (hi - lo)[:, None] * _GL_X[None, :]  # (n, 8)
    disp = np.abs(np.gradient(geom.wave_center))[:n, None, None]
    pix = kernel_pixels()
    kern = np.exp(-0.5 * (pix[None, None, :] / kernel_sigma(lam)[:, :, None]) ** 2)
    kern /= kern.sum(axis=-1, keepdims=True)
    conv = np.sum(kern * flux(lam[:, :, None] + disp * pix[None, None, :]), axis=-1)
    integrand = throughput(geom.order, lam) * filter_transmission(filt, lam) * lam * conv
    return (hi - lo) * np.sum(integrand * _GL_W[None, :], axis=1)


@dataclass(frozen=True)
class SossScene:
    """The SOSS part of a simulated scene (what the reference files must agree with).

    Attributes
    ----------
    subarray : str
        SUBARRAY of the exposure.
    filter : str
        FILTER of the exposure.
    pwcpos : float
        PWCPOS [deg].
    orders : tuple of int
        Orders with light in the scene.
    geometry : dict
        Order → :class:`OrderGeometry` (SUBSTRIP96 or SUBSTRIP256 rows).
    profiles : dict
        Order → (ny_geometry, 2048) SPECPROFILE image (zero beyond the order's cutoff).
    row0 : int
        Row of the frame where the geometry's row 0 lies (1792 for FULL, else 0).
    """

    subarray: str
    filter: str
    pwcpos: float
    orders: tuple[int, ...]
    geometry: dict
    profiles: dict
    row0: int = 0


def geometry_subarray(subarray: str) -> str:
    """The PASTASOSS subarray convention: SUBSTRIP96 keeps its own rows, everything else SUBSTRIP256's."""
    return "SUBSTRIP96" if subarray == "SUBSTRIP96" else "SUBSTRIP256"


def build_soss_scene(subarray: str, filt: str, order3: bool, pwcpos: float = PWCPOS) -> SossScene:
    """Geometry and SPECPROFILE of every order in the scene (orders 1, 2 and, if ``order3``, 3)."""
    gsub = geometry_subarray(subarray)
    ny = 96 if gsub == "SUBSTRIP96" else 256
    orders = (1, 2, 3) if order3 else (1, 2)
    geometry, profiles = {}, {}
    for order in orders:
        geom = order_geometry(order, pwcpos, gsub)
        prof = np.zeros((ny, 2048))
        prof[:, : geom.cutoff] = cross_profile(geom.ycen, ny)
        geometry[order], profiles[order] = geom, prof
    row0 = SUBARRAY_YMIN if subarray == "FULL" else 0
    return SossScene(subarray, filt, pwcpos, orders, geometry, profiles, row0)


def scene_images(scene: SossScene, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-transit image and full-transit occulted image [DN/s], both ``shape`` (ny, 2048).

    The frame's rows ``row0 …`` hold the geometry's rows (all of them for SUBSTRIP96/256).
    """

    def occulted(lam):
        return stellar_flux(lam) * transit_depth(lam)

    a, b = np.zeros(shape), np.zeros(shape)
    for order in scene.orders:
        geom, prof = scene.geometry[order], scene.profiles[order]
        rows = slice(scene.row0, scene.row0 + prof.shape[0])
        n = geom.cutoff
        a[rows, :n] += prof[:, :n] * column_flux(geom, stellar_flux, scene.filter)[None, :]
        b[rows, :n] += prof[:, :n] * column_flux(geom, occulted, scene.filter)[None, :]
    return a, b


def background(shape: tuple[int, int], level: float = BACKGROUND_LEVEL) -> np.ndarray:
    """SOSS sky background [DN/s/pixel]: the same in every row; along x a slope and a soft 10 % step at x = 700.

    ``level`` [DN/s/pixel] is the value at the first column (about 10 % less than the mean).
    """
    x = np.arange(shape[1], dtype=np.float64)
    prof = level * (1.0 + 0.1 * x / shape[1] + 0.1 / (1.0 + np.exp(-(x - 700.0) / 25.0)))
    return np.broadcast_to(prof[None, :], shape).copy()


def reference_pixels(shape: tuple[int, int], substrt: tuple[int, int]) -> np.ndarray:
    """Where the 4-pixel reference border of the 2048×2048 detector falls on the subarray (bool, ``shape``)."""
    ny, nx = shape
    x0, y0 = substrt[0] - 1, substrt[1] - 1
    cols = np.arange(x0, x0 + nx)
    rows = np.arange(y0, y0 + ny)
    edge_c = (cols < 4) | (cols > 2043)
    edge_r = (rows < 4) | (rows > 2043)
    return edge_r[:, None] | edge_c[None, :]
