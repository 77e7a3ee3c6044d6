"""Classical baselines on clean, high-SNR chirps of each kind: within a bin, a column, right kind.

Also: both estimators use chirpgen's chirp laws (not copies of them), and their outputs are the
targets of chirpgen.config.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.baselines import OUTPUT_KEYS, run_baseline
from benchmarks.ml import _clamped_phase, _neg_j, ml_core, ml_estimate, unit_sweep_phase
from chirpgen.config import KIND_NAMES, TARGETS, GenConfig, load_config
from chirpgen.sample import make_sample
from chirpgen.signal import chirp_phase, chirp_waveform, white_noise
from chirpgen.spectrogram import image_axes, render_image
from chirploc.ridge import Estimate, ImageGrid, ridge_core, ridge_estimate

CONFIG = load_config("default")
DT_S = CONFIG.column_s
DF_HZ = CONFIG.bin_hz
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


def test_outputs_are_the_targets_of_chirpgen():
    assert OUTPUT_KEYS == Estimate._fields == ("kind", *TARGETS)
    image = render_image(white_noise(np.random.default_rng(0), CONFIG.signal.n_samples), CONFIG)
    assert tuple(ridge_estimate(image, CONFIG)) == OUTPUT_KEYS


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("f0, f1", [(20.0, 47.0), (71.3, 52.6), (30.0, 30.0)])
def test_ml_phase_is_chirpgens(kind, f0, f1):
    tau, dur = np.linspace(0.0, 7.9, 301), 7.9
    np.testing.assert_array_equal(_clamped_phase(kind, tau, f0, f1, dur), chirp_phase(kind, tau, f0, f1, dur))
    # the grid search's dechirping phase: phi = 2 pi f0 tau + (f1 - f0) * phase per Hz of sweep
    per_hz = unit_sweep_phase(kind, tau, dur, f1 / f0)
    np.testing.assert_allclose(2 * np.pi * f0 * tau + (f1 - f0) * per_hz, chirp_phase(kind, tau, f0, f1, dur),
                               rtol=1e-9, atol=1e-9)


def test_ml_objective_peaks_at_the_true_frequencies():
    from benchmarks.ml import Segment

    tau, dur = np.arange(0, 2048) / 256.0, 8.0
    for kind in KIND_NAMES:
        seg = Segment(np.cos(0.4 + chirp_phase(kind, tau, 20.0, 45.0, dur)), tau, dur)
        at_truth = _neg_j(np.array([20.0, 45.0]), kind, seg)
        for shift in ([0.3 / dur, 0.0], [0.0, 0.3 / dur], [-0.3 / dur, 0.0]):
            assert at_truth < _neg_j(np.array([20.0, 45.0]) + shift, kind, seg)
        assert at_truth == pytest.approx(-len(tau) / 2, rel=0.01)  # J = 2 |S|^2 / N = N A^2 / 2


def test_ml_exponential_phase_survives_nonpositive_trial_frequencies():
    tau = np.linspace(0.0, 1.0, 11)
    assert np.all(np.isfinite(_clamped_phase("exponential", tau, -2.0, 0.0, 1.0)))


def test_image_grid_follows_the_config():
    d = CONFIG.to_dict()
    d["stft"].update(hop=240, freq_bins=110)  # (110, 64) images: nothing hard-wired to 128 x 128
    for config in (CONFIG, load_config("audio"), GenConfig.from_dict(d)):
        grid = ImageGrid(config)
        assert (grid.column_s, grid.bin_hz) == (config.column_s, config.bin_hz)
        np.testing.assert_array_equal(grid.times_s, image_axes(config)[1])
        assert grid.n_cols == config.image_shape[1] and grid.rows[-1] < config.image_shape[0]
        lo_hz, hi_hz = config.signal.freq_hz
        assert grid.row_hz(0) <= lo_hz and grid.row_hz(len(grid.rows) - 1) >= hi_hz
        assert grid.row_hz(0) == grid.rows[0] * grid.bin_hz
        np.testing.assert_allclose(grid.hz_row(grid.row_hz(np.array([0.0, 2.5, 7.25]))), [0.0, 2.5, 7.25])
        everything, _ = grid.coverage(-1.0, config.signal.record_s + 1.0)
        np.testing.assert_allclose(everything, 1.0)
        # a span of whole windows covers the columns inside it fully, those outside not at all
        first, last = 5, 9
        frac, _ = grid.coverage(grid.first_sample[first] / grid.sample_rate_hz,
                                (grid.first_sample[last] + len(grid.window) - 1) / grid.sample_rate_hz)
        np.testing.assert_allclose(frac[0, first : last + 1], 1.0)
        assert np.all(frac[0, last + 1 + len(grid.window) // config.stft.hop :] == 0.0)


@pytest.fixture(scope="module", params=["default", "audio"])
def drawn(request):
    """A few dozen 5-10 dB samples of a preset: a frame of 1 Hz bins and one of 62.5 Hz bins."""
    config = load_config(request.param, overrides=["signal.snr_db=[5, 10]"])
    return config, [make_sample(config, 0, "test", i) for i in range(30)]


def median_errors(estimates: list[Estimate], samples: list) -> dict[str, float]:
    """Median absolute error per target, and the kind accuracy, of ``estimates`` against the labels."""
    pairs = list(zip(estimates, samples, strict=True))
    out = {t: float(np.median([abs(getattr(e, t) - getattr(s.params, t)) for e, s in pairs])) for t in TARGETS}
    return {**out, "kind": float(np.mean([e.kind == s.params.kind for e, s in pairs]))}


def test_ridge_works_in_hz_on_any_frame(drawn):
    # the fit, the tracking search and the band energy all read the curve in Hz: with rows in place
    # of Hz the audio frame's search sat ~50 bins off (median f_start error ~3 kHz, kind at chance)
    config, samples = drawn
    grid = ImageGrid(config)
    err = median_errors([ridge_core(s.image, grid).estimate for s in samples], samples)
    assert err["f_start_hz"] < config.bin_hz and err["f_end_hz"] < config.bin_hz, err
    assert err["t_start_s"] < config.column_s and err["duration_s"] < config.column_s, err
    assert err["kind"] >= 0.7, err  # chance is 1/3


def test_ml_started_from_ridge_works_on_any_frame(drawn):
    config, samples = drawn
    samples = samples[:10]
    grid = ImageGrid(config)
    err = median_errors([ml_core(s.signal, s.image, grid) for s in samples], samples)
    assert err["f_start_hz"] < 0.1 * config.bin_hz and err["f_end_hz"] < 0.1 * config.bin_hz, err
    assert err["t_start_s"] < 0.1 * config.column_s, err
    assert err["kind"] >= 0.7, err
