"""Write the calwebb_tso3 ``<product>_x1dints.fits`` (stdatamodels ``TSOMultiSpecModel``) from spectra Datasets.

Layout as jwst 3.0.0 writes it: PRIMARY (the first segment's PRIMARY keywords, association and step
status), INT_TIMES with NINTS rows placed by integration number, one EXTRACT1D table per segment and
detector (one row per integration, vector columns padded with the schema defaults), ASDF.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import xarray as xr
from astropy.io import fits

from .. import names
from ..dataset import segment_slices
from ..steps.extract import SPEC_COLUMNS
from ..steps.white_light import duplicate_times
from .asn import Association
from .blend import blend, segment_result
from .fitsfile import find_hdu, read_layout, read_table

log = logging.getLogger(__name__)

TIME_COLUMNS = {
    "MJD-BEG": "mjd_utc_start",
    "MJD-AVG": "mjd_utc_mid",
    "MJD-END": "mjd_utc_end",
    "TDB-BEG": "bjd_tdb_start",
    "TDB-MID": "bjd_tdb_mid",
    "TDB-END": "bjd_tdb_end",
}
#: Header keyword → TSOSpecModel attribute for the EXTRACT1D extensions.
SPEC_ATTRIBUTES = {
    "SLTNAME": "name",
    "SLITID": "slitlet_id",
    "SOURCEID": "source_id",
    "TA_XPOS": "ta_xpos",
    "TA_YPOS": "ta_ypos",
    "SRCXPOS": "source_xpos",
    "SRCYPOS": "source_ypos",
    "SRCRA": "source_ra",
    "SRCDEC": "source_dec",
    "SHUTSTA": "shutter_state",
    "SRCNAME": "source_name",
    "SRCALIAS": "source_alias",
    "SRCTYPE": "source_type",
    "STLARITY": "stellarity",
    "MSAQUAD": "quadrant",
    "SLTXSCL": "slit_xscale",
    "SLTYSCL": "slit_yscale",
    "WAVECOR": "wavelength_corrected",
    "PTHLOSS": "pathloss_correction_type",
    "BARSHDW": "barshadow_corrected",
    "EXTRXSTR": "extraction_xstart",
    "EXTRXSTP": "extraction_xstop",
    "EXTRYSTR": "extraction_ystart",
    "EXTRYSTP": "extraction_ystop",
    "SLIT_RA": "slit_ra",
    "SLIT_DEC": "slit_dec",
    "SPORDER": "spectral_order",
    "DISPAXIS": "dispersion_direction",
    "DETECTOR": "detector",
    "PA_APER": "position_angle",
}


def _spec_table(seg: xr.Dataset, length: int) -> np.ndarray:
    from stdatamodels.jwst import datamodels

    schema = datamodels.TSOSpecModel().schema["properties"]["spec_table"]["datatype"]
    dtype = [
        (c["name"], c["datatype"], (length,)) if c["name"] in SPEC_COLUMNS else (c["name"], c["datatype"])
        for c in schema
    ]
    n = seg.sizes[names.INTEGRATION]
    table = np.zeros(n, dtype=dtype)
    table["INT_NUM"] = seg[names.INTEGRATION].values
    table["WAVELENGTH"] = seg[names.WAVELENGTH].values[:, :length]
    for col in SPEC_COLUMNS[1:]:
        table[col] = seg[col].values[:, :length]
    table["N_ALONGDISP"] = seg["N_ALONGDISP"].values
    table["SEGMENT"] = seg[names.SEGMENT].values
    for col, coord in TIME_COLUMNS.items():
        table[col] = seg[coord].values
    # jwst's white_light runs on the product before it is saved and blanks repeated MJD-AVG in place
    table["MJD-AVG"][duplicate_times(table["MJD-AVG"])] = np.nan
    return table


def _tso_spec(seg: xr.Dataset, keywords: dict, units: dict):
    from stdatamodels.jwst import datamodels

    length = int(keywords.pop("N_ALONGDISP"))
    keywords.pop("SEGMENT", None)
    spec = datamodels.TSOSpecModel()
    spec.spec_table = _spec_table(seg, length)
    for col, unit in units.items():
        if unit:
            spec.spec_table.columns[col].unit = unit
    for col in TIME_COLUMNS:
        spec.spec_table.columns[col].unit = "d"
    for key, value in keywords.items():
        if value is not None and key in SPEC_ATTRIBUTES:
            setattr(spec, SPEC_ATTRIBUTES[key], value)
    spec.time_scale = "UTC"
    return spec


def _int_times(first_path: str, nints: int, files: list[str]) -> np.ndarray:
    """NINTS rows with the first segment's columns; each segment's rows at integration_number − 1."""
    tables = [read_table(f, find_hdu(read_layout(f), "INT_TIMES")) for f in files]
    out = np.zeros(nints, dtype=tables[0].dtype)
    for table in tables:
        for row in table:
            idx = int(row["integration_number"]) - 1
            if 0 <= idx < nints:
                out[idx] = row
    return out


def ordered_segments(spectra: list[xr.Dataset], asn: Association | None = None) -> list[tuple]:
    """(Dataset, segment keywords, integration slice) of every segment, in association member order."""
    items = []
    for ds in spectra:
        spec = json.loads(ds.attrs["spectra"])
        for path, keywords, sl in zip(ds.attrs["segment_files"], spec, segment_slices(ds), strict=True):
            items.append((path, ds, keywords, sl))
    if asn is not None:
        rank = {os.path.realpath(p): i for i, p in enumerate(asn.members)}
        items.sort(key=lambda it: rank.get(os.path.realpath(it[0]), len(rank)))
    return [it[1:] for it in items]


def _segment_results(spectra: list[xr.Dataset], asn: Association, extract1d) -> list:
    """Per segment (association order), the PRIMARY metadata of jwst's extract_1d result, for blending."""
    out, items = [], []
    for ds in spectra:
        for f in ds.attrs["segment_files"]:
            items.append((f, ds))
    rank = {os.path.realpath(p): i for i, p in enumerate(asn.members)}
    items.sort(key=lambda it: rank.get(os.path.realpath(it[0]), len(rank)))
    for f, ds in items:
        updates = {
            "meta.filename": Path(f).name,
            "meta.asn.pool_name": asn.asn_pool,
            "meta.asn.table_name": asn.path.name,
            "meta.cal_step.extract_1d": "COMPLETE",
            "meta.cal_step.adaptive_trace_model": "SKIPPED",
            "meta.cal_step.pixel_replace": "SKIPPED",
            "meta.ref_file.extract1d.name": "N/A" if extract1d is None else os.fspath(extract1d),
        }
        if ds.attrs.get("S_OUTLIR") == "COMPLETE":
            updates["meta.cal_step.outlier_detection"] = "COMPLETE"
        out.append(segment_result(read_layout(f)[0].header, updates))
    return out


def write_x1dints(
    spectra: list[xr.Dataset], path: str | os.PathLike, asn: Association, extract1d: str | os.PathLike | None = None
) -> Path:
    """Write the x1dints product of one association.

    Parameters
    ----------
    spectra : list of xarray.Dataset
        :func:`tso3x.extract_1d` outputs (one per exposure and detector), computed or lazy.
    path : path
        File to write.
    asn : Association
        For ASNPOOL/ASNTABLE and the order of the EXTRACT1D tables.
    extract1d : path, optional
        The EXTRACT1D reference file used (R_EXTR1D).

    Returns
    -------
    Path
    """
    from stdatamodels.jwst import datamodels

    first = spectra[0]
    files = [f for ds in spectra for f in ds.attrs["segment_files"]]
    rank = {os.path.realpath(p): i for i, p in enumerate(asn.members)}
    files.sort(key=lambda f: rank.get(os.path.realpath(f), len(rank)))
    prim_header = read_layout(files[0])[0].header
    x1d = datamodels.TSOMultiSpecModel()
    with datamodels.CubeModel(fits.HDUList([fits.PrimaryHDU(header=prim_header)])) as src:
        x1d.update(src, only="PRIMARY")
    nints = int(first.attrs.get("NINTS") or first.sizes[names.INTEGRATION])
    x1d.int_times = _int_times(files[0], nints, files)
    x1d.meta.target.source_type = None
    for ds, keywords, sl in ordered_segments(spectra, asn):
        units = {c: ds[c].attrs.get("units") for c in SPEC_COLUMNS[1:]}
        units["WAVELENGTH"] = "um"
        x1d.spec.append(_tso_spec(ds.isel({names.INTEGRATION: sl}).compute(), dict(keywords), units))
    results = _segment_results(spectra, asn, extract1d)
    blend(results, x1d)
    for m in results:
        m.close()
    x1d.meta.asn.pool_name = asn.asn_pool
    x1d.meta.asn.table_name = asn.path.name
    x1d.meta.cal_step.adaptive_trace_model = "SKIPPED"
    x1d.meta.cal_step.pixel_replace = first.attrs.get("S_PXREPL", "SKIPPED")
    sci = dict(find_hdu(read_layout(files[0]), "SCI").header)
    if sci.get("S_REGION"):
        x1d.spec[0].s_region = sci["S_REGION"]
    path = Path(path)
    x1d.meta.filename = path.name
    x1d.save(path)
    log.info("wrote %s (%d spectra tables)", path.name, len(x1d.spec))
    return path
