"""Spectroscopic light curves: extracted spectra summed in wavelength bins, with propagated errors.

:func:`bin_spectra` works lazily on anything holding spectra (``(integration, pixel)`` FLUX and FLUX_ERROR with a
``wavelength`` coordinate): :func:`tso3x.open_products` results, :func:`tso3x.extract_1d` outputs, the zarr
store. Bin ``k`` holds the pixels with ``wavelength_low[k] <= wavelength < wavelength_high[k]`` (the last bin
includes its upper edge), so the bins together hold exactly the pixels jwst's ``white_light`` sums over
``[wavelength_low[0], wavelength_high[-1]]``: the binned fluxes add up to that white light. The flux of a bin is
the sum of FLUX (NaN pixels skipped, as the white light's ``nansum``); its error is the square root of the
sum of FLUX_ERROR² over the same pixels (errors of different pixels treated as independent). Several
detectors (NRS1 + NRS2) are binned together: a bin sums the pixels of every detector inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import dask.array as da
import numpy as np
import xarray as xr

from . import names
from .kernels.binning import bin_index, binned_sums, equal_flux_edges, equal_width_edges

log = logging.getLogger(__name__)

METHODS = ("equal-width", "equal-flux")

__all__ = ["METHODS", "bin_spectra", "resolve_edges", "spectra_orders", "spectra_parts", "spectra_suffixes"]


def spectra_orders(ds: xr.Dataset) -> list[int]:
    """The spectral orders of a Dataset whose spectra are suffixed per order (``FLUX_order_1``, …; NIS_SOSS),
    from its ``orders`` attr or its variables; [] for spectra of one order."""
    orders = ds.attrs.get(names.ORDERS)
    if orders is None:
        found = [v[len("FLUX_order_") :] for v in ds.data_vars if v.startswith("FLUX_order_")]
        orders = sorted(int(o) for o in found if o.isdigit())
    orders = [int(o) for o in np.atleast_1d(orders)] if orders is not None else []
    return orders if len(orders) > 1 or any(f"FLUX{names.order_suffix(o)}" in ds.data_vars for o in orders) else []


def spectra_suffixes(ds: xr.Dataset) -> list[tuple[str, str]]:
    """(suffix, label) of every set of spectra in a Dataset: per spectral order (``_order_1``, "order 1") for
    a product with several orders (NIS_SOSS), per detector (``_NRS1``, "NRS1") for several detectors, else
    ``("", detector)``."""
    orders = spectra_orders(ds)
    if orders:
        return [(names.order_suffix(o), f"order {o}") for o in orders]
    dets = list(ds.attrs.get("detectors") or [])
    if "FLUX" in ds.data_vars:
        return [("", str(dets[0]) if len(dets) == 1 else "")]
    if dets:
        return [(f"_{d}", str(d)) for d in dets]
    found = [v[len("FLUX") :] for v in ds.data_vars if v.startswith("FLUX_") and f"FLUX_ERROR{v[4:]}" in ds.data_vars]
    if not found:
        raise ValueError("no spectra (FLUX and FLUX_ERROR variables) to bin")
    return [(sfx, sfx[1:]) for sfx in sorted(found)]


def _suffixes(ds: xr.Dataset) -> list[str]:
    """Suffixes of the spectra in a Dataset ('' for unsuffixed FLUX)."""
    return [sfx for sfx, _ in spectra_suffixes(ds)]


def spectra_parts(spectra: xr.Dataset | Sequence[xr.Dataset]) -> list[tuple[xr.DataArray, xr.DataArray, xr.DataArray]]:
    """(FLUX, FLUX_ERROR, wavelength) of every detector's spectra, dims renamed to (integration, pixel).

    Parameters
    ----------
    spectra : xarray.Dataset or list of them
        A Dataset with ``FLUX``/``FLUX_ERROR`` (or ``FLUX_<DET>``… per detector) and ``wavelength[_<DET>]``
        [micron] of dims ``(pixel,)`` or ``(integration, pixel)``; or one Dataset per detector.
    """
    datasets = [spectra] if isinstance(spectra, xr.Dataset) else list(spectra)
    parts = []
    for ds in datasets:
        for sfx in _suffixes(ds):
            flux, err, wave = ds[f"FLUX{sfx}"], ds[f"FLUX_ERROR{sfx}"], ds[f"{names.WAVELENGTH}{sfx}"]
            pix = flux.dims[1]
            rename = {pix: names.PIXEL} if pix != names.PIXEL else {}
            parts.append((flux.rename(rename), err.rename(rename), wave.rename(rename)))
    return parts


def _grid(wave: xr.DataArray) -> np.ndarray:
    """The wavelength grid of one detector [micron]: the coordinate, or its first row when per integration."""
    values = wave.isel({names.INTEGRATION: 0}) if names.INTEGRATION in wave.dims else wave
    return np.asarray(values.values, dtype=np.float64)


def _mean_spectrum(flux: xr.DataArray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(flux.mean(names.INTEGRATION, skipna=True).values, dtype=np.float64)


def resolve_edges(
    bins: int | Sequence[float] | np.ndarray,
    parts: list[tuple[xr.DataArray, xr.DataArray, xr.DataArray]],
    method: str = "equal-width",
    min_wavelength: float | None = None,
    max_wavelength: float | None = None,
) -> np.ndarray:
    """Bin edges [micron] from a number of bins or explicit edges.

    Parameters
    ----------
    bins : int or sequence of float
        Number of bins, or increasing edges [micron] (then ``method`` and the range are ignored).
    parts : list
        :func:`spectra_parts` output (equal-flux bins read the time-averaged FLUX).
    method : {"equal-width", "equal-flux"}
        Equal-width bins, or bins holding about equal time-averaged flux (edges on pixel boundaries).
    min_wavelength, max_wavelength : float, optional
        Range divided into ``bins`` bins [micron]; default: every finite wavelength.

    Returns
    -------
    ndarray (nbins + 1,)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if np.ndim(bins) == 1:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.size < 2 or not np.all(np.diff(edges) > 0) or not np.all(np.isfinite(edges)):
            raise ValueError(f"bin edges must be at least two increasing finite wavelengths, not {list(bins)}")
        return edges
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive number of bins or a list of edges, not {bins!r}")
    grid = np.concatenate([_grid(w) for _, _, w in parts])
    if method == "equal-width":
        return equal_width_edges(grid, int(bins), min_wavelength, max_wavelength)
    spectrum = np.concatenate([_mean_spectrum(f) for f, _, _ in parts])
    return equal_flux_edges(grid, spectrum, int(bins), min_wavelength, max_wavelength)


def _flat_sums(flux: np.ndarray, error: np.ndarray, wavelength: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """:func:`binned_sums` of one chunk as (n, 2 * nbins): flux sums, then variance sums."""
    out = binned_sums(flux, error, wavelength, edges)
    return np.concatenate([out[0], out[1]], axis=1)


def lazy_bin_sums(flux: xr.DataArray, error: xr.DataArray, wave: xr.DataArray, edges: np.ndarray) -> da.Array:
    """Per-integration (flux sum, variance sum) of every bin as an (n, 2 * nbins) dask array, chunked as FLUX."""
    f = da.asarray(flux.data).rechunk({1: -1})
    e = da.asarray(error.data).rechunk(f.chunks)
    nbins = edges.size - 1
    if names.INTEGRATION in wave.dims:
        w = da.asarray(wave.transpose(names.INTEGRATION, names.PIXEL).data).rechunk(f.chunks)
    else:
        w = da.from_array(np.asarray(wave.values, dtype=np.float64)[None, :], chunks=(1, -1))
        w = da.broadcast_to(w, f.shape, chunks=f.chunks)
    return da.map_blocks(_flat_sums, f, e, w, edges, chunks=(f.chunks[0], (2 * nbins,)), dtype=np.float64)


def bin_spectra(
    spectra: xr.Dataset | Sequence[xr.Dataset],
    bins: int | Sequence[float] = 10,
    *,
    method: str = "equal-width",
    min_wavelength: float | None = None,
    max_wavelength: float | None = None,
) -> xr.Dataset:
    """Spectroscopic light curves: spectra summed in wavelength bins, errors propagated (lazy for dask input).

    Parameters
    ----------
    spectra : xarray.Dataset or list of them
        :func:`tso3x.open_products` of a spectroscopic product (or the zarr store), or
        :func:`tso3x.extract_1d` output(s): ``FLUX``/``FLUX_ERROR`` ``(integration, pixel)`` with a
        ``wavelength`` coordinate [micron] (per detector ``_<DET>`` suffixes are binned together).
    bins : int or sequence of float
        Number of bins, or increasing bin edges [micron].
    method : {"equal-width", "equal-flux"}
        How ``bins`` bins divide the range: equal widths in wavelength, or about equal time-averaged flux
        (edges on pixel boundaries; reads the whole FLUX once).
    min_wavelength, max_wavelength : float, optional
        Range divided into bins [micron] (default: every finite wavelength).

    Returns
    -------
    xarray.Dataset
        ``binned_flux`` and ``binned_flux_error`` ``(integration, wavelength_bin)`` [FLUX unit]; coordinates
        ``wavelength_low``, ``wavelength_high``, ``wavelength_center`` [micron] and ``n_pixels`` (pixels of
        the wavelength grid in the bin) along ``wavelength_bin``, and the integration coordinates (times,
        segment) of the input. attrs ``bin_method``.

        Spectra of several orders (NIS_SOSS) give one such set per order, every name suffixed ``_order_<N>``
        (``binned_flux_order_1 (integration, wavelength_bin_order_1)``, ``wavelength_low_order_1``, …) and
        attr ``orders``; ``bins`` bins divide the range of each order's own wavelengths (positive ones: jwst's
        photom marks pixels without a wavelength with -1) within ``min_wavelength``–``max_wavelength``, so
        the bins of an order add up to its white light over that range; an order with no wavelength in that
        range gets ``bins`` empty bins over it (0 flux, 0 pixels; a warning says so).
    """
    if isinstance(spectra, xr.Dataset) and spectra_orders(spectra):
        return _bin_orders(spectra, bins, method, min_wavelength, max_wavelength)
    return _bin_parts(spectra_parts(spectra), bins, method, min_wavelength, max_wavelength)


def _bin_parts(parts: list, bins, method: str, min_wavelength, max_wavelength) -> xr.Dataset:
    """:func:`bin_spectra` of :func:`spectra_parts` binned together."""
    edges = resolve_edges(bins, parts, method, min_wavelength, max_wavelength)
    nbins = edges.size - 1
    ref = parts[0][0]
    total = None
    npix = np.zeros(nbins, dtype=np.int64)
    for flux, err, wave in parts:
        if not np.array_equal(flux[names.INTEGRATION].values, ref[names.INTEGRATION].values):
            raise ValueError("the detectors' spectra cover different integrations; bin them one by one")
        sums = lazy_bin_sums(flux, err, wave, edges)
        total = sums if total is None else total + sums
        idx = bin_index(_grid(wave), edges)
        npix += np.bincount(idx[idx >= 0], minlength=nbins)
    unit = ref.attrs.get("units", "")
    coords = {name: c for name, c in ref.coords.items() if c.dims == (names.INTEGRATION,) or name == names.INTEGRATION}
    coords.update(
        {
            names.WAVELENGTH_LOW: ((names.WAVELENGTH_BIN,), edges[:-1], {"units": "micron", "long_name": "bin start"}),
            names.WAVELENGTH_HIGH: ((names.WAVELENGTH_BIN,), edges[1:], {"units": "micron", "long_name": "bin end"}),
            names.WAVELENGTH_CENTER: (
                (names.WAVELENGTH_BIN,),
                0.5 * (edges[1:] + edges[:-1]),
                {"units": "micron", "long_name": "bin centre"},
            ),
            names.N_PIXELS: ((names.WAVELENGTH_BIN,), npix, {"long_name": "pixels in the bin"}),
        }
    )
    dims = (names.INTEGRATION, names.WAVELENGTH_BIN)
    flux_attrs = {"units": unit, "long_name": "sum of FLUX in the wavelength bin"}
    err_attrs = {"units": unit, "long_name": "quadrature sum of FLUX_ERROR in the wavelength bin"}
    with np.errstate(invalid="ignore"):
        error = da.sqrt(total[:, nbins:]) if isinstance(total, da.Array) else np.sqrt(total[:, nbins:])
    data = {
        names.BINNED_FLUX: (dims, total[:, :nbins], flux_attrs),
        names.BINNED_FLUX_ERROR: (dims, error, err_attrs),
    }
    method_used = "edges" if np.ndim(bins) == 1 else method
    return xr.Dataset(data, coords=coords, attrs={"bin_method": method_used})


#: bin_spectra's names, which get an order's suffix (``binned_flux_order_1``, …)
BINNED_NAMES = (
    names.BINNED_FLUX,
    names.BINNED_FLUX_ERROR,
    names.WAVELENGTH_BIN,
    names.WAVELENGTH_LOW,
    names.WAVELENGTH_HIGH,
    names.WAVELENGTH_CENTER,
    names.N_PIXELS,
)


def _order_range(wave: xr.DataArray, lo: float | None, hi: float | None, label: str) -> tuple[float, float]:
    """``[lo, hi]`` narrowed to an order's positive finite wavelengths [micron]; ``[lo, hi]`` itself (empty bins,
    with a warning) for an order with no wavelength inside it."""
    grid = _grid(wave)
    grid = grid[np.isfinite(grid) & (grid > 0)]
    lo_, hi_ = (float(grid.min()), float(grid.max())) if grid.size else (np.inf, -np.inf)
    lo_ = lo_ if lo is None else max(lo_, float(lo))
    hi_ = hi_ if hi is None else min(hi_, float(hi))
    if hi_ > lo_:
        return lo_, hi_
    if lo is None or hi is None or not float(hi) > float(lo):
        raise ValueError(f"{label}: no wavelength between {lo} and {hi} micron to bin")
    log.warning("%s has no wavelength between %g and %g micron: its bins are empty", label, lo, hi)
    return float(lo), float(hi)


def _bin_orders(ds: xr.Dataset, bins, method: str, lo, hi) -> xr.Dataset:
    """:func:`bin_spectra` of every spectral order of ``ds`` on its own, names suffixed per order."""
    out = []
    for (sfx, label), part in zip(spectra_suffixes(ds), spectra_parts(ds), strict=True):
        rng = (lo, hi) if np.ndim(bins) == 1 else _order_range(part[2], lo, hi, label)
        binned = _bin_parts([part], bins, method, *rng)
        out.append(binned.rename({n: f"{n}{sfx}" for n in BINNED_NAMES}))
    merged = xr.merge(out, join="outer", compat="no_conflicts", combine_attrs="override")
    return merged.assign_attrs({**out[0].attrs, names.ORDERS: spectra_orders(ds)})
