"""Compile every tso3x kernel into the cache, for every argument type a run passes it, then write the marker.

Each kernel is called through its public function on a few tiny arrays, once per kind of argument a run
gives it (numba compiles, and caches, one machine-code version per argument type): the outlier flags with
two to five float arrays, the fused extraction with C-contiguous, Fortran-contiguous and strided data
(horizontal dispersion, a transposed single integration, vertical dispersion). A test runs the pipeline on a
warm cache and checks that nothing more is compiled, and another that every kernel is covered here.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import NUMBA, dispatchers
from .cache import cache_dir, shown, write_marker


def _outliers(rng: np.random.Generator) -> None:
    from ..kernels import outliers as k

    sci = rng.normal(size=(6, 3, 4)).astype(np.float32)
    dq = np.zeros(sci.shape, np.uint32)
    work = np.empty_like(sci)
    k.masked_copy(sci, dq, 1, work, kernels=NUMBA)
    k.moving_median(work, 3, kernels=NUMBA)
    for n_variances in range(4):  # SCI, ERR and the VAR_* present
        k.flag_outliers_dq(sci, sci, dq, sci, 5.0, *[sci] * n_variances, kernels=NUMBA)
    k.count_outliers(sci, sci, sci, 5.0, kernels=NUMBA)
    k.nan_where_unusable(sci, dq, kernels=NUMBA)


def _photometry(rng: np.random.Generator) -> None:
    from ..kernels import centroid, psf_fit

    yy, xx = np.mgrid[:9, :9]
    star = np.exp(-((xx - 4.2) ** 2 + (yy - 3.9) ** 2) / 2.0)
    data = (star + rng.normal(0, 0.01, (2, 9, 9))).astype(np.float32)
    sub = centroid.subtract_background(data, ~centroid.source_mask((9, 9), 4.0, 4.0, 3.0), kernels=NUMBA)
    mask = np.zeros(data.shape, bool)
    psf_fit.fit_gaussian_prf(sub, mask, np.full(2, 4.2), np.full(2, 3.9), 5, kernels=NUMBA)


def _layouts(shape: tuple[int, int, int], dtype) -> dict[str, np.ndarray]:
    """Zero arrays of ``shape`` that numba types as C-contiguous, Fortran-contiguous and strided."""
    n, ny, nx = shape
    return {
        "C": np.zeros(shape, dtype),
        "F": np.asfortranarray(np.zeros(shape, dtype)),
        "A": np.zeros((n, nx, ny), dtype).transpose(0, 2, 1),
    }


def _extraction() -> None:
    from ..kernels.box_extract_numba import extract_block_fused

    shape = (2, 5, 6)
    floats, flags = _layouts(shape, np.float32), _layouts(shape, np.uint32)
    profile = np.zeros(shape[1:])
    profile[2] = 1.0
    background = np.zeros(shape[1:])
    background[[0, 4]] = 1.0
    for layout, data in floats.items():
        extract_block_fused(data, data, flags[layout], data, data, data, profile, background, bkg_order=1)


def _checksum() -> None:
    from ..io.checksum import disk_bytes

    disk_bytes(np.zeros((2, 3), np.float32), kernels=NUMBA)
    disk_bytes(np.zeros((2, 3), np.uint32), kernels=NUMBA)


def _in_cache(dispatcher) -> bool:
    """Whether numba's index file of a kernel is in its cache folder (numba's naming: module.qualname-line)."""
    code = dispatcher.py_func.__code__
    name = f"{Path(code.co_filename).stem}.{dispatcher.py_func.__qualname__}-{code.co_firstlineno}.py*.nbi"
    return bool(dispatcher.stats.cache_path) and any(Path(dispatcher.stats.cache_path).glob(name))


def _not_compiled() -> list[str]:
    """Kernels neither compiled in this process nor in the cache (inlined helpers aside: they are compiled into
    their callers; helpers of a kernel loaded from the cache are in it without being loaded themselves)."""
    return [
        d.py_func.__qualname__
        for d in dispatchers()
        if d.targetoptions.get("inline", "never") != "always" and not d.signatures and not _in_cache(d)
    ]


def warm_up() -> int:
    """Compile (or load from the cache) every kernel for every argument type a run passes it.

    Returns
    -------
    int
        Kernel versions now in this process.

    Raises
    ------
    RuntimeError
        If a kernel was not compiled (one this function does not call yet).
    """
    rng = np.random.default_rng(0)
    _outliers(rng)
    _photometry(rng)
    _extraction()
    _checksum()
    missing = _not_compiled()
    if missing:
        raise RuntimeError(f"tso3x.jit.warmup does not compile {', '.join(missing)}")
    return sum(len(d.signatures) for d in dispatchers())


def compile_all() -> Path:
    """Compile every kernel into the cache and write the marker that makes it ready; returns the marker."""
    start = time.perf_counter()
    versions = warm_up()
    folders = {d.stats.cache_path for d in dispatchers() if d.stats.cache_path}
    marker = write_marker(folders)
    took = time.perf_counter() - start
    print(f"tso3x: {versions} kernel versions compiled into {shown(cache_dir())} in {took:.0f} s", flush=True)
    return marker
