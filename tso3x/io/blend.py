"""Metadata blending of the x1dints (jwst ``ModelBlender`` behaviour, written on stdatamodels' schemas).

Each segment contributes the PRIMARY metadata of its extract_1d result (the segment's PRIMARY keywords
plus the step status); the product gets the first segment's values with the schema's ``blend_rule``
applied (sum, max, min, mean, multi…), and an HDRTAB table with one row per segment of every
``blend_table`` keyword.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.io import fits

log = logging.getLogger(__name__)


def _multi(vals):
    uniq = list(dict.fromkeys(vals))
    if not uniq:
        return None
    return uniq[0] if len(uniq) == 1 else "MULTIPLE"


def _wheeltol(vals):
    if not vals:
        return None
    if any(v == "outside calibration tolerance" for v in vals):
        return "outside calibration tolerance"
    return "within commanded tolerance"


RULES = {
    "multi": _multi,
    "mean": np.mean,
    "sum": np.sum,
    "max": np.max,
    "min": np.min,
    "mintime": min,
    "maxtime": max,
    "mindate": min,
    "maxdate": max,
    "mindatetime": min,
    "maxdatetime": max,
    "wheeltol": _wheeltol,
}


def parse_schema(schema: dict) -> tuple[dict, dict, list]:
    """(attribute → HDRTAB column, attribute → blend rule, attributes not blended) of a model schema."""
    from stdatamodels import schema as dm_schema

    ctx: dict = {"columns": {}, "blends": {}, "ignores": []}

    def callback(sub, path, _combiner, ctx, _recurse):
        if len(path) <= 1 or path[0] != "meta" or "items" in path or sub.get("properties"):
            return
        for comb in ("anyOf", "oneOf"):
            if comb in path:
                path = path[: path.index(comb)]
                break
        attr = ".".join(path)
        if sub.get("type") == "array":
            ctx["ignores"].append(attr)
            return
        if "blend_rule" in sub:
            ctx["blends"][attr] = sub["blend_rule"]
        if sub.get("blend_table"):
            ctx["columns"][attr] = sub.get("fits_keyword", attr)

    dm_schema.walk_schema(schema, callback, ctx)
    return ctx["columns"], ctx["blends"], ctx["ignores"]


def with_primary(model, primary: fits.Header, updates: dict | None = None):
    """``model`` given a segment's PRIMARY metadata (jwst: ``model.update(input, only="PRIMARY")``) plus
    ``updates`` (dotted paths → values); returns it."""
    from stdatamodels.jwst import datamodels

    with datamodels.CubeModel(fits.HDUList([fits.PrimaryHDU(header=primary)])) as src:
        model.update(src, only="PRIMARY")
    for attr, value in (updates or {}).items():
        model[attr] = value
    return model


def segment_result(primary: fits.Header, updates: dict):
    """A TSOMultiSpecModel carrying one segment's PRIMARY metadata plus ``updates`` (dotted paths)."""
    from stdatamodels.jwst import datamodels

    return with_primary(datamodels.TSOMultiSpecModel(), primary, updates)


def blend(models: list, target) -> None:
    """Set ``target``'s metadata to the blend of ``models`` and attach the HDRTAB (jwst ``finalize_model``)."""
    from stdatamodels import fits_support

    ignore = ["meta.wcs"]
    columns, rules, schema_ignores = parse_schema(models[0].schema)
    ignore += schema_ignores
    flats = [m.to_flat_dict(include_arrays=False) for m in models]
    meta = {k: v for k, v in flats[0].items() if k.startswith("meta") and not any(k.startswith(i) for i in ignore)}
    for attr, rule in rules.items():
        if rule == "first" or any(attr.startswith(i) for i in ignore):
            continue
        values = [f[attr] for f in flats if attr in f]
        if values:
            meta[attr] = RULES[rule](values)
    for attr, value in meta.items():
        try:
            target[attr] = value
        except KeyError:
            pass
    arrays, dtype = [], []
    for attr, col in columns.items():
        items = [f.get(attr, _MISSING) for f in flats]
        if all(i is _MISSING for i in items):
            continue
        arrays.append(np.array([np.nan if i is _MISSING else i for i in items]))
        dtype.append((col, arrays[-1].dtype))
    table = np.rec.fromarrays(arrays, dtype=dtype)
    schema = {
        "title": "Combined header table",
        "fits_hdu": "HDRTAB",
        "datatype": [{"name": n, "datatype": _yaml_dtype(str(table.dtype[n]))} for n in table.dtype.fields],
    }
    target.add_schema_entry("hdrtab", schema)
    target.hdrtab = fits_support.from_fits_hdu(fits.BinTableHDU.from_columns(table), schema)


class _Missing:
    pass


_MISSING = _Missing()


def _yaml_dtype(value: str):
    if "U" in value:
        return ["ascii", int(value[value.find("U") + 1 :])]
    return "int8" if value == "bool" else value
