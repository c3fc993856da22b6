"""The APCORR reference file of jwst 3.0.0 ``extract_1d`` (``extract.read_apcorr_ref`` and the row selection of
``apply_apcorr.ApCorrBase``).

In calwebb_tso3 only two box-extraction modes have an aperture-correction model: MIR_LRS-SLITLESS
(``MirLrsApcorrModel``, one row per subarray) and NRS_BRIGHTOBJ (``NrsFsApcorrModel``, one row per filter,
grating and slit). jwst has no model for NRC_TSGRISM (a file other than ``N/A`` raises ``KeyError`` there),
so it is refused here.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Tso3xInputError

log = logging.getLogger(__name__)

#: EXP_TYPE → stdatamodels model jwst 3.0.0 reads the APCORR file with (``read_apcorr_ref``'s map).
APCORR_MODELS = {"MIR_LRS-SLITLESS": "MirLrsApcorrModel", "NRS_BRIGHTOBJ": "NrsFsApcorrModel"}
#: Columns jwst reads, per EXP_TYPE.
COLUMNS = {
    "MIR_LRS-SLITLESS": ("subarray", "wavelength", "nelem_wl", "size", "nelem_size", "apcorr"),
    "NRS_BRIGHTOBJ": ("filter", "grating", "slit", "wavelength", "size", "pixphase", "apcorr"),
}


@dataclass(frozen=True)
class ApcorrRef:
    """An APCORR reference file, read.

    Attributes
    ----------
    path : Path
        The file.
    exp_type : str
        EXP_TYPE it was read for.
    sizeunit : str
        SIZEUNIT of the APCORR table (``"pixels"``, or ``"arcsec…"``: sizes converted with the WCS scale).
    table : numpy structured array
        All rows of the APCORR table, as stdatamodels reads them.
    """

    path: Path
    exp_type: str
    sizeunit: str
    table: np.ndarray


def read_apcorr_ref(path: str | Path | None, exp_type: str) -> ApcorrRef | None:
    """Read an APCORR file for an exposure of ``exp_type`` (None: no aperture correction; "N/A" is told from a
    path by :meth:`tso3x.config.References.path`).

    Raises
    ------
    Tso3xInputError
        The file is missing, EXP_TYPE has no aperture correction in jwst (NRC_TSGRISM), or the file is not an
        APCORR file of this mode (unreadable, other REFTYPE, wrong table columns, no SIZEUNIT).
    """
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise Tso3xInputError(path, "override_apcorr file not found")
    exp_type = str(exp_type).upper()
    if exp_type not in APCORR_MODELS:
        raise Tso3xInputError(
            path, f"jwst 3.0.0 has no aperture correction for EXP_TYPE {exp_type}: override_apcorr must be N/A"
        )
    from stdatamodels.jwst import datamodels

    model_name = APCORR_MODELS[exp_type]
    what = f"not an APCORR file for {exp_type} ({model_name})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with getattr(datamodels, model_name)(str(path)) as model:
                reftype = model.meta.reftype
                sizeunit = model.sizeunit
                table = model.apcorr_table
                table = None if table is None else np.array(table)
    except Exception as exc:  # noqa: BLE001 - any failure to read means "not an APCORR file"
        raise Tso3xInputError(path, f"{what}: {exc}") from None
    if reftype is not None and str(reftype).upper() != "APCORR":
        raise Tso3xInputError(path, f"{what}: REFTYPE is {reftype}", "PRIMARY")
    if table is None or table.dtype.names is None or len(table) == 0:
        raise Tso3xInputError(path, f"{what}: no APCORR table")
    missing = [c for c in COLUMNS[exp_type] if c not in table.dtype.names]
    if missing:
        raise Tso3xInputError(path, f"{what}: no {', '.join(missing)} column", "APCORR")
    if sizeunit is None:
        raise Tso3xInputError(path, f"{what}: no SIZEUNIT keyword", "APCORR")
    return ApcorrRef(path, exp_type, str(sizeunit), table)


def _text(value) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def match_row(ref: ApcorrRef, **keys) -> dict[str, np.ndarray]:
    """The one table row matching every ``column=value`` (jwst ``ApCorrBase._reduce_reftable``).

    Strings match case-insensitively (trailing blanks ignored), other values exactly; a None value matches
    nothing.

    Returns
    -------
    dict
        Column name → value (arrays copied).

    Raises
    ------
    Tso3xInputError
        No row, or more than one row, matches.
    """
    rows = np.ones(len(ref.table), dtype=bool)
    for key, value in keys.items():
        column = ref.table[key]
        if isinstance(value, str):
            rows &= np.array([_text(v).rstrip().upper() == value.upper() for v in column], dtype=bool)
        elif value is None:
            rows &= False
        else:
            rows &= column == value
    wanted = ", ".join(f"{k.upper()}={v}" for k, v in keys.items())
    count = int(rows.sum())
    if count != 1:
        problem = f"no APCORR row for {wanted}" if count == 0 else f"{count} APCORR rows match {wanted}"
        raise Tso3xInputError(ref.path, problem, "APCORR")
    row = ref.table[np.flatnonzero(rows)[0]]
    return {name: np.array(row[name]) for name in ref.table.dtype.names}
