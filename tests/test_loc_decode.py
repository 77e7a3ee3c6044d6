"""The decode's pixel evidence and the ridge tracker's second opinion (chirploc.decode)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chirpgen.config import TARGETS, load_config
from chirpgen.sample import make_sample
from chirpgen.spectrogram import render_image
from chirploc.config import ModelConfig
from chirploc.decode import curve_evidence, second_opinion

CLEAR = load_config("default", overrides=["signal.snr_db=[8, 10]"])  # plainly visible chirps


def _truth(samples) -> dict[str, np.ndarray]:
    return {**{t: np.array([getattr(s.params, t) for s in samples]) for t in TARGETS},
            "kind": np.array([s.params.kind for s in samples], dtype=np.int64)}


@pytest.fixture(scope="module")
def clear():
    samples = [make_sample(CLEAR, 5, "test", i) for i in range(12)]
    return np.stack([s.image for s in samples]), _truth(samples)


def _moved(pred: dict[str, np.ndarray], hz: float) -> dict[str, np.ndarray]:
    """``pred`` with both frequencies moved by ``hz`` (towards the middle of the band), its edges kept."""
    sign = np.where(pred["f_start_hz"] < 50, 1.0, -1.0)
    return {**pred, "f_start_hz": pred["f_start_hz"] + sign * hz, "f_end_hz": pred["f_end_hz"] + sign * hz}


def test_evidence_is_large_on_the_chirp_and_small_beside_it(clear):
    images, truth = clear
    on, bound = curve_evidence(images, truth, CLEAR)
    beside, bound_beside = curve_evidence(images, _moved(truth, 25.0), CLEAR)
    assert on.min() > 30, on
    assert np.abs(beside).max() < 6, beside
    assert (on <= bound + 1e-9).all() and (on > 0.8 * bound).all()  # the true curve is nearly the best path
    np.testing.assert_allclose(bound_beside, bound)  # the same edges: the same best path


def test_evidence_of_a_curve_through_noise_alone_is_about_standard_normal():
    noise = load_config("default")
    images = render_image(np.stack([make_sample(noise, 3, "test", i).noise for i in range(40)]), noise)
    rng = np.random.default_rng(0)
    curves = {"t_start_s": rng.uniform(0, 45, 40), "duration_s": rng.uniform(1, 15, 40),
              "f_start_hz": rng.uniform(5, 95, 40), "f_end_hz": rng.uniform(5, 95, 40),
              "kind": rng.integers(0, 3, 40)}
    z, _ = curve_evidence(images, curves, noise)
    assert abs(z.mean()) < 0.6 and 0.5 < z.std() < 1.6, (z.mean(), z.std())


def test_a_well_supported_fit_is_kept_without_asking_the_ridge(clear):
    images, truth = clear
    out = second_opinion(images, truth, CLEAR, gate_z=30.0, gate_columns=0.0)
    assert not out["ridge"].any()
    for t in TARGETS:
        np.testing.assert_array_equal(out[t], truth[t])
    assert (out["evidence"] > 30).all()


def test_the_ridge_answers_where_the_fit_missed_the_chirp(clear):
    images, truth = clear
    wrong = _moved(truth, 25.0)
    out = second_opinion(images, wrong, CLEAR, gate_z=30.0)
    assert out["ridge"].all()
    assert np.median(np.abs(out["f_start_hz"] - truth["f_start_hz"])) < 1.0
    assert np.median(np.abs(out["t_start_s"] - truth["t_start_s"])) < 0.3
    assert (out["evidence"] > 30).all()
    # a gate below every evidence never asks: the fit's labels stay, however wrong
    kept = second_opinion(images, wrong, CLEAR, gate_z=-1e9, gate_share=0.0, gate_columns=0.0)
    assert not kept["ridge"].any()
    np.testing.assert_array_equal(kept["f_start_hz"], wrong["f_start_hz"])


def test_a_fit_beside_part_of_a_plain_chirp_is_checked_by_the_ridge(clear):
    images, truth = clear
    long = truth["duration_s"] > 4  # long enough that its first half alone is plain evidence
    images, truth = images[long], {k: v[long] for k, v in truth.items()}
    half = {**truth, "kind": np.zeros_like(truth["kind"]),  # a line from the true start to 30 Hz beside the end
            "f_end_hz": truth["f_end_hz"] + np.where(truth["f_end_hz"] < 50, 30.0, -30.0)}
    evidence, bound = curve_evidence(images, half, CLEAR)
    assert (evidence > 30).all() and (evidence < 0.8 * bound).all(), (evidence, bound)
    assert not second_opinion(images, half, CLEAR, gate_z=30.0, gate_share=0.0)["ridge"].any()
    out = second_opinion(images, half, CLEAR, gate_z=30.0, gate_share=0.8)
    assert out["ridge"].all()
    assert np.median(np.abs(out["f_end_hz"] - truth["f_end_hz"])) < 1.0


def test_the_ridge_answer_stays_inside_the_frame_ranges(clear):
    images, truth = clear
    out = second_opinion(images, _moved(truth, 25.0), CLEAR, gate_z=1e9)  # always asked
    lo, hi = CLEAR.signal.freq_hz
    assert ((out["f_start_hz"] >= lo) & (out["f_start_hz"] <= hi)).all()
    assert ((out["duration_s"] >= CLEAR.signal.duration_s[0]) & (out["duration_s"] <= CLEAR.signal.duration_s[1])).all()


def test_the_gates_are_checked():
    assert ModelConfig(ridge_gate_z="-5").ridge_gate_z == -5.0
    with pytest.raises(ValueError, match="ridge_gate_z"):
        dataclasses.replace(ModelConfig(), ridge_gate_z=float("inf"))
    with pytest.raises(ValueError, match="ridge_gate_share"):
        ModelConfig(ridge_gate_share=1.5)


def test_weak_curves_are_pulled_to_the_middle_by_their_evidence():
    from chirploc.fit import FALLBACK_EVIDENCE_OFF, PULLED, FitPriors, apply_fallback

    pred = {"t_start_s": np.array([3.0, 3.0, 3.0, 3.0]), "duration_s": np.full(4, 2.0),
            "f_start_hz": np.full(4, 10.0), "f_end_hz": np.full(4, 20.0), "kind": np.zeros(4, np.int64),
            "p_chirp": np.array([0.9, 0.9, 0.9, 0.6]), "evidence": np.array([60.0, 10.0, -20.0, 60.0])}
    priors = FitPriors.from_frame(CLEAR, fallback_p_chirp=0.8, fallback_evidence=10.0)
    middle = priors.middle()
    out = apply_fallback(pred, priors)
    np.testing.assert_allclose(out["trust"], [1.0, 0.5, 0.0, 1.0], atol=1e-9)
    for k in PULLED:
        assert out[k][0] == pytest.approx(pred[k][0], abs=1e-9)  # strong: the fit
        assert out[k][1] == pytest.approx(0.5 * (pred[k][1] + middle[k]))  # at Z0: half and half
        assert out[k][2] == pytest.approx(middle[k], abs=1e-9)  # far below: the middle
    np.testing.assert_array_equal(out["duration_s"][:3], pred["duration_s"][:3])  # the duration keeps the fit's
    assert out["fallback"].tolist() == [False, False, False, True]  # unsure p_chirp: every label the middle
    assert out["duration_s"][3] == middle["duration_s"] and out["t_start_s"][3] == middle["t_start_s"]
    off = apply_fallback(pred, FitPriors.from_frame(CLEAR, fallback_evidence=FALLBACK_EVIDENCE_OFF))
    for k in PULLED:
        np.testing.assert_array_equal(off[k], pred[k])  # off: exactly the fit
    assert "trust" not in apply_fallback({k: v for k, v in pred.items() if k != "evidence"}, priors)


def test_the_evidence_fallback_is_read_from_the_model_config():
    from chirploc.fit import FitPriors

    assert FitPriors.from_model(CLEAR, {"fallback_evidence": 9.5, "kind_track_weight": 0.1}).fallback_evidence == 9.5
    assert ModelConfig(fallback_evidence="12").fallback_evidence == 12.0
    with pytest.raises(ValueError, match="fallback_evidence"):
        ModelConfig(fallback_evidence=float("nan"))


def test_short_chirps_are_checked_by_the_ridge_whatever_their_evidence():
    short = load_config("default", overrides=["signal.snr_db=[8, 10]", "signal.duration_s=[1.5, 3.5]"])
    samples = [make_sample(short, 9, "test", i) for i in range(8)]
    images, truth = np.stack([s.image for s in samples]), _truth(samples)
    off = _moved(truth, 2.0)  # beside the ridge: less evidence than the ridge tracker's curve
    quiet = second_opinion(images, off, short, gate_z=-1e9, gate_share=0.0, gate_columns=0.0)
    assert not quiet["ridge"].any()  # every gate off: the fit stands
    asked = second_opinion(images, off, short, gate_z=-1e9, gate_share=0.0, gate_columns=8.5)
    assert asked["ridge"].mean() >= 0.75, asked["ridge"]
    taken = asked["ridge"]
    assert np.median(np.abs(asked["f_start_hz"][taken] - truth["f_start_hz"][taken])) < 1.0
    longer = second_opinion(images, off, short, gate_z=-1e9, gate_share=0.0, gate_columns=2.0)
    assert not longer["ridge"].any()  # none shorter than 2 columns (0.94 s)
    right = second_opinion(images, truth, short, gate_z=-1e9, gate_share=0.0, gate_columns=8.5)
    for key, tolerance in (("f_start_hz", 0.5), ("f_end_hz", 0.5), ("t_start_s", 0.2)):
        # on smeared short chirps a curve near the true one can gather a little more evidence: the
        # ridge may replace a right fit by a near one, not by a wrong one
        assert np.median(np.abs(right[key] - truth[key])) < tolerance, key
    with pytest.raises(ValueError, match="ridge_gate_columns"):
        ModelConfig(ridge_gate_columns=-1)
