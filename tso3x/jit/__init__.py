"""tso3x's compiled kernels: one cache, compiled once, and the choice of kernels a run makes.

Every numba kernel of tso3x is decorated by :func:`njit`, which caches it in :func:`~tso3x.jit.cache.cache_dir`
(``$TSO3X_CACHE_DIR``, default ``~/.cache/tso3x``; a user's own ``NUMBA_CACHE_DIR`` wins), so a read-only
installation works. Compiling them all takes about a minute of CPU, once per installation, CPU and version; a
first run should not wait for it. So each kernel has a numpy twin giving the same results (bit-identical, or
to ~1e-7 relative where the arithmetic differs: README, "First run and the kernel cache"), and
:func:`choose`, called once per run in the client, picks:

* ``"numba"`` when the cache is ready (:func:`~tso3x.jit.cache.ready`): the compiled kernels, loaded from it;
* otherwise ``"numpy"`` for this run, and one detached low-priority process compiles every kernel into the
  cache for later runs (:mod:`tso3x.jit.background`); one info line says so.

``TSO3X_KERNELS=numba`` compiles in the run instead (as pipeline operators may prefer, and the tests do);
``TSO3X_KERNELS=numpy`` always uses the twins. The choice is an argument of every step and kernel, so the
dask graph carries it to the workers and a product never mixes both. ``python -m tso3x.jit`` compiles ahead
of time (a container build).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import Tso3xInputError
from .cache import cache_dir, ready, shown

if TYPE_CHECKING:  # numpy is imported by whoever passes arrays
    import numpy as np

log = logging.getLogger(__name__)

NUMBA, NUMPY, AUTO = "numba", "numpy", "auto"
#: Environment variable overriding :func:`choose`: ``auto`` (default), ``numba`` or ``numpy``.
KERNELS_ENV = "TSO3X_KERNELS"

_DISPATCHERS: list = []


def njit(**options) -> Callable:
    """``numba.njit(cache=True, **options)`` caching in :func:`~tso3x.jit.cache.cache_dir`: the decorator of
    every tso3x kernel.

    numba fixes a function's cache folder when it decorates it; ``numba.config.CACHE_DIR`` is set for that
    moment only, so numba functions of other packages keep their own cache.
    """
    import numba

    def decorate(func: Callable):
        saved = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = str(cache_dir())
        try:
            dispatcher = numba.njit(cache=True, **options)(func)
        finally:
            numba.config.CACHE_DIR = saved
        _DISPATCHERS.append(dispatcher)
        return dispatcher

    return decorate


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view of ``array``.

    numba compiles a separate version of a kernel for read-only arrays (a FITS block, a broadcast median); the
    kernels' wrappers pass every input read-only, so one version serves writable and read-only inputs alike.
    """
    view = array.view()
    view.flags.writeable = False
    return view


def dispatchers() -> list:
    """The numba dispatchers of the kernel modules imported so far."""
    return list(_DISPATCHERS)


def compiled_in_process() -> int:
    """Kernel signatures this process compiled rather than loaded from the cache."""
    return sum(sum(d.stats.cache_misses.values()) for d in _DISPATCHERS)


def check(kernels: str) -> str:
    """``kernels`` if it is ``"numba"`` or ``"numpy"``; ValueError otherwise."""
    if kernels not in (NUMBA, NUMPY):
        raise ValueError(f"kernels must be {NUMBA!r} or {NUMPY!r}, not {kernels!r}")
    return kernels


def requested() -> str:
    """``$TSO3X_KERNELS``: ``auto`` (also when unset), ``numba`` or ``numpy``.

    Raises
    ------
    Tso3xInputError
        Any other value.
    """
    value = os.environ.get(KERNELS_ENV, "").strip().lower() or AUTO
    if value not in (AUTO, NUMBA, NUMPY):
        raise Tso3xInputError(None, f"{KERNELS_ENV} must be auto, numba or numpy, not {os.environ[KERNELS_ENV]!r}")
    return value


def choose() -> str:
    """The kernels of one run, ``"numba"`` or ``"numpy"`` (see the module documentation); on a cold cache in
    ``auto`` mode, starts the background compilation and logs one info line.

    Raises
    ------
    Tso3xInputError
        A ``TSO3X_KERNELS`` value other than auto, numba or numpy.
    """
    wanted = requested()
    if wanted == NUMPY:
        return NUMPY
    if ready():
        return NUMBA
    where = shown(cache_dir())
    if wanted == NUMBA:
        log.info("compiling tso3x's kernels in this run (%s=numba; cache: %s)", KERNELS_ENV, where)
        return NUMBA
    from . import background  # the kernels import this package: only a run starting a compilation needs it

    state = background.start()
    if state == background.UNWRITABLE:
        log.warning(
            "tso3x's kernel cache %s cannot be written (set TSO3X_CACHE_DIR to a writable folder); "
            "this run uses the numpy kernels",
            where,
        )
    elif state == background.RUNNING:
        log.info(
            "tso3x's kernels are being compiled in the background (cache: %s); this run uses the numpy kernels", where
        )
    else:
        log.info(
            "compiling tso3x's kernels in the background for later runs (once; cache: %s); "
            "this run uses the numpy kernels",
            where,
        )
    return NUMPY


__all__ = [
    "AUTO",
    "KERNELS_ENV",
    "NUMBA",
    "NUMPY",
    "check",
    "choose",
    "compiled_in_process",
    "dispatchers",
    "frozen",
    "njit",
]
