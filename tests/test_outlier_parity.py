"""Parity of tso3x outlier detection with jwst 3.0.0 calwebb_tso3 on simulated exposures.

jwst runs on the very same calints files; crfints are compared array by array: DQ bit for bit,
SCI/ERR/VAR_* identical including NaN patterns.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

import tso3x
from tso3x import dqflags
from tso3x.simulate import MODES

pytestmark = pytest.mark.slow  # jwst oracle (outlier detection) against whole tso3x runs

ARRAYS = ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")
SMALL_SHAPES = {
    "nrs_brightobj": (32, 128),
    "nrc_tsgrism": (32, 160),
    "nis_soss": (64, 128),
    "mir_lrs": (96, 40),
    "mir_lrs_cube": (96, 40),
    "nrc_tsimage_clear": (48, 48),
    "mir_image": (40, 40),
}


def assert_same_crfints(ours, theirs):
    with fits.open(ours) as a, fits.open(theirs) as b:
        # tso3x keeps the input's HDU order; jwst writes the model schema's order
        assert sorted(h.name for h in a) == sorted(h.name for h in b)
        for ext in ARRAYS:
            np.testing.assert_array_equal(a[ext].data, b[ext].data, err_msg=f"{ours.name}[{ext}]", strict=True)
        return int(((a["DQ"].data & dqflags.OUTLIER) > 0).sum())


def run_both(outlier_oracle, tmp_path, mode, sim=None, chunk_mb=0.05, **params):
    """tso3x and (cached) jwst on the same simulated exposure; returns the number of outlier pixels."""
    sim = {"nints": 64, "nseg": 2, "seed": 7, "shape": SMALL_SHAPES.get(mode), **(sim or {})}
    if mode == "nis_soss":  # a small frame has no SOSS reference files: an F277W exposure, whose extraction is skipped
        sim["filter"] = "F277W"
    oracle = outlier_oracle(mode, sim=sim, **params)
    products = tso3x.run(oracle.exposure.asn, tmp_path / "tso3x", chunk_mb=chunk_mb, **params)
    ours = [p for p in products if p.name.endswith("_crfints.fits")]  # imaging also writes _phot.ecsv
    assert [p.name for p in ours] == [p.name for p in oracle.crfints]
    return sum(assert_same_crfints(a, b) for a, b in zip(ours, oracle.crfints, strict=True))


#: imaging without the weak-lens and the MIRI LRS cube are variants of modes checked here (extended tier)
VARIANTS = ("nrc_tsimage_clear", "mir_lrs_cube")


@pytest.mark.parametrize("mode", [pytest.param(m, marks=pytest.mark.extended) if m in VARIANTS else m for m in MODES])
def test_every_mode_matches_jwst(mode, outlier_oracle, tmp_path):
    """Default parameters, 32-integration segments: the rolling-median branch, several chunks."""
    assert run_both(outlier_oracle, tmp_path, mode) > 0


@pytest.mark.parametrize(
    "params",
    [
        # parameters that act on different stages are combined, to run jwst fewer times
        pytest.param({"rolling_window_width": 5, "snr": "3.0 2.0"}, id="odd-window-snr-string"),
        pytest.param({"rolling_window_width": 6, "maskpt": 0.0}, id="even-window-maskpt-0-no-masking"),
        pytest.param({"rolling_window_width": 2, "good_bits": "0"}, id="window-2-jwst-bug-good-bits-none"),
        pytest.param({"rolling_window_width": 32}, id="window-equals-segment-full-median"),
        pytest.param(
            {"rolling_window_width": 1, "maskpt": 1.5},
            id="window-1-full-median-maskpt-above-1",
            marks=pytest.mark.extended,
        ),
    ],
)
def test_parameters_match_jwst(params, outlier_oracle, tmp_path):
    run_both(outlier_oracle, tmp_path, "nrc_tsgrism", **params)


@pytest.mark.parametrize("chunk_mb", [pytest.param(0.02, marks=pytest.mark.extended), 0.11])
def test_chunk_sizes_match_jwst(chunk_mb, outlier_oracle, tmp_path):
    """Chunks of 1 and of a few integrations (not dividing the segment) give jwst's result (whole-segment chunks,
    the default size on small exposures, are what the other parity tests run)."""
    sim = {"nints": 90}
    assert run_both(outlier_oracle, tmp_path, "nrs_brightobj", sim, chunk_mb=chunk_mb, rolling_window_width=9) > 0


def test_two_detectors_one_association(outlier_oracle, tmp_path):
    sim = {"nints": 60, "shape": (32, 96), "detectors": ["NRS1", "NRS2"]}
    assert run_both(outlier_oracle, tmp_path, "nrs_brightobj", sim) > 0
