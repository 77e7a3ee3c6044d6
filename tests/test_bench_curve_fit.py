"""The chirp law both estimators fit is chirpgen's, and its robust fit recovers it through outliers."""

from __future__ import annotations

import numpy as np
import pytest

from chirpgen.config import KIND_NAMES
from chirpgen.signal import instantaneous_frequency
from chirploc.curve_fit import curve_hz, fit_curve, huber_weights

U = np.linspace(0.0, 1.0, 40)


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("f0, f1", [(20.4, 47.9), (71.3, 52.6)])
def test_curve_is_chirpgens_law(kind, f0, f1):
    duration_s = 8.7
    np.testing.assert_allclose(curve_hz(kind, U, f0, f1), instantaneous_frequency(kind, U * duration_s, f0, f1, duration_s),
                               rtol=1e-13)


def test_exponential_curve_clamps_nonpositive_frequencies():
    np.testing.assert_allclose(curve_hz("exponential", U, -3.0, 10.0), instantaneous_frequency("exponential", U, 1e-6, 10.0, 1.0))


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_fit_recovers_the_law_and_its_kind(kind):
    f = curve_hz(kind, U, 20.4, 47.9)
    fits = {k: fit_curve(k, U, f, np.ones_like(U)) for k in KIND_NAMES}
    assert fits[kind].f_start_hz == pytest.approx(20.4, abs=1e-6)
    assert fits[kind].f_end_hz == pytest.approx(47.9, abs=1e-6)
    assert min(fits, key=lambda k: fits[k].residual) == kind


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_fit_shrugs_off_outliers(kind):
    rng = np.random.default_rng(1)
    f = curve_hz(kind, U, 20.4, 47.9) + 0.05 * rng.standard_normal(U.size)
    bad = f.copy()
    bad[[3, 17, 30]] += [25.0, -15.0, 30.0]  # three points on another ridge
    robust = fit_curve(kind, U, bad, np.ones_like(U))
    plain = fit_curve(kind, U, bad, np.ones_like(U), n_iter=1)  # one round: ordinary least squares
    assert robust.f_start_hz == pytest.approx(20.4, abs=0.2)
    assert robust.f_end_hz == pytest.approx(47.9, abs=0.2)

    def error(fit):
        return abs(fit.f_start_hz - 20.4) + abs(fit.f_end_hz - 47.9)

    assert error(plain) > 2 * error(robust)


def test_huber_weights():
    resid = np.array([0.1, -0.2, 0.15, -0.1, 0.05, 10.0])
    w = huber_weights(resid)
    assert np.all(w[:5] == 1.0)
    sigma = 1.4826 * np.median(np.abs(resid)) + 1e-9
    assert w[5] == pytest.approx(1.345 * sigma / 10.0)


def test_the_fast_median_and_solve_agree_with_numpy():
    from chirploc.curve_fit import _median, _weighted_solve

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for n in (1, 2, 3, 8, 9, 40):
            x = rng.standard_normal(n).astype(dtype)
            assert _median(x) == np.median(x) and _median(x).dtype == np.median(x).dtype
    for _ in range(20):
        n = int(rng.integers(3, 30))
        u = np.sort(rng.uniform(0, 1, n))
        x, y, ww = np.stack([1 - u, u], 1), rng.normal(30, 5, n), rng.uniform(0.1, 2, n)
        want = np.linalg.lstsq(x * ww[:, None], y * ww, rcond=None)[0]
        np.testing.assert_allclose(_weighted_solve(x, y, ww), want, rtol=1e-9, atol=1e-9)
    same = np.stack([np.ones(4), np.ones(4)], 1)  # singular: lstsq's minimum-norm answer
    np.testing.assert_allclose(_weighted_solve(same, np.full(4, 2.0), np.ones(4)), [1.0, 1.0])


@pytest.mark.parametrize("outliers", [False, True])
@pytest.mark.parametrize("kind", ["linear", "quadratic"])
def test_stopping_at_a_fixed_point_changes_no_answer(kind, outliers):
    from chirploc.curve_fit import _weighted_solve

    rng = np.random.default_rng(5)
    f = curve_hz(kind, U, 22.0, 61.0) + rng.normal(0, 0.3, len(U))
    if outliers:
        f[[3, 17, 30]] += [9.0, -7.0, 12.0]
    w = rng.uniform(0.5, 1.5, len(U))
    g = instantaneous_frequency(kind, U, 0.0, 1.0, 1.0)
    x, robust = np.stack([1.0 - g, g], axis=1), np.ones_like(f)
    for _ in range(8):  # every round, as written in the module Notes
        beta = _weighted_solve(x, f, np.sqrt(w * robust))
        robust = huber_weights(f - x @ beta)
    got = fit_curve(kind, U, f, w, n_iter=8)
    assert (got.f_start_hz, got.f_end_hz) == (beta[0], beta[1])
