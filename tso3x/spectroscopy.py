"""Spectroscopic TSO products of calwebb_tso3: ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv``.

Entry points for the pipeline and CLI:

- :func:`check_spectroscopy_inputs` — validate reference files and parameters before anything is written;
- :func:`write_spectroscopy_products` — extract, build the white-light curve and write both products;
- :data:`SPECTROSCOPY_PARAMETERS` — the jwst step parameters (names and defaults) these accept.

Python API: :func:`extract_1d` and :func:`white_light`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from . import names
from .dataset import segment_files
from .errors import Tso3xInputError
from .execution import compute_alongside
from .io import x1dints
from .io.apcorr_ref import read_apcorr_ref
from .io.asn import Association
from .io.extract1d_ref import read_extract1d_ref
from .io.speclc import speclc_name, write_speclc
from .io.whtlt import write_whtlt
from .kernels.white_light import flux_sums
from .names import BINNED_FLUX, BINNED_FLUX_ERROR
from .spectral_bins import bin_spectra, check_spec_bins  # noqa: F401 - check_spec_bins: used by stage3
from .steps import extract
from .steps.extract import EXTRACT_PARAMETERS, setups
from .steps.white_light import WHITE_LIGHT_PARAMETERS, assemble, lazy_sums, lazy_wavelength, white_light

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


def extract_1d(
    ds: xr.Dataset, override_extract1d=None, override_apcorr=None, segment_setups=None, **params
) -> xr.Dataset:
    """Box-extract a 1-D spectrum from every integration, as jwst 3.0.0 ``extract_1d`` in calwebb_tso3.

    Reads the reference files (unless ``segment_setups`` made with them are given), then
    :func:`tso3x.steps.extract.extract_1d`, whose documentation describes the parameters and result.

    Parameters
    ----------
    override_extract1d : path or None
        EXTRACT1D JSON reference file; None or ``"N/A"`` extracts the whole array with no background.
    override_apcorr : path or None
        APCORR reference file (MIR_LRS-SLITLESS, NRS_BRIGHTOBJ) for a POINT source; None or ``"N/A"``: no
        aperture correction.
    """
    extract.check_parameters(params)
    ref = apcorr = None
    if segment_setups is None:
        ref = read_extract1d_ref(override_extract1d)
        apcorr = read_apcorr_ref(override_apcorr, str(ds.attrs.get("EXP_TYPE", "")))
    return extract.extract_1d(ds, ref, apcorr, segment_setups, ref_path=override_extract1d, **params)


def _is_soss(ds: xr.Dataset) -> bool:
    return str(ds.attrs.get("EXP_TYPE", "")).upper() == "NIS_SOSS"


def spectroscopy_names(asn: Association, speclc: bool = False) -> list[str]:
    """``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv`` of an association (and ``_speclc.ecsv``)."""
    out = [f"{asn.product_name}_x1dints.fits", f"{asn.product_name}_whtlt.ecsv"]
    return out + [speclc_name(asn.product_name)] if speclc else out


def check_spectroscopy_inputs(
    exposures: list[xr.Dataset], *, override_extract1d=None, override_apcorr=None, **params
) -> dict[tuple[str, ...], list]:
    """Validate everything the spectroscopic products need, before anything is written.

    Reads the EXTRACT1D file, resolves the aperture of every segment and finds its wavelengths; reads the
    APCORR file and, for a POINT source, finds its row for every segment (and converts its sizes).

    Returns
    -------
    dict
        Segment files of each exposure → their extraction set-ups (``segment_setups`` of
        :func:`extract_1d`, valid for the same reference files and parameters).

    Raises
    ------
    Tso3xInputError
        Invalid JSON, no aperture for the exposure, no wavelength information, bad parameters; an APCORR
        file that is missing, not an APCORR file of the exposure's mode (NRC_TSGRISM has none), or has no
        row for the exposure (SUBARRAY; FILTER, GRATING and slit).
    """
    ext, _ = _split(params)
    _check_params(ext)
    if override_apcorr is not None and str(override_apcorr) != "N/A" and not Path(override_apcorr).is_file():
        raise Tso3xInputError(override_apcorr, "override_apcorr file not found")
    ref = read_extract1d_ref(override_extract1d)
    checked, apcorr = {}, {}
    for ds in exposures:
        if _is_soss(ds):
            continue
        exp_type = str(ds.attrs.get("EXP_TYPE", ""))
        if exp_type not in apcorr:  # each reference file is read once
            apcorr[exp_type] = read_apcorr_ref(override_apcorr, exp_type)
        segs = setups(ds, ref, apcorr[exp_type], tabulate=False, ref_path=override_extract1d, **ext)
        checked[tuple(segment_files(ds))] = segs
    return checked


def store_part(spectra: xr.Dataset, min_wavelength=None, max_wavelength=None) -> xr.Dataset:
    """An exposure's spectra with ``whitelight_flux`` per integration (every integration, no duplicate-time
    rule), as the integration store holds them (lazy)."""
    lo = -1.0 if min_wavelength is None else float(min_wavelength)
    hi = 1.0e10 if max_wavelength is None else float(max_wavelength)
    flux = spectra["FLUX"].data.rechunk({1: -1})
    wave = lazy_wavelength(spectra).rechunk(flux.chunks)
    sums = da.map_blocks(flux_sums, flux, wave, lo, hi, drop_axis=1, dtype=np.float64)
    attrs = {"units": spectra["FLUX"].attrs.get("units", ""), "long_name": "sum of FLUX over the white-light range"}
    out = spectra.assign(whitelight_flux=((names.INTEGRATION,), sums, attrs))
    return out.drop_attrs(deep=False).assign_attrs({k: v for k, v in spectra.attrs.items() if k != "spectra"})


def write_spectroscopy_products(
    flagged: list[xr.Dataset],
    asn: Association,
    output_dir: Path,
    tmp_dir: Path,
    *,
    override_extract1d=None,
    override_apcorr=None,
    store=None,
    spec_bins=None,
    alongside=(),
    checked=None,
    **params,
) -> list[Path]:
    """Extract every exposure, write ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv`` (and the speclc).

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
    store : callable, optional
        Given the per-exposure integration Datasets (spectra and ``whitelight_flux``), returns a lazy store
        write computed in the same pass and a function finishing it (see :class:`tso3x.stage3.StorePlan`).
    spec_bins : int or tuple of float, optional
        Also write ``<product>_speclc.ecsv`` (equal-width bins over the white-light range, or edges [micron]),
        summed in the same pass; stored in the zarr store too.
    alongside : list of tso3x.execution.PendingGroups
        Products computed in the same pass and finished as their groups complete (the crfints of the
        flagged chunks being measured).
    checked : dict, optional
        :func:`check_spectroscopy_inputs`' result for the same reference files and parameters.
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
        compute_alongside([], alongside, label="outlier_detection")
        return []
    checked = checked or {}
    spectra = []
    for ds in flagged:
        known = checked.get(tuple(segment_files(ds)))
        spectra.append(extract_1d(ds, override_extract1d, override_apcorr, known, **ext))
    names = spectroscopy_names(asn, speclc=spec_bins is not None)
    ref = None if override_extract1d is None or str(override_extract1d) == "N/A" else override_extract1d
    target, datasums = x1dints.allocate(spectra, Path(output_dir) / names[0], tmp_dir, asn, ref)
    entries, sums = lazy_sums(spectra, asn=asn, **wl)
    binned = None
    if spec_bins is not None:
        lo, hi = wl.get("min_wavelength"), wl.get("max_wavelength")
        binned = bin_spectra(spectra, spec_bins, min_wavelength=lo, max_wavelength=hi)
    parts = [store_part(sp, **wl) for sp in spectra]
    store_write, store_finish = (store(parts) if binned is None else store(parts, binned)) if store else (None, None)
    lcs = [] if binned is None else [binned[BINNED_FLUX].data, binned[BINNED_FLUX_ERROR].data]
    # one pass over the integrations: every extracted chunk is written to the x1dints (and store) and summed
    # (execution.compute puts the zarr write, a Delayed, last itself: see its note on dask's result order)
    label = "outlier_detection + extract_1d" if alongside else "extract_1d"
    datasums, sums, lcs, _ = compute_alongside([datasums, sums, lcs, store_write], alongside, label=label)
    if store_finish is not None:
        store_finish()
    curve = assemble(entries, list(sums), spectra[0].attrs)
    wl_tmp = write_whtlt(curve, Path(tmp_dir) / names[1])
    x1d = x1dints.seal(target, list(datasums))
    final = Path(output_dir) / names[1]
    os.replace(wl_tmp, final)
    written = [x1d, final]
    if binned is not None:
        binned = binned.copy(data={BINNED_FLUX: lcs[0], BINNED_FLUX_ERROR: lcs[1]})
        lc_tmp = write_speclc(binned, Path(tmp_dir) / names[2], meta=json.loads(curve.attrs["meta"]))
        written.append(Path(output_dir) / names[2])
        os.replace(lc_tmp, written[-1])
    return written
