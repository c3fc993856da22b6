"""Quick-look plots of TSO results on matplotlib (``pip install tso3x[plot]``); every function returns the Figure.

>>> ds = tso3x.open_products("out")                      # doctest: +SKIP
>>> tso3x.plot.light_curve(ds).savefig("white.png")      # doctest: +SKIP

Functions: :func:`light_curve` (white-light or photometric, raw and normalised, with errors),
:func:`spectroscopic_light_curves` (normalised binned light curves stacked with offsets), :func:`waterfall`
(normalised spectra, time × wavelength), :func:`outlier_fraction` and :func:`outlier_maps` (from
:func:`tso3x.results.outlier_summary`), :func:`centroids` (imaging centroid and PSF width), and
:func:`write_plots` (all that apply to an output folder, as PNG files; ``tso3x plot``).

Time axes are hours since the first integration; the axis label gives t = 0 as BJD TDB (MJD UTC when the
products hold no BJD). Nothing here fails on what :func:`tso3x.open_products` reads: a light curve that cannot
be normalised (its baseline flux is negative, zero or NaN, e.g. a background-subtracted bin without
throughput, or below ``MIN_SNR`` × its 1σ error) is left out with a warning on this module's logger naming it
and why, and everything else is drawn. Pass a list as ``skipped=`` to collect those as :class:`Skipped`;
:func:`write_plots` returns them as ``.skipped`` of the list of files it wrote.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from . import names, product_names
from .errors import Tso3xInputError
from .results import IMAGING, normalize_checked, open_products, outlier_summary
from .results import light_curve as _light_curve

log = logging.getLogger(__name__)

__all__ = [
    "Skipped",
    "WrittenPlots",
    "centroids",
    "light_curve",
    "outlier_fraction",
    "outlier_maps",
    "spectroscopic_light_curves",
    "waterfall",
    "write_plots",
]

TIME_LABEL = "time since first integration [h]"
#: BJD TDB of the products' ``bjd_tdb_*`` coordinates (BJD TDB − 2400000.5) [d]
BJD_OFFSET = 2400000.5
#: Light curves whose baseline flux is below this many times their median 1σ error are not normalised (no signal)
MIN_SNR = 1.0
#: Waterfall: pixels whose baseline is below this fraction of the bright pixels' (the 90th percentile of the
#: positive baselines) are left blank and out of the colour scale (zero-throughput edges)
ILLUMINATED_FRACTION = 0.1
#: Wavelength columns of the waterfall at most: adjacent pixels are averaged beyond that.
WATERFALL_COLUMNS = 256
#: Stacked light curves: a bin whose point-to-point scatter is more than this many times the median bin's is
#: not stacked (its offset would flatten every other curve, or it would cover them)
NOISY_BIN = 10.0
#: Waterfall colour scale: 1 ± the largest distance from 1 of these percentiles of the pixels drawn
COLOUR_PERCENTILES = (1.0, 99.0)
#: Outlier maps of frames more than this many times wider than tall (or taller than wide) go in one column
#: (row), at equal aspect
ELONGATED = 4.0
_POINTS = {"fmt": ".", "ms": 3, "lw": 0.6, "ecolor": "0.6"}


@dataclass(frozen=True)
class Skipped:
    """Something a plot could not draw: ``<figure>: <item> not drawn: <reason>``."""

    #: the figure (write_plots' file name without .png), e.g. ``"spectroscopic_light_curves"``
    figure: str
    #: what was left out, e.g. ``"bin 1 of 8 (3.350–3.600 µm)"`` or ``"figure"`` (the whole figure)
    item: str
    #: why, e.g. ``"baseline flux is negative (-7.6e-07 Jy)"``
    reason: str

    def __str__(self) -> str:
        return f"{self.figure}: {self.item} not drawn: {self.reason}"


class WrittenPlots(list):
    """The PNG files :func:`write_plots` wrote (a list of Path), with ``skipped``: what it left out.

    Attributes
    ----------
    skipped : tuple of Skipped
        Curves, panels or figures not drawn (each was logged as a warning); empty when everything was.
    """

    def __init__(self, paths: Iterable[Path] = (), skipped: Iterable[Skipped] = ()):
        super().__init__(paths)
        self.skipped: tuple[Skipped, ...] = tuple(skipped)

    @property
    def complete(self) -> bool:
        """True when nothing was skipped."""
        return not self.skipped


def _skip(skipped: list[Skipped] | None, figure: str, item: str, reason: str) -> None:
    """Log (warning) and collect something left out of a figure."""
    entry = Skipped(figure, item, reason)
    log.warning("%s", entry)
    if skipped is not None:
        skipped.append(entry)


def _pyplot():
    """matplotlib's Figure class, imported on first use (the ``[plot]`` extra is optional)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("tso3x.plot needs matplotlib: pip install 'tso3x[plot]'", name="matplotlib") from exc
    return Figure


def _figure(nrows: int = 1, ncols: int = 1, *, size=(8.0, 4.5), layout: str = "constrained", **kw):
    """A new Figure and its axes (``layout="compressed"`` for grids of images at equal aspect). Not registered
    with pyplot (no global state, nothing to close, any backend); Jupyter shows a returned Figure,
    ``fig.savefig`` writes it."""
    Figure = _pyplot()
    fig = Figure(figsize=size, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _note(ax, text: str) -> None:
    """A grey message in the middle of an axes that has nothing (or not everything) to show."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.4", wrap=True)


def _time_axis(ds: xr.Dataset | xr.DataArray) -> tuple[np.ndarray, str]:
    """Hours since the first integration [h] and the axis label giving t = 0 (BJD TDB, else MJD UTC);
    the integration number when the products hold no times."""
    for coord, scale, offset in (("bjd_tdb_mid", "BJD TDB", BJD_OFFSET), ("mjd_utc_mid", "MJD UTC", 0.0)):
        if coord in ds.coords:
            days = np.asarray(ds[coord].values, dtype=np.float64)
            if np.isfinite(days).any():
                t0 = float(np.nanmin(days))
                return (days - t0) * 24.0, f"{TIME_LABEL}\nt = 0: {scale} {t0 + offset:.6f} d"
    return np.asarray(ds[names.INTEGRATION].values), "integration number"


def _yerr(error) -> np.ndarray:
    """Error bars matplotlib accepts: negative values (invalid errors) become NaN (no bar)."""
    values = np.asarray(error, dtype=np.float64)
    return np.where(values >= 0, values, np.nan)


def _title(ds: xr.Dataset) -> str:
    return str(ds.attrs.get("product", ds.attrs.get("target_name", "")))


def light_curve(
    ds: xr.Dataset,
    *,
    baseline: str = "median",
    integrations=None,
    detector: str | None = None,
    order: int | None = None,
    skipped: list[Skipped] | None = None,
):
    """White-light (spectroscopy) or net aperture-sum (imaging) light curve, raw and normalised, against time.

    Parameters
    ----------
    ds : xarray.Dataset
        :func:`tso3x.open_products` output.
    baseline, integrations :
        Normalisation (see :func:`tso3x.normalize`).
    detector : str, optional
        One detector's white light (default: all together).
    order : int, optional
        One spectral order's white light, for products with several (NIS_SOSS); default: one column of
        panels per order.
    skipped : list, optional
        Gets a :class:`Skipped` when the light curve cannot be normalised (its baseline flux is negative,
        zero, NaN or below ``MIN_SNR`` × its error): the normalised panel then says why instead (also logged
        as a warning).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the time axis [h since the first integration]: flux [its unit] with 1σ errors,
        and flux / baseline (per spectral order, side by side).
    """
    from .spectral_bins import spectra_orders

    orders = spectra_orders(ds) if ds.attrs.get("product_kind") != IMAGING else []
    shown = [order] if order is not None or not orders else orders
    curves = [_light_curve(ds, detector, o).compute() for o in shown]
    fig, axes = _figure(2, len(curves), size=(8.0 if len(curves) == 1 else 5.0 * len(curves), 6.0), sharex=True)
    for k, lc in enumerate(curves):
        _light_curve_panels(axes[0, k], axes[1, k], lc, baseline, integrations, skipped)
        if len(curves) > 1:
            axes[0, k].set_title(lc.attrs["label"], fontsize=9)
    if len(curves) == 1:
        axes[0, 0].set_title(_title(ds), fontsize=9)
    else:
        fig.suptitle(_title(ds), fontsize=9)
    return fig


def _light_curve_panels(raw, norm, lc: xr.Dataset, baseline: str, integrations, skipped) -> None:
    """One light curve (:func:`tso3x.results.light_curve` output, computed): raw above, normalised below."""
    t, tlabel = _time_axis(lc)
    unit = lc["flux"].attrs.get("units", "")
    raw.errorbar(t, lc["flux"].values, yerr=_yerr(lc["flux_error"]), color="C0", **_POINTS)
    raw.set_ylabel(f"{lc.attrs['label']} [{unit}]")
    normalised = normalize_checked(lc["flux"], lc["flux_error"], baseline, integrations, min_snr=MIN_SNR)
    problem = str(normalised.problems.item())
    if problem:
        _skip(skipped, "light_curve", f"normalised {lc.attrs['label']}", problem)
        _note(norm, f"{lc.attrs['label']} not normalised: {problem}")
    else:
        norm.errorbar(t, normalised.flux.values, yerr=_yerr(normalised.error), color="C1", **_POINTS)
        norm.axhline(1.0, color="0.3", lw=0.8, ls="--")
    norm.set_ylabel(f"normalised flux ({baseline} baseline)")
    norm.set_xlabel(tlabel)


def _scatter(values: np.ndarray) -> np.ndarray:
    """Point-to-point scatter of every curve of ``values`` (integration, curve), robust to outliers (MAD of
    the differences / √2); NaN for a curve without two consecutive finite values."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN curves
        return 1.4826 * np.nanmedian(np.abs(np.diff(values, axis=0)), axis=0) / np.sqrt(2)


def _stack_offset(values: np.ndarray) -> float:
    """Vertical step between stacked normalised light curves (integration, curve): 1.2× the deepest dip (5th
    percentile) + 4× the largest point-to-point scatter; 0.01 without data."""
    if not np.isfinite(values).any():
        return 0.01
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN curves
        step = float(np.nanmax(1.2 * (1.0 - np.nanpercentile(values, 5, axis=0)) + 4.0 * _scatter(values)))
    return max(step, 1e-4) if np.isfinite(step) else 0.01


def _noisy_bins(values: np.ndarray, ok: np.ndarray) -> list[str]:
    """Why each normalised bin (integration, bin) is too noisy to stack with the others ("" when it is not)."""
    scatter = _scatter(values)
    usable = ok & np.isfinite(scatter)
    if usable.sum() < 3:
        return [""] * values.shape[1]
    median = float(np.median(scatter[usable]))
    return [
        f"point-to-point scatter {s:.2g} (normalised) is over {NOISY_BIN:g} × the median bin's ({median:.2g}): "
        "stacked, it would hide the others"
        if use and s > NOISY_BIN * median
        else ""
        for s, use in zip(scatter, usable, strict=True)
    ]


def _bin_name(binned: xr.Dataset, k: int) -> str:
    """``bin 2 of 8 (3.600–3.850 µm)``: a wavelength bin as a warning names it."""
    nbins = binned.sizes[names.WAVELENGTH_BIN]
    if names.WAVELENGTH_LOW in binned.coords and names.WAVELENGTH_HIGH in binned.coords:
        lo, hi = float(binned[names.WAVELENGTH_LOW][k]), float(binned[names.WAVELENGTH_HIGH][k])
        return f"bin {k + 1} of {nbins} ({lo:.3f}–{hi:.3f} µm)"
    return f"bin {k + 1} of {nbins} ({float(binned[names.WAVELENGTH_CENTER][k]):.3f} µm)"


def spectroscopic_light_curves(
    binned: xr.Dataset,
    *,
    offset: float | None = None,
    baseline: str = "median",
    integrations=None,
    skipped: list[Skipped] | None = None,
):
    """Normalised spectroscopic light curves stacked with vertical offsets, labelled by wavelength.

    Parameters
    ----------
    binned : xarray.Dataset
        :func:`tso3x.bin_spectra` output (or an :func:`tso3x.open_products` result holding ``binned_flux``;
        per-order ``binned_flux_order_<N>`` for NIS_SOSS: one panel per order).
    offset : float, optional
        Vertical step between curves (default: 1.2× the deepest dip + 4× the largest point-to-point scatter,
        per panel).
    baseline, integrations :
        Normalisation (see :func:`tso3x.normalize`).
    skipped : list, optional
        Gets a :class:`Skipped` for every bin that cannot be normalised (baseline flux negative, zero, NaN
        or below ``MIN_SNR`` × its error) or is too noisy to stack (point-to-point scatter over ``NOISY_BIN``
        × the median bin's; with three bins or more); such a bin keeps its place and label ("not drawn") and
        is logged as a warning.

    Returns
    -------
    matplotlib.figure.Figure
        Normalised flux + offset against time [h since the first integration].
    """
    panels = _binned_panels(binned)
    nbins = max(b.sizes[names.WAVELENGTH_BIN] for _, b in panels)
    width = 8.0 if len(panels) == 1 else 6.0 * len(panels)
    fig, axes = _figure(1, len(panels), size=(width, max(4.0, 0.45 * nbins + 2.0)))
    for ax, (label, one) in zip(axes[0], panels, strict=True):
        _stack(ax, one, label, offset, baseline, integrations, skipped)
    return fig


def _binned_panels(binned: xr.Dataset) -> list[tuple[str, xr.Dataset]]:
    """(label, unsuffixed bin_spectra Dataset) per spectral order of ``binned`` (one ("", binned) without)."""
    orders = binned.attrs.get(names.ORDERS)
    if not orders or names.BINNED_FLUX in binned.data_vars:
        return [("", binned)]
    from .spectral_bins import BINNED_NAMES

    out = []
    for order in orders:
        sfx = names.order_suffix(order)
        keep = [f"{n}{sfx}" for n in BINNED_NAMES if f"{n}{sfx}" in binned.variables or f"{n}{sfx}" in binned.dims]
        one = binned[[v for v in keep if v in binned.data_vars]]  # with its own bins' coordinates only
        out.append((f"order {order}", one.rename({v: v[: -len(sfx)] for v in keep})))
    return out


def _stack(ax, binned: xr.Dataset, label: str, offset, baseline: str, integrations, skipped) -> None:
    """One panel of stacked normalised light curves of single-order :func:`tso3x.bin_spectra` output."""
    normalised = normalize_checked(
        binned[names.BINNED_FLUX], binned[names.BINNED_FLUX_ERROR], baseline, integrations, min_snr=MIN_SNR
    )
    nflux, nerr = normalised.flux.values, normalised.error.values
    problems = [
        str(p) or noisy
        for p, noisy in zip(normalised.problems.values, _noisy_bins(nflux, normalised.ok.values), strict=True)
    ]
    ok = np.array([not p for p in problems], dtype=bool)
    t, tlabel = _time_axis(binned)
    nbins = binned.sizes[names.WAVELENGTH_BIN]
    if offset is None:
        offset = _stack_offset(nflux[:, ok])
    cmap = _colormap("viridis")
    centres = binned[names.WAVELENGTH_CENTER].values
    for k in range(nbins):
        shift = -k * offset
        color = cmap(k / max(nbins - 1, 1))
        text = f"{centres[k]:.3f} µm"
        if ok[k]:
            ax.errorbar(
                t,
                nflux[:, k] + shift,
                yerr=_yerr(nerr[:, k]),
                fmt=".",
                ms=2,
                lw=0.4,
                color=color,
                ecolor=color,
                alpha=0.8,
            )
        else:
            item = _bin_name(binned, k)
            _skip(skipped, "spectroscopic_light_curves", f"{label} {item}" if label else item, problems[k])
            text, color = f"{text}: not drawn", "0.5"
        ax.text(1.01, 1.0 + shift, text, transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=color)
    if not ok.any():
        _note(ax, "no bin could be normalised (baseline flux negative, zero, NaN or below its error)")
    lo, hi = ax.get_ylim() if ok.any() else (np.inf, -np.inf)  # every label in view, drawn or not
    ax.set_ylim(min(lo, 1.0 - (nbins - 0.5) * offset), max(hi, 1.0 + 0.5 * offset))
    ax.set_xlabel(tlabel)
    ax.set_ylabel(f"normalised flux + offset (step {offset:.2g})")
    what = f"{label}: " if label else ""
    ax.set_title(f"{what}spectroscopic light curves ({nbins} bins, {baseline} baseline)", fontsize=9)


def _detector_spectra(ds: xr.Dataset) -> list[tuple[str, xr.DataArray, np.ndarray]]:
    """(label, FLUX (integration, pixel), 1-D wavelength grid) per detector (or spectral order, NIS_SOSS) of an
    open_products Dataset."""
    from .spectral_bins import spectra_parts, spectra_suffixes

    out = []
    labels = [label for _, label in spectra_suffixes(ds)]
    for label, (flux, _, wave) in zip(labels, spectra_parts(ds), strict=True):
        grid = wave.isel({names.INTEGRATION: 0}).values if names.INTEGRATION in wave.dims else wave.values
        grid = np.asarray(grid, dtype=np.float64)
        out.append((label, flux, np.where(grid > 0, grid, np.nan)))  # jwst's photom marks no wavelength with -1
    return out


def _illuminated(base: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Pixels whose (positive) baseline is at least ILLUMINATED_FRACTION of the bright pixels' baseline (the
    90th percentile of the normalisable ones): the pixels the waterfall draws and takes its colours from."""
    good = ok & np.isfinite(base)
    if not good.any():
        return good
    bright = np.percentile(base[good], 90)
    return good & (base >= ILLUMINATED_FRACTION * bright)


def _colour_limits(images: list[np.ndarray]) -> float:
    """Half-width of the waterfall's colour scale around 1, from the finite pixels of every panel."""
    values = np.concatenate([image.ravel() for image in images])
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.01
    lo, hi = np.percentile(values, COLOUR_PERCENTILES)
    return max(abs(1.0 - lo), abs(hi - 1.0), 1e-5)


def _average_columns(flux: xr.DataArray, grid: np.ndarray, columns: int | None) -> tuple[xr.DataArray, np.ndarray]:
    """Spectra averaged over blocks of adjacent pixels so at most ``columns`` remain (NaN-aware); the block
    wavelengths are the mean of theirs. Unchanged when ``columns`` is None or not exceeded."""
    npix = flux.sizes[names.PIXEL]
    if columns is None or npix <= columns:
        return flux, grid
    k = -(-npix // columns)
    pad = (-npix) % k
    values = np.asarray(flux.values, dtype=np.float64)
    values = np.pad(values, ((0, 0), (0, pad)), constant_values=np.nan)
    wave = np.pad(grid, (0, pad), constant_values=np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        means = np.nanmean(values.reshape(values.shape[0], -1, k), axis=2)
        centres = np.nanmean(wave.reshape(-1, k), axis=1)
    return xr.DataArray(means, dims=flux.dims, coords={names.INTEGRATION: flux[names.INTEGRATION]}), centres


def _waterfall_image(
    det: str, flux: xr.DataArray, baseline: str, integrations, skipped: list[Skipped] | None
) -> np.ndarray:
    """One detector's normalised spectra (integration, pixel), NaN where a pixel has no signal."""
    normalised = normalize_checked(flux, None, baseline, integrations)
    ok = normalised.ok.values
    lit = _illuminated(normalised.baseline.values, ok)
    if not ok.any():
        what = (det if det.startswith("order") else f"detector {det}") if det else "spectra"
        _skip(skipped, "waterfall", what, "no pixel has a positive baseline flux")
    elif not lit.all():
        log.info(
            "waterfall: %d of %d columns%s blank: %d without a positive baseline flux, %d below %g of the bright ones'",
            (~lit).sum(),
            lit.size,
            f" of {det}" if det else "",
            (~ok).sum(),
            (ok & ~lit).sum(),
            ILLUMINATED_FRACTION,
        )
    image = np.array(normalised.flux.values, dtype=np.float64)
    image[:, ~lit] = np.nan
    return image


def waterfall(
    ds: xr.Dataset,
    *,
    baseline: str = "median",
    integrations=None,
    limits: float | None = None,
    columns: int | None = WATERFALL_COLUMNS,
    skipped: list[Skipped] | None = None,
):
    """Time × wavelength image of the spectra, each column divided by its own baseline (normalised spectra).

    Parameters
    ----------
    ds : xarray.Dataset
        :func:`tso3x.open_products` output of a spectroscopic product.
    baseline, integrations :
        Normalisation of every pixel's light curve (see :func:`tso3x.normalize`). Pixels without signal are
        left blank (grey): those whose baseline flux is negative, zero or NaN, or below
        ``ILLUMINATED_FRACTION`` of the bright pixels' (zero-throughput edges).
    limits : float, optional
        Colour scale 1 ± limits (default: the largest distance from 1 of the 1st and 99th percentiles of the
        pixels drawn).
    columns : int or None
        At most this many wavelength columns per detector: adjacent pixels are averaged in blocks, which
        brings a transit out of per-pixel noise (default :data:`WATERFALL_COLUMNS`; None: every pixel).
    skipped : list, optional
        Gets a :class:`Skipped` for a detector none of whose pixels can be normalised (logged as a warning).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per detector: wavelength [µm] × time [h since the first integration].
    """
    panels = [(det, *_average_columns(flux, grid, columns)) for det, flux, grid in _detector_spectra(ds)]
    fig, axes = _figure(1, len(panels), size=(4.5 * len(panels) + 3.0, 5.0), sharey=True)
    t, tlabel = _time_axis(ds)
    images = [_waterfall_image(det, flux, baseline, integrations, skipped) for det, flux, _ in panels]
    if limits is None:
        limits = _colour_limits(images)
    cmap = _colormap("RdBu_r").with_extremes(bad="0.85")
    mesh = None
    for ax, (det, _, grid), image in zip(axes[0], panels, images, strict=True):
        keep = np.isfinite(grid)
        if det:
            ax.set_title(det, fontsize=9)
        ax.set_xlabel("wavelength [µm]")
        if not np.isfinite(image[:, keep]).any():
            _note(ax, "nothing to draw: no pixel has a positive baseline flux")
            continue
        order = np.argsort(grid[keep])
        mesh = ax.pcolormesh(
            grid[keep][order],
            t,
            image[:, keep][:, order],
            cmap=cmap,
            vmin=1 - limits,
            vmax=1 + limits,
            shading="nearest",
        )
    axes[0, 0].set_ylabel(tlabel)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes[0, -1], label=f"normalised flux ({baseline} baseline)")
    blank = f"grey: no signal (baseline flux not positive, or below {ILLUMINATED_FRACTION:.0%} of the bright pixels')"
    fig.suptitle(f"normalised spectra — {_title(ds)}\n{blank}", fontsize=9)
    return fig


def outlier_fraction(summary: xr.Dataset, ds: xr.Dataset | None = None):
    """Fraction of pixels flagged as outliers in every integration.

    Parameters
    ----------
    summary : xarray.Dataset
        :func:`tso3x.results.outlier_summary` output.
    ds : xarray.Dataset, optional
        :func:`tso3x.open_products` output: plot against its time [h since the first integration] instead of
        the integration number (when it holds the times of every integration of ``summary``).

    Returns
    -------
    matplotlib.figure.Figure
        Flagged pixels [%] against time or integration number.
    """
    fig, axes = _figure(1, 1, size=(8.0, 3.5))
    ax = axes[0, 0]
    frac = np.asarray(summary["outlier_fraction"].values, dtype=np.float64)
    x = summary[names.INTEGRATION].values
    xlabel = "integration number"
    if ds is not None and np.isin(x, ds[names.INTEGRATION].values).all():
        t, tlabel = _time_axis(ds)
        if tlabel != xlabel:
            row = {int(n): k for k, n in enumerate(ds[names.INTEGRATION].values)}
            x, xlabel = t[[row[int(n)] for n in x]], tlabel
    ax.plot(x, 100.0 * frac, ".-", ms=3, lw=0.6)
    if xlabel == "integration number":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pixels flagged as outliers [%]")
    ax.set_ylim(bottom=0)
    mean = 100 * float(np.nanmean(frac)) if np.isfinite(frac).any() else float("nan")
    ax.set_title(f"outlier detection: {mean:.3f}% of pixels flagged on average", fontsize=9)
    return fig


def _maps_layout(n: int, ny: int, nx: int) -> tuple[int, int, tuple[float, float], bool]:
    """(rows, columns, figure size [inch], horizontal colourbar) of ``n`` outlier maps of ny × nx pixels at
    equal aspect: wide strips (e.g. 32 × 2048) one per row at up to 18 inches wide (about one screen pixel
    per detector pixel at 120 dpi), tall ones in one row, others up to three per row."""
    ratio = nx / max(ny, 1)
    if ratio > ELONGATED:
        width = float(np.clip(nx / 120.0 + 1.5, 8.0, 18.0))
        image_h = (width - 1.5) / ratio
        return n, 1, (width, n * (image_h + 0.75) + 1.1), True
    if ratio < 1.0 / ELONGATED:
        image_h = 6.0
        return 1, n, (n * (image_h * ratio + 1.0) + 1.4, image_h + 1.0), False
    ncols = min(n, 3)
    nrows = int(np.ceil(n / ncols))
    image_w = 3.6 if ratio >= 1 else 3.6 * ratio
    return nrows, ncols, (ncols * (image_w + 0.9) + 1.4, nrows * (image_w / ratio + 0.8) + 0.3), False


def outlier_maps(summary: xr.Dataset):
    """Per-pixel count of integrations flagged as outliers, one panel per crfints (segment × detector).

    Parameters
    ----------
    summary : xarray.Dataset
        :func:`tso3x.results.outlier_summary` output.

    Returns
    -------
    matplotlib.figure.Figure
        Square detector pixels (x, y [pixel]) coloured by count, on one integer colour scale.
    """
    from matplotlib.ticker import MaxNLocator

    n = summary.sizes["file"]
    nrows, ncols, size, horizontal = _maps_layout(n, summary.sizes[names.Y], summary.sizes[names.X])
    fig, axes = _figure(nrows, ncols, size=size, layout="compressed")
    sep = "\n" if summary.sizes[names.X] < summary.sizes[names.Y] else " "  # narrow panels: two-line titles
    vmax = max(int(summary["outlier_count"].max()), 1)
    image = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_axis_off()
            continue
        image = ax.imshow(
            summary["outlier_count"][k].values,
            origin="lower",
            aspect="equal",
            cmap="magma",
            vmin=0,
            vmax=vmax,
            interpolation="nearest",
        )
        seg, det = int(summary[names.SEGMENT][k]), str(summary["detector"][k].values)
        title = f"segment {seg} {det}{sep}({int(summary['file_integrations'][k])} integrations)"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("x [pixel]")
        ax.set_ylabel("y [pixel]")
    fig.colorbar(
        image,
        ax=list(axes.flat),
        label="integrations flagged",
        ticks=MaxNLocator(integer=True),
        orientation="horizontal" if horizontal else "vertical",
        shrink=0.6 if horizontal else 0.9,
        aspect=40 if horizontal else 20,
    )
    return fig


def centroids(ds: xr.Dataset):
    """Imaging: source centroid and PSF width (x and y) against time [h since the first integration]."""
    fig, axes = _figure(2, 1, size=(8.0, 5.5), sharex=True)
    t, tlabel = _time_axis(ds)
    for ax, (cols, label) in zip(
        axes[:, 0], ((names.CENTROID_COLUMNS, "centroid"), (names.PSF_COLUMNS[:2], "PSF width")), strict=True
    ):
        unit = ds[cols[0]].attrs.get("units", "pix")
        for col, axis in zip(cols, "xy", strict=True):
            values = np.asarray(ds[col].values, dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column has a NaN median
                shown = values - np.nanmedian(values) if label == "centroid" else values
            ax.plot(t, shown, ".", ms=3, label=f"{axis}")
        ax.set_ylabel(f"{label} {'− median ' if label == 'centroid' else ''}[{unit}]")
        ax.legend(fontsize=8, loc="upper right")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cx, cy = (float(np.nanmedian(ds[c].values)) for c in names.CENTROID_COLUMNS)
    axes[0, 0].set_title(f"centroid median x = {cx:.2f}, y = {cy:.2f} pix — {_title(ds)}", fontsize=9)
    axes[1, 0].set_xlabel(tlabel)
    return fig


# --- write_plots --------------------------------------------------------------------------------------------


def _has_products(folder: Path) -> bool:
    """Whether a folder holds a product open_products reads (x1dints, whtlt or phot)."""
    suffixes = tuple(product_names.SUFFIXES[k] for k in ("x1dints", "whtlt", "phot"))
    return any(p.name.endswith(suffixes) for p in folder.iterdir())


def _input_error(path: Path, exc: Exception) -> Tso3xInputError:
    """A reading error as one bad-input line, naming ``path`` once."""
    text = str(exc)
    return Tso3xInputError(None, text) if text.startswith(str(path)) else Tso3xInputError(path, text)


def _open(path: Path, product: str | None) -> tuple[xr.Dataset | None, Path | None]:
    """(open_products of ``path`` or None for a crfints-only folder, the folder of its crfints or None).

    Raises
    ------
    Tso3xInputError
        Nothing to plot, or products open_products cannot read.
    """
    folder = path.parent if path.is_file() else path
    crfints = folder if folder.is_dir() and any(folder.glob("*" + product_names.CRFINTS_SUFFIX)) else None
    if product is None and crfints is not None and path.is_dir() and not _has_products(path):
        log.info("%s: no x1dints, whtlt or phot; plotting the outlier detection of the crfints only", path)
        return None, crfints
    try:
        return open_products(path, product=product), crfints
    except (OSError, ValueError) as exc:
        raise _input_error(path, exc) from None


def _makers(
    ds: xr.Dataset | None, crfints: Path | None, bins: int, skipped: list[Skipped]
) -> dict[str, Callable[[], object]]:
    """File name → function drawing the Figure, for every plot that applies."""
    from .spectral_bins import bin_spectra

    makers: dict[str, Callable[[], object]] = {}
    if ds is not None:
        makers["light_curve"] = lambda: light_curve(ds, skipped=skipped)
        if ds.attrs.get("product_kind") == IMAGING:
            makers["centroids"] = lambda: centroids(ds)
        else:
            has_bins = any(v == names.BINNED_FLUX or v.startswith(f"{names.BINNED_FLUX}_order_") for v in ds.data_vars)
            binned = (lambda: ds) if has_bins else (lambda: bin_spectra(ds, bins))
            makers["spectroscopic_light_curves"] = lambda: spectroscopic_light_curves(binned(), skipped=skipped)
            makers["waterfall"] = lambda: waterfall(ds, skipped=skipped)
    if crfints is not None:
        summary: list[xr.Dataset] = []  # read once, on first use

        def read() -> xr.Dataset:
            if not summary:
                summary.append(outlier_summary(crfints))
            return summary[0]

        makers["outlier_fraction"] = lambda: outlier_fraction(read(), ds)
        makers["outlier_maps"] = lambda: outlier_maps(read())
    return makers


def write_plots(
    path: str | os.PathLike, to: str | os.PathLike, *, bins: int = 10, dpi: int = 120, product: str | None = None
) -> WrittenPlots:
    """Every plot that applies to an output folder (or zarr store), written as PNG files; never fails on what
    :func:`tso3x.open_products` reads.

    A light curve, bin or detector that cannot be normalised is left out with a warning, and a figure that
    cannot be drawn at all is not written (warning); everything else is. A folder holding crfints but no
    x1dints, whtlt or phot (e.g. NIS_SOSS with ATOCA, not extracted yet) gets the outlier plots. NIS_SOSS
    products get their plots per spectral order (one column or panel per order).

    Parameters
    ----------
    path : path
        Output folder of a run, one product in it, or a zarr store (no outlier plots then).
    to : path
        Folder for the PNGs (created once ``path`` has been read).
    bins : int
        Equal-width bins of the spectroscopic light curves when the products hold none (no speclc).
    dpi : int
        Resolution of the PNGs [dots per inch].
    product : str, optional
        Product name when the folder holds several.

    Returns
    -------
    WrittenPlots
        The paths written (a list: ``light_curve.png``; spectroscopy: ``spectroscopic_light_curves.png``,
        ``waterfall.png``; imaging: ``centroids.png``; with crfints: ``outlier_fraction.png``,
        ``outlier_maps.png``), and ``.skipped``: the :class:`Skipped` items (empty when everything was drawn).

    Raises
    ------
    ImportError
        matplotlib is not installed (before anything is read).
    tso3x.errors.Tso3xInputError
        Nothing to plot at ``path`` (no products and no crfints), products it cannot read, bad ``bins``, or
        ``to`` cannot be created.
    """
    _pyplot()
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise Tso3xInputError(None, f"bins must be a positive number of wavelength bins, not {bins!r}")
    path = Path(path)
    ds, crfints = _open(path, product)
    skipped: list[Skipped] = []
    makers = _makers(ds, crfints, bins, skipped)
    to = Path(to)
    try:
        to.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Tso3xInputError(to, f"cannot create the folder for the plots ({exc.strerror or exc})") from None
    written = []
    for name, make in makers.items():
        out = to / f"{name}.png"
        try:
            make().savefig(out, dpi=dpi)
        except Exception as exc:  # one figure that cannot be drawn must not cost the others
            log.debug("%s failed", name, exc_info=True)
            _skip(skipped, name, "figure", f"{type(exc).__name__}: {exc}")
            out.unlink(missing_ok=True)
            continue
        written.append(out)
        log.info("wrote %s", out)
    return WrittenPlots(written, skipped)
