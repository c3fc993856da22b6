"""Synthetic JWST TSO Stage-2 products (``_calints`` segments, tso3 association, reference files).

>>> from tso3x.simulate import simulate, MODES
>>> exp = simulate("nrc_tsimage_wlp8", "out", nints=20, nseg=2)   # doctest: +SKIP
>>> exp.asn, exp.segments, exp.gain

The files are written with stdatamodels exactly like pipeline products (CubeModel or SlitModel per
mode, gWCS in the ASDF extension), so they run through jwst's ``calwebb_tso3`` unchanged.
"""

from __future__ import annotations

from tso3x.simulate.modes import MODES

__all__ = ["MODES", "SimulatedExposure", "simulate"]


def __getattr__(name: str):
    """``simulate`` and ``SimulatedExposure`` on first use (stdatamodels and gwcs are slow to import), so the
    list of modes costs nothing."""
    if name in ("simulate", "SimulatedExposure"):
        from tso3x.simulate import core

        return getattr(core, name)
    raise AttributeError(f"module 'tso3x.simulate' has no attribute {name!r}")
