"""tso3x on real multi-process dask clusters: same products as one process, and surviving a killed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from astropy.io import fits

import tso3x

# multi-process dask clusters and whole runs
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


def _data(hdu) -> bytes:
    if hdu.name == "HDRTAB":  # one row of header values per segment, DATE included
        return b"".join(hdu.data[c].tobytes() for c in hdu.columns.names if c != "DATE")
    return hdu.data.tobytes()


def _arrays(products: list[Path]) -> dict[str, list[bytes]]:
    """The data of every HDU of the FITS products (but creation dates), and the ECSV text."""
    out = {}
    for path in products:
        if path.suffix == ".fits":
            with fits.open(path) as hdul:
                out[path.name] = [_data(h) for h in hdul if h.data is not None and h.name != "ASDF"]
        elif path.suffix == ".ecsv":
            out[path.name] = [path.read_bytes()]
    return out


@pytest.fixture(scope="module")
def exposure(simulated):
    return simulated("nrs_brightobj", nints=120, nseg=3, seed=21, shape=(32, 256))


@pytest.fixture(scope="module")
def reference(exposure, tmp_path_factory):
    out = tmp_path_factory.mktemp("threads")
    products = tso3x.run(exposure.asn, out, chunk_mb=0.5, override_extract1d=exposure.extract1d, scheduler="threads")
    return _arrays(products)


@pytest.fixture
def two_workers():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            yield client


def test_two_worker_processes_give_the_same_products(exposure, reference, two_workers, tmp_path):
    products = tso3x.run(
        exposure.asn, tmp_path, chunk_mb=0.5, override_extract1d=exposure.extract1d, client=two_workers
    )
    assert _arrays(products) == reference
    assert len(two_workers.scheduler_info()["workers"]) == 2


def test_cli_starts_its_own_local_cluster(exposure, reference, tmp_path):
    """``tso3x run --workers 2`` (no scheduler given): a LocalCluster of two processes, same products."""
    cmd = [sys.executable, "-m", "tso3x", "run", str(exposure.asn), "--output-dir", str(tmp_path)]
    cmd += ["--override-extract1d", str(exposure.extract1d), "--chunk-mb", "0.5", "--workers", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "dask dashboard: http" in proc.stderr
    assert _arrays(sorted(tmp_path.glob("*.*"))) == reference


def test_killed_worker_is_recovered(exposure, reference, two_workers, tmp_path):
    """SIGKILL one worker process while tasks run: dask recomputes its tasks and the products are identical."""
    pids = two_workers.run(os.getpid)
    killed = {}

    def killer():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            processing = two_workers.processing()
            busy = [w for w, tasks in processing.items() if tasks]
            if busy and sum(len(t) for t in processing.values()) > 1:
                time.sleep(0.3)  # some chunks are written already
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed["worker"] = busy[0]
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    products = tso3x.run(
        exposure.asn, tmp_path, chunk_mb=0.2, override_extract1d=exposure.extract1d, client=two_workers
    )
    thread.join()
    assert killed, "no worker was killed during the run"
    assert _arrays(products) == reference
    assert not (tmp_path / ".tso3x-tmp").exists()
