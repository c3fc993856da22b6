"""jwst ``pixel_replace`` (calwebb_tso3, spectroscopy) on exposure Datasets as a dask graph.

Every integration is independent, so each chunk of integrations is replaced by one task
(:mod:`tso3x.kernels.pixel_replace`) and the result does not depend on the chunk size. jwst's
``trace_model`` algorithm (which needs ``adaptive_trace_model``) is not supported, but for NIS_SOSS: there jwst
3.0.0's pixel_replace calls adaptive_trace_model, which is not implemented for the SOSS CubeModel (status
FAILED), and falls back to ``mingrad`` with a warning; tso3x does the same (:func:`algorithm_for`).
"""

from __future__ import annotations

import dataclasses
import logging

import xarray as xr

from .. import names, notes
from ..config import TRACE_MODEL_REFUSED, PixelReplace
from ..errors import Tso3xInputError
from ..kernels import pixel_replace as kern

log = logging.getLogger(__name__)

#: The arrays the step updates, in the kernels' argument order.
VARIABLES = (names.SCI, names.ERR, names.DQ, names.VAR_POISSON, names.VAR_RNOISE, names.VAR_FLAT)


def dispersion_axis(ds: xr.Dataset) -> int:
    """DISPAXIS of an exposure Dataset (1: along x, 2: along y), as jwst's ``meta.wcsinfo.dispersion_direction``.

    Raises
    ------
    Tso3xInputError
        When DISPAXIS is missing or not 1 or 2 (fit_profile needs it).
    """
    value = ds.attrs.get("DISPAXIS")
    if value not in (1, 2) or isinstance(value, bool):
        files = ds.attrs.get("segment_files") or [ds.attrs.get("path")]
        raise Tso3xInputError(files[0], f"DISPAXIS must be 1 or 2 for pixel_replace fit_profile, not {value!r}", "SCI")
    return int(value)


#: jwst 3.0.0's warnings when pixel_replace's trace_model meets a NIS_SOSS CubeModel (adaptive_trace_model fails)
TRACE_MODEL_FALLBACK = (
    "The adaptive_trace_model step is not implemented for datamodel type <CubeModel>.",
    "No trace model will be attempted.",
    "The algorithm is 'trace_model' but the adaptive_trace_model step failed. Defaulting to the 'mingrad' method "
    "instead.",
)


def algorithm_for(ds: xr.Dataset, params: PixelReplace) -> PixelReplace:
    """The parameters jwst 3.0.0 ends up using on an exposure: ``trace_model`` becomes ``mingrad`` for NIS_SOSS
    (jwst's adaptive_trace_model fails on the CubeModel; its warnings are logged once per run).

    Raises
    ------
    Tso3xInputError
        ``trace_model`` for another mode (adaptive_trace_model is not implemented).
    """
    if params.algorithm != "trace_model":
        return params
    if str(ds.attrs.get("EXP_TYPE", "")).upper() != "NIS_SOSS":
        raise Tso3xInputError(None, TRACE_MODEL_REFUSED)
    for message in TRACE_MODEL_FALLBACK:
        notes.warning(log, message)
    return dataclasses.replace(params, algorithm="mingrad")


def check_pixel_replace(exposures: list[xr.Dataset], params: PixelReplace) -> None:
    """Everything :func:`pixel_replace` needs from the exposures, checked before anything is written.

    Raises
    ------
    Tso3xInputError
        No usable DISPAXIS for ``fit_profile``; ``trace_model`` on another mode than NIS_SOSS.
    """
    if params.algorithm == "trace_model" and any(
        str(ds.attrs.get("EXP_TYPE", "")).upper() != "NIS_SOSS" for ds in exposures
    ):
        raise Tso3xInputError(None, TRACE_MODEL_REFUSED)
    if params.algorithm == "fit_profile":
        for ds in exposures:
            dispersion_axis(ds)


def _replace_block(block: xr.Dataset, *, algorithm: str, n_adjacent_cols: int, dispaxis: int) -> xr.Dataset:
    present = [v for v in VARIABLES if v in block]
    arrays = {v: (block[v].values if v in block else None) for v in VARIABLES}
    if algorithm == "mingrad":
        out = kern.mingrad(*arrays.values())
    else:
        out = kern.fit_profile(*arrays.values(), dispaxis=dispaxis, n_adjacent_cols=n_adjacent_cols)
    result = block.copy()
    for var, arr in zip(VARIABLES, out, strict=True):
        if var in present:
            result[var] = (block[var].dims, arr)
    return result


def pixel_replace(ds: xr.Dataset, params: PixelReplace | None = None, **parameters) -> xr.Dataset:
    """Replace bad pixels of every integration, as calwebb_tso3's ``pixel_replace`` step (jwst 3.0.0).

    Parameters
    ----------
    ds : xarray.Dataset
        An exposure Dataset (:func:`tso3x.open_exposures`, or outlier-flagged), dims (integration, y, x),
        chunked along ``integration`` only.
    params : tso3x.config.PixelReplace, optional
        Checked parameters; or give them as keywords (jwst's names and defaults):
    **parameters
        ``algorithm`` {"mingrad", "fit_profile"}: ``mingrad`` (jwst's default): non-finite SCI pixels get
        the mean of the neighbour pair (left/right or up/down) with the smaller difference. ``fit_profile``:
        DO_NOT_USE pixels get the median spatial profile of the neighbouring profiles scaled to the profile
        (needs the DISPAXIS attr). ``trace_model``: NIS_SOSS only, where jwst falls back to ``mingrad``
        (:func:`algorithm_for`). ``n_adjacent_cols`` (int): profiles on each side used by ``fit_profile``
        (jwst default 3).

    Returns
    -------
    xarray.Dataset
        The same Dataset with lazily replaced ``sci``, ``err``, ``dq`` and ``var_*`` (replaced pixels lose
        DO_NOT_USE unless NON_SCIENCE and gain FLUX_ESTIMATED; chunks unchanged) and attr
        ``S_PXREPL = "COMPLETE"`` (and ``S_TRCMOD = "FAILED"`` when ``trace_model`` fell back to ``mingrad``).

    Raises
    ------
    Tso3xInputError
        Bad parameters, no usable DISPAXIS for ``fit_profile``, ``trace_model`` on another mode than NIS_SOSS.
    """
    if params is None:
        params = PixelReplace.from_user(**parameters)
    fallback = params.algorithm == "trace_model"
    params = algorithm_for(ds, params)
    dispaxis = dispersion_axis(ds) if params.algorithm == "fit_profile" else 0
    present = [v for v in VARIABLES if v in ds]
    cube = ds[present].reset_coords(drop=True)
    template = cube.copy()
    for var in present:  # the kernels return native byte order
        template[var] = template[var].astype(template[var].dtype.newbyteorder("="))
    notes.info(log, "pixel_replace: algorithm %s, n_adjacent_cols %d", params.algorithm, params.n_adjacent_cols)
    replaced = xr.map_blocks(
        _replace_block,
        cube,
        kwargs={"algorithm": params.algorithm, "n_adjacent_cols": params.n_adjacent_cols, "dispaxis": dispaxis},
        template=template,
    )
    out = ds.copy()
    for var in present:
        out[var] = (ds[var].dims, replaced[var].data, ds[var].attrs)
    out.attrs = {**ds.attrs, "S_PXREPL": "COMPLETE"}
    if fallback:  # jwst records the failed adaptive_trace_model of the first segment (then uses mingrad directly)
        out.attrs["S_TRCMOD"] = "FAILED"
    return out
