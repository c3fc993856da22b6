"""The file names of every product, made here only (jwst 3.0.0's names for jwst's products).

``<product>`` is the association's product name; crfints are named after their input segment.
"""

from __future__ import annotations

import os
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


#: Suffixes jwst 3.0.0 removes from a ``soss_modelname`` before adding its own (``jwst.lib.suffix``).
_JWST_SUFFIXES = (
    "adaptive_trace_model adaptivetracemodelstep align_refs alignrefsstep ami ami-oi ami3pipeline ami_analyze "
    "ami_normalize amianalyzestep aminorm aminorm-oi aminormalizestep assign_mtwcs assign_wcs assignmtwcsstep "
    "assignwcsstep backgroundstep badpixselfcalstep barshadowstep bkg_subtract blot bsub bsubints c1d cal calints "
    "cat chargemigrationstep clean_flicker_noise cleanflickernoisestep combine1dstep combine_1d coron3pipeline crf "
    "crfints cube_build cubebuildstep dark dark_current darkcurrentstep darkpipeline detector1pipeline dq_init "
    "dqinitstep emicorr emicorrstep engdblog extract1dstep extract2dstep extract_1d extract_2d firstframe "
    "firstframestep flat_field flatfieldstep fringe fringestep gain_scale gainscalestep group_scale groupscalestep "
    "guider_cds guidercdsstep guiderpipeline hlsp hlspstep i2d image2pipeline image3pipeline imprint imprintstep "
    "ipc ipcstep jump jumpstep klip klipstep lastframe lastframestep linearity linearitystep master_background "
    "masterbackgroundmosstep masterbackgroundstep mbsub median msaflagopenstep outlier_detection "
    "outlierdetectionstep pathloss pathlossstep persistence persistencestep phot photom photomstep picture_frame "
    "pictureframestep pixelreplacestep psfalign psfstack psfsub ramp ramp_fit rampfitstep rate rateints refpix "
    "refpixstep resample resample_spec resamplespecstep resamplestep reset resetstep residual_fringe "
    "residualfringestep rscd rscdstep s2d s3d saturation saturationstep skymatch skymatchstep snr source_catalog "
    "sourcecatalogstep sourcetypestep spec2nrslamp spec2pipeline spec3pipeline spectral_leak spectralleakstep "
    "srctype stackrefs stackrefsstep straylight straylightstep superbias superbiasstep targ_centroid "
    "targcentroidstep tso3pipeline tsophotometrystep tweakreg tweakregstep uncal wavecorrstep wfscmb wfscombine "
    "wfscombinestep wfsscontamstep white_light whitelightstep whtlt x1d x1dints"
).split()
_REMOVE_SUFFIX = re.compile("^(?P<root>.+?)((?P<separator>_|-)(" + "|".join(_JWST_SUFFIXES) + "))?$")


def soss_model(modelname: str | Path, suffix: str) -> str:
    """A ``soss_modelname`` product: jwst's ``make_output_path(basepath=modelname, suffix=suffix)``, i.e.
    ``<basename without extension and known suffix><sep><suffix>.fits``; a bare name is a file of the output
    folder (returned as is), a name with a folder part stays in that folder (returned absolute)."""
    path = Path(modelname)
    root = os.path.splitext(path.name)[0]
    match = _REMOVE_SUFFIX.match(root)
    root, sep = match.group("root"), match.group("separator") or "_"
    name = f"{root}{sep}{suffix}.fits"
    if path.parent == Path("."):
        return name
    return str((path.parent / name).resolve())
