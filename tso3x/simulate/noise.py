"""Turn noise-free count-rate cubes into calints arrays: noise, variances, bad pixels and cosmic rays.

The variance arrays follow the meaning they have in real calints (ramp fitting + flat field):

- ``VAR_POISSON = rate / (gain · EFFINTTM)``,
- ``VAR_RNOISE = 12 · RN² / (N (N²−1) · TGROUP²)`` for N groups (per pixel RN map),
- ``VAR_FLAT = (rate · flat_err)²``,

all in (DN/s)², then scaled by the square of the photometric conversion; ``ERR`` is
``sqrt(VAR_POISSON + VAR_RNOISE + VAR_FLAT)`` computed in float32. The data scatter about the true rate
with the Poisson and read-noise variances. DO_NOT_USE pixels are NaN in SCI, ERR and every VAR array, as
the real pipeline leaves them. Cosmic rays are large positive hits left *unflagged*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tso3x import dqflags

#: Bits OR-ed with DO_NOT_USE on static bad pixels (one chosen per pixel).
_BAD_BITS = np.array([dqflags.DEAD, dqflags.HOT, dqflags.NO_FLAT_FIELD, dqflags.OTHER_BAD_PIXEL], np.uint32)
#: Informational bits without DO_NOT_USE (one chosen per flagged pixel).
_INFO_BITS = np.array([dqflags.WARM, dqflags.HOT, dqflags.LOW_QE, dqflags.UNRELIABLE_FLAT], np.uint32)

#: Relative flat-field uncertainty used for VAR_FLAT.
FLAT_ERR = 0.002


@dataclass(frozen=True)
class DetectorState:
    """Static (per exposure) detector properties on the subarray.

    Attributes
    ----------
    dq : ndarray of uint32, (ny, nx)
        Static DQ flags.
    bad : ndarray of bool, (ny, nx)
        Where DQ has DO_NOT_USE (SCI/ERR/VAR are NaN there).
    gain : ndarray of float32, (ny, nx)
        Gain [electron/DN] (the subarray of the gain reference file).
    var_rnoise : ndarray of float32, (ny, nx)
        Read-noise variance of the slope [(DN/s)²].
    """

    dq: np.ndarray
    bad: np.ndarray
    gain: np.ndarray
    var_rnoise: np.ndarray


def make_detector_state(
    rng: np.random.Generator,
    gain: np.ndarray,
    read_noise: float,
    ngroups: int,
    tgroup: float,
    bad_pixel_fraction: float,
    protect: np.ndarray | None = None,
    reference_pixels: np.ndarray | None = None,
) -> DetectorState:
    """Draw the static bad pixels and read-noise map for one detector.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator (static part of the exposure).
    gain : ndarray
        Subarray gain map [electron/DN].
    read_noise : float
        Mean CDS read noise [DN]; each pixel gets ±10 %.
    ngroups, tgroup : int, float
        Ramp set-up, for the slope read-noise variance.
    bad_pixel_fraction : float
        Fraction of pixels that are DO_NOT_USE; as many again get an informational flag.
    protect : ndarray of bool, optional
        Pixels that must not become DO_NOT_USE (e.g. the PSF core).
    reference_pixels : ndarray of bool, optional
        Detector reference pixels: DO_NOT_USE | REFERENCE_PIXEL (NaN in the arrays, as in real calints).
    """
    ny, nx = gain.shape
    npix = ny * nx
    nbad = int(round(bad_pixel_fraction * npix))
    if bad_pixel_fraction > 0:
        nbad = max(nbad, 1)
    candidates = np.arange(npix) if protect is None else np.flatnonzero(~protect.ravel())
    ninfo = min(nbad, max(npix - nbad, 0))
    picks = rng.choice(candidates, size=min(nbad + ninfo, candidates.size), replace=False)
    dq = np.zeros(npix, np.uint32)
    bad_idx, info_idx = picks[:nbad], picks[nbad:]
    dq[bad_idx] = dqflags.DO_NOT_USE | rng.choice(_BAD_BITS, size=bad_idx.size)
    dq[info_idx] |= rng.choice(_INFO_BITS, size=info_idx.size)
    dq = dq.reshape(ny, nx)
    if reference_pixels is not None:
        dq[reference_pixels] |= np.uint32(dqflags.DO_NOT_USE | dqflags.REFERENCE_PIXEL)
    rn = read_noise * (1.0 + 0.1 * rng.standard_normal((ny, nx)))
    var_rn = 12.0 * rn**2 / (ngroups * (ngroups**2 - 1) * tgroup**2)
    return DetectorState(
        dq=dq,
        bad=(dq & dqflags.DO_NOT_USE) != 0,
        gain=gain.astype(np.float32),
        var_rnoise=var_rn.astype(np.float32),
    )


def realize(
    rate: np.ndarray,
    state: DetectorState,
    rng: np.random.Generator,
    *,
    t_eff: float,
    conversion: float,
    cosmic_ray_rate: float,
) -> dict[str, np.ndarray]:
    """Noisy calints arrays for one segment from the true count rate.

    Parameters
    ----------
    rate : ndarray of float32, (nint, ny, nx)
        True count rate [DN/s]; consumed (modified in place).
    state : DetectorState
        Static detector properties.
    rng : numpy.random.Generator
        Random generator for this segment.
    t_eff : float
        EFFINTTM [s].
    conversion : float
        Calibrated unit per DN/s (1.0 to stay in DN/s).
    cosmic_ray_rate : float
        Probability that a pixel is hit in one integration.

    Returns
    -------
    dict
        ``data, err, dq, var_poisson, var_rnoise, var_flat`` (float32, dq uint32), all (nint, ny, nx).
    """
    shape = rate.shape
    c = np.float32(conversion)
    c2 = np.float32(conversion) ** 2
    var_poisson = np.maximum(rate, 0.0, dtype=np.float32)
    var_poisson /= state.gain * np.float32(t_eff)
    var_flat = np.square(rate * np.float32(FLAT_ERR))
    var_rnoise = np.broadcast_to(state.var_rnoise, shape)
    sigma = var_poisson + var_rnoise
    np.sqrt(sigma, out=sigma)
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= sigma
    del sigma
    data = rate
    data += noise
    del noise
    data *= c
    var_poisson *= c2
    var_flat *= c2
    var_rnoise = var_rnoise * c2
    err = var_poisson + var_rnoise
    err += var_flat
    np.sqrt(err, out=err)

    dq = np.empty(shape, np.uint32)
    dq[...] = state.dq
    nhit = rng.binomial(int(np.prod(shape)), cosmic_ray_rate) if cosmic_ray_rate > 0 else 0
    if nhit:
        flat_idx = rng.integers(0, data.size, size=nhit)
        amp = rng.uniform(20.0, 300.0, size=nhit).astype(np.float32)
        data.reshape(-1)[flat_idx] += amp * err.reshape(-1)[flat_idx]
    # a few ramp jumps that were detected and corrected (informational JUMP_DET, not DO_NOT_USE)
    njump = max(nhit // 4, 1) if cosmic_ray_rate > 0 else 0
    if njump:
        dq.reshape(-1)[rng.integers(0, dq.size, size=njump)] |= np.uint32(dqflags.JUMP_DET)
    for arr in (data, err, var_poisson, var_rnoise, var_flat):
        arr[:, state.bad] = np.nan
    return {
        "data": data,
        "err": err,
        "dq": dq,
        "var_poisson": var_poisson,
        "var_rnoise": var_rnoise,
        "var_flat": var_flat,
    }
