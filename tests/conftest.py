"""Shared fixtures: simulated exposures and jwst oracle runs, each computed once per test session.

- ``simulated(mode, **simulate_kwargs)`` → :class:`tso3x.simulate.SimulatedExposure`
- ``tso3_oracle(mode, *, steps=None, **simulate_kwargs)`` → :class:`OracleRun` (jwst calwebb_tso3 products)
- ``outlier_oracle(mode, *, sim=None, **outlier_params)`` → :class:`OracleOutliers` (jwst crfints)
- ``dask_client`` (autouse): one in-process distributed client for the session, so every ``tso3x.run`` in
  the tests runs on dask.distributed without starting a cluster of its own (tests/test_distributed.py
  starts real multi-process clusters).

``TSO3X_KERNELS`` is ``numba`` unless set (:mod:`tso3x.jit`): the tests are deterministic and test the
compiled kernels whatever the state of the kernel cache.

The same arguments return the cached result, so several tests can share one simulation/oracle run; and
``outlier_oracle`` with default parameters takes the crfints of a ``tso3_oracle`` run already made on the
same simulation (calwebb_tso3 writes the same crfints whether or not its later steps run) instead of
running jwst again.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from dataclasses import dataclass, field

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))

# The tests use the compiled kernels (compiled in the test run if the cache is cold), whatever the state of the
# kernel cache, so that they test what a warm run uses; tests of the numpy twins and of the choice set it.
os.environ.setdefault("TSO3X_KERNELS", "numba")


def pytest_addoption(parser):
    parser.addoption(
        "--extended",
        action="store_true",
        help="also run the tests marked extended (more variants of what the default suite checks once)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--extended"):
        return
    skip = pytest.mark.skip(reason="extended variant: run with --extended")
    for item in items:
        if "extended" in item.keywords:
            item.add_marker(skip)


def _key(*parts) -> str:
    return json.dumps(parts, sort_keys=True, default=repr)


@dataclass(frozen=True)
class OracleRun:
    """A jwst calwebb_tso3 run on a simulated exposure."""

    exposure: object  # tso3x.simulate.SimulatedExposure
    output_dir: pathlib.Path
    products: tuple[pathlib.Path, ...]
    by_suffix: dict[str, list[pathlib.Path]] = field(default_factory=dict)

    def one(self, suffix: str) -> pathlib.Path:
        """The single product with this suffix (``phot``, ``x1dints``, ``whtlt``)."""
        found = self.by_suffix.get(suffix, [])
        assert len(found) == 1, f"expected one _{suffix} product, got {found}"
        return found[0]


@dataclass(frozen=True)
class OracleOutliers:
    """jwst calwebb_tso3 outlier detection on every segment of a simulated exposure."""

    exposure: object
    crfints: tuple[pathlib.Path, ...]


@pytest.fixture(scope="session", autouse=True)
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            yield client


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    """Factory: ``simulated(mode, **kwargs)`` runs :func:`tso3x.simulate.simulate` once per argument set."""
    from tso3x.simulate import simulate

    cache: dict[str, object] = {}

    def get(mode: str, **kwargs):
        key = _key(mode, kwargs)
        if key not in cache:
            cache[key] = simulate(mode, tmp_path_factory.mktemp(f"sim_{mode}"), **kwargs)
        return cache[key]

    return get


def _crfints_in_segment_order(run: OracleRun) -> tuple[pathlib.Path, ...] | None:
    """The crfints of a calwebb_tso3 run, one per segment in the exposure's order (None if any is missing)."""
    by_root = {p.name.rsplit("_", 2)[0]: p for p in run.by_suffix.get("crfints", [])}
    roots = [p.name.removesuffix("_calints.fits") for p in run.exposure.segments]
    if sorted(by_root) != sorted(roots):
        return None
    return tuple(by_root[r] for r in roots)


@pytest.fixture(scope="session")
def _tso3_runs() -> dict[str, OracleRun]:
    """The calwebb_tso3 runs of the session, by ``_key(mode, steps, simulate_kwargs)``."""
    return {}


@pytest.fixture(scope="session")
def tso3_oracle(tmp_path_factory, simulated, _tso3_runs):
    """Factory: ``tso3_oracle(mode, steps=None, **simulate_kwargs)`` → :class:`OracleRun` (cached)."""
    pytest.importorskip("jwst")
    from jwst_oracle import products_by_suffix, run_calwebb_tso3

    cache = _tso3_runs

    def run(mode: str, *, steps: dict | None = None, **sim_kwargs) -> OracleRun:
        key = _key(mode, steps, sim_kwargs)
        if key not in cache:
            exp = simulated(mode, **sim_kwargs)
            out = tmp_path_factory.mktemp(f"tso3_{mode}")
            paths = run_calwebb_tso3(exp.asn, out, steps=steps)
            cache[key] = OracleRun(exp, out, tuple(paths), products_by_suffix(paths))
        return cache[key]

    return run


@pytest.fixture(scope="session")
def outlier_oracle(tmp_path_factory, simulated, _tso3_runs):
    """Factory: ``outlier_oracle(mode, sim=None, **outlier_params)`` → :class:`OracleOutliers` (cached)."""
    pytest.importorskip("jwst")
    from jwst_oracle import run_jwst_outlier_detection

    cache: dict[str, OracleOutliers] = {}

    def run(mode: str, *, sim: dict | None = None, **params) -> OracleOutliers:
        key = _key(mode, sim, params)
        whole = _tso3_runs.get(_key(mode, None, sim or {})) if not params else None
        crfints = _crfints_in_segment_order(whole) if whole is not None else None
        if key not in cache and crfints is not None:
            cache[key] = OracleOutliers(whole.exposure, crfints)
        if key not in cache:
            exp = simulated(mode, **(sim or {}))
            out = tmp_path_factory.mktemp(f"crf_{mode}")
            crf = run_jwst_outlier_detection(list(exp.segments), out, **params)
            cache[key] = OracleOutliers(exp, tuple(crf))
        return cache[key]

    return run
