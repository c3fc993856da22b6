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

# Per-integration outputs of outlier detection
N_OUTLIERS = "n_outliers"  #: pixels newly flagged as outliers in each integration
