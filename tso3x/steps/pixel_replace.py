"""jwst ``pixel_replace`` (calwebb_tso3, spectroscopy) on exposure Datasets as a dask graph.

Every integration is independent, so each chunk of integrations is replaced by one task
(:mod:`tso3x.kernels.pixel_replace`) and the result does not depend on the chunk size. jwst's
``trace_model`` algorithm (which needs ``adaptive_trace_model``) is not supported.
"""

from __future__ import annotations

import logging

import xarray as xr

from .. import names, notes
from ..config import PixelReplace
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


def check_pixel_replace(exposures: list[xr.Dataset], params: PixelReplace) -> None:
    """Everything :func:`pixel_replace` needs from the exposures, checked before anything is written."""
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
        (needs the DISPAXIS attr). ``n_adjacent_cols`` (int): profiles on each side used by ``fit_profile``
        (jwst default 3).

    Returns
    -------
    xarray.Dataset
        The same Dataset with lazily replaced ``sci``, ``err``, ``dq`` and ``var_*`` (replaced pixels lose
        DO_NOT_USE unless NON_SCIENCE and gain FLUX_ESTIMATED; chunks unchanged) and attr
        ``S_PXREPL = "COMPLETE"``.

    Raises
    ------
    Tso3xInputError
        Bad parameters, or no usable DISPAXIS for ``fit_profile``.
    """
    if params is None:
        params = PixelReplace.from_user(**parameters)
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
    return out
