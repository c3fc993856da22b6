"""Write the calwebb_tso3 ``<product>_x1dints.fits`` (stdatamodels ``TSOMultiSpecModel``) from spectra Datasets.

Layout as jwst 3.0.0 writes it: PRIMARY (the first segment's PRIMARY keywords, association and step
status), INT_TIMES with NINTS rows placed by integration number, one EXTRACT1D table per segment and
detector (one row per integration, vector columns padded with the schema defaults), ASDF.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from .. import names
from ..dataset import segment_slices
from ..kernels.white_light import duplicate_times
from ..names import SPEC_COLUMNS
from . import checksum, tablefile
from .asn import Association
from .blend import blend, segment_result, with_primary
from .calints import SegmentMeta, segment_metas
from .fitsfile import read_layout

log = logging.getLogger(__name__)

TIME_COLUMNS = names.X1D_TIME_COLUMNS
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


def _template_table(length: int) -> np.ndarray:
    """One zero row of the TSOSpecModel table with vector columns of ``length`` (the template's row)."""
    from stdatamodels.jwst import datamodels

    schema = datamodels.TSOSpecModel().schema["properties"]["spec_table"]["datatype"]
    dtype = [
        (c["name"], c["datatype"], (length,)) if c["name"] in SPEC_COLUMNS else (c["name"], c["datatype"])
        for c in schema
    ]
    return np.zeros(1, dtype=dtype)


def _tso_spec(length: int, keywords: dict, units: dict):
    from stdatamodels.jwst import datamodels

    spec = datamodels.TSOSpecModel()
    spec.spec_table = _template_table(length)
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


@dataclass
class SpecTable:
    """One EXTRACT1D table of the product: a segment (and detector) of an exposure's spectra."""

    spectra: xr.Dataset  #: the segment's integrations of a :func:`tso3x.extract_1d` Dataset
    keywords: dict  #: the spectrum's header keywords
    length: int  #: N_ALONGDISP: length of the vector columns

    def static_columns(self) -> dict[str, np.ndarray]:
        """INT_NUM, N_ALONGDISP, SEGMENT and the time columns of every row (small, computed now)."""
        seg = self.spectra
        cols = {
            "INT_NUM": seg[names.INTEGRATION].values,
            "N_ALONGDISP": seg["N_ALONGDISP"].values,
            "SEGMENT": seg[names.SEGMENT].values,
        }
        for col, coord in TIME_COLUMNS.items():
            cols[col] = np.array(seg[coord].values, dtype=np.float64)
        # jwst's white_light runs on the product before it is saved and blanks repeated MJD-AVG in place
        cols["MJD-AVG"][duplicate_times(cols["MJD-AVG"])] = np.nan
        return cols


def _write_rows(*blocks, target, table: int, static: dict, wavelength: np.ndarray, block_info=None):
    """One chunk of integrations of a table → its rows in the file; returns the partial DATASUM (1,)."""
    start, stop = block_info[0]["array-location"][0]
    columns = {k: v[start:stop] for k, v in static.items()}
    columns["WAVELENGTH"] = np.broadcast_to(wavelength, (stop - start, wavelength.size))
    columns.update(zip(SPEC_COLUMNS[1:], blocks, strict=True))
    return np.array([tablefile.write_rows(target, table, start, columns)], dtype=np.uint64)


def table_datasums(target: tablefile.TableFileTarget, tables: list[SpecTable]) -> list:
    """Lazy per-table DATASUM partials (dask arrays, one value per chunk); computing them writes the rows."""
    out = []
    for k, table in enumerate(tables):
        seg = table.spectra
        blocks = [seg[c].data[:, : table.length].rechunk({1: -1}) for c in SPEC_COLUMNS[1:]]
        wavelength = np.asarray(seg[names.WAVELENGTH][0, : table.length].values, dtype=np.float64)
        out.append(
            da.map_blocks(
                _write_rows,
                *blocks,
                target=target,
                table=k,
                static=table.static_columns(),
                wavelength=wavelength,
                drop_axis=1,
                chunks=((1,) * blocks[0].numblocks[0],),
                dtype=np.uint64,
                meta=np.empty(0, np.uint64),
            )
        )
    return out


def _int_times(nints: int, metas: list[SegmentMeta]) -> np.ndarray:
    """NINTS rows with the first segment's columns; each segment's rows at integration_number − 1."""
    tables = [m.int_times for m in metas]
    out = np.zeros(nints, dtype=tables[0].dtype)
    for table in tables:
        for row in table:
            idx = int(row["integration_number"]) - 1
            if 0 <= idx < nints:
                out[idx] = row
    return out


def _in_member_order(items: list[tuple], asn: Association) -> list[tuple]:
    """Items whose first element is a segment path, sorted by the association's member order."""
    rank = {os.path.realpath(p): i for i, p in enumerate(asn.members)}
    return sorted(items, key=lambda it: rank.get(os.path.realpath(it[0]), len(rank)))


def _ordered_metas(spectra: list[xr.Dataset], asn: Association) -> list[tuple[SegmentMeta, xr.Dataset]]:
    """(segment meta, its spectra Dataset) of every segment, in association member order."""
    seen, items = set(), []
    for ds in spectra:  # (NIS_SOSS: one Dataset per order of the same segments)
        for m in segment_metas(ds):
            if m.path not in seen:
                seen.add(m.path)
                items.append((m.path, m, ds))
    return [it[1:] for it in _in_member_order(items, asn)]


def ordered_segments(spectra: list[xr.Dataset], asn: Association | None = None) -> list[tuple]:
    """(Dataset, segment keywords, integration slice) of every segment, in association member order."""
    items = []
    for ds in spectra:
        spec = json.loads(ds.attrs["spectra"])
        for path, keywords, sl in zip(ds.attrs["segment_files"], spec, segment_slices(ds), strict=True):
            items.append((path, ds, keywords, sl))
    if asn is not None:
        items = _in_member_order(items, asn)
    return [it[1:] for it in items]


def steps_before_extraction(attrs: dict, first: bool = True) -> dict:
    """The status (dotted paths → values) of the steps calwebb_tso3 runs before extract_1d, from a cube's or
    its spectra's attrs: outlier_detection when it completed; adaptive_trace_model FAILED on the ``first``
    segment when pixel_replace's trace_model ran on NIS_SOSS (jwst's step fails there, then keeps mingrad for
    the others), else SKIPPED; pixel_replace."""
    out = {
        "meta.cal_step.adaptive_trace_model": "FAILED" if first and attrs.get("S_TRCMOD") == "FAILED" else "SKIPPED",
        "meta.cal_step.pixel_replace": attrs.get("S_PXREPL", "SKIPPED"),
    }
    if attrs.get("S_OUTLIR") == "COMPLETE":
        out["meta.cal_step.outlier_detection"] = "COMPLETE"
    return out


def _segment_results(
    items: list[tuple[SegmentMeta, xr.Dataset]], asn: Association, extract1d, result_meta: dict | None = None
) -> list:
    """Per segment (association order), the PRIMARY metadata of jwst's extract_1d result, for blending.

    ``result_meta`` (dotted paths → values) replaces the EXTRACT1D file's name (NIS_SOSS: its reference
    files, photom's status, the ``soss_extract1d`` parameters)."""
    out = []
    for k, (meta, ds) in enumerate(items):
        updates = {
            "meta.filename": Path(meta.path).name,
            "meta.asn.pool_name": asn.asn_pool,
            "meta.asn.table_name": asn.path.name,
            "meta.cal_step.extract_1d": "COMPLETE",
            **steps_before_extraction(ds.attrs, first=k == 0),
            "meta.ref_file.extract1d.name": "N/A" if extract1d is None else os.path.abspath(extract1d),
        }
        if result_meta is not None:
            del updates["meta.ref_file.extract1d.name"]
            updates.update(result_meta)
        out.append(segment_result(meta.primary_header.copy(), updates))
    return out


def write_template(
    spectra: list[xr.Dataset],
    path: str | os.PathLike,
    asn: Association,
    extract1d: str | os.PathLike | None = None,
    result_meta: dict | None = None,
) -> list[SpecTable]:
    """Save the x1dints as stdatamodels writes it but with one row per EXTRACT1D table (a template).

    ``result_meta``: see :func:`_segment_results`.

    Returns
    -------
    list of SpecTable
        The EXTRACT1D tables in file order, whose rows :func:`table_datasums` writes.
    """
    from stdatamodels.jwst import datamodels

    first = spectra[0]
    items = _ordered_metas(spectra, asn)
    metas = [m for m, _ in items]
    x1d = with_primary(datamodels.TSOMultiSpecModel(), metas[0].primary_header.copy())
    nints = int(first.attrs.get("NINTS") or first.sizes[names.INTEGRATION])
    x1d.int_times = _int_times(nints, metas)
    x1d.meta.target.source_type = None
    tables = []
    for ds, keywords, sl in ordered_segments(spectra, asn):
        keywords = dict(keywords)
        length = int(keywords.pop("N_ALONGDISP"))
        keywords.pop("SEGMENT", None)
        units = {c: ds[c].attrs.get("units") for c in SPEC_COLUMNS[1:]}
        units["WAVELENGTH"] = "um"
        x1d.spec.append(_tso_spec(length, keywords, units))
        tables.append(SpecTable(ds.isel({names.INTEGRATION: sl}), keywords, length))
    results = _segment_results(items, asn, extract1d, result_meta)
    blend(results, x1d)
    for m in results:
        m.close()
    x1d.meta.asn.pool_name = asn.asn_pool
    x1d.meta.asn.table_name = asn.path.name
    x1d.meta.cal_step.adaptive_trace_model = "SKIPPED"
    # jwst's summary_step_status: COMPLETE when the step completed on any segment
    replaced = any(ds.attrs.get("S_PXREPL") == "COMPLETE" for ds in spectra)
    x1d.meta.cal_step.pixel_replace = "COMPLETE" if replaced else "SKIPPED"
    sci = dict(metas[0].sci_header)
    if sci.get("S_REGION"):
        x1d.spec[0].s_region = sci["S_REGION"]
    x1d.meta.filename = Path(path).name
    x1d.save(path)
    return tables


def allocate(
    spectra: list[xr.Dataset],
    final_path: str | os.PathLike,
    tmp_dir: str | os.PathLike,
    asn: Association,
    extract1d: str | os.PathLike | None = None,
    result_meta: dict | None = None,
) -> tuple[tablefile.TableFileTarget, list]:
    """Pre-allocate the x1dints in ``tmp_dir``; returns the target and the lazy per-table DATASUMs.

    Computing the DATASUMs (with :func:`dask.compute`, alongside anything else) writes every row; then
    :func:`tablefile.seal` with their sums finishes the file and renames it to ``final_path``.
    """
    final_path, tmp_dir = Path(final_path), Path(tmp_dir)
    template = tmp_dir / "template" / final_path.name  # stdatamodels records the name it saves under
    template.parent.mkdir(exist_ok=True)
    tables = write_template(spectra, template, asn, extract1d, result_meta)
    extract1d_hdus = [h.index for h in read_layout(template) if h.name == "EXTRACT1D"]
    nrows = {i: t.spectra.sizes[names.INTEGRATION] for i, t in zip(extract1d_hdus, tables, strict=True)}
    target = tablefile.allocate(template, tmp_dir / final_path.name, final_path, nrows)
    shutil.rmtree(template.parent)
    return target, table_datasums(target, tables)


def seal(target: tablefile.TableFileTarget, datasums: list[np.ndarray]) -> Path:
    """Finish a pre-allocated x1dints from its computed per-table DATASUM partials."""
    path = tablefile.seal(target, [checksum.add(*(int(v) for v in sums)) for sums in datasums])
    log.info("wrote %s (%d spectra tables)", path.name, len(datasums))
    return path
