"""tso3x.execution.compute: nested results in order on every scheduler, Delayed objects anywhere."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from tso3x import execution


@pytest.mark.parametrize("scheduler", ["threads", None])  # None: the session's distributed client
def test_results_keep_their_places(scheduler, tmp_path):
    ds = xr.Dataset({"a": (("i",), da.arange(10, chunks=5))})
    write = ds.to_zarr(tmp_path / "s.zarr", compute=False, zarr_format=2)  # a Delayed, as the zarr store uses
    x = da.ones(4, chunks=2).sum()
    y = da.zeros(3, chunks=1) + 7
    with execution.cluster(scheduler=scheduler, quiet=True):
        first, empty, stored, (again, sevens), constant = execution.compute([x], [], write, [x, y], None)
    assert first == [4.0] and empty == [] and stored is None and again == 4.0 and constant is None
    np.testing.assert_array_equal(sevens, [7.0, 7.0, 7.0])
    assert xr.open_zarr(tmp_path / "s.zarr")["a"].values.tolist() == list(range(10))


class _Pending:
    """A product of two groups, recording the order in which they are finished."""

    def __init__(self, groups, finished):
        self.groups, self.finished = groups, finished

    def finish(self, i, results):
        self.finished.append((i, [np.asarray(r).tolist() for r in results]))


def _counted(block, calls, counter_path):
    with open(counter_path, "a") as f:  # tasks may run in another thread: count them in a file
        f.write("x")
    return block * 2


@pytest.mark.parametrize("scheduler", ["threads", None])
def test_compute_alongside_runs_shared_tasks_once_and_finishes_every_group(scheduler, tmp_path):
    counter = tmp_path / "calls"
    shared = da.arange(6, chunks=2).map_blocks(_counted, None, counter, dtype=np.int64, meta=np.empty(0, np.int64))
    finished = []
    pending = _Pending([[shared[:2] + 1], [shared[2:].sum()]], finished)
    with execution.cluster(scheduler=scheduler, quiet=True):
        (total, (firsts,), constant) = execution.compute_alongside(
            [shared.sum(), [shared[::2]], "kept"], [pending], label="test"
        )
        empty = execution.compute_alongside([], [_Pending([[], []], finished)], label="test")
    assert total == 30 and firsts.tolist() == [0, 4, 8] and constant == "kept" and empty == ()
    assert sorted(finished) == [(0, []), (0, [[1, 3]]), (1, []), (1, [28])]
    if scheduler is None:  # one submission on a distributed client; local schedulers go group by group
        assert counter.read_text() == "xxx", "each shared chunk is computed once"


def _fail_on_negative(block):
    if (block < 0).any():
        raise OSError(28, "No space left on device")
    return block


def test_a_failing_group_does_not_stop_the_others():
    """On the distributed client a failure fails its own group only; the others are still finished."""
    good = da.arange(4, chunks=2).map_blocks(_fail_on_negative, dtype=np.int64, meta=np.empty(0, np.int64))
    bad = (da.arange(4, chunks=2) - 3).map_blocks(_fail_on_negative, dtype=np.int64, meta=np.empty(0, np.int64))
    finished = []
    with execution.cluster(quiet=True):
        with pytest.raises(OSError, match="No space left"):
            execution.compute_alongside([], [_Pending([[bad.sum()], [good.sum()]], finished)], label="test")
    assert finished == [(1, [6])]
