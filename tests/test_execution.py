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
