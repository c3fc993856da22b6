"""One mode per kind of TSO exposure, behind one interface (:class:`~tso3x.modes.base.Mode`).

=============  ===============================================  =========================================
mode           EXP_TYPE                                         products (besides the crfints)
=============  ===============================================  =========================================
Imaging        NRC_TSIMAGE; MIR_IMAGE with TSOVISIT             ``_phot.ecsv``
Spectroscopy   NRS_BRIGHTOBJ, MIR_LRS-SLITLESS, NRC_TSGRISM     ``_x1dints.fits``, ``_whtlt.ecsv`` (speclc)
Soss           NIS_SOSS                                         ``_x1dints.fits``, ``_whtlt.ecsv`` (box path;
                                                                speclc per order)
=============  ===============================================  =========================================
"""

from __future__ import annotations

import xarray as xr

from ..config import RunConfig
from ..io.calints import is_imaging
from .base import Mode, ProductTarget

__all__ = ["Mode", "ProductTarget", "mode_for"]


def mode_for(exposures: list[xr.Dataset], config: RunConfig) -> Mode:
    """The mode of an association's exposures (calwebb_tso3 decides on the first member), built and checked.

    Raises
    ------
    Tso3xInputError
        Whatever the mode finds wrong with the exposures, reference files or parameters.
    """
    attrs = exposures[0].attrs
    if is_imaging(attrs):
        from .imaging import Imaging

        return Imaging(exposures, config)
    if any(str(ds.attrs.get("EXP_TYPE", "")).upper() == "NIS_SOSS" for ds in exposures):
        from .soss import Soss

        return Soss(exposures, config)
    from .spectroscopy import Spectroscopy

    return Spectroscopy(exposures, config)
