"""The x1dints file as tso3x streams it: checksums, stdatamodels' tree, chunk independence, nothing left over."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from astropy.io import fits

import tso3x

pytestmark = pytest.mark.slow  # whole tso3x runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory, simulated):
    """The same BOTS exposure run with one-integration chunks and with whole-segment chunks."""
    exp = simulated("nrs_brightobj", nints=23, nseg=3, seed=5, shape=(32, 96))
    out = {}
    for label, chunk_mb in (("small", 0.02), ("large", 512.0)):
        folder = tmp_path_factory.mktemp(f"x1d-{label}")
        products = tso3x.run(exp.asn, folder, chunk_mb=chunk_mb, override_extract1d=exp.extract1d)
        out[label] = (folder, next(p for p in products if p.name.endswith("_x1dints.fits")))
    return out


def test_checksums_verify_and_catch_damage(runs, tmp_path):
    _, path = runs["small"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with fits.open(path, checksum=True) as hdul:
            assert all(h.header.get("CHECKSUM") and h.header.get("DATASUM") for h in hdul)
            table = hdul["EXTRACT1D", 2]
            offset = table._data_offset
    damaged = tmp_path / path.name
    raw = bytearray(path.read_bytes())
    raw[offset + 100] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="[Cc]hecksum"):
        with fits.open(damaged, checksum=True) as hdul:
            hdul["EXTRACT1D", 2].data  # noqa: B018 - reading the data verifies DATASUM


def test_stdatamodels_trusts_the_asdf_tree(runs):
    """The tree's ``_fits_hash`` is that of the final headers, and its table shapes are the real row counts."""
    from stdatamodels.fits_support import fits_hash
    from stdatamodels.jwst import datamodels

    _, path = runs["small"]
    with fits.open(path) as hdul:
        tree = hdul["ASDF"].data["ASDF_METADATA"][0].tobytes().decode()
        assert re.search(r"_fits_hash: (\w+)", tree).group(1) == fits_hash(hdul)
        rows = [h.header["NAXIS2"] for h in hdul if h.name == "EXTRACT1D"]
    assert sum(rows) == 23 and len(rows) == 3
    with datamodels.open(path) as model:
        assert isinstance(model, datamodels.TSOMultiSpecModel)
        assert [s.spec_table.shape[0] for s in model.spec] == rows
        ints = np.concatenate([s.spec_table["INT_NUM"] for s in model.spec])
        np.testing.assert_array_equal(ints, np.arange(1, 24))
        assert np.isfinite(model.spec[1].spec_table["FLUX"]).any()


def test_chunking_does_not_change_the_tables(runs):
    (_, small), (_, large) = runs["small"], runs["large"]
    with fits.open(small) as a, fits.open(large) as b:
        for ha, hb in zip(a, b, strict=True):
            if ha.name in ("EXTRACT1D", "INT_TIMES"):
                assert ha.data.tobytes() == hb.data.tobytes(), ha.name


def test_nothing_left_over(runs):
    for folder, _ in runs.values():
        assert not (folder / ".tso3x-tmp").exists()
        found = sorted(p.suffix for p in folder.iterdir() if not p.name.endswith("_manifest.json"))
        assert found == [".ecsv"] + [".fits"] * 4


def test_table_columns_read_in_threads_with_unsigned_offsets(tmp_path):
    """A lazily read EXTRACT1D column (memory-mapped at its offset, no astropy in the task) equals astropy's
    decoding, TZERO-offset unsigned values included, when many threads read it at once."""
    from concurrent.futures import ThreadPoolExecutor

    from tso3x.io import product_read

    rng = np.random.default_rng(3)
    nrows, npix = 300, 17
    dq = rng.integers(0, 2**32, size=(nrows, npix), dtype=np.uint32)
    flux = rng.normal(size=(nrows, npix))
    cols = [
        fits.Column("INT_NUM", "J", array=np.arange(1, nrows + 1, dtype=np.int32)),
        fits.Column("FLUX", f"{npix}D", array=flux),
        fits.Column("DQ", f"{npix}J", bzero=2**31, array=dq),
    ]
    path = tmp_path / "t_x1dints.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="EXTRACT1D")]).writeto(path)
    (table,) = product_read.spec_tables(path)
    assert table.zeros == {"DQ": 2**31}
    lazy = {name: product_read.lazy_column(path, table, name) for name in ("FLUX", "DQ")}
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda k: lazy["DQ" if k % 2 else "FLUX"][k : k + 50].compute(scheduler="sync"), range(64)))
    for k, values in enumerate(got):
        expected = (dq if k % 2 else flux)[k : k + 50]
        np.testing.assert_array_equal(values, expected)
        assert values.dtype == expected.dtype
