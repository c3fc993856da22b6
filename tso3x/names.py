"""The names of dimensions, variables and coordinates of tso3x Datasets, in one place.

Every module refers to these constants, so a rename happens here only.
"""

from __future__ import annotations

# Dimensions
INTEGRATION = "integration"  #: absolute 1-based integration number (coordinate of the same name)
Y = "y"  #: detector row (cross-dispersion for slit spectra), 0-based within the subarray
X = "x"  #: detector column (dispersion for slit spectra), 0-based within the subarray
PIXEL = "pixel"  #: dispersion pixel of an extracted spectrum

# Per-integration image variables of a calints segment: FITS EXTNAME → Dataset variable
SCI = "sci"
ERR = "err"
DQ = "dq"
VAR_POISSON = "var_poisson"
VAR_RNOISE = "var_rnoise"
VAR_FLAT = "var_flat"
CUBE_VARIABLES: dict[str, str] = {
    "SCI": SCI,
    "ERR": ERR,
    "DQ": DQ,
    "VAR_POISSON": VAR_POISSON,
    "VAR_RNOISE": VAR_RNOISE,
    "VAR_FLAT": VAR_FLAT,
}
#: The arrays jwst's ``match_nans_and_flags`` keeps NaN-consistent with DQ (SCI first).
FLOAT_CUBE_VARIABLES = (SCI, ERR, VAR_RNOISE, VAR_POISSON, VAR_FLAT)

# Static (y, x) variables
WAVELENGTH = "wavelength"  #: micron, from the WAVELENGTH extension when present

# Coordinates along ``integration`` (all times in days, from INT_TIMES)
SEGMENT = "segment"  #: 1-based segment number (EXSEGNUM)
INT_TIMES_COORDS: dict[str, str] = {
    "int_start_MJD_UTC": "mjd_utc_start",
    "int_mid_MJD_UTC": "mjd_utc_mid",
    "int_end_MJD_UTC": "mjd_utc_end",
    "int_start_BJD_TDB": "bjd_tdb_start",
    "int_mid_BJD_TDB": "bjd_tdb_mid",
    "int_end_BJD_TDB": "bjd_tdb_end",
}

#: x1dints per-row time columns (EXTRACT1D tables) → the integration coordinates they hold (days)
X1D_TIME_COLUMNS: dict[str, str] = {
    "MJD-BEG": "mjd_utc_start",
    "MJD-AVG": "mjd_utc_mid",
    "MJD-END": "mjd_utc_end",
    "TDB-BEG": "bjd_tdb_start",
    "TDB-MID": "bjd_tdb_mid",
    "TDB-END": "bjd_tdb_end",
}

# Per-integration outputs of outlier detection
N_OUTLIERS = "n_outliers"  #: pixels newly flagged as outliers in each integration

# Imaging TSO photometry catalog (jwst ``tso_photometry``): Dataset variables named as the _phot.ecsv
# columns, in the table's column order
MJD = "MJD"  #: integration mid time, MJD UTC [d]
BJD_TDB = "BJD_TDB"  #: integration mid time, BJD_TDB − 2400000.5 [d]
APERTURE_COLUMNS = (
    "aperture_sum",
    "aperture_sum_err",
    "annulus_sum",
    "annulus_sum_err",
    "annulus_mean",
    "annulus_mean_err",
    "aperture_bkg",
    "aperture_bkg_err",
    "net_aperture_sum",
    "net_aperture_sum_err",
)
POSITION_COLUMNS = ("aperture_x", "aperture_y", "aperture_ra_icrs", "aperture_dec_icrs")
CENTROID_COLUMNS = ("centroid_x", "centroid_y")
PSF_COLUMNS = ("psf_width_x", "psf_width_y", "psf_flux")
PHOT_COLUMNS = (MJD, BJD_TDB, *APERTURE_COLUMNS, *POSITION_COLUMNS, *CENTROID_COLUMNS, *PSF_COLUMNS)
#: Table meta keys of the catalog, in jwst's order (``number_of_integrations`` is added on writing)
PHOT_META_KEYS = ("instrument", "detector", "channel", "subarray", "filter", "pupil", "target_name", "apertures")

# Results API (tso3x.open_products, tso3x.bin_spectra, <product>_speclc.ecsv, the zarr store)
WHITELIGHT_FLUX = "whitelight_flux"  #: white-light flux per integration [FLUX unit]
WHITELIGHT_FLUX_ERROR = "whitelight_flux_error"  #: quadrature sum of FLUX_ERROR over the same pixels
WAVELENGTH_BIN = "wavelength_bin"  #: dimension of spectroscopic light curves
BINNED_FLUX = "binned_flux"  #: (integration, wavelength_bin) sum of FLUX in each bin [FLUX unit]
BINNED_FLUX_ERROR = "binned_flux_error"  #: quadrature sum of FLUX_ERROR in each bin [FLUX unit]
WAVELENGTH_LOW = "wavelength_low"  #: lower bin edge [micron] (included)
WAVELENGTH_HIGH = "wavelength_high"  #: upper bin edge [micron] (excluded, except for the last bin)
WAVELENGTH_CENTER = "wavelength_center"  #: bin centre [micron]
N_PIXELS = "n_pixels"  #: pixels of the wavelength grid in each bin
#: attr (list of int) of the results of a product with several spectral orders (NIS_SOSS), whose spectra,
#: white light and binned light curves are suffixed per order with :func:`order_suffix`
ORDERS = "orders"


def order_suffix(order: int) -> str:
    """The suffix of one spectral order's variables, dimensions and coordinates: ``_order_1``, as jwst's whtlt
    names its per-order column ``whitelight_flux_order_1``."""
    return f"_order_{int(order)}"


#: The vector columns of an x1dints EXTRACT1D table, in jwst's order.
SPEC_COLUMNS: tuple[str, ...] = (
    "WAVELENGTH",
    "FLUX",
    "FLUX_ERROR",
    "FLUX_VAR_POISSON",
    "FLUX_VAR_RNOISE",
    "FLUX_VAR_FLAT",
    "SURF_BRIGHT",
    "SB_ERROR",
    "SB_VAR_POISSON",
    "SB_VAR_RNOISE",
    "SB_VAR_FLAT",
    "DQ",
    "BACKGROUND",
    "BKGD_ERROR",
    "BKGD_VAR_POISSON",
    "BKGD_VAR_RNOISE",
    "BKGD_VAR_FLAT",
    "NPIXELS",
)
