"""chromatic-lightcurves (the exoplanet community's reader of jwst products) on jwst's x1dints and ours.

chromatic 0.5's ``x1dints`` reader expects the pre-3.0 layout (one EXTRACT1D extension per integration,
INT_NUM in its header). jwst 3.0 writes one EXTRACT1D *table* per segment (rows = integrations, INT_NUM a
column), so the reader fails on jwst's own 3.0 product, and identically on ours (``KeyError: INT_NUM``; the
``x1dints_kludge`` reader fails too). What chromatic can do with either product is build a ``Rainbow`` from
arrays: through :func:`tso3x.open_products` both products give the same Rainbow.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tso3x

chromatic = pytest.importorskip("chromatic")
pytest.importorskip("jwst")
import astropy.units as u  # noqa: E402

pytestmark = pytest.mark.slow  # jwst oracle (calwebb_tso3) and whole runs

SIM = {"nints": 20, "nseg": 2, "seed": 3, "shape": (32, 128)}  # as test_extract_parity: the oracle run is shared


@pytest.fixture(scope="module")
def both(tso3_oracle, tmp_path_factory):
    oracle = tso3_oracle("nrs_brightobj", **SIM)
    exp = oracle.exposure
    out = tmp_path_factory.mktemp("chromatic")
    products = tso3x.run(exp.asn, out, chunk_mb=0.05, override_extract1d=exp.extract1d)
    ours = next(p for p in products if p.name.endswith("_x1dints.fits"))
    return oracle.one("x1dints"), ours


def _read(path, fmt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return chromatic.Rainbow(str(path), format=fmt)


@pytest.mark.parametrize(
    "fmt, error, match", [("x1dints", KeyError, "INT_NUM"), ("x1dints_kludge", ValueError, "broadcast")]
)
def test_chromatic_reader_fails_on_the_3_0_layout_of_jwst_and_tso3x_alike(both, fmt, error, match):
    """Documents chromatic's limit: if a future chromatic reads the 3.0 layout, this test says so."""
    theirs, ours = both
    for path in (theirs, ours):
        with pytest.raises(error, match=match):
            _read(path, fmt)


def _rainbow(path):
    ds = tso3x.open_products(path).compute()
    return chromatic.Rainbow(
        wavelength=ds.wavelength.values * u.micron,
        time=(ds.bjd_tdb_mid.values + 2400000.5) * u.day,
        flux=ds.FLUX.values.T * u.Jy,
        uncertainty=ds.FLUX_ERROR.values.T * u.Jy,
    )


def test_same_rainbow_from_jwst_and_tso3x_products(both):
    theirs, ours = both
    a, b = _rainbow(theirs), _rainbow(ours)
    assert a.shape == b.shape == (128, 20)
    np.testing.assert_array_equal(a.wavelength, b.wavelength)
    np.testing.assert_array_equal(a.time, b.time)
    finite = np.isfinite(a.flux)
    np.testing.assert_array_equal(finite, np.isfinite(b.flux))
    np.testing.assert_allclose(b.flux[finite], a.flux[finite], rtol=1e-6)
    np.testing.assert_allclose(b.uncertainty[finite], a.uncertainty[finite], rtol=1e-6)
    white_a = tso3x.open_products(theirs).whitelight_flux.values
    white_b = tso3x.open_products(ours).whitelight_flux.values
    np.testing.assert_allclose(white_b, white_a, rtol=1e-6)
    binned_a = a.normalize().bin(R=20)
    binned_b = b.normalize().bin(R=20)
    np.testing.assert_allclose(binned_b.flux, binned_a.flux, rtol=1e-6)
