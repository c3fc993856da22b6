"""NIRISS SOSS ATOCA extraction (``soss_atoca=True``) against jwst 3.0.0.

Unit tests compare tso3x's kernels with jwst's own functions on the simulated reference files (wavelength
maps, throughput, line spread, convolution matrices, the detector model and its regularised inverse, the
bad-pixel error estimate). The slow tests run jwst calwebb_tso3 and ``tso3x.run`` on the same SUBSTRIP96
exposure (2 segments × 4 integrations) with ``soss_tikfac`` and ``soss_wave_grid_in`` given, and compare the
x1dints and whtlt (each jwst run module-scoped and shared between asserts).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from astropy.io import fits

from tso3x.io.soss_refs import (
    read_pastasoss,
    read_soss_estimate,
    read_speckernel,
    read_specprofile,
    read_wave_grid,
    write_wave_grid,
)
from tso3x.kernels import atoca_engine, atoca_grid, atoca_kernel, atoca_tikho, soss_atoca, soss_box
from tso3x.steps import soss_extract

S96 = {"nints": 8, "nseg": 2, "seed": 5}
S256 = {"nints": 4, "nseg": 2, "seed": 6, "subarray": "SUBSTRIP256"}
SHAPE = (96, 2048)
#: A wavelength grid for the joint fit of orders 1 and 2 (soss_wave_grid_in): small, so the inverse is quick.
GRID = np.linspace(0.7699, 2.8394, 1500)
TIKFAC = 1e-8


@pytest.fixture(scope="module")
def s96(simulated):
    return simulated("nis_soss", **S96)


@pytest.fixture(scope="module")
def orders(s96):
    """(jwst's DetectorModelOrder list, tso3x's AtocaSetup, column traces) for orders 1 and 2 of segment 1."""
    from jwst.extract_1d.soss_extract.soss_extract import get_ref_file_args
    from stdatamodels.jwst import datamodels

    refs = s96.soss_references
    pwcpos = fits.getval(s96.segments[0], "PWCPOS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "pastasoss": datamodels.PastasossModel(str(refs["pastasoss"])),
            "spec_profiles": datamodels.SpecProfileModel(str(refs["specprofile"])),
            "speckernel": datamodels.SpecKernelModel(str(refs["speckernel"])),
        }
        theirs = get_ref_file_args({**models, "subarray": "SUBSTRIP96", "pwcpos": pwcpos}, [1, 2])
    pastasoss = read_pastasoss(refs["pastasoss"])
    raw = soss_extract.spectraces(pastasoss, pwcpos, "SUBSTRIP96", [1, 2])
    traces = {o: soss_extract.soss_trace.column_trace(t, pastasoss.orders[o].cutoff) for o, t in raw.items()}
    ours = soss_extract.atoca_setup(
        pastasoss,
        raw,
        traces,
        "SUBSTRIP96",
        SHAPE,
        specprofile=read_specprofile(refs["specprofile"], SHAPE),
        speckernel=read_speckernel(refs["speckernel"]),
        grid=GRID,
        tikfac=TIKFAC,
        threshold=1e-2,
        bad_pix="masking",
    )
    return theirs, ours, traces


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_wave_maps_profiles_throughputs_match_jwst(orders):
    theirs, ours, _ = orders
    wave = np.linspace(0.3, 3.2, 400)
    for k in range(2):
        np.testing.assert_array_equal(ours.wave_maps[k], theirs[k].wavemap)
        np.testing.assert_array_equal(ours.profiles[k], theirs[k].specprofile)
        np.testing.assert_array_equal(ours.throughputs[k](wave), theirs[k].throughput(wave))


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_line_spread_and_convolution_match_jwst(orders):
    from jwst.extract_1d.soss_extract.atoca_utils import get_c_matrix

    theirs, ours, _ = orders
    for k in range(2):
        a, b = theirs[k].kernel, ours.line_spreads[k]
        np.testing.assert_array_equal(b.wave_center, a.wave_center)
        np.testing.assert_array_equal(b.poly, a.poly)
        assert b.min_value == a.min_value
        centre = np.full(200, 1.3 - 0.4 * k)
        wave = centre + np.linspace(-0.02, 0.02, 200)
        np.testing.assert_array_equal(b(wave, centre), a(wave, centre))
        expected = get_c_matrix(a, GRID, i_bounds=[40, 700], thresh=a.min_value)
        got = atoca_kernel.convolution_matrix(b, GRID, (40, 700), b.min_value)
        assert got.shape == expected.shape and (got != expected).nnz == 0


def test_constant_kernel_is_a_shifted_identity():
    c = atoca_kernel.convolution_matrix(np.array([1.0]), GRID[:50], (3, 40)).toarray()
    np.testing.assert_array_equal(c, np.eye(50)[3:40])


@pytest.mark.slow  # jwst oracle or the simulated exposure
@pytest.mark.parametrize(("rtol", "max_grid_size", "n_os"), [(1e-4, 20000, 2), (1e-3, 3000, 1)])
def test_adaptive_grid_matches_jwst(orders, s96, rtol, max_grid_size, n_os):
    """The decontamination grid from the soss_estimate (jwst ``make_decontamination_grid``), converged or
    cut by the size limit."""
    from jwst.extract_1d.soss_extract.soss_extract import Integration

    theirs, _, traces = orders
    wave, flux = read_soss_estimate(s96.soss_estimate)
    spline = soss_atoca.estimate_spline(wave, flux)
    integration = Integration.__new__(Integration)
    integration.order_models, integration.order2_separation_cutoff = theirs, (0.77, 0.95)
    expected = integration.make_decontamination_grid(spline, rtol=rtol, max_grid_size=max_grid_size, n_os=n_os)
    got = atoca_grid.decontamination_grid(traces[1][2], traces[2][2], spline, 0.77, rtol, max_grid_size, n_os)
    np.testing.assert_array_equal(got, expected)
    assert got.size <= max_grid_size


def test_oversample_cuts_each_interval():
    np.testing.assert_array_equal(atoca_grid.oversample(np.array([0.0, 1.0, 3.0]), 2), [0.0, 0.5, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(atoca_grid.oversample(np.array([0.0, 1.0, 3.0]), [1, 4]), [0, 1, 1.5, 2, 2.5, 3])


def test_adapt_refines_where_the_integral_is_inaccurate():
    grid = np.linspace(1.0, 2.0, 11)
    fine, converged = atoca_grid.adapt(grid, lambda w: np.exp(-(((w - 1.5) / 0.02) ** 2)) + 1.0, 10000, 1e-6)
    assert converged
    steps = np.diff(fine)
    assert steps[np.abs(fine[:-1] - 1.5) < 0.05].max() < steps[np.abs(fine[:-1] - 1.5) > 0.3].min()


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_first_order_estimate_matches_jwst(orders, s96):
    """Without soss_estimate: the flux estimate from order 1's low-contamination pixels (jwst
    ``estim_flux_first_order``), and order 1's profile as jwst leaves it."""
    import copy

    from jwst.extract_1d.soss_extract.soss_extract import Integration

    from tso3x.kernels import atoca_estimate

    theirs, ours, traces = orders
    theirs = copy.deepcopy(theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = np.nanmean(fits.getdata(s96.segments[0], "SCI"), axis=0).astype(np.float32)
        error = np.nanmedian(fits.getdata(s96.segments[0], "ERR"), axis=0).astype(np.float32)
    scimask = ~np.isfinite(data) | ~np.isfinite(error) | ~(error > 0)
    data[scimask], error[scimask] = 0.0, np.inf
    box = [~(soss_box.box_weights(traces[1][1], 40, SHAPE, traces[1][0]) > 0), np.zeros(SHAPE, bool)]
    integration = Integration.__new__(Integration)
    integration.order_models, integration.mask_trace_profile = theirs, box
    integration.scimask, integration.scidata_bkg, integration.scierr = scimask, data, error
    expected = integration.estim_flux_first_order()
    got = atoca_estimate.first_order_estimate(
        ours.wave_maps[0], ours.profiles[0], ours.throughputs[0], box[0], ours.profiles[1], scimask, data, error
    )
    wave = np.linspace(0.9, 2.8, 500)
    np.testing.assert_array_equal(got(wave), expected(wave))
    clean, _ = atoca_estimate.clean_profile(ours.wave_maps[0], ours.profiles[0])
    np.testing.assert_array_equal(clean, theirs[0].specprofile)


def test_reference_mask_released_only_when_jwst_releases_it():
    codes = np.array([[1, 3, 0, 2]], np.uint8)
    mederr = np.array([[1.0, np.inf, 1.0, np.inf]], np.float32)
    np.testing.assert_array_equal(soss_box.reference_mask(codes, mederr), [[True, True, False, False]])
    mederr[0, 2] = np.inf  # a non-finite median error outside the always-masked pixels
    np.testing.assert_array_equal(soss_box.reference_mask(codes, mederr), [[True, False, False, False]])


def test_ranges_pad_with_minus_one():
    got = atoca_engine._ranges(np.array([2.0, -1.0, 5.0]), np.array([5.0, 0.0, 6.0]))
    np.testing.assert_array_equal(got, [[2, 3, 4], [-1, -1, -1], [5, -1, -1]])
    assert got.dtype == np.int16


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_pixel_wave_bounds_match_jwst():
    from jwst.extract_1d.soss_extract.atoca_utils import get_wave_p_or_m

    wave = np.tile(np.linspace(1.0, 2.0, 30), (4, 1))
    wave[:, :3] = np.nan
    wave[2, 10] = np.nan
    for got, expected in zip(atoca_engine.pixel_wave_bounds(wave), get_wave_p_or_m(wave), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_engine_and_inverse_match_jwst(orders):
    """Masks, grid bounds, convolution and integration-weight matrices, the design matrix with an error map
    and the regularised inverse, all bit-identical to jwst's ExtractionEngine."""
    from jwst.extract_1d.soss_extract.atoca import ExtractionEngine

    theirs, ours, traces = orders
    weights = [soss_box.box_weights(traces[1][1], 40, SHAPE, traces[1][0]), np.ones(SHAPE)]
    box_masks = [~(w > 0) for w in weights]
    scimask = np.zeros(SHAPE, bool)
    scimask[:, :4] = scimask[:, -4:] = True
    scimask[50, 500:505] = True
    error = 2.0 + np.random.default_rng(2).random(SHAPE).astype(np.float32)
    expected = ExtractionEngine(
        [o.wavemap for o in theirs],
        [o.specprofile for o in theirs],
        [o.throughput for o in theirs],
        [o.kernel for o in theirs],
        wave_grid=GRID,
        mask_trace_profile=box_masks,
        global_mask=scimask,
        threshold=1e-2,
        orders=[1, 2],
    )
    got = atoca_engine.build_engine(
        list(ours.wave_maps),
        list(ours.profiles),
        list(ours.throughputs),
        list(ours.line_spreads),
        GRID,
        box_masks,
        scimask,
        1e-2,
    )
    np.testing.assert_array_equal(got.mask, expected.mask)
    assert got.i_bounds == expected.i_bounds
    for k in range(2):
        assert (got.kernels[k] != expected.kernels[k]).nnz == 0
        assert (got.weights[k] != expected.weights[k]).nnz == 0
    inverse, design = expected.precompute_detector_model(np.ones(SHAPE), error, tikfac=TIKFAC)
    ours_design = got.design(error)
    assert (ours_design != design).nnz == 0
    np.testing.assert_array_equal(atoca_engine.normal_inverse(ours_design, got.grid, TIKFAC), inverse)
    # the sparse factorisation tso3x solves with (pickled, as sent to a worker) against jwst's dense inverse
    normal = atoca_engine.normal_matrix(ours_design.T.dot(ours_design), GRID, TIKFAC)
    solver = pickle.loads(pickle.dumps(atoca_engine.NormalSolver(normal)))
    rhs = ours_design.T.dot(np.random.default_rng(1).normal(1.0, 0.1, (ours_design.shape[0], 3)))
    expected_f = inverse.dot(rhs)
    np.testing.assert_allclose(solver.solve(rhs), expected_f, rtol=0, atol=1e-7 * np.abs(expected_f).max())
    np.testing.assert_allclose(solver.solve(rhs[:, 0]), expected_f[:, 0], rtol=0, atol=1e-7 * np.abs(expected_f).max())


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_too_few_pixels_raise_mask_overlap(orders):
    _, ours, _ = orders
    with pytest.raises(atoca_engine.MaskOverlapError):
        atoca_engine.build_engine(
            [ours.wave_maps[0]], [ours.profiles[0]], [ours.throughputs[0]], [None], GRID, [np.ones(SHAPE, bool)]
        )


def _toy_order(ny=12, nx=80, row=6.0, wave0=1.0, dwave=0.01):
    """A small synthetic order: Gaussian profile about ``row``, linear dispersion along x."""
    y = np.arange(ny)[:, None]
    profile = np.exp(-0.5 * ((y - row) / 1.5) ** 2) * np.ones((1, nx))
    profile /= profile.sum(axis=0)
    wave_map = np.tile(wave0 + dwave * np.arange(nx), (ny, 1))
    return wave_map, profile


def test_joint_model_solves_the_regularised_least_squares():
    """The model's flux is the minimum of ‖B f − d/σ‖² + t²‖D f‖² (plain numpy normal equations), and the
    trace models are B_n f (here without line spread)."""
    (w1, p1), (w2, p2) = _toy_order(row=4.0), _toy_order(row=7.0, wave0=1.1, dwave=0.008)
    thru = soss_atoca.Throughput.from_table(np.linspace(0.5, 2.5, 30), np.linspace(0.2, 0.6, 30))
    grid = np.linspace(1.05, 1.7, 150)
    box = [np.zeros(w1.shape, bool)] * 2
    mederr = np.full(w1.shape, 3.0, np.float32)
    model = soss_atoca.joint_model(
        [w1, w2], [p1, p2], [thru, thru], [None, None], grid, box, np.zeros(w1.shape, bool), mederr, 1e-3, 1e-2
    )
    data = np.random.default_rng(3).normal(100.0, 3.0, (2, *w1.shape)).astype(np.float32)
    flux = model.solve(data)
    b = model.design.toarray()
    d = (np.eye(grid.size, k=1) - np.eye(grid.size))[:-1] / np.diff(grid)[:, None]
    for i in range(2):
        y = (data[i] / mederr)[~model.mask]
        expected = np.linalg.solve(b.T @ b + 1e-6 * d.T @ d, b.T @ y)
        np.testing.assert_allclose(flux[:, i], expected, rtol=1e-7, atol=1e-10 * np.abs(expected).max())
    traces = model.models(data)
    assert [t.shape for t in traces] == [data.shape] * 2
    total = np.nan_to_num(traces[0]) + np.nan_to_num(traces[1])
    rebuilt = np.zeros_like(total)
    rebuilt[:, ~model.mask] = (b @ flux).T * 3.0
    # each order is re-projected on its own (narrower) grid, as jwst does: equal away from the orders' ends
    inner = slice(15, 60)
    np.testing.assert_allclose(total[..., inner], rebuilt[..., inner], rtol=1e-9, atol=1e-9 * np.abs(rebuilt).max())


def test_integration_weights_sum_to_the_pixel_width():
    """The weights of a pixel integrate a constant exactly over its wavelength interval, a linear function
    to about its curvature-free trapezoid value."""
    grid = np.linspace(1.0, 2.0, 101)
    wave_m = np.array([1.0213, 1.2, 1.5555, 1.31])
    wave_p = np.array([1.0391, 1.2567, 1.5602, 1.4])
    w, k = atoca_engine.integration_weights(grid, wave_p, wave_m, np.zeros(4, bool))
    np.testing.assert_allclose(np.nansum(w, axis=1), wave_p - wave_m, rtol=1e-12)
    f = 3.0 * grid + 0.5
    got = np.nansum(np.where(k >= 0, w * f[np.clip(k, 0, None)], 0.0), axis=1)
    np.testing.assert_allclose(got, 1.5 * (wave_p**2 - wave_m**2) + 0.5 * (wave_p - wave_m), rtol=1e-2)
    assert np.isnan(w[k < 0]).all()


def test_typical_integration_is_numpys_mean_plus_seed_42_noise():
    """The chunk-by-chunk sum gives numpy's float32 mean along the integrations exactly."""
    rng = np.random.default_rng(7)
    data = rng.normal(50.0, 5.0, (9, 6, 7)).astype(np.float32)
    total = soss_atoca.accumulate(soss_atoca.accumulate(None, data[:4]), data[4:])
    mederr = rng.random((6, 7)).astype(np.float32)
    mederr[0, 0] = np.inf
    expected = np.mean(data, axis=0)
    expected += np.random.default_rng(seed=42).normal(0, mederr * np.sqrt(8 / 9))
    got = soss_atoca.typical_integration(total, 9, mederr)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_best_factor_is_where_the_chi2_starts_rising():
    factors = np.logspace(-12, -4, 10)
    chi2 = 1.0 + 0.5 * (1 + np.tanh(2 * (np.log10(factors) + 7)))
    best = atoca_tikho.best_factor(factors, chi2)
    assert 1e-10 < best < 1e-7
    assert atoca_tikho.best_factor(factors, np.ones(10)) == pytest.approx(1e-4)


def test_nearest_value_error_takes_the_error_of_the_nearest_value():
    err = np.array([[1.0, 2.0, 3.0, 9.0, 9.0]])
    data = np.array([[10.0, 20.0, 30.0, 21.0, 29.0]])
    to_estimate = np.array([[False, False, False, True, True]])
    valid = ~to_estimate
    np.testing.assert_array_equal(
        soss_atoca.nearest_value_error(err, data, to_estimate, valid), [[1.0, 2.0, 3.0, 2.0, 3.0]]
    )


def test_replace_bad_pixels_uses_the_model_where_masked_and_modelled():
    data = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    err = np.full((1, 2, 2), 0.5)
    err[0, 0, 1] = 7.0
    mask = np.array([[[False, True], [True, False]]])
    model = np.array([[[9.0, 3.9], [np.nan, 9.0]]])
    d, e, m = soss_atoca.replace_bad_pixels(data, err, mask, model, np.ones((2, 2)))
    np.testing.assert_array_equal(d, [[[1.0, 3.9], [3.0, 4.0]]])
    np.testing.assert_array_equal(e, [[[0.5, 0.5], [0.5, 0.5]]])
    np.testing.assert_array_equal(m, [[[False, False], [True, False]]])


@pytest.mark.slow  # jwst oracle
def test_tikhonov_tests_match_jwst():
    """Solutions, residuals, Cauchy χ² and the d_chi2 best factor of a small regularised system."""
    from jwst.extract_1d.soss_extract.atoca_utils import Tikhonov
    from scipy.sparse import csr_matrix

    from tso3x.kernels.atoca_engine import derivative_operator

    rng = np.random.default_rng(8)
    grid = np.linspace(1.0, 2.0, 60)
    a = csr_matrix(rng.random((300, 60)) * (rng.random((300, 60)) < 0.1))
    b = csr_matrix(rng.normal(size=300).astype(np.float32))
    t = derivative_operator(grid)
    factors = np.logspace(-4, 2, 10)
    theirs = Tikhonov(a, b, t).test_factors(factors)
    ours = atoca_tikho.TikhonovSystem(a, b, t).test(factors)
    for key in ("solution", "error", "reg"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    chi2 = atoca_tikho.cauchy_chi2(ours["error"])
    np.testing.assert_array_equal(chi2, theirs["chi2_cauchy"])
    assert atoca_tikho.best_factor(factors, chi2) == theirs.best_factor(mode="d_chi2")


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_nearest_value_error_matches_jwst():
    from jwst.extract_1d.soss_extract.soss_boxextract import estim_error_nearest_data

    rng = np.random.default_rng(4)
    data, err = rng.normal(size=(20, 30)), rng.random((20, 30))
    to_estimate = rng.random((20, 30)) < 0.1
    valid = ~to_estimate & (rng.random((20, 30)) < 0.8)
    np.testing.assert_array_equal(
        soss_atoca.nearest_value_error(err, data, to_estimate, valid),
        estim_error_nearest_data(err, data, to_estimate, valid),
    )


def test_decontaminate_subtracts_the_finite_models_of_the_other_orders():
    data = np.ones((1, 2, 2))
    models = [np.full((1, 2, 2), 0.25), np.array([[[0.5, np.nan], [0.5, 0.5]]])]
    np.testing.assert_array_equal(soss_atoca.decontaminate(data, models, 0), [[[0.5, 1.0], [0.5, 0.5]]])
    np.testing.assert_array_equal(soss_atoca.decontaminate(data, models, 1), np.full((1, 2, 2), 0.75))


@pytest.mark.slow  # jwst oracle or the simulated exposure
def test_wave_grid_and_estimate_files(s96, tmp_path):
    from stdatamodels.jwst import datamodels

    from tso3x.errors import Tso3xInputError

    path = tmp_path / "grid.fits"
    datamodels.SossWaveGridModel(wavegrid=GRID).save(str(path))
    np.testing.assert_array_equal(read_wave_grid(path), GRID)
    written = write_wave_grid(tmp_path / "out.fits", GRID[::2])
    with datamodels.SossWaveGridModel(str(written)) as m:
        np.testing.assert_array_equal(m.wavegrid, GRID[::2])
    wave, flux = read_soss_estimate(s96.soss_estimate)
    assert wave.size == flux.size > 4 and np.isfinite(flux).all()
    with pytest.raises(Tso3xInputError, match="soss_estimate is not a spectrum"):
        read_soss_estimate(path)
    with pytest.raises(Tso3xInputError, match="WAVEGRID"):
        read_wave_grid(s96.soss_estimate)


# ---------------------------------------------------------------- parity of whole runs with jwst calwebb_tso3


def _grid_file(tmp_path_factory) -> str:
    from stdatamodels.jwst import datamodels

    path = tmp_path_factory.mktemp("atoca_grid") / "grid.fits"
    datamodels.SossWaveGridModel(wavegrid=GRID).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def s256(simulated):
    return simulated("nis_soss", **S256)


VARIANTS = {
    # SUBSTRIP256 with order 3: the joint fit of orders 1 and 2, then the separate fits of order 2's blue end
    # and of order 3 (their Tikhonov factors searched on the typical integration), soss_tikfac given, bad
    # pixels (and the reference pixels jwst does not model) replaced by the model
    "s256": {"soss_bad_pix": "model", "subtract_background": True},
    # SUBSTRIP96: the Tikhonov factor searched from the soss_estimate, background subtracted, bad pixels
    # modelled (the adaptive grid is compared with jwst's in test_adaptive_grid_matches_jwst: with it, each
    # jwst run here would spend minutes inverting its 5634-point normal matrix)
    "s96_estimated": {"soss_tikfac": None, "subtract_background": True, "soss_bad_pix": "model"},
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def both_runs(request, simulated, tmp_path_factory):
    """(exposure, tso3x products, jwst run, parameters) of one variant, run once for the module."""
    from test_soss_parity import run_both

    exp = simulated("nis_soss", **(S256 if request.param == "s256" else S96))
    params = {"soss_atoca": True, "soss_tikfac": TIKFAC, "soss_wave_grid_in": _grid_file(tmp_path_factory)}
    params.update(VARIANTS[request.param])
    if params["soss_tikfac"] is None:
        params["soss_estimate"] = str(exp.soss_estimate)
    params = {k: v for k, v in params.items() if v is not None}
    ours, oracle = run_both(exp, tmp_path_factory.mktemp(f"atoca_{request.param}"), **params)
    return exp, ours, oracle, params


def relative_differences(ours, theirs) -> dict:
    """Largest |Δ| / |jwst| per (SPORDER, column) over the EXTRACT1D tables, and max |ΔFLUX| / FLUX_ERROR."""
    out = {}
    with fits.open(ours) as a, fits.open(theirs) as b:
        for ha, hb in zip(a, b, strict=True):
            if ha.name != "EXTRACT1D":
                continue
            order = ha.header["SPORDER"]
            for col in ("FLUX", "FLUX_ERROR", "BACKGROUND", "NPIXELS"):
                x, y = np.asarray(ha.data[col], float), np.asarray(hb.data[col], float)
                assert np.array_equal(np.isnan(x), np.isnan(y)), col
                ok = np.isfinite(y) & (y != 0)
                rel = np.abs(x[ok] - y[ok]) / np.abs(y[ok])
                out[(order, col)] = max(out.get((order, col), 0.0), float(rel.max()) if rel.size else 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.abs(np.asarray(ha.data["FLUX"], float) - hb.data["FLUX"]) / hb.data["FLUX_ERROR"]
            out[(order, "dFLUX/FLUX_ERROR")] = max(out.get((order, "dFLUX/FLUX_ERROR"), 0.0), float(np.nanmax(ratio)))
    return out


@pytest.mark.slow
def test_atoca_matches_jwst(both_runs):
    from test_soss_parity import assert_same

    exp, ours, oracle, _ = both_runs
    orders = [1, 2, 3] if exp.segments and "256" in fits.getval(exp.segments[0], "SUBARRAY") else [1, 2]
    assert assert_same(ours, oracle) == orders * 2
    worst = relative_differences(ours[0], oracle.x1dints)
    assert max(worst.values()) <= 1e-6, worst


@pytest.mark.slow
def test_atoca_decontaminates(both_runs, tmp_path):
    """The ATOCA fluxes differ from the box extraction's (the other orders' models are subtracted)."""
    from test_soss_parity import _references

    import tso3x

    exp, ours, _, params = both_runs
    if params.get("soss_tikfac") is None:
        pytest.skip("one variant is enough")
    box = tso3x.run(
        exp.asn,
        tmp_path / "box",
        chunk_mb=0.5,
        soss_atoca=False,
        subtract_background=params.get("subtract_background"),
        **_references(exp, True, True),
    )
    box_x1d = next(p for p in box if p.name.endswith("_x1dints.fits"))
    with fits.open(ours[0]) as a, fits.open(box_x1d) as b:
        for ha, hb in zip(a, b, strict=True):
            if ha.name == "EXTRACT1D":
                with np.errstate(invalid="ignore", divide="ignore"):
                    rel = np.abs(ha.data["FLUX"] - hb.data["FLUX"]) / np.abs(hb.data["FLUX"])
                assert np.nanmax(rel) > 1e-5
