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

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tso3x")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from .errors import Tso3xInputError  # noqa: E402
from .io.asn import Association, open_asn  # noqa: E402
from .io.calints import load_wcs, open_exposures, open_segment  # noqa: E402
from .pipeline import run  # noqa: E402
from .steps.outliers import detect_outliers  # noqa: E402

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

#: Public names imported on first use (photutils, astropy.table and stdatamodels are slow to import).
_LAZY = {
    "photometry": ".steps.photometry",
    "write_phot_ecsv": ".io.ecsv",
    "extract_1d": ".spectroscopy",
    "white_light": ".spectroscopy",
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
