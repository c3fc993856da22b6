"""Spectroscopic TSO (NRS_BRIGHTOBJ, MIR_LRS-SLITLESS, NRC_TSGRISM): ``pixel_replace`` (optional), box
``extract_1d`` and ``white_light`` of every exposure, into ``<product>_x1dints.fits`` and ``<product>_whtlt.ecsv``
(and tso3x's ``<product>_speclc.ecsv``), in one pass over the flagged chunks."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from .. import names, notes, product_names
from ..config import Extract1d, References, RunConfig
from ..dataset import segment_files
from ..execution import compute_alongside
from ..io import x1dints
from ..io.apcorr_ref import read_apcorr_ref
from ..io.asn import Association
from ..io.extract1d_ref import read_extract1d_ref
from ..io.speclc import write_speclc
from ..io.whtlt import write_whtlt
from ..io.zarr_store import suffix_detector
from ..kernels.white_light import flux_sums
from ..names import BINNED_FLUX, BINNED_FLUX_ERROR
from ..spectral_bins import bin_spectra
from ..steps import extract
from ..steps.white_light import assemble, lazy_sums, lazy_wavelength
from .base import ProductTarget

log = logging.getLogger(__name__)


class Spectroscopy:
    """Box extraction of every integration (jwst ``extract_1d``), after ``pixel_replace`` when asked, and the
    white-light curve (``white_light``).

    Parameters
    ----------
    exposures : list of xarray.Dataset
        The exposures (one per detector), as opened.
    config : RunConfig
        Uses ``extract_1d``, ``white_light``, ``pixel_replace``, ``spec_bins`` and the EXTRACT1D and APCORR
        reference files.

    Raises
    ------
    Tso3xInputError
        Checked here, before anything is written: an EXTRACT1D file that is not valid JSON or has no aperture
        for the exposure, no wavelength information, an APCORR file that is not an APCORR file of the
        exposure's mode (NRC_TSGRISM has none) or has no row for it, no DISPAXIS for ``fit_profile``.
    """

    def __init__(self, exposures: list[xr.Dataset], config: RunConfig) -> None:
        from ..steps.pixel_replace import check_pixel_replace

        self.extract = config.extract_1d
        self.white_light = config.white_light
        self.spec_bins = config.outputs.spec_bins
        self.extract1d = config.references.path("extract1d")
        self.replace = config.pixel_replace if config.pixel_replace.pixel_replace else None
        ref = read_extract1d_ref(self.extract1d)
        apcorr = {}  # EXP_TYPE → APCORR contents: each reference file is read once
        #: segment files of each exposure → their extraction set-ups (reused by the extraction)
        self.checked = {}
        with notes.gathered():  # what the segments of every detector have in common is said once
            for ds in exposures:
                exp_type = str(ds.attrs.get("EXP_TYPE", ""))
                if exp_type not in apcorr:
                    apcorr[exp_type] = read_apcorr_ref(config.references.path("apcorr"), exp_type)
                self.checked[tuple(segment_files(ds))] = extract.setups(
                    ds, ref, apcorr[exp_type], tabulate=False, ref_path=self.extract1d, params=self.extract
                )
        if self.replace is not None:
            check_pixel_replace(exposures, self.replace)

    writes_store = True

    @property
    def measures_in_one_pass(self) -> bool:
        """Extraction reads each flagged chunk once, so it runs in the crfints' pass (pixel_replace aside)."""
        return self.replace is None

    def product_names(self, asn: Association) -> list[str]:
        out = [product_names.x1dints(asn.product_name), product_names.whtlt(asn.product_name)]
        return out + [product_names.speclc(asn.product_name)] if self.spec_bins is not None else out

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        if self.replace is None:
            return cube
        from ..steps.pixel_replace import pixel_replace

        return pixel_replace(cube, self.replace)

    def spectra(self, cubes: list[xr.Dataset], kernels: str) -> list[xr.Dataset]:
        """The lazy ``extract_1d`` Dataset of every exposure cube, extracted by ``kernels``."""
        with notes.gathered():
            return [
                extract.extract_1d(
                    ds,
                    segment_setups=self.checked[tuple(segment_files(ds))],
                    ref_path=self.extract1d,
                    params=self.extract,
                    kernels=kernels,
                )
                for ds in cubes
            ]

    def write(self, cubes: list[xr.Dataset], target: ProductTarget) -> list[Path]:
        """Extract every exposure; write the x1dints, whtlt (and speclc) in one pass over the integrations.

        Every extracted chunk is written into its rows of the pre-allocated x1dints (and the zarr store),
        summed for the white light and the spectral bins, then dropped.
        """
        spectra = self.spectra(cubes, target.kernels)
        asn, tmp_dir = target.asn, target.tmp_dir
        names_ = self.product_names(asn)
        x1d_target, datasums = x1dints.allocate(spectra, target.output_dir / names_[0], tmp_dir, asn, self.extract1d)
        wl = self.white_light.as_dict()
        entries, sums = lazy_sums(spectra, asn=asn, **wl)
        binned = None
        if self.spec_bins is not None:
            binned = bin_spectra(spectra, self.spec_bins, **wl)
        store_write, store_finish = None, None
        if target.store is not None:
            parts = [store_part(sp, *self.white_light.range()) for sp in spectra]
            store_write, store_finish = target.store.plan(parts, binned)
        lc_names = [] if binned is None else [BINNED_FLUX, BINNED_FLUX_ERROR]
        planned = PlannedProducts(x1d_target, datasums, entries, sums, binned, lc_names, store_write, store_finish)
        return write_planned(planned, spectra[0].attrs, names_, target)


def extract_1d(
    ds: xr.Dataset, override_extract1d=None, override_apcorr=None, segment_setups=None, kernels=None, **parameters
) -> xr.Dataset:
    """Box-extract a 1-D spectrum from every integration, as jwst 3.0.0 ``extract_1d`` in calwebb_tso3.

    Reads the reference files (unless ``segment_setups`` made with them are given), then runs
    :func:`tso3x.steps.extract.extract_1d`, whose documentation describes the parameters and the result.

    Parameters
    ----------
    override_extract1d : path or None
        EXTRACT1D JSON reference file; None or ``"N/A"`` extracts the whole array with no background.
    override_apcorr : path or None
        APCORR reference file (MIR_LRS-SLITLESS, NRS_BRIGHTOBJ) for a POINT source; None or ``"N/A"``: no
        aperture correction.
    kernels : {"numba", "numpy"}, optional
        Compiled kernels or their numpy twins (bit-identical; default :func:`tso3x.jit.choose`).
    **parameters
        :class:`tso3x.config.Extract1d` parameters.
    """
    params = Extract1d.from_user(**parameters)
    refs = References.from_user(override_extract1d=override_extract1d, override_apcorr=override_apcorr)
    ref = apcorr = None
    if segment_setups is None:
        ref = read_extract1d_ref(refs.path("extract1d"))
        apcorr = read_apcorr_ref(refs.path("apcorr"), str(ds.attrs.get("EXP_TYPE", "")))
    ref_path = refs.path("extract1d")
    return extract.extract_1d(ds, ref, apcorr, segment_setups, ref_path=ref_path, params=params, kernels=kernels)


def place(tmp: Path, output_dir: Path) -> Path:
    """Rename a complete product from the temporary folder into the output folder."""
    final = output_dir / Path(tmp).name
    os.replace(tmp, final)
    return final


def store_part(spectra: xr.Dataset, lo: float, hi: float) -> xr.Dataset:
    """An exposure's spectra with ``whitelight_flux`` per integration, the sum of FLUX over ``lo`` ≤ wavelength ≤
    ``hi`` [micron] (every integration, no duplicate-time rule), as the integration store holds them (lazy)."""
    flux = spectra["FLUX"].data.rechunk({1: -1})
    wave = lazy_wavelength(spectra).rechunk(flux.chunks)
    sums = da.map_blocks(flux_sums, flux, wave, lo, hi, drop_axis=1, dtype=np.float64)
    attrs = {"units": spectra["FLUX"].attrs.get("units", ""), "long_name": "sum of FLUX over the white-light range"}
    out = spectra.assign(whitelight_flux=((names.INTEGRATION,), sums, attrs))
    return out.drop_attrs(deep=False).assign_attrs({k: v for k, v in spectra.attrs.items() if k != "spectra"})


def spectral_order(spectra: xr.Dataset) -> int:
    """The spectral order (SPORDER) of one order's spectra Dataset (:func:`tso3x.steps.soss_extract.soss_extract`)."""
    return int(json.loads(spectra.attrs["spectra"])[0]["SPORDER"])


def merge_orders(parts: list[xr.Dataset], orders: list[int]) -> xr.Dataset:
    """One exposure's Datasets of several spectral orders as one, every name but the integration coordinates
    suffixed ``_order_<N>`` (``FLUX_order_1``, ``pixel_order_1``, ``wavelength_order_1``, …), attr ``orders``.

    Parameters
    ----------
    parts : list of xarray.Dataset
        Per order, the same integrations (spectra, or :func:`store_part` of them); lazy or not.
    orders : list of int
        The order of each part.
    """
    renamed = [suffix_detector(ds, names.order_suffix(o)[1:]) for ds, o in zip(parts, orders, strict=True)]
    merged = xr.merge(renamed, join="exact", compat="override", combine_attrs="override")
    attrs = {k: v for k, v in parts[0].attrs.items() if k != "spectra"}
    return merged.drop_attrs(deep=False).assign_attrs({**attrs, names.ORDERS: [int(o) for o in orders]})


@dataclass
class PlannedProducts:
    """The lazy products of a spectroscopic run, planned but not computed: the pre-allocated x1dints and its
    row checksums, the white-light sums, the binned light curves (variables ``lc_names``) and the zarr write."""

    x1d_target: object  #: io.tablefile.TableFileTarget
    datasums: list
    entries: list
    sums: list
    binned: xr.Dataset | None
    lc_names: list[str]
    store_write: object | None = None
    store_finish: object | None = None
    extras: list = field(default_factory=list)  #: more lazy results, computed in the same pass
    finish_extras: Callable[[list], list[Path]] | None = None  #: their products from their results


def write_planned(planned: PlannedProducts, attrs: dict, file_names: list[str], target: ProductTarget) -> list[Path]:
    """Compute the planned products in one submission (alongside the crfints still pending), then seal the
    x1dints and write the whtlt (and speclc) into the output folder; returns the product paths."""
    p = planned
    lcs = [p.binned[v].data for v in p.lc_names]
    # (execution.compute puts the zarr write, a Delayed, last itself: see its note on dask's result order)
    label = "outlier_detection + extract_1d" if target.alongside else "extract_1d"
    main = [p.datasums, p.sums, lcs, p.extras, p.store_write]
    datasums, sums, lcs, extras, _ = compute_alongside(main, target.alongside, label=label)
    if p.store_finish is not None:
        p.store_finish()
    curve = assemble(p.entries, list(sums), attrs)
    written = [x1dints.seal(p.x1d_target, list(datasums))]
    written.append(place(write_whtlt(curve, target.tmp_dir / file_names[1]), target.output_dir))
    if p.binned is not None:
        binned = p.binned.copy(data=dict(zip(p.lc_names, lcs, strict=True)))
        lc_tmp = write_speclc(binned, target.tmp_dir / file_names[2], meta=json.loads(curve.attrs["meta"]))
        written.append(place(lc_tmp, target.output_dir))
    if p.finish_extras is not None:
        written += p.finish_extras(list(extras))
    return written
