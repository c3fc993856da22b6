"""NIS_SOSS per-order results (box path): open_products, bin_spectra, the speclc, the zarr store (append
included) and the plots hold one variable set per spectral order, named with the ``_order_<N>`` suffix of jwst's
whtlt (``whitelight_flux_order_1``).

One module-scoped run (SUBSTRIP96, 12 integrations in 2 segments, spec_bins, zarr) serves every test; the
append test runs the first segment, then both, into a second store.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from astropy.table import Table

import tso3x
from tso3x.cli import main

pytestmark = pytest.mark.slow  # whole tso3x runs

SIM = {"nints": 12, "nseg": 2, "seed": 7}
BINS = 4


def _refs(exp) -> dict:
    refs = {f"override_{k}": str(v) for k, v in exp.soss_references.items()}
    return {**refs, "override_area": "N/A"}


@pytest.fixture(scope="module")
def soss(simulated, tmp_path_factory):
    exp = simulated("nis_soss", **SIM)
    out = tmp_path_factory.mktemp("soss-orders")
    products = tso3x.run(
        exp.asn,
        out / "products",
        chunk_mb=0.5,
        soss_atoca=False,
        spec_bins=BINS,
        zarr=out / "s.zarr",
        **_refs(exp),
    )
    return exp, out, products


def _product(products, suffix):
    return next(p for p in products if p.name.endswith(suffix))


def _order_rows(x1d, order: int) -> dict[str, np.ndarray]:
    """Every row of the order's EXTRACT1D tables, sorted by INT_NUM."""
    with fits.open(x1d) as hdul:
        tables = [h.data for h in hdul if h.name == "EXTRACT1D" and h.header["SPORDER"] == order]
        rows = {c: np.concatenate([t[c] for t in tables]) for c in tables[0].names}
    first = np.argsort(rows["INT_NUM"], kind="stable")
    return {c: v[first] for c, v in rows.items()}


def test_products_and_no_warning(soss, caplog):
    _, out, products = soss
    suffixes = [p.name.rsplit("_", 1)[-1] for p in products]
    assert suffixes == ["crfints.fits"] * 2 + ["x1dints.fits", "whtlt.ecsv", "speclc.ecsv", "s.zarr"]
    with caplog.at_level(logging.WARNING):
        ds = tso3x.open_products(out / "products")
    assert "orders" not in caplog.text
    assert ds.attrs["orders"] == [1, 2] and ds.attrs["detectors"] == ["NIS"]


def test_open_products_has_one_variable_set_per_order(soss):
    _, out, products = soss
    ds = tso3x.open_products(out / "products")
    whtlt = Table.read(_product(products, "_whtlt.ecsv"))
    assert "FLUX" not in ds and "whitelight_flux" not in ds
    for order in (1, 2):
        sfx = f"_order_{order}"
        rows = _order_rows(_product(products, "_x1dints.fits"), order)
        np.testing.assert_array_equal(ds.integration, rows["INT_NUM"])
        for col in ("FLUX", "FLUX_ERROR", "NPIXELS", "DQ", "BACKGROUND"):
            np.testing.assert_array_equal(ds[col + sfx].values, rows[col], err_msg=col)
        assert ds["FLUX" + sfx].dims == ("integration", "pixel" + sfx) and ds["FLUX" + sfx].attrs["units"] == "MJy"
        wave = ds["wavelength" + sfx]
        np.testing.assert_array_equal(np.broadcast_to(wave.values, rows["WAVELENGTH"].shape), rows["WAVELENGTH"])
        white = np.asarray(whtlt[f"whitelight_flux_order_{order}"])
        np.testing.assert_array_equal(ds["whitelight_flux" + sfx].values, white)
        assert ds["whitelight_flux_error" + sfx].compute().notnull().all()
    assert ds.sizes["pixel_order_1"] != ds.sizes["pixel_order_2"]  # each order keeps its own length
    lc = tso3x.results.light_curve(ds)
    assert lc.attrs["label"] == "white light order 1"
    np.testing.assert_array_equal(tso3x.results.light_curve(ds, order=2).flux, ds.whitelight_flux_order_2)
    with pytest.raises(ValueError, match="no spectral order 3"):
        tso3x.results.light_curve(ds, order=3)


def _white_light_range(exp) -> tuple[float, float]:
    """The range the run's white light sums [micron]: order 1's WAVELENGTHRANGE row, for every order (jwst)."""
    from tso3x.io.soss_refs import read_wavelengthrange, wavelength_range

    path = exp.soss_references["wavelengthrange"]
    return wavelength_range(read_wavelengthrange(path), 1, "CLEAR", path)


def test_bins_add_up_to_each_order_white_light(soss):
    exp, out, _ = soss
    lo, hi = _white_light_range(exp)
    ds = tso3x.open_products(out / "products", min_wavelength=lo, max_wavelength=hi)
    for method in ("equal-width", "equal-flux"):
        binned = tso3x.bin_spectra(ds, 5, method=method, min_wavelength=lo, max_wavelength=hi).compute()
        assert binned.attrs["orders"] == [1, 2]
        for order in (1, 2):
            sfx = f"_order_{order}"
            assert binned["binned_flux" + sfx].dims == ("integration", "wavelength_bin" + sfx)
            total = binned["binned_flux" + sfx].sum("wavelength_bin" + sfx)
            np.testing.assert_allclose(total, ds["whitelight_flux" + sfx], rtol=1e-12)
            var = (binned["binned_flux_error" + sfx] ** 2).sum("wavelength_bin" + sfx)
            np.testing.assert_allclose(np.sqrt(var), ds["whitelight_flux_error" + sfx], rtol=1e-12)
            low = binned["wavelength_low" + sfx].values
            assert low[0] > 0 and np.all(np.diff(low) > 0)


def test_an_order_outside_the_range_gets_empty_bins(soss, caplog):
    _, out, _ = soss
    ds = tso3x.open_products(out / "products")
    with caplog.at_level(logging.WARNING):
        binned = tso3x.bin_spectra(ds, 3, min_wavelength=2.0, max_wavelength=2.8).compute()
    assert "order 2 has no wavelength between 2 and 2.8 micron: its bins are empty" in caplog.text
    assert binned.n_pixels_order_2.values.tolist() == [0, 0, 0] and (binned.binned_flux_order_2 == 0).all()
    assert (binned.n_pixels_order_1 > 0).all() and binned.wavelength_low_order_1[0] == 2.0


def test_speclc_has_per_order_columns(soss):
    _, out, products = soss
    table = Table.read(_product(products, "_speclc.ecsv"))
    expected = ["integration", "MJD_UTC", "BJD_TDB"]
    for order in (1, 2):
        for k in range(BINS):
            expected += [f"flux_{k:03d}_order_{order}", f"flux_error_{k:03d}_order_{order}"]
    assert table.colnames == expected and len(table) == SIM["nints"]
    assert table.meta["orders"] == [1, 2] and table.meta["number_of_bins_order_2"] == BINS
    assert str(table["flux_000_order_1"].unit) == "MJy" and table.meta["instrument"] == "NIRISS"
    ds = tso3x.open_products(out / "products")
    # the run's bins: the white-light range (WAVELENGTHRANGE, order 1's, as jwst's white_light) narrowed to
    # each order's wavelengths, so each order's bins add up to its whtlt column
    for order in (1, 2):
        sfx = f"_order_{order}"
        np.testing.assert_allclose(ds["binned_flux" + sfx].sum("wavelength_bin" + sfx), ds["whitelight_flux" + sfx])
        lo, hi = table.meta[f"wavelength_low{sfx}"][0], table.meta[f"wavelength_high{sfx}"][-1]
        again = tso3x.bin_spectra(ds, BINS, min_wavelength=lo, max_wavelength=hi).compute()
        np.testing.assert_allclose(np.asarray(table[f"flux_002{sfx}"]), again["binned_flux" + sfx][:, 2], rtol=1e-12)


def test_store_equals_the_folder(soss):
    _, out, _ = soss
    folder = tso3x.open_products(out / "products").compute()
    store = tso3x.open_products(out / "s.zarr").compute()
    assert store.attrs["orders"] == [1, 2] and "n_outliers" in store
    for order in (1, 2):
        sfx = f"_order_{order}"
        for var in ("FLUX", "FLUX_ERROR", "DQ", "NPIXELS", "N_ALONGDISP", "binned_flux", "binned_flux_error"):
            np.testing.assert_array_equal(store[var + sfx].values, folder[var + sfx].values, err_msg=var + sfx)
        np.testing.assert_array_equal(store["wavelength" + sfx], folder["wavelength" + sfx])
        np.testing.assert_allclose(store["whitelight_flux" + sfx], folder["whitelight_flux" + sfx], rtol=1e-12)
        np.testing.assert_array_equal(store["whitelight_flux_error" + sfx], folder["whitelight_flux_error" + sfx])
    np.testing.assert_array_equal(store.mjd_utc_mid, folder.mjd_utc_mid)


def test_store_appends_added_segments(soss, tmp_path):
    exp, out, _ = soss
    data = json.loads(exp.asn.read_text())
    data["products"][0]["members"] = data["products"][0]["members"][:1]
    first = exp.asn.with_name("first_segment_soss_asn.json")
    first.write_text(json.dumps(data))
    store = tmp_path / "grown.zarr"
    kw = {"chunk_mb": 0.5, "soss_atoca": False, "spec_bins": BINS, "zarr": store, **_refs(exp)}
    tso3x.run(first, tmp_path / "a", **kw)
    assert xr.open_zarr(store).sizes["integration"] == SIM["nints"] // 2
    tso3x.run(exp.asn, tmp_path / "b", **kw)
    grown, full = xr.open_zarr(store), xr.open_zarr(out / "s.zarr")
    assert grown.sizes["integration"] == SIM["nints"]
    xr.testing.assert_identical(grown.drop_attrs().compute(), full.drop_attrs().compute())


def test_plots(soss, tmp_path, capsys):
    from test_plot import _check_png

    _, out, _ = soss
    ds = tso3x.open_products(out / "products")
    fig = tso3x.plot.light_curve(ds)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["white light order 1", "white light order 2"]
    _check_png(fig, tmp_path / "lc.png")
    assert len(tso3x.plot.light_curve(ds, order=2).axes) == 2
    fig = tso3x.plot.spectroscopic_light_curves(tso3x.bin_spectra(ds, 3))
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["order 1", "order 2"]
    _check_png(fig, tmp_path / "speclc.png")
    fig = tso3x.plot.waterfall(ds)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["order 1", "order 2"]
    _check_png(fig, tmp_path / "waterfall.png")
    assert main(["plot", str(out / "products"), "--to", str(tmp_path / "png"), "-q"]) == 0
    names = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert names == [
        "light_curve.png",
        "outlier_fraction.png",
        "outlier_maps.png",
        "spectroscopic_light_curves.png",
        "waterfall.png",
    ]
    assert main(["plot", str(out / "s.zarr"), "--to", str(tmp_path / "store_png"), "-q"]) == 0
    assert len(list((tmp_path / "store_png").iterdir())) == 3
