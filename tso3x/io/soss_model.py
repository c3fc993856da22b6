"""Write the NIS_SOSS ``soss_modelname`` products: ``<name>_SossExtractModel.fits`` (stdatamodels
``SossExtractModel``) and ``<name>_AtocaSpectra.fits`` (``MultiSpecModel``), as jwst 3.0.0's ``extract_1d``
saves them.

The SossExtractModel holds, for every integration of the exposure (segments concatenated in order), the ATOCA
trace model of each modelled order (``ORDER1``, ``ORDER2`` [, ``ORDER3``]: NaN → 0) and the box weights of each
extracted order (``APER1`` …), float32 cubes (nints, ny, nx). It is pre-allocated from a one-plane stdatamodels
template (:mod:`tso3x.io.tablefile`, so headers and the ASDF tree are exactly stdatamodels'), each chunk task
writes its planes at their byte offsets and returns their partial DATASUM, and :func:`seal` renames it into
place: memory does not grow with the number of integrations. The AtocaSpectra (per integration and order, the
ATOCA spectrum binned on the trace's pixel wavelengths; none on the box path) is small and written at the end
from what the chunk tasks returned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from . import checksum, tablefile
from .blend import with_primary
from .fitsfile import read_layout

log = logging.getLogger(__name__)

#: The suffixes jwst gives the two files.
MODEL_SUFFIX, SPECTRA_SUFFIX = "SossExtractModel", "AtocaSpectra"


@dataclass
class ModelTarget:
    """A pre-allocated SossExtractModel: its cubes by HDU name (``ORDER1``, ``APER1``, …)."""

    table: tablefile.TableFileTarget
    cubes: dict[str, int]  #: HDU name → growing cube index

    def write(self, hdu: str, first: int, planes: np.ndarray, repeat: int = 1) -> tuple[str, int]:
        """Write planes ``first …`` of cube ``hdu`` (``repeat`` times); returns (``hdu``, partial DATASUM)."""
        return hdu, tablefile.write_planes(self.table, self.cubes[hdu], first, planes, repeat)


def allocate(
    final_path: str | os.PathLike,
    tmp_path: str | os.PathLike,
    primary_header: fits.Header,
    meta: dict,
    *,
    nints: int,
    shape: tuple[int, int],
    orders: list[int],
    modelled: list[int],
) -> ModelTarget:
    """Pre-allocate the SossExtractModel at ``tmp_path`` (renamed to ``final_path`` by :func:`seal`).

    Parameters
    ----------
    primary_header : astropy.io.fits.Header
        The exposure's first segment's PRIMARY header.
    meta : dict
        Dotted metadata paths → values set after it (``meta.asn.pool_name``, …).
    nints : int
        Planes of every cube.
    shape : (ny, nx)
    orders : list of int
        The extracted orders (``APER<N>``).
    modelled : list of int
        The orders with an ATOCA trace model (``ORDER<N>``; empty on the box path).
    """
    from stdatamodels.jwst import datamodels

    final_path, tmp_path = Path(final_path), Path(tmp_path)
    model = datamodels.SossExtractModel()
    with_primary(model, primary_header.copy(), meta)
    plane = np.zeros((1, *shape), np.float32)
    for o in modelled:
        setattr(model, f"order{o}", plane.copy())
    for o in orders:
        setattr(model, f"aperture{o}", plane.copy())
    with _saved(model, tmp_path, final_path) as template:
        layout = read_layout(template)
        grown = {h.index: nints for h in layout if h.index and h.name != tablefile.ASDF_EXTENSION}
        table = tablefile.allocate(template, tmp_path, final_path, grown)
        names = [h.name for h in layout if h.index in grown]
    return ModelTarget(table, {name: k for k, name in enumerate(names)})


@contextlib.contextmanager
def _saved(model, tmp_path: Path, final_path: Path) -> Iterator[Path]:
    """``model`` saved by stdatamodels as ``final_path``'s name in a folder beside ``tmp_path`` (the template
    a product is built from), removed afterwards."""
    model.meta.filename = final_path.name
    template = tmp_path.parent / (tmp_path.name + ".template") / final_path.name
    template.parent.mkdir(parents=True, exist_ok=True)
    try:
        model.save(os.fspath(template))
        model.close()
        yield template
    finally:
        shutil.rmtree(template.parent, ignore_errors=True)


def seal(target: ModelTarget, partials: list[tuple[str, int]]) -> Path:
    """Finish the SossExtractModel from the (HDU, partial DATASUM) of every write and rename it into place."""
    sums = {name: 0 for name in target.cubes}
    for name, value in partials:
        sums[name] = checksum.add(sums[name], int(value))
    path = tablefile.seal(target.table, [sums[name] for name in target.cubes])
    log.info("wrote %s (%s)", path.name, ", ".join(target.cubes))
    return path


def write_atoca_spectra(
    final_path: str | os.PathLike,
    tmp_path: str | os.PathLike,
    primary_header: fits.Header,
    meta: dict,
    spectra: list[tuple[int, int, np.ndarray, np.ndarray]],
) -> Path:
    """Write the AtocaSpectra (a ``MultiSpecModel``, one SPEC table per integration and order, in the order
    given: (integration number, order, wavelength [micron], flux [DN/s])), built at ``tmp_path`` and renamed to
    ``final_path``."""
    from stdatamodels.jwst import datamodels

    final_path, tmp_path = Path(final_path), Path(tmp_path)
    model = datamodels.MultiSpecModel()
    with_primary(model, primary_header.copy(), meta)
    dtype = datamodels.SpecModel().get_dtype("spec_table")
    for int_num, order, wave, flux in spectra:
        table = np.zeros(len(wave), dtype=dtype)
        table["WAVELENGTH"], table["FLUX"] = wave, flux
        spec = datamodels.SpecModel(spec_table=table)
        spec.spectral_order = int(order)
        spec.int_num = int(int_num)
        for col, unit in (("wavelength", "um"), ("flux", "DN/s"), ("flux_error", "DN/s"), ("background", "DN/s")):
            spec.spec_table.columns[col].unit = unit
        model.spec.append(spec)
    with _saved(model, tmp_path, final_path) as template:
        # copied as is, with CHECKSUM/DATASUM and the _fits_hash of the final headers, as every product
        tablefile.seal(tablefile.allocate(template, tmp_path, final_path, {}), [])
    log.info("wrote %s (%d spectra)", final_path.name, len(spectra))
    return final_path
