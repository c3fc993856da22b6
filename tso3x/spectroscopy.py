"""Spectroscopic TSO products of calwebb_tso3: ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv``.

Entry points for the pipeline and CLI:

- :func:`check_spectroscopy_inputs` — validate reference files and parameters before anything is written;
- :func:`write_spectroscopy_products` — extract, build the white-light curve and write both products;
- :data:`SPECTROSCOPY_PARAMETERS` — the jwst step parameters (names and defaults) these accept.

Python API: :func:`extract_1d` and :func:`white_light`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dask
import xarray as xr

from .errors import Tso3xInputError
from .io.asn import Association
from .io.extract1d_ref import read_extract1d_ref
from .io.whtlt import write_whtlt
from .io.x1dints import write_x1dints
from .steps.extract import EXTRACT_PARAMETERS, extract_1d, setups
from .steps.white_light import WHITE_LIGHT_PARAMETERS, white_light

log = logging.getLogger(__name__)

__all__ = [
    "SPECTROSCOPY_PARAMETERS",
    "check_spectroscopy_inputs",
    "spectroscopy_names",
    "extract_1d",
    "white_light",
    "write_spectroscopy_products",
]

#: Every spectroscopy parameter, named and defaulted as the jwst 3.0.0 step parameters.
SPECTROSCOPY_PARAMETERS: dict[str, object] = {**EXTRACT_PARAMETERS, **WHITE_LIGHT_PARAMETERS}
#: EXP_TYPEs extracted by the box path.
BOX_EXP_TYPES = ("NRS_BRIGHTOBJ", "MIR_LRS-SLITLESS", "NRC_TSGRISM")
SOSS_WARNING = "NIS_SOSS extraction is not supported yet: no x1dints or whtlt product is written"


def _split(params: dict) -> tuple[dict, dict]:
    unknown = set(params) - set(SPECTROSCOPY_PARAMETERS)
    if unknown:
        raise Tso3xInputError(None, f"unknown spectroscopy parameter(s): {', '.join(sorted(unknown))}")
    ext = {k: v for k, v in params.items() if k in EXTRACT_PARAMETERS}
    wl = {k: v for k, v in params.items() if k in WHITE_LIGHT_PARAMETERS}
    return ext, wl


def _check_params(ext: dict) -> None:
    fit = ext.get("bkg_fit")
    if fit not in (None, "poly", "mean", "median"):
        raise Tso3xInputError(None, f"bkg_fit must be poly, mean or median, not {fit!r}")
    order = ext.get("bkg_order")
    if order is not None and (not isinstance(order, int) or isinstance(order, bool) or order < 0):
        raise Tso3xInputError(None, f"bkg_order must be an integer >= 0, not {order!r}")


def _is_soss(ds: xr.Dataset) -> bool:
    return str(ds.attrs.get("EXP_TYPE", "")).upper() == "NIS_SOSS"


def spectroscopy_names(asn: Association) -> list[str]:
    """``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv`` of an association."""
    return [f"{asn.product_name}_x1dints.fits", f"{asn.product_name}_whtlt.ecsv"]


def check_spectroscopy_inputs(
    exposures: list[xr.Dataset], *, override_extract1d=None, override_apcorr=None, **params
) -> None:
    """Validate everything the spectroscopic products need, before anything is written.

    Reads the EXTRACT1D file, resolves the aperture of every segment and finds its wavelengths.

    Raises
    ------
    Tso3xInputError
        Invalid JSON, no aperture for the exposure, no wavelength information, bad parameters, or an
        APCORR file (aperture correction is not supported yet).
    """
    ext, _ = _split(params)
    _check_params(ext)
    if override_apcorr is not None and str(override_apcorr) != "N/A":
        if not Path(override_apcorr).is_file():
            raise Tso3xInputError(override_apcorr, "override_apcorr file not found")
        raise Tso3xInputError(override_apcorr, "aperture correction (override_apcorr) is not supported yet")
    read_extract1d_ref(override_extract1d)
    for ds in exposures:
        if _is_soss(ds):
            continue
        setups(ds, override_extract1d, **ext)


def write_spectroscopy_products(
    flagged: list[xr.Dataset],
    asn: Association,
    output_dir: Path,
    tmp_dir: Path,
    *,
    override_extract1d=None,
    override_apcorr=None,
    **params,
) -> list[Path]:
    """Extract every exposure, write ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv``.

    Parameters
    ----------
    flagged : list of xarray.Dataset
        Outlier-flagged (or plain) exposure Datasets, one per exposure and detector.
    asn : Association
        The association (product name, pool, member order).
    output_dir, tmp_dir : Path
        Products are written in ``tmp_dir`` and renamed into ``output_dir`` when complete.
    override_extract1d, override_apcorr : path or None
        Reference files (None or "N/A": none).
    **params
        :data:`SPECTROSCOPY_PARAMETERS`.

    Returns
    -------
    list of Path
        The x1dints and whtlt paths (empty for NIS_SOSS, which is skipped with a warning).
    """
    ext, wl = _split(params)
    if any(_is_soss(ds) for ds in flagged):
        log.warning(SOSS_WARNING)
        return []
    spectra = [extract_1d(ds, override_extract1d, **ext) for ds in flagged]
    spectra = list(dask.compute(*spectra))
    curve = white_light(spectra, asn=asn, **wl)
    names = spectroscopy_names(asn)
    ref = None if override_extract1d is None or str(override_extract1d) == "N/A" else override_extract1d
    x1d_tmp = write_x1dints(spectra, Path(tmp_dir) / names[0], asn, ref)
    wl_tmp = write_whtlt(curve, Path(tmp_dir) / names[1])
    out = []
    for tmp, name in zip((x1d_tmp, wl_tmp), names, strict=True):
        final = Path(output_dir) / name
        os.replace(tmp, final)
        out.append(final)
    return out
