"""NIRISS SOSS (NIS_SOSS): jwst 3.0.0's ``pixel_replace`` (optional), ``extract_1d`` (ATOCA or box path),
``photom`` of the spectra and the per-order ``white_light``, into ``<product>_x1dints.fits`` and
``<product>_whtlt.ecsv`` (and tso3x's per-order ``<product>_speclc.ecsv`` and zarr integration store, every
per-order name suffixed ``_order_<N>``).

As jwst: a FILTER other than CLEAR or a SUBARRAY other than SUBSTRIP256/SUBSTRIP96 skips the extraction
with jwst's messages (the crfints are still written). ATOCA (``soss_atoca=True``, jwst's default, or
``soss_bad_pix="model"``) builds each segment's model from a ``soss_estimate``, ``soss_wave_grid_in`` and
``soss_tikfac`` when given; without them it first estimates the flux from order 1 (low-contamination pixels,
:mod:`tso3x.kernels.atoca_estimate`), makes the adaptive grid and searches the Tikhonov factor, as jwst does.
``soss_wave_grid_out`` is written as jwst writes it.

``soss_modelname`` writes jwst's two diagnostic files, named as jwst names them
(``<name without extension and known suffix>_SossExtractModel.fits`` and ``…_AtocaSpectra.fits``; a bare name
in the output folder, a name with a folder part in that folder): the SossExtractModel holds the ATOCA trace
model of every modelled order (``ORDER<N>``, NaN → 0) and the box weights of every extracted order
(``APER<N>``; SUBSTRIP96 order 2: ones, as jwst), float32 (nints, ny, nx); the AtocaSpectra one ATOCA spectrum
per integration and modelled order (none on the box path, ``soss_atoca=False``, whose SossExtractModel has
only the APER cubes). jwst runs ``extract_1d`` once per segment, so with several segments each segment's files
overwrite the previous one's; tso3x writes one file of each covering every integration of the exposure in order
(segments concatenated; the spectra's INT_NUM is the exposure's integration number, where jwst counts from 1 in
each segment). The trace models are written by the extraction tasks that make them, chunk by chunk, into the
pre-allocated file (:mod:`tso3x.io.soss_model`); the files are products of the run like the others (manifest,
reruns, removed when incomplete).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import dask
import xarray as xr

from .. import names, product_names
from ..config import NOT_APPLICABLE, RunConfig
from ..dataset import segment_files, segment_slices
from ..errors import Tso3xInputError
from ..execution import compute_alongside
from ..io import soss_model, x1dints
from ..io.asn import Association
from ..io.calints import segment_metas
from ..io.soss_refs import (
    read_pastasoss,
    read_soss_estimate,
    read_soss_photom,
    read_speckernel,
    read_specprofile,
    read_wave_grid,
    read_wavelengthrange,
    wavelength_range,
    write_wave_grid,
)
from ..spectral_bins import bin_spectra
from ..steps import soss_extract
from ..steps.white_light import lazy_sums
from .base import ProductTarget
from .spectroscopy import PlannedProducts, merge_orders, spectral_order, store_part, write_planned

log = logging.getLogger(__name__)

#: jwst 3.0.0 fails on ``soss_n_os=1`` (an IndexError building the per-order trace models on the coarse grid).
N_OS_REFUSED = (
    "soss_n_os must be at least 2 when the ATOCA grid is generated "
    "(jwst 3.0.0 fails with 1: too coarse for its per-order models)"
)
SUPERSTRIPES = ("SUB17STRIPE_SOSS", "SUB60STRIPE_SOSS", "SUB204STRIPE_SOSS", "SUB680STRIPE_SOSS")
SUBARRAYS = ("SUBSTRIP256", "SUBSTRIP96")
#: Reference files of the box path: (reftype, whether "N/A" is accepted).
REFERENCES = (
    ("pastasoss", False),
    ("specprofile", False),
    ("speckernel", False),
    ("photom", True),
    ("area", True),
    ("wavelengthrange", True),
)


def skip_messages(attrs: dict) -> list[str] | None:
    """jwst's error messages when it skips the SOSS extraction of an exposure (None: it extracts)."""
    filter_, subarray = attrs.get("FILTER"), str(attrs.get("SUBARRAY", ""))
    if filter_ != "CLEAR":
        return [
            f"The SOSS extraction is implemented for the CLEAR filter only. Requested filter is {filter_}.",
            "extract_1d will be skipped.",
        ]
    if subarray not in SUBARRAYS:
        return [
            "The SOSS extraction is implemented for the SUBSTRIP256 and SUBSTRIP96 subarrays only. "
            f"Subarray is currently {subarray}.",
            "Extract1dStep will be skipped.",
        ]
    return None


class Soss:
    """NIS_SOSS exposures: box extraction of orders 1, 2 (and 3), photom, white light.

    Parameters
    ----------
    exposures : list of xarray.Dataset
    config : RunConfig
        Uses ``soss_extract``, ``extract_1d.subtract_background``, ``photom``, ``white_light``,
        ``pixel_replace``, ``spec_bins`` and the PASTASOSS, SPECPROFILE, SPECKERNEL, PHOTOM, AREA and
        WAVELENGTHRANGE reference files.

    Raises
    ------
    Tso3xInputError
        Before anything is written: a superstripe subarray; a soss_modelname folder that does not exist or
        is not writable; for box extraction, an omitted reference file, one
        that is not of its type or does not fit the subarray, a PWCPOS outside the PASTASOSS bounds, no
        white-light range for order 1.
    """

    def __init__(self, exposures: list[xr.Dataset], config: RunConfig) -> None:
        self.params = config.soss_extract
        self.config = config
        attrs = exposures[0].attrs
        subarray = str(attrs.get("SUBARRAY", ""))
        if subarray in SUPERSTRIPES:
            raise Tso3xInputError(
                segment_files(exposures[0])[0], f"SOSS superstripe subarray {subarray} is not supported yet", "PRIMARY"
            )
        self.skip = skip_messages(attrs)
        self.atoca = self.skip is None and self.params.generates_model
        if self.atoca and self.params.soss_n_os < 2 and self.params.soss_wave_grid_in is None:
            raise Tso3xInputError(None, N_OS_REFUSED)
        self.setups: dict[tuple, list] = {}
        self.range = config.white_light.range()
        self.spec_bins = config.outputs.spec_bins
        self.replace = config.pixel_replace if config.pixel_replace.pixel_replace else None
        self.modelname = self.params.soss_modelname if self.extracting else None
        if self.extracting:
            self._check_modelname()
            self._check(exposures, config)
            if self.replace is not None:
                from ..steps.pixel_replace import check_pixel_replace

                check_pixel_replace(exposures, self.replace)
        else:
            self._warn_no_spectra(config)

    @property
    def writes_store(self) -> bool:
        """The zarr integration store holds the spectra of every order (names suffixed ``_order_<N>``): written
        when the spectra are extracted."""
        return self.extracting

    @staticmethod
    def _warn_no_spectra(config: RunConfig) -> None:
        """Say that ``spec_bins`` and ``zarr`` have nothing to hold when no spectra are extracted."""
        for option, value in (("spec_bins", config.outputs.spec_bins), ("zarr", config.outputs.zarr)):
            if value is not None:
                log.warning("%s ignored: no NIS_SOSS spectra are extracted in this run", option)

    @property
    def extracting(self) -> bool:
        return self.skip is None

    @property
    def measures_in_one_pass(self) -> bool:
        """The flagged chunks feed the crfints writer and the extraction in one pass (each segment's
        statistics, then its chunks' extraction), unless ATOCA's segment models are computed before the
        extraction (the Tikhonov factor searched or the grid generated: the crfints are then written first
        and read back, so outlier detection is not computed twice) or pixel_replace runs (as for the other
        spectroscopic modes)."""
        return not (self.atoca and self._models_first) and self.replace is None

    @property
    def _models_first(self) -> bool:
        """Whether :meth:`spectra` computes the segments' ATOCA models before planning the extraction."""
        return self.params.soss_tikfac is None or self.params.soss_wave_grid_in is None

    def _check(self, exposures: list[xr.Dataset], config: RunConfig) -> None:
        refs = config.references
        for reftype, na in REFERENCES:
            if refs.given(reftype) is None:
                also = ' (or "N/A")' if na else ""
                raise Tso3xInputError(
                    None, f"NIS_SOSS extraction needs --override-{reftype} FILE{also} until CRDS is supported"
                )
        shape = (exposures[0].sizes["y"], exposures[0].sizes["x"])
        pastasoss = read_pastasoss(refs.path("pastasoss"))
        specprofile = read_specprofile(refs.path("specprofile"), shape, str(exposures[0].attrs.get("SUBARRAY", "")))
        speckernel = read_speckernel(refs.path("speckernel"))
        atoca = None
        if self.atoca:
            p = self.params
            atoca = {
                "specprofile": specprofile,
                "speckernel": speckernel,
                "grid": None if p.soss_wave_grid_in is None else read_wave_grid(p.soss_wave_grid_in),
                "tikfac": p.soss_tikfac,
                "threshold": p.soss_threshold,
                "bad_pix": p.soss_bad_pix,
                "estimate": None if p.soss_estimate is None else read_soss_estimate(p.soss_estimate),
                "n_os": p.soss_n_os,
                "rtol": p.soss_rtol,
                "max_grid_size": p.soss_max_grid_size,
                "spectra": p.soss_modelname is not None,
            }
        self.photom = None if refs.path("photom") is None else read_soss_photom(refs.path("photom"))
        for ds in exposures:
            self.setups[tuple(segment_files(ds))] = soss_extract.setups_for(
                ds,
                pastasoss,
                self.photom,
                width=self.params.soss_width,
                order_3=self.params.soss_order_3,
                background=bool(config.extract_1d.subtract_background),
                apply_time_correction=config.photom.apply_time_correction,
                atoca=atoca,
            )
        wl = config.white_light
        if refs.path("wavelengthrange") is not None:
            rows = read_wavelengthrange(refs.path("wavelengthrange"))
            first = self.setups[tuple(segment_files(exposures[0]))][0].orders[0].order
            lo, hi = wavelength_range(rows, first, attrs_filter(exposures[0]), refs.path("wavelengthrange"))
            # jwst's white_light keeps the first spectrum's range for every order
            self.range = (
                lo if wl.min_wavelength is None else wl.min_wavelength,
                hi if wl.max_wavelength is None else wl.max_wavelength,
            )

    def product_names(self, asn: Association) -> list[str]:
        if not self.extracting:
            return []
        out = [product_names.x1dints(asn.product_name), product_names.whtlt(asn.product_name)]
        if self.spec_bins is not None:
            out.append(product_names.speclc(asn.product_name))
        return out + self.model_names()

    def model_names(self) -> list[str]:
        """The ``soss_modelname`` products (SossExtractModel, AtocaSpectra): file names in the output folder, or
        absolute paths for a name with a folder part."""
        if self.modelname is None:
            return []
        suffixes = (soss_model.MODEL_SUFFIX, soss_model.SPECTRA_SUFFIX)
        return [product_names.soss_model(self.modelname, s) for s in suffixes]

    def _check_modelname(self) -> None:
        """A ``soss_modelname`` with a folder part needs that folder, existing and writable (as jwst, which
        does not create it)."""
        for name in self.model_names():
            folder = Path(name).parent
            if not Path(name).is_absolute():
                continue
            if not folder.is_dir():
                raise Tso3xInputError(folder, "soss_modelname folder does not exist")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise Tso3xInputError(folder, "soss_modelname folder is not writable")

    def prepare(self, cube: xr.Dataset) -> xr.Dataset:
        """jwst's ``pixel_replace`` on the flagged cube when asked (lazy), before the extraction."""
        if self.replace is None or not self.extracting:
            return cube
        from ..steps.pixel_replace import pixel_replace

        return pixel_replace(cube, self.replace)

    def spectra(self, cubes: list[xr.Dataset], model_out=None, extras: list | None = None) -> list[xr.Dataset]:
        """The lazy spectra Datasets of every exposure, one per order (the segments' ATOCA models computed
        first when the Tikhonov factor is searched, as the x1dints header records the first one's). With
        ``model_out`` (``soss_modelname`` with ATOCA) the extraction tasks write their trace models into it
        and append their delayed extras to ``extras``."""
        setups = [self.setups[tuple(segment_files(ds))] for ds in cubes]
        models = [soss_extract.segment_models(ds, s) for ds, s in zip(cubes, setups, strict=True)]
        self.tikfac = self.params.soss_tikfac
        self.grids = [s.atoca.grid for ss in setups for s in ss] if self.atoca else []
        if self.atoca and (self.tikfac is None or any(g is None for g in self.grids)):
            computed = dask.compute(*[m for ms in models for m in ms])
            self.tikfac, self.grids = float(computed[0].tikfac), [m.grid for m in computed]
            flat, models = _shared(computed), []
            for s in setups:
                models.append(flat[: len(s)])
                flat = flat[len(s) :]
        out, row = [], 0
        for ds, s, m in zip(cubes, setups, models, strict=True):
            out += soss_extract.soss_extract(ds, s, m, model_out if self.atoca else None, row, extras)
            row += ds.sizes[names.INTEGRATION]
        return out

    def write(self, cubes: list[xr.Dataset], target: ProductTarget) -> list[Path]:
        if not self.extracting:
            for message in self.skip:
                log.error(message)
            log.warning("extract_1d step could not be completed for any integrations")
            log.warning("x1dints products will not be created.")
            compute_alongside([], target.alongside, label="outlier_detection")
            return []
        try:
            model = self._plan_model(cubes, target)
            return self._write(cubes, target, model)
        except BaseException:
            for name in self.model_names():  # the soss_modelname files being built
                with contextlib.suppress(FileNotFoundError):
                    _tmp_path(target.output_dir / name, target).unlink()
            raise

    def _write(self, cubes: list[xr.Dataset], target: ProductTarget, model: ModelProducts | None) -> list[Path]:
        extras = [] if model is None else model.extras
        spectra = self.spectra(cubes, None if model is None else model.target, extras)
        self._write_wave_grid()
        asn, tmp_dir = target.asn, target.tmp_dir
        names_ = self.product_names(asn)
        x1d_target, datasums = x1dints.allocate(
            spectra, target.output_dir / names_[0], tmp_dir, asn, result_meta=self.result_meta()
        )
        entries, sums = lazy_sums(spectra, *self.range, asn=asn)
        binned, store_write, store_finish = self._plan_per_order(spectra, len(cubes), target)
        lc_names = [] if binned is None else list(binned.data_vars)
        planned = PlannedProducts(x1d_target, datasums, entries, sums, binned, lc_names, store_write, store_finish)
        if model is not None:
            planned.extras, planned.finish_extras = extras, model.finish
        return write_planned(planned, spectra[0].attrs, names_, target)

    def _plan_model(self, cubes: list[xr.Dataset], target: ProductTarget) -> ModelProducts | None:
        """Pre-allocate the SossExtractModel (``soss_modelname``) and plan the writes of its APER cubes (one task
        per segment and order); None without ``soss_modelname``."""
        if self.modelname is None:
            return None
        paths = [target.output_dir / name for name in self.model_names()]
        tmps = [_tmp_path(p, target) for p in paths]
        setups = [self.setups[tuple(segment_files(ds))] for ds in cubes]
        orders = [o.order for o in setups[0][0].orders]
        meta = {"meta.asn.pool_name": target.asn.asn_pool, "meta.asn.table_name": target.asn.path.name}
        meta.update(x1dints.steps_before_extraction(cubes[0].attrs))  # as the x1dints records them
        header = segment_metas(cubes[0])[0].primary_header
        shape = (cubes[0].sizes[names.Y], cubes[0].sizes[names.X])
        nints = sum(ds.sizes[names.INTEGRATION] for ds in cubes)
        model_target = soss_model.allocate(
            paths[0],
            tmps[0],
            header,
            meta,
            nints=nints,
            shape=shape,
            orders=orders,
            modelled=orders if self.atoca else [],
        )
        products = ModelProducts(model_target, paths, tmps, header, meta)
        row = 0
        for ds, segs in zip(cubes, setups, strict=True):
            for s, sl in zip(segs, segment_slices(ds), strict=True):
                for o in s.orders:
                    first, n = row + sl.start, sl.stop - sl.start
                    products.extras.append(_write_aperture(model_target, f"APER{o.order}", first, n, o.weights))
            row += ds.sizes[names.INTEGRATION]
        return products

    def _plan_per_order(self, spectra: list[xr.Dataset], n_exposures: int, target: ProductTarget):
        """The lazy per-order light curves (``--spec-bins``) and zarr store write of the spectra (one Dataset
        per exposure and order, exposure by exposure): (binned or None, store write or None, finish or None).
        Every order is binned on its own over the white-light range narrowed to its wavelengths, so its bins
        add up to its whtlt column."""
        per = len(spectra) // n_exposures
        groups = [spectra[k : k + per] for k in range(0, len(spectra), per)]
        orders = [spectral_order(sp) for sp in groups[0]]
        binned = None
        if self.spec_bins is not None:
            lo, hi = self.range
            binned = bin_spectra(merge_orders(groups[0], orders), self.spec_bins, min_wavelength=lo, max_wavelength=hi)
        if target.store is None:
            return binned, None, None
        parts = [merge_orders([store_part(sp, *self.range) for sp in group], orders) for group in groups]
        return binned, *target.store.plan(parts, binned)

    def _write_wave_grid(self) -> None:
        """``soss_wave_grid_out``: the ATOCA grid of the last segment (jwst writes each segment's in turn)."""
        path = self.params.soss_wave_grid_out
        if path is None or not self.atoca:
            return
        log.info("Saving soss_wave_grid to %s", path)
        write_wave_grid(path, self.grids[-1])

    def result_meta(self) -> dict:
        """The metadata jwst's extract_1d and photom results carry (blended into the x1dints)."""
        refs, p = self.config.references, self.params
        out = {
            f"meta.ref_file.{r}.name": NOT_APPLICABLE if refs.path(r) is None else os.path.abspath(refs.path(r))
            for r in ("pastasoss", "specprofile", "speckernel", "photom", "area")
        }
        out["meta.cal_step.photom"] = "SKIPPED" if self.photom is None else "COMPLETE"
        out.update(
            {
                "meta.soss_extract1d.width": p.soss_width,
                "meta.soss_extract1d.apply_decontamination": p.soss_atoca,
                "meta.soss_extract1d.tikhonov_factor": getattr(self, "tikfac", p.soss_tikfac),
                "meta.soss_extract1d.oversampling": p.soss_n_os,
                "meta.soss_extract1d.threshold": p.soss_threshold,
                "meta.soss_extract1d.bad_pix": p.soss_bad_pix,
            }
        )
        return out


@dataclass
class ModelProducts:
    """The ``soss_modelname`` products of a run: the pre-allocated SossExtractModel, the lazy extras of the
    tasks that write it (``{"sums": [(HDU, partial DATASUM)], "spectra": [(INT_NUM, order, wavelength,
    flux)]}``), and where the files are built and go."""

    target: soss_model.ModelTarget
    paths: list[Path]  #: SossExtractModel, AtocaSpectra
    tmps: list[Path]  #: where each is built
    header: object  #: PRIMARY header of the exposure's first segment
    meta: dict
    extras: list = field(default_factory=list)

    def finish(self, results: list) -> list[Path]:
        """Seal the SossExtractModel and write the AtocaSpectra from the computed extras."""
        sums = [item for r in results for item in r["sums"]]
        spectra = [item for r in results for item in r["spectra"]]
        written = [soss_model.seal(self.target, sums)]
        written.append(soss_model.write_atoca_spectra(self.paths[1], self.tmps[1], self.header, self.meta, spectra))
        return written


def _tmp_path(final: Path, target: ProductTarget) -> Path:
    """Where a ``soss_modelname`` product is built: the run's temporary folder when it goes into the output
    folder, else a hidden name next to it (renamed on the same file system)."""
    if final.parent.resolve() == target.output_dir.resolve():
        return target.tmp_dir / final.name
    return final.parent / f".{final.stem}.tso3x-tmp{final.suffix}"


@dask.delayed(pure=True)
def _write_aperture(model_target, hdu: str, first: int, n: int, weights) -> dict:
    """Write the box weights into planes ``first`` … ``first + n − 1`` of cube ``hdu``."""
    return {"sums": [model_target.write(hdu, first, weights[None].astype("float32"), repeat=n)], "spectra": []}


def _shared(models) -> list:
    """Computed segment models for the extraction tasks: scattered to the cluster when there is one
    (futures), else the models themselves."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return list(models)
    return [client.scatter(m) for m in models]


def attrs_filter(ds: xr.Dataset) -> str:
    """FILTER of an exposure (from its first segment's PRIMARY header)."""
    return str(segment_metas(ds)[0].primary_header.get("FILTER", ds.attrs.get("FILTER")))
