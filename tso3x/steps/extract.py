"""jwst ``extract_1d`` box extraction of TSO exposures as a dask graph over integration chunks.

The aperture is fixed per segment (:mod:`tso3x.steps.aperture`); each chunk of integrations is
extracted at once by :func:`tso3x.kernels.box_extract.extract_block` and converted to the x1dints columns.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging

import dask.array as da
import numpy as np
import xarray as xr

from .. import dqflags, jit, names, notes
from ..config import Extract1d
from ..dataset import segment_slices
from ..io.apcorr_ref import ApcorrRef
from ..io.calints import segment_metas
from ..kernels import apcorr as apcorr_kern
from ..kernels import box_extract as kern
from ..kernels.box_extract_numba import FUSED_ORDERS, extract_block_fused
from .aperture import ApertureSetup, setup_segment

log = logging.getLogger(__name__)

#: Columns computed per integration (all but WAVELENGTH), in block order.
COMPUTED = names.SPEC_COLUMNS[1:]
#: Column dtypes other than float64 (as the TSOSpecModel schema has them).
DTYPES = {"DQ": np.uint32}
#: Padding of vector columns beyond a spectrum's length (TSOSpecModel schema defaults).
PAD = {"DQ": 1, "NPIXELS": 0.0}
#: Columns (indices into COMPUTED) the aperture correction multiplies by c, and by c².
APCORR_FLUX = tuple(COMPUTED.index(c) for c in ("FLUX", "FLUX_ERROR", "SURF_BRIGHT", "SB_ERROR"))
APCORR_VAR = tuple(
    COMPUTED.index(c)
    for c in ("FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT", "SB_VAR_POISSON", "SB_VAR_RNOISE", "SB_VAR_FLAT")
)


def column_units(setup: ApertureSetup) -> dict[str, str | None]:
    """Unit of every column (jwst ``create_extraction``)."""
    u = setup.units
    out = {"WAVELENGTH": "um", "DQ": None, "NPIXELS": None}
    for col in ("FLUX", "FLUX_ERROR"):
        out[col] = u["flux"]
    for col in ("FLUX_VAR_POISSON", "FLUX_VAR_RNOISE", "FLUX_VAR_FLAT"):
        out[col] = u["flux_var"]
    for col in ("SURF_BRIGHT", "SB_ERROR", "BACKGROUND", "BKGD_ERROR"):
        out[col] = u["sb"]
    for col in (
        "SB_VAR_POISSON",
        "SB_VAR_RNOISE",
        "SB_VAR_FLAT",
        "BKGD_VAR_POISSON",
        "BKGD_VAR_RNOISE",
        "BKGD_VAR_FLAT",
    ):
        out[col] = u["sb_var"]
    return out


def to_columns(raw: dict[str, np.ndarray], setup: ApertureSetup) -> np.ndarray:
    """jwst's conversion of raw sums to the x1dints columns; returns (n, len(COMPUTED), nvalid) float64.

    With ``setup.apcorr`` the aperture correction follows (after DQ, as in jwst): FLUX, FLUX_ERROR,
    SURF_BRIGHT, SB_ERROR × c and FLUX_VAR_*, SB_VAR_* × c²; the background columns are not corrected.
    """
    npix = raw["npixels"]
    npix_t = np.where(npix > 0.0, npix, 1.0)
    npix2 = npix_t**2
    total = raw["sum"]
    fvar = [raw["var_poisson"], raw["var_rnoise"], raw["var_flat"]]
    sb = total / npix_t
    sbvar = [v / npix2 for v in fvar]
    bkg = raw["background"] / npix_t
    bvar = [raw[k] / npix2 for k in ("bkg_var_poisson", "bkg_var_rnoise", "bkg_var_flat")]
    p = setup.pixar_sr
    if setup.photom and setup.megajansky:
        flux = total * 1.0e6
        fvar = [v * 1.0e12 for v in fvar]
        sb = np.zeros_like(sb)
        sbvar = [np.zeros_like(v) for v in sbvar]
        bkg = bkg / p
        bvar = [v / p**2 for v in bvar]
    elif setup.photom:
        flux = total * p * 1.0e6
        fvar = [v * (p**2 * 1.0e12) for v in fvar]
    else:
        flux = total
    error = np.sqrt(fvar[0] + fvar[1] + fvar[2])
    sb_error = np.sqrt(sbvar[0] + sbvar[1] + sbvar[2])
    berror = np.sqrt(bvar[0] + bvar[1] + bvar[2])
    dq = np.where(np.isnan(flux), float(dqflags.DO_NOT_USE), 0.0)
    cols = [flux, error, *fvar, sb, sb_error, *sbvar, dq, bkg, berror, *bvar, npix]
    out = np.stack(cols, axis=1)[:, :, setup.valid]
    if setup.apcorr is not None:
        c = setup.apcorr.factors(out[:, COMPUTED.index("NPIXELS")], setup.wavelength)
        apcorr_kern.apply_factors(out, c, APCORR_FLUX, APCORR_VAR)
    return out


def _fused_ok(setup: ApertureSetup) -> bool:
    """Whether the fused kernel covers this set-up (no background, or poly order 0/1 without smoothing)."""
    p = setup.params
    if setup.bg_profile is None:
        return True
    smoothing = int(p["smoothing_length"] or 0)
    return p["bkg_fit"] != "median" and int(p["bkg_order"] or 0) in FUSED_ORDERS and smoothing <= 1


def _extract_chunk(sci, err, dq, *variances, setup: ApertureSetup, present: tuple[bool, bool, bool], kernels: str):
    """One chunk of integrations → (n, len(COMPUTED), nvalid) columns (the fused kernel, compiled or its numpy
    twin, where it applies; else the numpy kernel of every background fit)."""
    it = iter(variances)
    vars3 = [next(it) if has else None for has in present]
    profile, bg = setup.profile, setup.bg_profile
    p = setup.params
    if _fused_ok(setup):
        vars3 = [np.zeros_like(sci) if v is None else v for v in vars3]
        if setup.dispaxis != 1:
            sci, err, dq = (a.transpose(0, 2, 1) for a in (sci, err, dq))
            vars3 = [v.transpose(0, 2, 1) for v in vars3]
            profile = profile.T
            bg = None if bg is None else bg.T
        order = int(p["bkg_order"] or 0)
        raw = extract_block_fused(
            sci, err, dq, *vars3, profile, bg, bkg_order=order, do_not_use=dqflags.DO_NOT_USE, kernels=kernels
        )
        return to_columns(raw, setup)
    bad = np.isnan(sci) | np.isnan(err) | ((dq & dqflags.DO_NOT_USE) != 0)
    for v in vars3:
        if v is not None:
            bad |= np.isnan(v)
    sci = np.where(bad, np.float32(np.nan), sci)
    vars3 = [np.zeros_like(sci) if v is None else np.where(bad, np.float32(np.nan), v) for v in vars3]
    if setup.dispaxis != 1:
        sci = sci.transpose(0, 2, 1)
        vars3 = [v.transpose(0, 2, 1) for v in vars3]
        profile = profile.T
        bg = None if bg is None else bg.T
    raw = kern.extract_block(
        sci,
        *vars3,
        profile,
        bg,
        bkg_fit=p["bkg_fit"],
        bkg_order=int(p["bkg_order"] or 0),
        smoothing_length=int(p["smoothing_length"] or 0),
    )
    return to_columns(raw, setup)


def _extract_segment(seg: xr.Dataset, setup: ApertureSetup, kernels: str) -> da.Array:
    var_names = (names.VAR_POISSON, names.VAR_RNOISE, names.VAR_FLAT)
    present = tuple(v in seg for v in var_names)
    arrays = [seg[v].data for v in (names.SCI, names.ERR, names.DQ)]
    arrays += [seg[v].data for v, has in zip(var_names, present, strict=True) if has]
    nvalid = int(setup.valid.sum())
    return da.map_blocks(
        _extract_chunk,
        *arrays,
        setup=setup,
        present=present,
        kernels=kernels,
        dtype=np.float64,
        chunks=(arrays[0].chunks[0], (len(COMPUTED),), (nvalid,)),
        meta=np.empty((0, 0, 0), np.float64),
    )


def setups(
    ds: xr.Dataset,
    ref: dict | None = None,
    apcorr_ref: ApcorrRef | None = None,
    tabulate: bool = True,
    known: list[ApertureSetup] | None = None,
    *,
    ref_path=None,
    params: Extract1d | None = None,
    kernels: str = jit.NUMBA,
) -> list[ApertureSetup]:
    """The per-segment extraction set-up of an exposure Dataset (from its segments' headers, WAVELENGTH and WCS).

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure Dataset; its ``segment_meta`` give each segment's headers, WAVELENGTH and WCS.
    ref : dict or None
        EXTRACT1D reference contents (:func:`tso3x.io.extract1d_ref.read_extract1d_ref`).
    apcorr_ref : ApcorrRef or None
        APCORR reference (:func:`tso3x.io.apcorr_ref.read_apcorr_ref`).
    tabulate : bool
        With an APCORR file, tabulate the NIRSpec aperture correction of each segment from the NPIXELS of its
        first integration (extracted here), as jwst does; False only validates the file against every segment.
    known : list of ApertureSetup, optional
        The untabulated set-ups of the same segments with the same reference files and parameters (from an
        earlier call with ``tabulate=False``), used instead of making them again.
    ref_path : path, optional
        The EXTRACT1D file, for messages.
    params : tso3x.config.Extract1d, optional
        The step parameters (default: jwst's).
    kernels : {"numba", "numpy"}
        The kernels of the first-integration extraction (``tabulate``).
    """
    user = (params or Extract1d()).as_dict()
    if known is not None:
        segs = [dataclasses.replace(s, apcorr=copy.deepcopy(s.apcorr)) for s in known]
    else:
        shape = (ds.sizes[names.Y], ds.sizes[names.X])
        segs = []
        with notes.gathered():
            for meta in segment_metas(ds):
                with notes.segment(meta.path):
                    segs.append(setup_segment(meta, shape, ref, ref_path, apcorr_ref=apcorr_ref, **user))
    if tabulate and any(s.apcorr is not None and s.apcorr.kind == "phase" for s in segs):
        for setup, sl in zip(segs, segment_slices(ds), strict=True):
            if setup.apcorr is not None and setup.apcorr.kind == "phase":
                setup.apcorr.tabulate(_first_npixels(ds, sl, setup, kernels), setup.wavelength)
    return segs


def _first_npixels(ds: xr.Dataset, sl: slice, setup: ApertureSetup, kernels: str) -> np.ndarray:
    """NPIXELS (nvalid,) of a segment's first integration, extracted without aperture correction."""
    first = ds.isel({names.INTEGRATION: slice(sl.start, sl.start + 1)})
    block = _extract_segment(first, dataclasses.replace(setup, apcorr=None), kernels)
    return np.asarray(block[0, COMPUTED.index("NPIXELS")].compute())


def extract_1d(
    ds: xr.Dataset,
    ref: dict | None = None,
    apcorr_ref: ApcorrRef | None = None,
    segment_setups: list[ApertureSetup] | None = None,
    *,
    ref_path=None,
    params: Extract1d | None = None,
    kernels: str | None = None,
    **parameters,
) -> xr.Dataset:
    """Box-extract a 1-D spectrum from every integration, as jwst 3.0.0 ``extract_1d`` in calwebb_tso3.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure Dataset (one detector, segments concatenated), outlier-flagged or not.
    ref : dict or None
        EXTRACT1D reference contents (:func:`tso3x.io.extract1d_ref.read_extract1d_ref`); None extracts the
        whole array with no background. (:func:`tso3x.extract_1d` takes the file and reads it.)
    apcorr_ref : ApcorrRef or None
        APCORR reference (MIR_LRS-SLITLESS, NRS_BRIGHTOBJ) for a POINT source; None: no aperture correction.
    segment_setups : list of ApertureSetup, optional
        The set-ups :class:`tso3x.modes.spectroscopy.Spectroscopy` made for these segments with the
        same reference files and parameters (saves making them again).
    ref_path : path, optional
        The EXTRACT1D file (None: none), for messages.
    params : tso3x.config.Extract1d, optional
        Checked step parameters; or give them as keywords (jwst's names; None: from the reference file):
    **parameters
        ``subtract_background``, ``use_source_posn``, ``position_offset`` [pixel], ``smoothing_length``
        [pixel], ``bkg_fit`` and ``bkg_order``.
    kernels : {"numba", "numpy"}, optional
        The compiled kernels or their numpy twins (bit-identical); default :func:`tso3x.jit.choose`.

    Returns
    -------
    xarray.Dataset
        Lazy variables named as the x1dints columns (FLUX [Jy or DN/s], FLUX_ERROR, …, DQ, NPIXELS) with
        dims (integration, pixel), units in attrs; coordinate ``wavelength`` (integration, pixel) [micron];
        the integration coordinates of ``ds`` (times, segment); ``N_ALONGDISP`` per integration; attrs
        ``spectra`` (JSON: per segment, its header keywords and length) and the exposure attrs.
    """
    if params is None:
        params = Extract1d.from_user(**parameters)
    if ref_path is None:
        notes.warning(log, "No extract1d reference file: the whole array is extracted with no background subtraction")
    kernels = jit.check(kernels or jit.choose())
    segs = setups(ds, ref, apcorr_ref, known=segment_setups, ref_path=ref_path, params=params, kernels=kernels)
    slices = segment_slices(ds)
    length = max(int(s.valid.sum()) for s in segs)
    blocks, waves, nalong = [], [], []
    for setup, sl in zip(segs, slices, strict=True):
        block = _extract_segment(ds.isel({names.INTEGRATION: sl}), setup, kernels)
        n, nvalid = block.shape[0], block.shape[2]
        if nvalid < length:
            pad = np.array([PAD.get(c, np.nan) for c in COMPUTED], dtype=np.float64)
            filler = da.broadcast_to(pad[None, :, None], (n, len(COMPUTED), length - nvalid))
            block = da.concatenate([block, filler], axis=2)
        blocks.append(block)
        wl = np.full(length, np.nan)
        wl[:nvalid] = setup.wavelength
        waves.append(da.broadcast_to(wl, (n, length)))  # one row per segment: never materialised whole
        nalong.append(np.full(n, nvalid, dtype=np.uint32))
    data = da.concatenate(blocks, axis=0) if len(blocks) > 1 else blocks[0]
    units = column_units(segs[0])
    dims = (names.INTEGRATION, names.PIXEL)
    out = xr.Dataset(
        {
            col: (dims, data[:, k, :].astype(DTYPES.get(col, np.float64)), {"units": units[col]} if units[col] else {})
            for k, col in enumerate(COMPUTED)
        },
        coords={
            names.INTEGRATION: ds[names.INTEGRATION].values,
            **{c: ds[c] for c in ds.coords if c != names.INTEGRATION and ds[c].dims == (names.INTEGRATION,)},
            names.WAVELENGTH: (dims, da.concatenate(waves).rechunk((data.chunks[0], -1)), {"units": "um"}),
        },
    )
    out["N_ALONGDISP"] = ((names.INTEGRATION,), np.concatenate(nalong))
    out.attrs = {
        **{k: v for k, v in ds.attrs.items() if k != "outlier_detection_parameters"},
        "spectra": json.dumps([{**s.keywords, "SEGMENT": s.segment, "N_ALONGDISP": int(s.valid.sum())} for s in segs]),
    }
    return out
