"""Classical baselines on clean, high-SNR chirps of each kind: within a bin, a column, right kind."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.baselines import OUTPUT_KEYS, ml_estimate, ridge_estimate, run_baseline
from chirpgen.config import KIND_NAMES, load_config
from chirpgen.signal import chirp_waveform, white_noise
from chirpgen.spectrogram import render_image

CONFIG = load_config("default")
DT_S = CONFIG.stft.hop / CONFIG.signal.sample_rate_hz
DF_HZ = CONFIG.signal.sample_rate_hz / CONFIG.stft.nfft
# (t_start_s, duration_s, f_start_hz, f_end_hz): sweeps large enough to tell the kinds apart, end
# slopes <= 6.3 Hz/s (3 bins per column), so an edge error of a fifth of a column stays within a bin
CASES = [(12.3, 8.7, 20.4, 47.9), (30.05, 7.9, 71.3, 52.6)]


def make_record(kind: str, t0: float, dur: float, f0: float, f1: float, snr_db: float, seed: int):
    sig = CONFIG.signal
    amplitude = np.sqrt(2 * 10 ** (snr_db / 10))
    chirp = chirp_waveform(kind, sig.n_samples, sig.sample_rate_hz, t0, dur, f0, f1, amplitude, 0.7)
    signal = chirp + white_noise(np.random.default_rng(seed), sig.n_samples)
    return signal, render_image(signal, CONFIG)


@pytest.fixture(scope="module")
def records():
    out = []
    for k, kind in enumerate(KIND_NAMES):
        for c, case in enumerate(CASES):
            # 20 dB: at 10 dB the chirp x noise cross term moves a column's energy by ~10-25 %, which
            # can shift an edge by a fraction of a column, i.e. several Hz at a steep end
            out.append((k, case, *make_record(kind, *case, snr_db=20.0, seed=10 * k + c)))
    return out


def check(est: dict, kind: int, case: tuple, f_tol_hz: float, t_tol_s: float) -> None:
    t0, dur, f0, f1 = case
    assert est["kind"] == kind, est
    assert abs(est["f_start_hz"] - f0) < f_tol_hz, est
    assert abs(est["f_end_hz"] - f1) < f_tol_hz, est
    assert abs(est["t_start_s"] - t0) < t_tol_s, est
    assert abs(est["duration_s"] - dur) < t_tol_s, est


def test_ridge_recovers_each_kind(records):
    for kind, case, _, image in records:
        check(ridge_estimate(image, CONFIG), kind, case, f_tol_hz=DF_HZ, t_tol_s=DT_S)


def test_ml_recovers_each_kind_closer_than_ridge(records):
    for kind, case, signal, image in records:
        est = ml_estimate(signal, CONFIG, image=image)
        check(est, kind, case, f_tol_hz=0.2 * DF_HZ, t_tol_s=0.2 * DT_S)


def test_batch_matches_single(records):
    images = np.stack([r[3] for r in records[:3]])
    signals = np.stack([r[2] for r in records[:3]])
    ridge = run_baseline("ridge", images, CONFIG)
    ml = run_baseline("ml", signals, CONFIG)  # images rendered from the signals
    for i in range(3):
        one_ridge = ridge_estimate(images[i], CONFIG)
        one_ml = ml_estimate(signals[i], CONFIG)
        for k in OUTPUT_KEYS:
            assert ridge[k][i] == pytest.approx(one_ridge[k])
            assert ml[k][i] == pytest.approx(one_ml[k])
    assert ridge["kind"].dtype == np.int64 and ridge["t_start_s"].shape == (3,)


def test_noise_only_image_still_returns_finite_values():
    rng = np.random.default_rng(3)
    image = render_image(white_noise(rng, CONFIG.signal.n_samples), CONFIG)
    est = ridge_estimate(image, CONFIG)
    assert all(np.isfinite(est[k]) for k in OUTPUT_KEYS)
    assert 0 <= est["t_start_s"] and est["t_start_s"] + est["duration_s"] <= CONFIG.signal.record_s + 1e-9


def test_bad_input_raises():
    with pytest.raises(ValueError, match="hough"):
        run_baseline("hough", np.zeros((1, 128, 128), np.uint8), CONFIG)
    with pytest.raises(ValueError, match=r"\(64, 64\)"):
        ridge_estimate(np.zeros((64, 64), np.uint8), CONFIG)
    with pytest.raises(ValueError, match="100"):
        ml_estimate(np.zeros(100), CONFIG)
