"""Cramér-Rao bound against its closed form, and the accuracy script's metric helpers."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.accuracy import add_bound_ratios, group_masks, rms, snr_edges
from benchmarks.crb import _phase_gradient, crb_f_hz, crb_f_hz_batch, grid_floor
from chirpgen.config import load_config
from chirpgen.signal import chirp_phase
from chirploc.metrics import evaluate_predictions


def closed_form_linear(fs: float, duration_s: float, snr_db: float) -> float:
    n = round(fs * duration_s)
    return np.sqrt(192.0 / (n * 10 ** (snr_db / 10))) / (2 * np.pi * duration_s)


@pytest.mark.parametrize("fs, duration_s, f0, f1, snr_db", [(200.0, 1.0, 20.0, 40.0, 0.0), (256.0, 8.0, 60.0, 35.0, -7.0)])
def test_linear_bound_matches_closed_form(fs, duration_s, f0, f1, snr_db):
    s0, s1 = crb_f_hz("linear", fs, duration_s, f0, f1, snr_db)
    expected = closed_form_linear(fs, duration_s, snr_db)
    assert s0 == pytest.approx(expected, rel=0.03)
    assert s1 == pytest.approx(expected, rel=0.03)


def test_reference_value():
    assert crb_f_hz("linear", 200.0, 1.0, 20.0, 40.0, 0.0)[0] == pytest.approx(0.155, abs=0.002)


@pytest.mark.parametrize("kind", ["linear", "quadratic", "exponential"])
@pytest.mark.parametrize("f0, f1", [(20.0, 45.0), (60.0, 35.0)])
def test_bound_scales_as_one_over_sqrt_snr(kind, f0, f1):
    lo = np.array(crb_f_hz(kind, 256.0, 3.0, f0, f1, -5.0))
    hi = np.array(crb_f_hz(kind, 256.0, 3.0, f0, f1, 15.0))
    assert np.all(np.isfinite(lo)) and np.all(lo > 0)
    np.testing.assert_allclose(lo / hi, np.sqrt(100.0), rtol=1e-6)


def test_slowly_moving_end_is_better_determined():
    # quadratic (vertex at the start): f moves slowly near the start
    q0, q1 = crb_f_hz("quadratic", 200.0, 1.0, 20.0, 40.0, 0.0)
    assert 1.5 < q1 / q0 < 4
    # exponential rising: slow at the start; falling: slow at the end
    e0, e1 = crb_f_hz("exponential", 200.0, 1.0, 20.0, 40.0, 0.0)
    assert e1 / e0 > 1.3
    e0, e1 = crb_f_hz("exponential", 200.0, 1.0, 40.0, 20.0, 0.0)
    assert e0 / e1 > 1.3


@pytest.mark.parametrize("kind", ["linear", "quadratic", "exponential"])
def test_phase_gradient_matches_finite_differences(kind):
    tau = np.linspace(0.0, 2.0, 101)
    f0, f1, dur, h = 30.0, 50.0, 2.0, 1e-4
    d0, d1 = _phase_gradient(kind, tau, f0, f1, dur)
    num0 = (chirp_phase(kind, tau, f0 + h, f1, dur) - chirp_phase(kind, tau, f0 - h, f1, dur)) / (2 * h)
    num1 = (chirp_phase(kind, tau, f0, f1 + h, dur) - chirp_phase(kind, tau, f0, f1 - h, dur)) / (2 * h)
    np.testing.assert_allclose(d0, num0, atol=1e-5 * np.max(np.abs(num0)))
    np.testing.assert_allclose(d1, num1, atol=1e-5 * np.max(np.abs(num1)))


def test_batch_matches_single():
    kinds = np.array([0, 1, 2])
    dur = np.array([1.5, 4.0, 9.0])
    f0, f1 = np.array([10.0, 50.0, 80.0]), np.array([30.0, 25.0, 70.0])
    snr = np.array([-3.0, 0.0, 6.0])
    b0, b1 = crb_f_hz_batch(kinds, 256.0, dur, f0, f1, snr)
    for i in range(3):
        assert (b0[i], b1[i]) == pytest.approx(crb_f_hz(int(kinds[i]), 256.0, dur[i], f0[i], f1[i], snr[i]))


@pytest.mark.parametrize("kwargs", [{"kind": "sine"}, {"kind": 3}, {"duration_s": 0.0}, {"duration_s": 0.01}])
def test_bad_input_raises(kwargs):
    args = {"kind": "linear", "sample_rate_hz": 200.0, "duration_s": 1.0, "f_start_hz": 20.0,
            "f_end_hz": 40.0, "snr_db": 0.0, **kwargs}
    with pytest.raises(ValueError, match=str(kwargs[next(iter(kwargs))])):
        crb_f_hz(**args)


def test_grid_floor_default_frame():
    floor = grid_floor(load_config("default"))
    assert floor["time_s"] == pytest.approx(120 / 256 / np.sqrt(12))
    assert floor["freq_hz"] == pytest.approx(1 / np.sqrt(12))


def test_snr_edges_and_rms():
    assert snr_edges((-10.0, 10.0), 5.0) == [-10.0, -5.0, 0.0, 5.0, 10.0]
    assert snr_edges((-10.0, 8.0), 5.0) == [-10.0, -5.0, 0.0, 5.0, 8.0]
    assert rms(np.array([3.0, 4.0])) == pytest.approx(np.sqrt(12.5))
    assert np.isnan(rms(np.array([])))
    with pytest.raises(ValueError, match="step_db=0"):
        snr_edges((-10.0, 10.0), 0.0)


def test_bound_ratio_on_known_inputs():
    true = {"kind": np.array([0, 0, 1, 1]), "t_start_s": np.zeros(4), "duration_s": np.ones(4),
            "f_start_hz": np.full(4, 10.0), "f_end_hz": np.full(4, 20.0)}
    pred = {**true, "f_start_hz": true["f_start_hz"] + np.array([0.3, -0.4, 0.0, 0.0]),
            "f_end_hz": true["f_end_hz"] + np.array([0.1, 0.1, 1.0, -1.0])}
    snr = np.array([-8.0, -2.0, -8.0, 3.0])
    edges = [-10.0, 0.0, 10.0]
    stats = evaluate_predictions(pred, true, snr, edges)
    masks = group_masks(true["kind"], snr, edges)
    crb = {"f_start_hz": np.array([0.1, 0.1, 0.2, 0.2]), "f_end_hz": np.array([0.05, 0.05, 0.5, 0.5])}
    add_bound_ratios(stats, masks, crb)
    lin = stats["per_kind"]["linear"]
    assert lin["f_start_hz"]["rmse"] == pytest.approx(np.sqrt(0.125))
    assert lin["f_start_hz"]["crb"] == pytest.approx(0.1)
    assert lin["f_start_hz"]["rmse_over_crb"] == pytest.approx(np.sqrt(0.125) / 0.1)
    assert stats["overall"]["f_end_hz"]["crb"] == pytest.approx(np.sqrt((2 * 0.05**2 + 2 * 0.5**2) / 4))
    assert stats["per_kind_snr"]["quadratic"]["-10..0 dB"]["f_end_hz"]["rmse_over_crb"] == pytest.approx(2.0)
    for name, mask in masks["per_snr"].items():
        assert stats["per_snr"][name]["n"] == mask.sum()
