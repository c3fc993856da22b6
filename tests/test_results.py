"""Results API: open_products on every product kind (spectroscopy folder, imaging folder, zarr stores, two
detectors), spectral binning (flux conservation, error propagation), the speclc product, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from astropy.io import fits
from astropy.table import Table

import tso3x
from tso3x.errors import Tso3xInputError
from tso3x.kernels.binning import bin_index, binned_sums
from tso3x.kernels.white_light import flux_sums

SPEC = {"nints": 24, "nseg": 2, "seed": 5, "shape": (32, 64)}


@pytest.fixture(scope="module")
def spectro(simulated, tmp_path_factory):
    exp = simulated("nrs_brightobj", **SPEC)
    out = tmp_path_factory.mktemp("results-spec")
    products = tso3x.run(
        exp.asn, out / "products", chunk_mb=0.05, override_extract1d=exp.extract1d, spec_bins=4, zarr=out / "s.zarr"
    )
    return exp, out, products


@pytest.fixture(scope="module")
def two_detectors(simulated, tmp_path_factory):
    exp = simulated("nrs_brightobj", **SPEC, detectors=("NRS1", "NRS2"))
    out = tmp_path_factory.mktemp("results-nrs12")
    products = tso3x.run(
        exp.asn, out / "products", chunk_mb=0.05, override_extract1d=exp.extract1d, spec_bins=3, zarr=out / "s.zarr"
    )
    return exp, out, products


@pytest.fixture(scope="module")
def imaging(simulated, tmp_path_factory):
    exp = simulated("nrc_tsimage_clear", nints=20, nseg=2, seed=2, shape=(64, 64))
    out = tmp_path_factory.mktemp("results-img")
    products = tso3x.run(exp.asn, out / "products", override_gain=exp.gain, zarr=out / "s.zarr")
    return exp, out, products


def _x1dints_rows(path):
    with fits.open(path) as hdul:
        tables = [h.data for h in hdul if h.name == "EXTRACT1D"]
        rows = {c: np.concatenate([t[c] for t in tables]) for c in tables[0].names}
    order = np.argsort(rows["INT_NUM"])
    return {c: v[order] for c, v in rows.items()}


def _product(products, suffix):
    return next(p for p in products if p.name.endswith(suffix))


@pytest.mark.slow
def test_spectroscopy_folder(spectro):
    exp, out, products = spectro
    ds = tso3x.open_products(out / "products")
    rows = _x1dints_rows(_product(products, "_x1dints.fits"))
    assert ds.attrs["product_kind"] == "spectroscopy" and ds.attrs["detectors"] == ["NRS1"]
    np.testing.assert_array_equal(ds.integration, rows["INT_NUM"])
    for col in ("FLUX", "FLUX_ERROR", "DQ", "NPIXELS"):
        np.testing.assert_array_equal(ds[col].values, rows[col], err_msg=col)
    assert ds.FLUX.dims == ("integration", "pixel") and ds.FLUX.attrs["units"] == "Jy"
    assert ds.DQ.dtype == np.uint32
    assert ds.wavelength.dims == ("pixel",) and ds.wavelength.attrs["units"] == "micron"
    np.testing.assert_array_equal(np.broadcast_to(ds.wavelength.values, rows["WAVELENGTH"].shape), rows["WAVELENGTH"])
    np.testing.assert_array_equal(ds.mjd_utc_mid, rows["MJD-AVG"])
    np.testing.assert_array_equal(ds.bjd_tdb_mid, rows["TDB-MID"])
    assert ds.bjd_tdb_mid.attrs["long_name"].startswith("BJD TDB - 2400000.5")
    assert ds.mjd_utc_start.attrs["units"] == "d"
    np.testing.assert_array_equal(ds.segment, rows["SEGMENT"])
    whtlt = Table.read(_product(products, "_whtlt.ecsv"))
    np.testing.assert_array_equal(ds.whitelight_flux.values, np.asarray(whtlt["whitelight_flux_NRS1"]))
    assert ds.whitelight_flux.attrs["units"] == "Jy"
    # documented: sqrt of the sum of FLUX_ERROR^2 over the pixels of the white light
    use = np.isfinite(rows["FLUX"]) & np.isfinite(rows["FLUX_ERROR"])
    expected = np.sqrt(np.where(use, rows["FLUX_ERROR"] ** 2, 0).sum(axis=1))
    np.testing.assert_allclose(ds.whitelight_flux_error.values, expected, rtol=1e-12)
    assert "FLUX_ERROR" in ds.whitelight_flux_error.attrs["description"]
    # a product file opens its folder's products
    one = tso3x.open_products(_product(products, "_whtlt.ecsv"))
    np.testing.assert_array_equal(one.whitelight_flux, ds.whitelight_flux)


@pytest.mark.slow
def test_spectroscopy_store_equals_folder(spectro):
    _, out, _ = spectro
    folder = tso3x.open_products(out / "products")
    store = tso3x.open_products(out / "s.zarr")
    assert store.attrs["product_kind"] == "spectroscopy"
    assert store.wavelength.dims == ("pixel",)
    for name in ("FLUX", "FLUX_ERROR", "DQ", "whitelight_flux", "binned_flux", "binned_flux_error"):
        np.testing.assert_array_equal(store[name].values, folder[name].values, err_msg=name)
    np.testing.assert_allclose(store.whitelight_flux_error, folder.whitelight_flux_error, rtol=1e-12)
    for coord in ("mjd_utc_mid", "bjd_tdb_mid", "segment", "wavelength", "wavelength_low", "wavelength_high"):
        np.testing.assert_array_equal(store[coord].values, folder[coord].values, err_msg=coord)


@pytest.mark.slow
def test_white_light_error_follows_the_wavelength_range(spectro):
    _, out, _ = spectro
    full = tso3x.open_products(out / "products")
    lo, hi = float(full.wavelength[10]), float(full.wavelength[40])
    part = tso3x.open_products(out / "products", min_wavelength=lo, max_wavelength=hi)
    keep = slice(10, 41)
    expected = np.sqrt((full.FLUX_ERROR.values[:, keep] ** 2).sum(axis=1))
    np.testing.assert_allclose(part.whitelight_flux_error.values, expected, rtol=1e-12)


@pytest.mark.slow
def test_imaging_folder_and_store(imaging):
    exp, out, products = imaging
    ds = tso3x.open_products(out / "products")
    phot = Table.read(_product(products, "_phot.ecsv"))
    assert ds.attrs["product_kind"] == "imaging"
    np.testing.assert_array_equal(ds.integration, np.arange(1, 21))
    np.testing.assert_array_equal(ds.mjd_utc_mid, np.asarray(phot["MJD"]))
    np.testing.assert_array_equal(ds.bjd_tdb_mid, np.asarray(phot["BJD_TDB"]))
    assert "mjd_utc_start" in ds.coords  # from the crfints' INT_TIMES
    for col in ("aperture_sum", "net_aperture_sum", "centroid_x", "psf_width_y"):
        np.testing.assert_array_equal(ds[col].values, np.asarray(phot[col]), err_msg=col)
    assert ds.aperture_sum.attrs["units"] == "Jy" and ds.centroid_x.attrs["units"] == "pix"
    store = tso3x.open_products(out / "s.zarr")
    assert store.attrs["product_kind"] == "imaging"
    for col in ("net_aperture_sum", "mjd_utc_mid", "bjd_tdb_mid"):
        np.testing.assert_array_equal(store[col].values, ds[col].values, err_msg=col)
    lc = tso3x.results.light_curve(ds)
    np.testing.assert_array_equal(lc.flux, ds.net_aperture_sum)
    np.testing.assert_array_equal(lc.flux_error, ds.net_aperture_sum_err)


@pytest.mark.slow
def test_two_detectors(two_detectors):
    _, out, products = two_detectors
    for ds in (tso3x.open_products(out / "products"), tso3x.open_products(out / "s.zarr")):
        assert ds.attrs["detectors"] == ["NRS1", "NRS2"]
        assert {"FLUX_NRS1", "FLUX_NRS2", "whitelight_flux_NRS1", "whitelight_flux_error_NRS2"} <= set(ds.data_vars)
        assert ds.FLUX_NRS2.dims == ("integration", "pixel_NRS2")
        white = ds.whitelight_flux_NRS1 + ds.whitelight_flux_NRS2
        np.testing.assert_allclose(ds.binned_flux.sum("wavelength_bin"), white, rtol=1e-12)
        # bins span both detectors' wavelengths
        assert float(ds.wavelength_low[0]) < float(ds.wavelength_NRS1.max())
        assert float(ds.wavelength_high[-1]) > float(ds.wavelength_NRS2.min())
        rebinned = tso3x.bin_spectra(ds, 3).compute()
        np.testing.assert_allclose(rebinned.binned_flux, ds.binned_flux, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["equal-width", "equal-flux"])
def test_binning_conserves_flux_and_propagates_errors(spectro, method):
    _, out, _ = spectro
    ds = tso3x.open_products(out / "products")
    binned = tso3x.bin_spectra(ds, 5, method=method).compute()
    assert binned.binned_flux.dims == ("integration", "wavelength_bin")
    assert binned.binned_flux.attrs["units"] == "Jy" and binned.wavelength_center.attrs["units"] == "micron"
    assert int(binned.n_pixels.sum()) == int(np.isfinite(ds.wavelength).sum())
    np.testing.assert_allclose(binned.binned_flux.sum("wavelength_bin"), ds.whitelight_flux, rtol=1e-12)
    np.testing.assert_allclose(
        (binned.binned_flux_error**2).sum("wavelength_bin"), ds.whitelight_flux_error**2, rtol=1e-12
    )
    if method == "equal-flux":
        mean = binned.binned_flux.mean("integration").values
        assert mean.max() / mean.min() < 1.5


@pytest.mark.slow
def test_binning_a_sub_range_matches_white_light_rule(spectro):
    _, out, _ = spectro
    ds = tso3x.open_products(out / "products")
    wave = ds.wavelength.values
    lo, hi = wave[7], wave[50]  # edges on pixel wavelengths: both included, as jwst's white_light
    edges = np.linspace(lo, hi, 4)
    binned = tso3x.bin_spectra(ds, edges).compute()
    flux = ds.FLUX.values
    np.testing.assert_allclose(
        binned.binned_flux.sum("wavelength_bin"), flux_sums(flux, np.broadcast_to(wave, flux.shape), lo, hi), rtol=1e-12
    )
    # each bin by hand: [low, high) except the last [low, high]
    err = ds.FLUX_ERROR.values
    for k in range(3):
        inside = (wave >= edges[k]) & ((wave < edges[k + 1]) if k < 2 else (wave <= edges[k + 1]))
        np.testing.assert_allclose(binned.binned_flux[:, k], np.nansum(flux[:, inside], axis=1), rtol=1e-12)
        np.testing.assert_allclose(binned.binned_flux_error[:, k], np.sqrt(np.nansum(err[:, inside] ** 2, axis=1)))


def test_binned_sums_kernel_edges_and_nans():
    wave = np.array([1.0, 1.5, 2.0, 2.5, 3.0, np.nan])
    edges = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(bin_index(wave, edges), [0, 0, 1, 1, 1, -1])
    flux = np.array([[1.0, 2.0, np.nan, 4.0, 8.0, 100.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    err = np.array([[1.0, 1.0, 5.0, np.nan, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    out = binned_sums(flux, err, wave, edges)
    np.testing.assert_array_equal(out[0], [[3.0, 12.0], [2.0, 3.0]])
    np.testing.assert_array_equal(out[1], [[2.0, 4.0], [2.0, 3.0]])  # NaN flux and NaN error add nothing


@pytest.mark.slow
def test_speclc_product(spectro):
    _, out, products = spectro
    path = _product(products, "_speclc.ecsv")
    assert path.parent == out / "products" and not (out / "products" / ".tso3x-tmp").exists()
    table = Table.read(path)
    assert table.colnames[:5] == ["integration", "MJD_UTC", "BJD_TDB", "flux_000", "flux_error_000"]
    assert len(table.colnames) == 3 + 2 * 4 and len(table) == 24
    assert str(table["flux_000"].unit) == "Jy" and str(table["MJD_UTC"].unit) == "d"
    assert table.meta["bin_method"] == "equal-width" and len(table.meta["wavelength_low"]) == 4
    assert table.meta["instrument"] == "NIRSPEC"
    ds = tso3x.open_products(out / "products")
    again = tso3x.bin_spectra(ds, 4).compute()
    np.testing.assert_allclose(np.asarray(table["flux_002"]), again.binned_flux[:, 2], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(table["flux_error_002"]), again.binned_flux_error[:, 2], rtol=1e-12)
    np.testing.assert_array_equal(table.meta["wavelength_high"], again.wavelength_high)
    store = xr.open_zarr(out / "s.zarr")
    np.testing.assert_array_equal(store.binned_flux.values, again.binned_flux.values)


@pytest.mark.parametrize("bad", ["x", "0", "3.0 2.0", [1.0], True])
def test_bad_spec_bins_refused_before_writing(simulated, tmp_path, bad):
    exp = simulated("nrs_brightobj", **SPEC)
    with pytest.raises(Tso3xInputError, match="spec_bins"):
        tso3x.run(exp.asn, tmp_path / "out", override_extract1d=exp.extract1d, spec_bins=bad)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.fits"))


@pytest.mark.slow
def test_cli_spec_bins(simulated, tmp_path):
    from tso3x.cli import main

    exp = simulated("nrs_brightobj", **SPEC)
    rc = main(
        ["-q", "run", str(exp.asn), "--output-dir", str(tmp_path), "--override-extract1d", str(exp.extract1d),
         "--spec-bins", "3.0,3.2,3.4", "--scheduler", "threads"]
    )  # fmt: skip
    assert rc == 0
    table = Table.read(next(tmp_path.glob("*_speclc.ecsv")))
    assert table.meta["bin_method"] == "edges" and table.meta["wavelength_low"] == [3.0, 3.2]


def test_normalize():
    ints = np.arange(1, 11)
    flux = xr.DataArray(np.r_[[10.0] * 3, [9.0] * 4, [10.0] * 3], dims="integration", coords={"integration": ints})
    flux.attrs["units"] = "Jy"
    med = tso3x.normalize(flux)
    assert float(med.median()) == pytest.approx(1.0) and med.attrs["units"] == ""
    oot = tso3x.normalize(flux, "out-of-transit")  # default: first and last quarter
    np.testing.assert_allclose(oot.values, flux.values / 10.0)
    chosen = tso3x.normalize(flux, "out-of-transit", slice(4, 7))
    np.testing.assert_allclose(chosen.values, flux.values / 9.0)
    picked = tso3x.normalize(flux, "median", [1, 2, 9])
    np.testing.assert_allclose(picked.values, flux.values / 10.0)
    err = flux * 0 + 0.5
    np.testing.assert_allclose(tso3x.normalize(err, "out-of-transit", reference=flux).values, 0.05)
    two_d = xr.concat([flux, 2 * flux], dim="wavelength_bin").transpose("integration", "wavelength_bin")
    np.testing.assert_allclose(tso3x.normalize(two_d, "out-of-transit").values[:, 1], flux.values / 10.0)
    with pytest.raises(ValueError, match="baseline"):
        tso3x.normalize(flux, "mean")
    with pytest.raises(ValueError, match="no baseline"):
        tso3x.normalize(flux, "median", slice(50, 60))


def test_open_products_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no calwebb_tso3 products"):
        tso3x.open_products(tmp_path)
    with pytest.raises(FileNotFoundError):
        tso3x.open_products(tmp_path / "missing")
