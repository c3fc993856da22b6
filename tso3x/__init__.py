"""tso3x: JWST Stage 3 time-series (calwebb_tso3) processing on dask.

Python API
----------
run(asn, output_dir, **params)         the whole pipeline; returns the product paths
open_asn(path)                         the association (asn_id, pool, product name, science members)
open_segment(path) / open_exposures()  lazy, integration-chunked xarray Datasets of calints segments
detect_outliers(ds, ...)               TSO outlier detection on such a Dataset (lazy)
photometry(ds, ...)                    imaging TSO photometry catalog (integration-indexed Dataset)
write_phot_ecsv(tables, path)          the jwst ``_phot.ecsv`` from photometry Datasets
load_wcs(ds or path)                   the gwcs of a segment (ASDF extension)
extract_1d(ds, ...) / white_light()    spectroscopic box extraction and white-light curve (lazy Datasets)
pixel_replace(ds, ...)                 jwst pixel_replace (mingrad, fit_profile) on such a Dataset (lazy)
simulate(mode, outdir, ...)            real-format synthetic exposures (tso3x.simulate)
open_products(path)                    a run's products as one integration-indexed xarray Dataset (tso3x.results)
bin_spectra(ds, bins, ...)             spectroscopic light curves (wavelength bins, propagated errors)
normalize(flux, baseline, ...)         light curves divided by a median or out-of-transit baseline
verify(output_dir)                     check products against their run manifest and FITS checksums
"""

from __future__ import annotations

from ._version import __version__

__all__ = [
    "Association",
    "Tso3xInputError",
    "__version__",
    "bin_spectra",
    "detect_outliers",
    "extract_1d",
    "load_wcs",
    "normalize",
    "open_asn",
    "open_exposures",
    "open_products",
    "open_segment",
    "photometry",
    "pixel_replace",
    "run",
    "verify",
    "white_light",
    "write_phot_ecsv",
]

#: Public names → the module they come from, imported on first use (``import tso3x`` stays light: dask,
#: xarray, astropy, photutils and stdatamodels load when something is asked of them).
_LAZY = {
    "Association": ".io.asn",
    "open_asn": ".io.asn",
    "Tso3xInputError": ".errors",
    "load_wcs": ".io.calints",
    "open_exposures": ".io.calints",
    "open_segment": ".io.calints",
    "run": ".pipeline",
    "detect_outliers": ".steps.outliers",
    "photometry": ".steps.photometry",
    "write_phot_ecsv": ".io.ecsv",
    "extract_1d": ".modes.spectroscopy",
    "white_light": ".steps.white_light",
    "pixel_replace": ".steps.pixel_replace",
    "verify": ".verification",
    "open_products": ".results",
    "normalize": ".results",
    "bin_spectra": ".spectral_bins",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'tso3x' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
