"""The peak track and each law's fit to it (chirploc.track), and its voice in the kind choice."""

from __future__ import annotations

import numpy as np
import pytest

from chirpgen.config import KIND_NAMES, load_config
from chirpgen.signal import chirp_waveform, frequency_law
from chirpgen.spectrogram import render_image
from chirploc.config import ModelConfig
from chirploc.fit import choose_law, refine_on_pixels
from chirploc.track import MIN_COLUMNS, law_residuals, peak_track, track_likelihoods

FRAME = load_config("default")
T0, DUR, F0, F1 = 10.2, 12.0, 20.3, 44.6  # a wide sweep: the laws part by about 6 Hz mid-chirp


def _image(kind: int, noise: float = 1.0, seed: int = 0, t0: float = T0, dur: float = DUR,
           f0: float = F0, f1: float = F1) -> np.ndarray:
    sig = FRAME.signal
    chirp = chirp_waveform(KIND_NAMES[kind], sig.n_samples, sig.sample_rate_hz, t0, dur, f0, f1, 2.0, 0.1)
    return render_image(chirp + noise * np.random.default_rng(seed).standard_normal(sig.n_samples), FRAME)[None]


def _pred(kind: int, t0: float = T0, dur: float = DUR, f0: float = F0, f1: float = F1) -> dict[str, np.ndarray]:
    return {"t_start_s": np.array([t0]), "duration_s": np.array([dur]), "kind": np.array([kind]),
            "f_start_hz": np.array([f0]), "f_end_hz": np.array([f1])}


@pytest.mark.parametrize("kind", range(3))
def test_the_track_follows_the_ridge_between_rows(kind):
    u, y, w = peak_track(_image(kind, noise=0.1), _pred(kind), FRAME)
    inside = w[0] > 0
    assert inside.sum() >= 20  # every column whose window the 12 s chirp fills
    truth = frequency_law(KIND_NAMES[kind], u[0, inside], F0, F1)
    error = np.abs(y[0, inside] - truth)
    assert np.median(error) < 0.15 and error.max() < 0.6, error  # well below one 1 Hz row


@pytest.mark.parametrize("kind", range(3))
def test_each_law_fits_its_own_exact_track_and_not_the_others(kind):
    u = np.linspace(0.0, 1.0, 24)[None]
    y = frequency_law(KIND_NAMES[kind], u, F0, F1)
    residual = law_residuals(u, y, np.ones_like(u))[0]
    assert residual[kind] < 1e-8, residual  # exact for lines; Gauss-Newton converges for the exponential
    others = np.delete(residual, kind)
    assert others.min() > 1.0, residual


def test_columns_beyond_the_chirp_weigh_nothing():
    u = np.linspace(0.0, 1.0, 10)[None]
    y = frequency_law("quadratic", u, 30.0, 50.0)
    w = np.ones_like(u)
    stray = y.copy()
    stray[0, 5:] += 40.0  # nonsense where the weight is 0
    w0 = w.copy()
    w0[0, 5:] = 0.0
    np.testing.assert_allclose(law_residuals(u[:, :5], y[:, :5], w[:, :5]), law_residuals(u, stray, w0), atol=1e-9)


def test_a_short_track_says_nothing():
    image = _image(0, noise=0.1, t0=20.0, dur=1.0, f0=30.0, f1=40.0)  # one or two full columns
    u, y, w = peak_track(image, _pred(0, 20.0, 1.0, 30.0, 40.0), FRAME)
    assert (w > 0).sum() < MIN_COLUMNS
    assert (track_likelihoods(image, _pred(0, 20.0, 1.0, 30.0, 40.0), FRAME) == 0).all()


@pytest.mark.parametrize("kind", range(3))
def test_the_track_chooses_the_law_the_maps_and_brightness_cannot_tell_apart(kind):
    image = _image(kind, seed=kind)
    likelihood = track_likelihoods(image, _pred(kind), FRAME)
    assert likelihood[0].argmax() == kind, likelihood
    pred = {**_pred((kind + 1) % 3), "law_f_hz": np.array([[[F0, F1]] * 3]), "law_score": np.zeros((1, 3))}
    flat = np.zeros((1, 3))
    assert choose_law(pred, pred["law_f_hz"], flat, 1.0, likelihood, 0.1)["kind"][0] == kind
    assert choose_law(pred, pred["law_f_hz"], flat, 1.0, likelihood, 0.0)["kind"][0] == 0  # weight 0: not heard


@pytest.mark.parametrize("kind,other", [(0, 2), (2, 0)])
def test_read_around_a_near_curve_of_another_law_the_track_finds_the_true_one(kind, other):
    f0, f1 = 30.0, 40.0  # linear and exponential part by 0.36 Hz mid-chirp: within the rows searched
    image = _image(kind, seed=7, f0=f0, f1=f1)
    likelihood = track_likelihoods(image, _pred(other, f0=f0, f1=f1), FRAME)
    assert likelihood[0, kind] > likelihood[0, other], likelihood


def test_refine_on_pixels_hears_the_track_only_with_a_weight():
    image = _image(2, seed=5)
    pred = {**_pred(0), "law_f_hz": np.array([[[F0, F1]] * 3]), "law_score": np.array([[0.0, -1e3, -0.5]])}
    assert refine_on_pixels(image, pred, FRAME, 0.0)["kind"][0] == 0  # the maps' first choice
    assert refine_on_pixels(image, pred, FRAME, 0.0, 1.0)["kind"][0] == 2  # the track outweighs half a nat


def test_the_track_weight_is_checked():
    assert ModelConfig(kind_track_weight="0.1").kind_track_weight == 0.1
    with pytest.raises(ValueError, match="kind_track_weight"):
        ModelConfig(kind_track_weight=-1)
