"""The file names of every product, made here only (jwst 3.0.0's names for jwst's products).

``<product>`` is the association's product name; crfints are named after their input segment.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Folder of the output directory where products are built before they are renamed into place.
TMP_DIR = ".tso3x-tmp"
#: Input suffixes jwst strips from a member's name before adding the association id.
_KNOWN_SUFFIXES = ("calints", "crfints", "rateints", "cal", "rate", "x1dints", "median")
#: Suffix of every crfints (``<root>_<asn_id>_crfints.fits``); ``"*" + CRFINTS_SUFFIX`` finds them in a folder.
CRFINTS_SUFFIX = "_crfints.fits"


def crfints(input_name: str | Path, asn_id: str) -> str:
    """jwst's crfints name: ``<input root without _asn_id and suffix>_<asn_id>_crfints.fits``."""
    stem = Path(input_name).name.replace("_" + asn_id, "")
    stem = re.sub(r"\.fits$", "", stem)
    suffixes = "|".join(_KNOWN_SUFFIXES)
    stem = re.sub(rf"_({suffixes})$", "", stem)
    return f"{stem}_{asn_id}{CRFINTS_SUFFIX}"


#: Product kind → suffix after the product name.
SUFFIXES = {
    "phot": "_phot.ecsv",  # the imaging photometry catalog
    "x1dints": "_x1dints.fits",  # the extracted spectra
    "whtlt": "_whtlt.ecsv",  # the white-light curve
    "speclc": "_speclc.ecsv",  # tso3x's spectroscopic light curves
    "manifest": "_manifest.json",  # the run manifest
}


def phot(product: str) -> str:
    """``<product>_phot.ecsv``."""
    return product + SUFFIXES["phot"]


def x1dints(product: str) -> str:
    """``<product>_x1dints.fits``."""
    return product + SUFFIXES["x1dints"]


def whtlt(product: str) -> str:
    """``<product>_whtlt.ecsv``."""
    return product + SUFFIXES["whtlt"]


def speclc(product: str) -> str:
    """``<product>_speclc.ecsv``."""
    return product + SUFFIXES["speclc"]


def manifest(product: str) -> str:
    """``<product>_manifest.json``."""
    return product + SUFFIXES["manifest"]
