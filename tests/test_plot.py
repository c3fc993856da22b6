"""tso3x.plot on real (simulated) products: every function returns a Figure whose PNG has non-trivial content;
``tso3x plot`` writes them all; a clear ImportError without matplotlib.

Products a user can meet that cannot be normalised (negative, zero or all-NaN baselines: copies of real
products edited with astropy/zarr) and crfints-only folders: every other figure is written, the warnings name
what was left out, and ``tso3x plot`` exits 1 (0 when everything is drawn, 2 for bad input).
"""

from __future__ import annotations

import logging
import shutil
import sys

import numpy as np
import pytest
import xarray as xr

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
def spectro_store(simulated, tmp_path_factory):
    """The zarr store of the ``spectro`` run (same simulation and parameters)."""
    exp = simulated("nrs_brightobj", nints=40, nseg=2, seed=6, shape=(32, 64))
    out = tmp_path_factory.mktemp("plot-zarr")
    tso3x.run(
        exp.asn, out / "products", chunk_mb=0.05, override_extract1d=exp.extract1d, spec_bins=4, zarr=out / "s.zarr"
    )
    return out / "s.zarr"


@pytest.fixture(scope="module")
def soss(simulated, tmp_path_factory):
    """A NIS_SOSS run whose extraction jwst skips (F277W): crfints only."""
    exp = simulated("nis_soss", nints=12, nseg=2, seed=3, shape=(32, 128), filter="F277W")
    out = tmp_path_factory.mktemp("plot-soss")
    tso3x.run(exp.asn, out, override_gain=exp.gain)
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


def test_missing_matplotlib_message(monkeypatch, tmp_path, capsys):
    from tso3x.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'tso3x\[plot\]'"):
        tso3x.plot._pyplot()
    with pytest.raises(ImportError, match=r"pip install 'tso3x\[plot\]'"):  # before reading anything
        tso3x.plot.write_plots(tmp_path / "missing", tmp_path / "png")
    capsys.readouterr()
    assert main(["plot", str(tmp_path), "--to", str(tmp_path / "png")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["tso3x: error: tso3x plot needs matplotlib: pip install 'tso3x[plot]'"]
    assert not (tmp_path / "png").exists()


# --- products that cannot all be normalised -----------------------------------------------------------------

ALL_SPECTROSCOPY = {
    "light_curve.png",
    "spectroscopic_light_curves.png",
    "waterfall.png",
    "outlier_fraction.png",
    "outlier_maps.png",
}


def _copy(folder, tmp_path):
    """A copy of an output folder to edit."""
    return shutil.copytree(folder, tmp_path / "products")


def _edit_ecsv(path, edit):
    """Rewrite an ECSV product after ``edit(table)`` (astropy, units and meta kept)."""
    from astropy.table import QTable

    table = QTable.read(path, format="ascii.ecsv")
    edit(table)
    table.write(path, format="ascii.ecsv", overwrite=True)


def _scale_white_light(factor):
    """An ``_edit_ecsv`` edit multiplying every whtlt flux column (``whitelight_flux[_<DET>]``) by ``factor``."""

    def edit(table):
        for name in table.colnames:
            if name.startswith("whitelight_flux"):
                table[name] = factor * table[name]

    return edit


def _one(folder, suffix):
    (path,) = folder.glob(f"*{suffix}")
    return path


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tso3x.plot" and r.levelno == logging.WARNING]


@pytest.mark.slow
def test_negative_zero_and_nan_baselines_skip_only_their_curves(spectro, tmp_path, caplog, capsys):
    from tso3x.cli import main

    folder = _copy(spectro, tmp_path)

    def bins(table):
        table["flux_000"] = -table["flux_000"]  # a background-subtracted bin without throughput
        table["flux_001"] = 0 * table["flux_001"]
        table["flux_002"] = np.nan * table["flux_002"]

    _edit_ecsv(_one(folder, "_speclc.ecsv"), bins)
    _edit_ecsv(_one(folder, "_whtlt.ecsv"), _scale_white_light(-1.0))
    ds = tso3x.open_products(folder)
    lo, hi = ds.wavelength_low.values, ds.wavelength_high.values

    with caplog.at_level(logging.WARNING, logger="tso3x.plot"):
        written = tso3x.plot.write_plots(folder, tmp_path / "png")
    assert {p.name for p in written} == ALL_SPECTROSCOPY and all(p.stat().st_size > 10_000 for p in written)
    assert isinstance(written, list) and not written.complete
    by_item = {(s.figure, s.item): s.reason for s in written.skipped}
    assert set(by_item) == {
        ("light_curve", "normalised white light"),
        *(("spectroscopic_light_curves", f"bin {k + 1} of 4 ({lo[k]:.3f}–{hi[k]:.3f} µm)") for k in range(3)),
    }
    reasons = [
        by_item["spectroscopic_light_curves", f"bin {k + 1} of 4 ({lo[k]:.3f}–{hi[k]:.3f} µm)"] for k in range(3)
    ]
    assert reasons[0].startswith("baseline flux is negative (-") and "Jy" in reasons[0]
    assert reasons[1] == "baseline flux is zero" and reasons[2] == "no finite flux"
    assert by_item["light_curve", "normalised white light"].startswith("baseline flux is negative")
    assert sorted(_warnings(caplog)) == sorted(str(s) for s in written.skipped)

    capsys.readouterr()
    assert main(["plot", str(folder), "--to", str(tmp_path / "cli")]) == 1
    out, err = capsys.readouterr()
    assert {p.name for p in (tmp_path / "cli").glob("*.png")} == ALL_SPECTROSCOPY
    assert sorted(out.split()) == sorted(str(tmp_path / "cli" / n) for n in ALL_SPECTROSCOPY)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == (
        "tso3x: 4 item(s) not drawn; the warnings above say why"
    )


@pytest.mark.slow
def test_all_nan_spectra_still_write_every_figure(spectro, tmp_path, caplog):
    from astropy.io import fits

    folder = _copy(spectro, tmp_path)
    _one(folder, "_speclc.ecsv").unlink()  # binned from the x1dints then
    with fits.open(_one(folder, "_x1dints.fits"), mode="update") as hdul:
        for hdu in hdul:
            if hdu.name == "EXTRACT1D":
                hdu.data["FLUX"][:] = np.nan
    _edit_ecsv(_one(folder, "_whtlt.ecsv"), _scale_white_light(np.nan))
    with caplog.at_level(logging.WARNING, logger="tso3x.plot"):
        written = tso3x.plot.write_plots(folder, tmp_path / "png", bins=3)
    assert {p.name for p in written} == ALL_SPECTROSCOPY
    figures = [s.figure for s in written.skipped]
    assert figures.count("spectroscopic_light_curves") == 3 and "waterfall" in figures and "light_curve" in figures
    reasons = {s.figure: s.reason for s in written.skipped}
    assert reasons["light_curve"] == "no finite flux"
    assert reasons["spectroscopic_light_curves"] == "baseline flux is zero"  # a bin sums no finite pixel to 0
    assert all("figure" != s.item for s in written.skipped)  # curves left out, no figure failed
    assert len(_warnings(caplog)) == len(written.skipped)


@pytest.mark.slow
def test_zarr_store(spectro_store, tmp_path, capsys, caplog):
    import zarr

    from tso3x.cli import main

    store_png = {"light_curve.png", "spectroscopic_light_curves.png", "waterfall.png"}
    assert main(["plot", str(spectro_store), "--to", str(tmp_path / "ok")]) == 0
    assert {p.name for p in (tmp_path / "ok").glob("*.png")} == store_png

    store = shutil.copytree(spectro_store, tmp_path / "edited.zarr")
    flux = zarr.open_array(store / "binned_flux", mode="r+")
    values = flux[:]
    values[:, 1] = -values[:, 1]
    flux[:] = values
    written = tso3x.plot.write_plots(store, tmp_path / "png")
    assert {p.name for p in written} == store_png
    ((figure, item, reason),) = [(s.figure, s.item, s.reason) for s in written.skipped]
    assert figure == "spectroscopic_light_curves" and item.startswith("bin 2 of 4 (") and "negative" in reason
    capsys.readouterr()
    caplog.clear()
    assert main(["plot", str(store), "--to", str(tmp_path / "cli")]) == 1
    # stderr: the info and warning lines, then the count
    assert capsys.readouterr().err.strip().splitlines()[-1] == "tso3x: 1 item(s) not drawn; the warnings above say why"
    assert _warnings(caplog) == [str(written.skipped[0])]


@pytest.mark.slow
def test_imaging_with_negative_net_flux(imaging, tmp_path):
    folder = _copy(imaging, tmp_path)
    _edit_ecsv(_one(folder, "_phot.ecsv"), lambda t: t.__setitem__("net_aperture_sum", -t["net_aperture_sum"]))
    written = tso3x.plot.write_plots(folder, tmp_path / "png")
    assert {p.name for p in written} >= {"light_curve.png", "centroids.png"}
    ((skip),) = written.skipped
    assert (skip.figure, skip.item) == ("light_curve", "normalised net aperture sum") and "negative" in skip.reason


@pytest.mark.slow
def test_crfints_only_folder_gets_the_outlier_plots(soss, tmp_path, capsys):
    from tso3x.cli import main

    assert not list(soss.glob("*_x1dints.fits")) and list(soss.glob("*_crfints.fits"))
    assert main(["plot", str(soss), "--to", str(tmp_path / "png"), "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")) == ["outlier_fraction.png", "outlier_maps.png"]
    summary = outlier_summary(soss)
    fig = tso3x.plot.outlier_fraction(summary)
    assert fig.axes[0].get_xlabel() == "integration number"
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), summary.integration.values)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no products")
    capsys.readouterr()
    assert main(["plot", str(empty), "--to", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and err[0].startswith(f"tso3x: error: {empty}: ")
        and str(empty) not in err[0][14 + len(str(empty)) :]
    )
    assert not (tmp_path / "none").exists()
    (tmp_path / "file").write_text("")
    assert main(["plot", str(soss), "--to", str(tmp_path / "file" / "png")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the info line saying what is plotted
    assert last.startswith(f"tso3x: error: {tmp_path / 'file' / 'png'}: cannot create the folder")


@pytest.mark.slow
def test_time_axis_is_hours_since_the_first_integration(spectro):
    ds = tso3x.open_products(spectro)
    fig = tso3x.plot.light_curve(ds)
    raw = fig.axes[0]
    x = raw.lines[0].get_xdata() if raw.lines else raw.containers[0].lines[0].get_xdata()
    bjd = ds.bjd_tdb_mid.values
    np.testing.assert_allclose(x, (bjd - bjd.min()) * 24.0)
    label = fig.axes[1].get_xlabel()
    assert label.startswith("time since first integration [h]") and f"{bjd.min() + 2400000.5:.6f}" in label
    summary = outlier_summary(spectro)
    assert tso3x.plot.outlier_fraction(summary, ds).axes[0].get_xlabel() == label


# --- synthetic light curves, spectra and outlier counts (no run) ---------------------------------------------


def _binned(flux: np.ndarray, error: np.ndarray) -> xr.Dataset:
    from tso3x import names

    n, nbins = flux.shape
    edges = np.linspace(3.0, 5.0, nbins + 1)
    dims = (names.INTEGRATION, names.WAVELENGTH_BIN)
    return xr.Dataset(
        {names.BINNED_FLUX: (dims, flux, {"units": "Jy"}), names.BINNED_FLUX_ERROR: (dims, error, {"units": "Jy"})},
        coords={
            names.INTEGRATION: np.arange(1, n + 1),
            "bjd_tdb_mid": ((names.INTEGRATION,), 60310.25 + 0.001 * np.arange(n)),
            names.WAVELENGTH_LOW: ((names.WAVELENGTH_BIN,), edges[:-1]),
            names.WAVELENGTH_HIGH: ((names.WAVELENGTH_BIN,), edges[1:]),
            names.WAVELENGTH_CENTER: ((names.WAVELENGTH_BIN,), 0.5 * (edges[1:] + edges[:-1])),
        },
    )


def test_normalize_checked_reports_what_it_cannot_normalise():
    from tso3x.results import normalize_checked

    rng = np.random.default_rng(1)
    flux = 1.0 + 0.001 * rng.standard_normal((30, 6))
    flux[:, 1] *= -1.0
    flux[:, 2] = 0.0
    flux[:, 3] = np.nan
    flux[:, 4] = 2e-5 * (1.0 + 0.1 * rng.standard_normal(30))  # no signal: baseline far below the errors
    flux[:10, 5] = np.nan  # the baseline integrations have no finite flux
    error = np.full_like(flux, 0.001)
    dims = ("integration", "wavelength_bin")
    f = xr.DataArray(flux, dims=dims, coords={"integration": np.arange(1, 31)}, attrs={"units": "Jy"})
    e = xr.DataArray(error, dims=dims, coords={"integration": np.arange(1, 31)})
    out = normalize_checked(f, e, "median", slice(1, 10), min_snr=1.0)
    problems = list(out.problems.values)
    assert (
        problems[0] == "" and problems[1].startswith("baseline flux is negative (-0.9") and problems[1].endswith("Jy)")
    )
    assert problems[2:4] == ["baseline flux is zero", "no finite flux"]
    assert "below its median error (0.001 Jy): no signal" in problems[4]
    assert problems[5] == "no finite flux in the baseline integrations"
    np.testing.assert_allclose(out.flux[:, 0], flux[:, 0] / np.median(flux[:10, 0]))
    np.testing.assert_allclose(out.error[:, 0], error[:, 0] / np.median(flux[:10, 0]))
    assert np.isnan(out.flux.values[:, 1:]).all() and np.isnan(out.error.values[:, 1:]).all()
    assert list(out.ok.values) == [True] + [False] * 5
    assert not normalize_checked(f[:, 4], e[:, 4]).problems.item()  # no min_snr: any positive baseline


def test_spectroscopic_light_curves_skip_the_bins_they_cannot_draw(caplog):
    rng = np.random.default_rng(2)
    n = 40
    transit = 1.0 - 0.01 * ((np.arange(n) > 12) & (np.arange(n) < 28))
    flux = transit[:, None] * (1.0 + 0.0005 * rng.standard_normal((n, 7)))
    error = np.full_like(flux, 0.0005)
    flux[:, 1] = -flux[:, 1]
    flux[:, 3] = np.nan
    flux[:, 5] = 1.0 + 0.3 * rng.standard_normal(n)  # 600 × the others' scatter
    error[:, 5] = 0.3
    error[:, 6] = -error[:, 6]  # invalid errors are not drawn, never passed on as negative yerr
    skipped = []
    with caplog.at_level(logging.WARNING, logger="tso3x.plot"):
        fig = tso3x.plot.spectroscopic_light_curves(_binned(flux, error), skipped=skipped)
    assert [s.item.split(" (")[0] for s in skipped] == ["bin 2 of 7", "bin 4 of 7", "bin 6 of 7"]
    assert "negative" in skipped[0].reason and skipped[1].reason == "no finite flux"
    assert "would hide the others" in skipped[2].reason
    assert _warnings(caplog) == [str(s) for s in skipped]
    ax = fig.axes[0]
    assert len(ax.containers) == 4  # the drawn bins
    step = float(ax.get_ylabel().split("step ")[1].rstrip(")"))
    assert 0.01 < step < 0.03  # set by the transit and the well-measured bins, not the noisy one
    labels = [t.get_text() for t in ax.texts]
    assert sum(label.endswith(": not drawn") for label in labels) == 3


def test_nothing_to_normalise_is_a_figure_with_a_note():
    flux = np.full((10, 2), np.nan)
    skipped = []
    fig = tso3x.plot.spectroscopic_light_curves(_binned(flux, flux), skipped=skipped)
    assert len(skipped) == 2 and not fig.axes[0].containers
    assert any("no bin could be normalised" in t.get_text() for t in fig.axes[0].texts)


def _spectra(n: int = 30, npix: int = 200, edge: int = 40):
    """Spectra whose first and last ``edge`` pixels have no throughput (noise around zero)."""
    rng = np.random.default_rng(3)
    flux = 100.0 * (1.0 + 0.002 * rng.standard_normal((n, npix)))
    flux[:, 12:18] *= 0.99  # a feature the colour scale must show
    flux[:, :edge] = 0.05 + rng.standard_normal((n, edge))
    flux[:, -edge:] = -0.05 + rng.standard_normal((n, edge))
    dims = ("integration", "pixel")
    return xr.Dataset(
        {"FLUX": (dims, flux, {"units": "Jy"}), "FLUX_ERROR": (dims, np.ones_like(flux), {"units": "Jy"})},
        coords={
            "integration": np.arange(1, n + 1),
            "wavelength": (("pixel",), np.linspace(3.0, 5.0, npix)),
            "bjd_tdb_mid": (("integration",), 60310.25 + 0.001 * np.arange(n)),
        },
        attrs={"detectors": ["NRCALONG"], "product_kind": "spectroscopy"},
    )


def test_waterfall_colour_scale_ignores_the_unilluminated_edges():
    ds = _spectra()
    fig = tso3x.plot.waterfall(ds)
    mesh = fig.axes[0].collections[0]
    assert 1.0 - mesh.norm.vmin == pytest.approx(mesh.norm.vmax - 1.0)
    assert 0.003 < mesh.norm.vmax - 1.0 < 0.02  # about 2.3σ of the 0.2% noise, not the edges' noise
    shown = np.ma.masked_invalid(mesh.get_array()).reshape(30, 200)
    assert shown.mask[:, :40].all() and shown.mask[:, -40:].all() and not shown.mask[:, 40:-40].any()
    assert "time since first integration [h]" in fig.axes[0].get_ylabel()


def test_waterfall_of_a_detector_without_signal_is_skipped():
    ds = _spectra()
    ds["FLUX"][:] = -1.0
    skipped = []
    tso3x.plot.waterfall(ds, skipped=skipped)
    ((skip),) = skipped
    assert (skip.figure, skip.item) == ("waterfall", "detector NRCALONG")


def _summary(nfiles: int, ny: int, nx: int):
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.3, (nfiles, ny, nx))
    return xr.Dataset(
        {
            "outlier_fraction": (("integration",), rng.uniform(0, 1e-3, 20)),
            "outlier_count": (("file", "y", "x"), counts),
        },
        coords={
            "integration": np.arange(1, 21),
            "file": [f"f{k}" for k in range(nfiles)],
            "segment": (("file",), np.arange(1, nfiles + 1)),
            "detector": (("file",), ["NRCALONG"] * nfiles),
            "file_integrations": (("file",), [20 // nfiles] * nfiles),
        },
    )


@pytest.mark.parametrize(("nfiles", "ny", "nx", "ncols"), [(2, 64, 64, 2), (2, 32, 2048, 1), (4, 64, 64, 3)])
def test_outlier_maps_have_square_pixels_and_integer_colourbar(nfiles, ny, nx, ncols, tmp_path):
    fig = tso3x.plot.outlier_maps(_summary(nfiles, ny, nx))
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == nfiles and all(ax.get_aspect() == 1.0 for ax in panels)
    assert len({round(ax.get_position().x0, 3) for ax in panels}) == ncols
    colourbar = panels[-1].get_images()[0].colorbar
    ticks = colourbar.get_ticks()
    assert len(ticks) >= 2 and np.array_equal(ticks, np.round(ticks))
    fig.savefig(tmp_path / "maps.png", dpi=60)
    # each panel's drawn image is as many times wider than tall as the frame
    fig.canvas.draw()
    box = panels[0].get_window_extent()
    assert box.width / box.height == pytest.approx(nx / ny, rel=0.05)


def test_waterfall_averages_adjacent_pixels_to_at_most_its_columns():
    """2048 pixels → 256 columns of 8 (a transit hidden in per-pixel noise shows); all-NaN blocks stay NaN,
    a partly NaN block is the mean of the rest; the wavelengths are the blocks' means."""
    import xarray as xr

    from tso3x.plot import _average_columns

    rng = np.random.default_rng(3)
    values = rng.normal(1.0, 0.1, (5, 2048))
    values[:, :8] = np.nan
    values[:, 8] = np.nan
    flux = xr.DataArray(values, dims=("integration", "pixel"), coords={"integration": np.arange(1, 6)})
    grid = np.linspace(3.0, 5.0, 2048)
    averaged, centres = _average_columns(flux, grid, 256)
    assert averaged.shape == (5, 256) and centres.shape == (256,)
    assert np.isnan(averaged.values[:, 0]).all()
    np.testing.assert_allclose(averaged.values[:, 1], values[:, 9:16].mean(axis=1))
    np.testing.assert_allclose(centres[1], grid[8:16].mean())
    uneven, _ = _average_columns(flux.isel(pixel=slice(0, 2047)), grid[:2047], 256)  # last block of 7
    np.testing.assert_allclose(uneven.values[:, -1], values[:, 2040:2047].mean(axis=1))
    same, grid_same = _average_columns(flux, grid, None)
    assert same is flux and grid_same is grid
