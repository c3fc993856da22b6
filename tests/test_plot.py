"""tso3x.plot on real (simulated) products: every function returns a Figure whose PNG has non-trivial content;
``tso3x plot`` writes them all; a clear ImportError without matplotlib."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import tso3x

pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402

import tso3x.plot  # noqa: E402
from tso3x.results import outlier_summary  # noqa: E402


@pytest.fixture(scope="module")
def spectro(simulated, tmp_path_factory):
    exp = simulated("nrs_brightobj", nints=40, nseg=2, seed=6, shape=(32, 64))
    out = tmp_path_factory.mktemp("plot-spec")
    tso3x.run(exp.asn, out, chunk_mb=0.05, override_extract1d=exp.extract1d, spec_bins=4)
    return out


@pytest.fixture(scope="module")
def imaging(simulated, tmp_path_factory):
    exp = simulated("nrc_tsimage_clear", nints=30, nseg=2, seed=7, shape=(64, 64))
    out = tmp_path_factory.mktemp("plot-img")
    tso3x.run(exp.asn, out, override_gain=exp.gain)
    return out


def _check_png(fig, path, min_colours: int = 20):
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    fig.savefig(path, dpi=60)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    colours = np.unique(image.reshape(-1, image.shape[2]).round(3), axis=0)
    assert len(colours) >= min_colours, f"{path.name}: only {len(colours)} colours"
    labels = [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
    assert any("[" in label for label in labels), f"{path.name}: no axis label with units"


@pytest.mark.slow
def test_spectroscopy_plots(spectro, tmp_path):
    ds = tso3x.open_products(spectro)
    _check_png(tso3x.plot.light_curve(ds), tmp_path / "lc.png")
    _check_png(tso3x.plot.light_curve(ds, baseline="out-of-transit", integrations=slice(1, 8)), tmp_path / "lc2.png")
    _check_png(tso3x.plot.spectroscopic_light_curves(ds), tmp_path / "speclc.png")
    _check_png(tso3x.plot.spectroscopic_light_curves(tso3x.bin_spectra(ds, 6, method="equal-flux")), tmp_path / "b.png")
    _check_png(tso3x.plot.waterfall(ds), tmp_path / "waterfall.png")
    summary = outlier_summary(spectro)
    assert summary.outlier_count.dims == ("file", "y", "x") and summary.sizes["file"] == 2
    assert float(summary.outlier_fraction.max()) > 0
    _check_png(tso3x.plot.outlier_fraction(summary, ds), tmp_path / "frac.png", min_colours=5)
    _check_png(tso3x.plot.outlier_maps(summary), tmp_path / "maps.png", min_colours=5)


@pytest.mark.slow
def test_imaging_plots(imaging, tmp_path):
    ds = tso3x.open_products(imaging)
    _check_png(tso3x.plot.light_curve(ds), tmp_path / "lc.png")
    _check_png(tso3x.plot.centroids(ds), tmp_path / "centroids.png")


@pytest.mark.slow
def test_outlier_summary_counts_the_crfints_flags(spectro):
    from astropy.io import fits

    from tso3x import dqflags

    summary = outlier_summary(spectro)
    crf = sorted(spectro.glob("*_crfints.fits"))
    flagged = [(fits.getdata(p, "DQ") & dqflags.OUTLIER) != 0 for p in crf]
    np.testing.assert_array_equal(summary.outlier_count.values, np.stack([f.sum(axis=0) for f in flagged]))
    per_int = np.concatenate([f.sum(axis=(1, 2)) / f[0].size for f in flagged])
    np.testing.assert_allclose(summary.outlier_fraction.values, per_int)


@pytest.mark.slow
def test_cli_plot(spectro, imaging, tmp_path):
    from tso3x.cli import main

    assert main(["plot", str(spectro), "--to", str(tmp_path / "spec")]) == 0
    names = sorted(p.name for p in (tmp_path / "spec").glob("*.png"))
    assert names == sorted(
        [
            "light_curve.png",
            "spectroscopic_light_curves.png",
            "waterfall.png",
            "outlier_fraction.png",
            "outlier_maps.png",
        ]
    )
    assert main(["plot", str(imaging), "--to", str(tmp_path / "img")]) == 0
    assert {p.name for p in (tmp_path / "img").glob("*.png")} >= {"light_curve.png", "centroids.png"}
    for png in [*(tmp_path / "spec").glob("*.png"), *(tmp_path / "img").glob("*.png")]:
        assert png.stat().st_size > 10_000, png.name
    assert main(["plot", str(tmp_path / "nothing"), "--to", str(tmp_path / "x")]) == 2


def test_missing_matplotlib_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'tso3x\[plot\]'"):
        tso3x.plot._pyplot()
