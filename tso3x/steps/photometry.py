"""Imaging TSO photometry (jwst ``tso_photometry``) of exposure Datasets, as dask graphs over chunks.

jwst measures each segment cube on its own; so does this step. With centroiding, the work takes three
passes over the integrations, each one dask graph over the chunks of every segment (all cores busy):

1. centroid (centre of mass, ``search_box_width`` box) around the planned position (XREF/YREF_SCI);
2. centroid again (``fit_box_width`` box) around the median of pass 1, and the Gaussian PRF fit;
3. aperture photometry at the median pass-2 centroid (or each integration's centroid with
   ``moving_centroid``; the planned position if every centroid failed).

Without centroiding only pass 3 runs, at the planned position.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import dask.array as da
import numpy as np
import xarray as xr

from .. import jit, names, notes
from ..config import TsoPhotometry
from ..execution import compute
from ..io.gain import open_gain
from ..kernels import centroid as cen
from ..kernels import photometry as phot
from ..kernels.psf_fit import fit_gaussian_prf
from .photometry_setup import PhotometrySetup, prepare_segments

log = logging.getLogger(__name__)

_WLP8_INFO = "Photometry measured as the sum of all values in the subarray.  No background subtraction was performed."


def _convert(block: np.ndarray, factor) -> np.ndarray:
    """jwst ``convert_data_units``: ``data *= factor`` (float32 result, numpy's scalar rules)."""
    return block if factor is None else block * factor


def _pass_centroid(sci, dq, *, factor, xc, yc, radius, box, fit_box, kernels):
    """One chunk of a centroid pass: (n, 1, 2) centroids, or (n, 1, 5) with the PSF fit (``fit_box``)."""
    data = _convert(sci, factor)
    mask = cen.bad_pixels(data, dq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sub = cen.subtract_background(data, ~cen.source_mask(data.shape[1:], xc, yc, radius), kernels=kernels)
    cx, cy = cen.centroid_box(sub, mask, xc, yc, box)
    if fit_box is None:
        return np.stack([cx, cy], axis=1)[:, None, :]
    fit = fit_gaussian_prf(sub, mask, cx, cy, fit_box, kernels=kernels)
    return np.concatenate([cx[:, None], cy[:, None], fit], axis=1)[:, None, :]


def _pass_aperture(sci, err, x, y, *, factor, params: TsoPhotometry, wlp8: bool):
    """One chunk of the aperture pass: (n, 1, 6) sums/errors/areas, or (n, 1, 2) float32 for WLP8."""
    data, error = _convert(sci, factor), _convert(err, factor)
    if wlp8:
        return phot.subarray_sums(data, error)[:, None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sums = phot.aperture_sums(
            data, error, x[:, 0, 0], y[:, 0, 0], params.radius, params.radius_inner, params.radius_outer
        )
    return sums[:, None, :]


def _per_integration(values: np.ndarray, like: da.Array) -> da.Array:
    """A per-integration float64 vector as an (n, 1, 1) dask array chunked like ``like``."""
    return da.from_array(values.reshape(-1, 1, 1), chunks=(like.chunks[0], (1,), (1,)))


def _map(func, *arrays, ncol: int, dtype=np.float64, **kwargs) -> da.Array:
    first = arrays[0]
    return da.map_blocks(func, *arrays, dtype=dtype, chunks=(first.chunks[0], (1,), (ncol,)), **kwargs)


@dataclass
class _SegmentResult:
    setup: PhotometrySetup
    centroid: np.ndarray | None = None  # (n, 2) or None (no centroiding)
    psf: np.ndarray | None = None  # (n, 3) or None (pass 1 failed / no centroiding)
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    sums: np.ndarray | None = None


def _centroid_passes(ds: xr.Dataset, results: list[_SegmentResult], p: TsoPhotometry, kernels: str) -> None:
    graphs = []
    for r in results:
        seg = ds.isel({names.INTEGRATION: r.setup.rows})
        s = r.setup
        kw = dict(factor=s.factor, xc=s.xref, yc=s.yref, radius=p.radius_inner, box=p.search_box_width, fit_box=None)
        kw["kernels"] = kernels
        graphs.append(_map(_pass_centroid, seg[names.SCI].data, seg[names.DQ].data, ncol=2, **kw))
    first = compute(*graphs, label="photometry: centroids")
    graphs, todo = [], []
    with notes.gathered():
        for r, out in zip(results, first, strict=True):
            with notes.segment(r.setup.path):
                graph = _fit_pass(ds, r, out, p, kernels)
            if graph is not None:
                graphs.append(graph)
                todo.append(r)
    for r, out in zip(todo, compute(*graphs, label="photometry: PSF fits"), strict=True):
        r.centroid = out[:, 0, :2].copy()
        r.psf = out[:, 0, 2:].copy()


def _fit_pass(ds: xr.Dataset, r: _SegmentResult, first: np.ndarray, p: TsoPhotometry, kernels: str) -> da.Array | None:
    """The centroid and PSF-fit pass of one segment around the median of its first centroids (None, and NaN
    centroids, when none was found)."""
    cx, cy = first[:, 0, 0], first[:, 0, 1]
    if not np.isfinite(cx).any() or not np.isfinite(cy).any():
        notes.warning(log, "Source could not be centroided.")
        r.centroid = np.stack([cx, cy], axis=1)
        return None
    xg, yg = float(np.nanmedian(cx)), float(np.nanmedian(cy))
    notes.debug(log, "New best guess source position: %s", f"{xg},{yg}")
    seg = ds.isel({names.INTEGRATION: r.setup.rows})
    kw = dict(factor=r.setup.factor, xc=xg, yc=yg, radius=p.radius_inner, box=p.fit_box_width, kernels=kernels)
    return _map(_pass_centroid, seg[names.SCI].data, seg[names.DQ].data, ncol=5, fit_box=p.fit_box_width, **kw)


def _centres(r: _SegmentResult, p: TsoPhotometry) -> None:
    n = r.setup.rows.stop - r.setup.rows.start
    planned = (np.full(n, r.setup.xref), np.full(n, r.setup.yref))
    if r.centroid is None:
        r.x, r.y = planned
        notes.info(log, "Using planned center x,y = %s", f"{r.setup.xref:.2f},{r.setup.yref:.2f}")
        return
    cx, cy = r.centroid[:, 0], r.centroid[:, 1]
    if np.isnan(cx).all() or np.isnan(cy).all():
        notes.warning(log, "Centroid fit failed. Using initial estimate for source location.")
        r.x, r.y = planned
    elif not p.moving_centroid:
        r.x, r.y = np.full(n, np.nanmedian(cx)), np.full(n, np.nanmedian(cy))
        notes.info(log, "Using median centroid x,y = %s", f"{r.x[0]:.2f},{r.y[0]:.2f}")
    else:
        if np.isnan(cx).any():
            # jwst 3.0.0 crashes here (photutils refuses NaN positions); tso3x gives NaN rows instead
            missing = int(np.isnan(cx).sum())
            notes.warning(log, "moving centroid: %d integrations without a centroid get NaN photometry", missing)
        r.x, r.y = cx.copy(), cy.copy()


def _aperture_pass(ds: xr.Dataset, results: list[_SegmentResult], p: TsoPhotometry) -> None:
    graphs = []
    for r in results:
        seg = ds.isel({names.INTEGRATION: r.setup.rows})
        sci, err = seg[names.SCI].data, seg[names.ERR].data
        x, y = _per_integration(r.x, sci), _per_integration(r.y, sci)
        wlp8 = r.setup.sub64p_wlp8
        graphs.append(
            _map(
                _pass_aperture,
                sci,
                err,
                x,
                y,
                ncol=2 if wlp8 else len(phot.SUM_COLUMNS),
                dtype=np.float32 if wlp8 else np.float64,
                factor=r.setup.factor,
                params=p,
                wlp8=wlp8,
            )
        )
    for r, out in zip(results, compute(*graphs, label="tso_photometry"), strict=True):
        r.sums = out[:, 0, :]


def _columns(r: _SegmentResult) -> dict[str, np.ndarray]:
    """The catalog columns of one segment, with jwst's formulas and dtypes."""
    s = r.sums
    n = len(s)
    if r.setup.sub64p_wlp8:
        total, total_err = s[:, 0], s[:, 1]
        cols = {"aperture_sum": total, "aperture_sum_err": total_err}
        for name in names.APERTURE_COLUMNS[2:8]:
            cols[name] = np.full(n, np.nan)
        cols["net_aperture_sum"], cols["net_aperture_sum_err"] = total, total_err
        return cols
    ap, ap_err, ap_area, an, an_err, an_area = (s[:, k] for k in range(6))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean, mean_err = an / an_area, an_err / an_area
        bkg, bkg_err = mean * ap_area, mean_err * ap_area
        return {
            "aperture_sum": ap,
            "aperture_sum_err": ap_err,
            "annulus_sum": an,
            "annulus_sum_err": an_err,
            "annulus_mean": mean,
            "annulus_mean_err": mean_err,
            "aperture_bkg": bkg,
            "aperture_bkg_err": bkg_err,
            "net_aperture_sum": ap - bkg,
            "net_aperture_sum_err": np.sqrt(ap_err**2 + bkg_err**2),
        }


def _sky(r: _SegmentResult) -> tuple[np.ndarray, np.ndarray]:
    if r.setup.wcs is None:
        return np.full(len(r.x), np.nan), np.full(len(r.x), np.nan)
    ra, dec = r.setup.wcs(r.x, r.y)
    return np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)


def _assemble(ds: xr.Dataset, results: list[_SegmentResult], p: TsoPhotometry) -> xr.Dataset:
    per_seg = []
    for r in results:
        cols = {names.MJD: r.setup.mjd, names.BJD_TDB: r.setup.bjd, **_columns(r)}
        ra, dec = _sky(r)
        cols.update(aperture_x=r.x, aperture_y=r.y, aperture_ra_icrs=ra, aperture_dec_icrs=dec)
        if r.centroid is not None:
            cols.update(centroid_x=r.centroid[:, 0], centroid_y=r.centroid[:, 1])
        if r.psf is not None:
            cols.update(psf_width_x=r.psf[:, 0], psf_width_y=r.psf[:, 1], psf_flux=r.psf[:, 2])
        per_seg.append(cols)
    present = [c for c in names.PHOT_COLUMNS if any(c in cols for cols in per_seg)]
    segments = ds[names.SEGMENT].values
    absent = {}
    data_vars = {}
    first = results[0].setup
    for c in present:
        dtype = np.result_type(*(cols[c].dtype for cols in per_seg if c in cols))
        parts = [cols[c] if c in cols else np.full(len(r.x), np.nan) for r, cols in zip(results, per_seg, strict=True)]
        attrs = {}
        if c in names.POSITION_COLUMNS[:2] or c in names.CENTROID_COLUMNS or c in names.PSF_COLUMNS[:2]:
            attrs["units"] = "pix"
        elif c in names.POSITION_COLUMNS[2:]:
            attrs["units"] = "deg"
        elif c in (*names.APERTURE_COLUMNS, "psf_flux"):
            if not (first.sub64p_wlp8 and c in names.APERTURE_COLUMNS[2:8]):
                attrs["units"] = first.unit
        data_vars[c] = ((names.INTEGRATION,), np.concatenate(parts).astype(dtype, copy=False), attrs)
    for r, cols in zip(results, per_seg, strict=True):
        missing = [c for c in present if c not in cols]
        if missing:
            absent[str(int(segments[r.setup.rows.start]))] = missing
    meta = dict(first.meta)
    meta["apertures"] = _WLP8_INFO if first.sub64p_wlp8 else p.apertures_text()
    attrs = {**meta, "absent_columns": absent, "segment_files": [r.setup.path for r in results]}
    coords = {names.INTEGRATION: ds[names.INTEGRATION].values, names.SEGMENT: ((names.INTEGRATION,), segments)}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def photometry(
    ds: xr.Dataset,
    params: TsoPhotometry | None = None,
    gain=None,
    segment_setups: list[PhotometrySetup] | None = None,
    *,
    kernels: str | None = None,
    **parameters,
) -> xr.Dataset:
    """Aperture photometry of every integration of an imaging TSO exposure, as jwst ``tso_photometry``.

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure or segment Dataset (:func:`tso3x.open_exposures`, or the output of
        :func:`tso3x.detect_outliers`; a lazy flagged Dataset is recomputed by each pass).
    params : tso3x.config.TsoPhotometry, optional
        Checked parameters; or give them as keywords (jwst's names and defaults, radii in pixels):
    gain : path, GainRef or ndarray, optional
        GAIN reference file (read when first needed) or (ny, nx) gain [electron/DN]; required for DN/s data
        only.
    segment_setups : list of PhotometrySetup, optional
        What :func:`prepare_segments` made of these segments with this gain (checked already: not made, nor
        its warnings given, again).
    **parameters
        ``radius`` (aperture radius), ``radius_inner``, ``radius_outer`` (background annulus; ``radius_inner``
        also masks the source for the centroiding background), ``centroid_source`` (centroid the source and
        fit the Gaussian PRF instead of using XREF/YREF_SCI), ``search_box_width``, ``fit_box_width`` (box
        widths of the two centroid passes, odd; even values are rounded down; the second is also the PSF-fit
        box), ``moving_centroid`` (each integration's centroid instead of the median centroid).
    kernels : {"numba", "numpy"}, optional
        Compiled kernels or their numpy twins (the PSF-fit columns agree to ~1e-7 relative, the rest are
        bit-identical); default :func:`tso3x.jit.choose`.

    Returns
    -------
    xarray.Dataset
        Indexed by ``integration`` (coordinate ``segment``), one variable per ``_phot.ecsv`` column, in
        jwst's column order and dtypes, with ``units`` in each variable's attrs (``Jy``, ``electron`` or
        BUNIT for fluxes; ``pix``; ``deg``; none for MJD/BJD_TDB [d]). Attrs: the table meta
        (instrument … apertures), ``absent_columns`` (segment → columns jwst leaves out for it) and
        ``segment_files``.

    Raises
    ------
    Tso3xInputError
        For missing keywords, unusable gain or parameters (see :func:`prepare_segments`).
    """
    if params is None:
        params = TsoPhotometry.from_user(**parameters)
    if segment_setups is None:
        segment_setups = prepare_segments(ds, open_gain(gain))
    results = [_SegmentResult(s) for s in segment_setups]
    if params.centroid_source:
        log.info("Centroiding the source in each integration")
        _centroid_passes(ds, results, params, jit.check(kernels or jit.choose()))
    with notes.gathered():
        for r in results:
            with notes.segment(r.setup.path):
                _centres(r, params)
    _aperture_pass(ds, results, params)
    return _assemble(ds, results, params)
