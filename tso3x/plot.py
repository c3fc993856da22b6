"""Quick-look plots of TSO results on matplotlib (``pip install tso3x[plot]``); every function returns the Figure.

>>> ds = tso3x.open_products("out")                      # doctest: +SKIP
>>> tso3x.plot.light_curve(ds).savefig("white.png")      # doctest: +SKIP

Functions: :func:`light_curve` (white-light or photometric, raw and normalised, with errors, against BJD TDB),
:func:`spectroscopic_light_curves` (normalised binned light curves stacked with offsets), :func:`waterfall`
(normalised spectra, time × wavelength), :func:`outlier_fraction` and :func:`outlier_maps` (from
:func:`tso3x.results.outlier_summary`), :func:`centroids` (imaging centroid and PSF width), and
:func:`write_plots` (all that apply to an output folder, as PNG files; ``tso3x plot``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import xarray as xr

from . import names, product_names
from .results import IMAGING, normalize
from .results import light_curve as _light_curve

log = logging.getLogger(__name__)

__all__ = [
    "centroids",
    "light_curve",
    "outlier_fraction",
    "outlier_maps",
    "spectroscopic_light_curves",
    "waterfall",
    "write_plots",
]

TIME_LABEL = "BJD TDB − 2400000.5 [d]"


def _pyplot():
    """matplotlib's Figure class, imported on first use (the ``[plot]`` extra is optional)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("tso3x.plot needs matplotlib: pip install 'tso3x[plot]'") from exc
    return Figure


def _figure(nrows: int = 1, ncols: int = 1, *, size=(8.0, 4.5), **kw):
    """A new Figure and its axes, constrained layout. Not registered with pyplot (no global state, nothing to
    close, any backend); Jupyter shows a returned Figure, ``fig.savefig`` writes it."""
    Figure = _pyplot()
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _time(ds: xr.Dataset | xr.DataArray) -> np.ndarray:
    return np.asarray(ds["bjd_tdb_mid"].values, dtype=np.float64)


def _title(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("product", ds.attrs.get("target_name", "")))


def light_curve(ds: xr.Dataset, *, baseline: str = "median", integrations=None, detector: str | None = None):
    """White-light (spectroscopy) or net aperture-sum (imaging) light curve, raw and normalised, vs BJD TDB.

    Parameters
    ----------
    ds : xarray.Dataset
        :func:`tso3x.open_products` output.
    baseline, integrations :
        Normalisation (see :func:`tso3x.normalize`).
    detector : str, optional
        One detector's white light (default: all together).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the time axis: flux [its unit] with 1σ errors, and flux / baseline.
    """
    lc = _light_curve(ds, detector).compute()
    fig, axes = _figure(2, 1, size=(8.0, 6.0), sharex=True)
    t = _time(lc)
    unit = lc["flux"].attrs.get("units", "")
    raw, norm = axes[0, 0], axes[1, 0]
    raw.errorbar(t, lc["flux"], yerr=lc["flux_error"], fmt=".", ms=3, lw=0.6, color="C0", ecolor="0.6")
    raw.set_ylabel(f"{lc.attrs['label']} [{unit}]")
    nflux = normalize(lc["flux"], baseline, integrations)
    nerr = normalize(lc["flux_error"], baseline, integrations, reference=lc["flux"])
    norm.errorbar(t, nflux, yerr=nerr, fmt=".", ms=3, lw=0.6, color="C1", ecolor="0.6")
    norm.axhline(1.0, color="0.3", lw=0.8, ls="--")
    norm.set_ylabel(f"normalised flux ({baseline} baseline)")
    norm.set_xlabel(TIME_LABEL)
    raw.set_title(_title(ds), fontsize=9)
    for ax in (raw, norm):
        ax.ticklabel_format(axis="x", useOffset=False)
    return fig


def spectroscopic_light_curves(
    binned: xr.Dataset, *, offset: float | None = None, baseline: str = "median", integrations=None
):
    """Normalised spectroscopic light curves stacked with vertical offsets, labelled by wavelength.

    Parameters
    ----------
    binned : xarray.Dataset
        :func:`tso3x.bin_spectra` output (or an :func:`tso3x.open_products` result holding ``binned_flux``).
    offset : float, optional
        Vertical step between curves (default: 5× the largest scatter, at least the transit depth).
    baseline, integrations :
        Normalisation (see :func:`tso3x.normalize`).
    """
    flux = binned[names.BINNED_FLUX].compute()
    err = binned[names.BINNED_FLUX_ERROR].compute()
    nflux = normalize(flux, baseline, integrations)
    nerr = normalize(err, baseline, integrations, reference=flux)
    t = _time(binned)
    nbins = flux.sizes[names.WAVELENGTH_BIN]
    if offset is None:  # robust: point-to-point scatter (MAD) and the 5th percentile dip, ignoring outliers
        values = nflux.values
        with np.errstate(all="ignore"):
            scatter = float(np.nanmax(1.4826 * np.nanmedian(np.abs(np.diff(values, axis=0)), axis=0) / np.sqrt(2)))
            depth = float(np.nanmax(1.0 - np.nanpercentile(values, 5, axis=0)))
        offset = max(1.2 * depth + 4.0 * scatter, 1e-4) if np.isfinite(depth + scatter) else 0.01
    fig, axes = _figure(1, 1, size=(8.0, max(4.0, 0.45 * nbins + 2.0)))
    ax = axes[0, 0]
    cmap = _colormap("viridis")
    centres = binned[names.WAVELENGTH_CENTER].values
    for k in range(nbins):
        shift = -k * offset
        color = cmap(k / max(nbins - 1, 1))
        ax.errorbar(
            t, nflux[:, k] + shift, yerr=nerr[:, k], fmt=".", ms=2, lw=0.4, color=color, ecolor=color, alpha=0.8
        )
        ax.text(
            1.01,
            1.0 + shift,
            f"{centres[k]:.3f} µm",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
            color=color,
        )
    ax.set_xlabel(TIME_LABEL)
    ax.set_ylabel(f"normalised flux + offset (step {offset:.2g})")
    ax.set_title(f"spectroscopic light curves ({nbins} bins, {baseline} baseline)", fontsize=9)
    ax.ticklabel_format(axis="x", useOffset=False)
    return fig


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _detector_spectra(ds: xr.Dataset) -> list[tuple[str, xr.DataArray, np.ndarray]]:
    """(label, FLUX (integration, pixel), 1-D wavelength grid) per detector of an open_products Dataset."""
    from .spectral_bins import spectra_parts

    out = []
    detectors = list(ds.attrs.get("detectors") or [""])
    parts = spectra_parts(ds)
    for det, (flux, _, wave) in zip(
        detectors if len(detectors) == len(parts) else [""] * len(parts), parts, strict=True
    ):
        grid = wave.isel({names.INTEGRATION: 0}).values if names.INTEGRATION in wave.dims else wave.values
        out.append((det, flux, np.asarray(grid, dtype=np.float64)))
    return out


def waterfall(ds: xr.Dataset, *, baseline: str = "median", integrations=None, limits: float | None = None):
    """Time × wavelength image of the spectra, each pixel divided by its own baseline (normalised spectra).

    Parameters
    ----------
    ds : xarray.Dataset
        :func:`tso3x.open_products` output of a spectroscopic product.
    baseline, integrations :
        Normalisation of every pixel's light curve (see :func:`tso3x.normalize`).
    limits : float, optional
        Colour scale 1 ± limits (default: the 1st–99th percentile spread).
    """
    panels = _detector_spectra(ds)
    fig, axes = _figure(1, len(panels), size=(4.5 * len(panels) + 3.0, 5.0), sharey=True)
    t = _time(ds)
    images = []
    for flux, _grid in ((p[1], p[2]) for p in panels):
        with np.errstate(all="ignore"):
            images.append(normalize(flux.compute(), baseline, integrations).values)
    if limits is None:
        finite = np.concatenate([im[np.isfinite(im)] for im in images]) if images else np.array([1.0])
        lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.99, 1.01)
        limits = max(abs(1.0 - lo), abs(hi - 1.0), 1e-5)
    mesh = None
    for ax, (det, _, grid), image in zip(axes[0], panels, images, strict=True):
        keep = np.isfinite(grid)
        order = np.argsort(grid[keep])
        wave = grid[keep][order]
        mesh = ax.pcolormesh(
            wave, t, image[:, keep][:, order], cmap="RdBu_r", vmin=1 - limits, vmax=1 + limits, shading="nearest"
        )
        ax.set_xlabel("wavelength [µm]")
        if det:
            ax.set_title(det, fontsize=9)
    axes[0, 0].set_ylabel(TIME_LABEL)
    axes[0, 0].ticklabel_format(axis="y", useOffset=False)
    fig.colorbar(mesh, ax=axes[0, -1], label=f"normalised flux ({baseline} baseline)")
    fig.suptitle(f"normalised spectra — {_title(ds)}", fontsize=9)
    return fig


def outlier_fraction(summary: xr.Dataset, ds: xr.Dataset | None = None):
    """Fraction of pixels flagged as outliers in every integration.

    Parameters
    ----------
    summary : xarray.Dataset
        :func:`tso3x.results.outlier_summary` output.
    ds : xarray.Dataset, optional
        :func:`tso3x.open_products` output: plot against its BJD TDB instead of the integration number.
    """
    fig, axes = _figure(1, 1, size=(8.0, 3.5))
    ax = axes[0, 0]
    frac = summary["outlier_fraction"]
    x = summary[names.INTEGRATION].values
    xlabel = "integration number"
    if ds is not None and "bjd_tdb_mid" in ds.coords:
        x = np.asarray(ds["bjd_tdb_mid"].sel({names.INTEGRATION: x}).values)
        xlabel = TIME_LABEL
    ax.plot(x, 100.0 * frac.values, ".-", ms=3, lw=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pixels flagged as outliers [%]")
    ax.set_ylim(bottom=0)
    ax.set_title(f"outlier detection: {100 * float(np.mean(frac)):.3f}% of pixels flagged on average", fontsize=9)
    ax.ticklabel_format(axis="x", useOffset=False)
    return fig


def outlier_maps(summary: xr.Dataset):
    """Per-pixel count of integrations flagged as outliers, one panel per crfints (segment × detector)."""
    n = summary.sizes["file"]
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    ny, nx = summary.sizes[names.Y], summary.sizes[names.X]
    aspect = ny / max(nx, 1)
    width = 4.2 * ncols
    fig, axes = _figure(nrows, ncols, size=(width, max(2.5, nrows * (width / ncols) * min(aspect, 1.5) + 1.2)))
    vmax = max(int(summary["outlier_count"].max()), 1)
    image = None
    for k in range(nrows * ncols):
        ax = axes.flat[k]
        if k >= n:
            ax.set_axis_off()
            continue
        image = ax.imshow(
            summary["outlier_count"][k].values,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=0,
            vmax=vmax,
            interpolation="nearest",
        )
        seg, det = int(summary[names.SEGMENT][k]), str(summary["detector"][k].values)
        ax.set_title(f"segment {seg} {det} ({int(summary['file_integrations'][k])} integrations)", fontsize=8)
        ax.set_xlabel("x [pixel]")
        ax.set_ylabel("y [pixel]")
    fig.colorbar(image, ax=list(axes.flat), label="integrations flagged", shrink=0.9)
    return fig


def centroids(ds: xr.Dataset):
    """Imaging: source centroid and PSF width (x and y) against time."""
    fig, axes = _figure(2, 1, size=(8.0, 5.5), sharex=True)
    t = _time(ds)
    for ax, (cols, label) in zip(
        axes[:, 0], ((names.CENTROID_COLUMNS, "centroid"), (names.PSF_COLUMNS[:2], "PSF width")), strict=True
    ):
        unit = ds[cols[0]].attrs.get("units", "pix")
        for col, axis in zip(cols, "xy", strict=True):
            values = np.asarray(ds[col].values, dtype=np.float64)
            ax.plot(t, values - np.nanmedian(values) if label == "centroid" else values, ".", ms=3, label=f"{axis}")
        ax.set_ylabel(f"{label} {'− median ' if label == 'centroid' else ''}[{unit}]")
        ax.legend(fontsize=8, loc="upper right")
    axes[0, 0].set_title(
        f"centroid median x = {np.nanmedian(ds[names.CENTROID_COLUMNS[0]]):.2f}, "
        f"y = {np.nanmedian(ds[names.CENTROID_COLUMNS[1]]):.2f} pix — {_title(ds)}",
        fontsize=9,
    )
    axes[1, 0].set_xlabel(TIME_LABEL)
    axes[1, 0].ticklabel_format(axis="x", useOffset=False)
    return fig


def write_plots(
    path: str | os.PathLike, to: str | os.PathLike, *, bins: int = 10, dpi: int = 120, product: str | None = None
) -> list[Path]:
    """Every plot that applies to an output folder (or zarr store), written as PNG files.

    Parameters
    ----------
    path : path
        Output folder of a run (or a zarr store: no outlier maps then).
    to : path
        Folder for the PNGs (created).
    bins : int
        Equal-width bins of the spectroscopic light curves when the products hold none (no speclc).
    dpi : int
    product : str, optional
        Product name when the folder holds several.

    Returns
    -------
    list of Path
        ``light_curve.png``; spectroscopy: ``spectroscopic_light_curves.png``, ``waterfall.png``; imaging:
        ``centroids.png``; with crfints: ``outlier_fraction.png``, ``outlier_maps.png``.
    """
    from .results import open_products, outlier_summary
    from .spectral_bins import bin_spectra

    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    ds = open_products(path, product=product)
    figures = {"light_curve": light_curve(ds)}
    if ds.attrs.get("product_kind") == IMAGING:
        figures["centroids"] = centroids(ds)
    else:
        binned = ds if names.BINNED_FLUX in ds.data_vars else bin_spectra(ds, bins)
        figures["spectroscopic_light_curves"] = spectroscopic_light_curves(binned)
        figures["waterfall"] = waterfall(ds)
    folder = Path(path)
    if folder.is_dir() and any(folder.glob("*" + product_names.CRFINTS_SUFFIX)):
        summary = outlier_summary(folder)
        figures["outlier_fraction"] = outlier_fraction(summary, ds)
        figures["outlier_maps"] = outlier_maps(summary)
    written = []
    for name, fig in figures.items():
        out = to / f"{name}.png"
        fig.savefig(out, dpi=dpi)
        written.append(out)
        log.info("wrote %s", out)
    return written
