"""chirpgen.signal and chirpgen.sample checked against the mathematics."""

import numpy as np
import pytest

from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, load_config
from chirpgen.sample import draw_params, has_chirp, make_sample, sample_rng
from chirpgen.signal import chirp_phase, chirp_waveform, instantaneous_frequency, pink_noise, white_noise
from chirpgen.spectrogram import render_image


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("f0, f1", [(5.0, 35.0), (80.0, 52.5), (20.0, 20.0)])
def test_phase_derivative_is_instantaneous_frequency(kind, f0, f1):
    duration = 7.3
    tau = np.linspace(0.01, duration - 0.01, 400)
    h = 1e-5
    numeric_hz = (chirp_phase(kind, tau + h, f0, f1, duration) - chirp_phase(kind, tau - h, f0, f1, duration)) / (
        2 * h * 2 * np.pi
    )
    np.testing.assert_allclose(numeric_hz, instantaneous_frequency(kind, tau, f0, f1, duration), rtol=0, atol=1e-5)
    assert chirp_phase(kind, np.array([0.0]), f0, f1, duration)[0] == 0.0


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_frequency_hits_both_labels(kind):
    f = instantaneous_frequency(kind, np.array([0.0, 4.0]), 12.0, 47.0, 4.0)
    np.testing.assert_allclose(f, [12.0, 47.0])


def test_quadratic_has_its_vertex_at_the_start_and_exponential_is_geometric():
    tau = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(instantaneous_frequency("quadratic", tau, 10.0, 50.0, 2.0), [10.0, 20.0, 50.0])
    np.testing.assert_allclose(instantaneous_frequency("exponential", tau, 10.0, 40.0, 2.0), [10.0, 20.0, 40.0])


SCIPY_METHOD = {"linear": "linear", "quadratic": "quadratic", "exponential": "logarithmic"}


@pytest.mark.parametrize("kind", KIND_NAMES)
@pytest.mark.parametrize("f0, f1", [(5.0, 35.0), (80.0, 52.5), (20.0, 20.0)])
def test_waveform_and_phase_match_scipy_chirp(kind, f0, f1):
    """The README's claim: quadratic is scipy's with vertex_zero=True, exponential scipy's logarithmic."""
    from scipy.signal import chirp

    fs, n, t_start, duration, amplitude, phase0 = 256.0, 15 * 256, 2.0, 11.3, 1.7, 0.9
    x = chirp_waveform(kind, n, fs, t_start, duration, f0, f1, amplitude, phase0)
    t = np.arange(n) / fs
    on = (t >= t_start) & (t <= t_start + duration)
    tau = t[on] - t_start
    method = SCIPY_METHOD[kind]
    ref = amplitude * chirp(tau, f0, duration, f1, method=method, phi=np.degrees(phase0), vertex_zero=True)
    np.testing.assert_allclose(x[on], ref, rtol=0, atol=1e-10)
    # the phase itself (mod 2 pi), from scipy's cosine and sine (phi = -90 degrees)
    ours = np.exp(1j * chirp_phase(kind, tau, f0, f1, duration))
    theirs = chirp(tau, f0, duration, f1, method=method) + 1j * chirp(tau, f0, duration, f1, method=method, phi=-90)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_waveform_is_zero_outside_the_chirp_and_has_amplitude_inside():
    fs = 256.0
    x = chirp_waveform("linear", 2560, fs, 2.0, 3.0, 10.0, 30.0, 2.0, 0.3)
    t = np.arange(2560) / fs
    inside = (t >= 2.0) & (t <= 5.0)
    assert np.all(x[~inside] == 0)
    assert np.isclose(x[inside][0], 2.0 * np.cos(0.3))
    assert np.isclose(np.mean(x[inside] ** 2), 2.0, rtol=0.02)  # A^2 / 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="linear", f_start_hz=10.0, f_end_hz=128.0), "Nyquist"),
        (dict(kind="exponential", f_start_hz=0.0, f_end_hz=30.0), "positive"),
        (dict(kind="exponential", f_start_hz=10.0, f_end_hz=-3.0), "positive"),
        (dict(kind="linear", f_start_hz=10.0, f_end_hz=20.0, duration_s=9.5), "does not fit"),
        (dict(kind="sawtooth", f_start_hz=10.0, f_end_hz=20.0), "kind"),
    ],
)
def test_waveform_rejects_bad_parameters(kwargs, match):
    args = dict(n_samples=2560, sample_rate_hz=256.0, t_start_s=1.0, duration_s=2.0, amplitude=1.0, phase0_rad=0.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        chirp_waveform(**args)


def test_white_and_pink_noise_have_unit_variance_and_their_spectra():
    rng = np.random.default_rng(1)
    n = 1 << 16
    w = white_noise(rng, n)
    p = pink_noise(rng, n)
    assert abs(np.var(w) - 1) < 0.03
    assert abs(np.var(p) - 1) < 0.1
    psd = np.abs(np.fft.rfft(p)) ** 2
    k = np.arange(psd.size)
    bands = [(10, 20), (1000, 2000)]  # 100x apart in frequency: 1/f means 100x less power
    ratio = np.mean(psd[bands[0][0] : bands[0][1]]) / np.mean(psd[bands[1][0] : bands[1][1]])
    mean_k = [np.mean(k[a:b]) for a, b in bands]
    assert 0.6 < ratio / (mean_k[1] / mean_k[0]) < 1.6


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0])
def test_measured_snr_matches_the_label(snr_db):
    config = load_config("default", overrides=[f"signal.snr_db=[{snr_db}, {snr_db}]", "signal.duration_s=[14, 15]"])
    measured = []
    for index in range(20):
        s = make_sample(config, 3, "train", index)
        on = s.chirp != 0
        measured.append(10 * np.log10(np.mean(s.chirp[on] ** 2) / np.var(s.noise)))
        assert s.params.snr_db == snr_db
    assert abs(np.mean(measured) - snr_db) < 0.1


def test_drawn_parameters_respect_the_frame_without_edge_pile_up():
    config = load_config("default")
    sig = config.signal
    p = [draw_params(config, sample_rng(0, "train", i)) for i in range(4000)]
    f0 = np.array([q.f_start_hz for q in p])
    f1 = np.array([q.f_end_hz for q in p])
    t0 = np.array([q.t_start_s for q in p])
    dur = np.array([q.duration_s for q in p])
    assert np.all((f0 >= sig.freq_hz[0]) & (f0 <= sig.freq_hz[1]) & (f1 >= sig.freq_hz[0]) & (f1 <= sig.freq_hz[1]))
    assert np.all(np.abs(f1 - f0) <= sig.max_sweep_hz)
    assert np.all(t0 + dur <= sig.record_s)
    for f in (f0, f1):  # a clipped draw would put several percent within 0.5 Hz of an edge
        assert np.mean((f < sig.freq_hz[0] + 0.5) | (f > sig.freq_hz[1] - 0.5)) < 0.01
    counts = np.bincount([q.kind for q in p], minlength=3) / len(p)
    np.testing.assert_allclose(counts, 1 / 3, atol=0.03)


def test_sample_is_a_pure_function_of_seed_split_index():
    config = load_config("default")
    a = make_sample(config, 7, "val", 11)
    b = make_sample(config, 7, "val", 11)
    assert a.params == b.params and np.array_equal(a.image, b.image)
    for other in (make_sample(config, 8, "val", 11), make_sample(config, 7, "test", 11), make_sample(config, 7, "val", 12)):
        assert other.params != a.params and not np.array_equal(other.image, a.image)


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_the_fraction_of_records_without_a_chirp_is_about_p(p):
    config = load_config("default", overrides=[f"signal.p_no_chirp={p}"])
    n = 4000
    chirp = np.array([has_chirp(config, 0, "train", i) for i in range(n)])
    assert abs(np.sum(~chirp) - n * p) < 5 * np.sqrt(n * p * (1 - p))  # binomial, 5 sigma
    assert all(has_chirp(load_config("default"), 0, "train", i) for i in range(200))
    # the decision is independent of the chirp's draws: the records that keep one keep the kind mix
    kinds = np.array([draw_params(config, sample_rng(0, "train", i)).kind for i in np.flatnonzero(chirp)])
    np.testing.assert_allclose(np.bincount(kinds, minlength=3) / kinds.size, 1 / 3, atol=0.03)


def test_a_record_without_a_chirp_is_its_noise_alone_and_the_others_are_unchanged():
    """p_no_chirp only takes chirps out: a chirp record equals the p = 0 one, a chirpless record its noise."""
    plain = load_config("default")
    config = load_config("default", overrides=["signal.p_no_chirp=0.5"])
    kinds = []
    for index in range(12):
        s, ref = make_sample(config, 4, "val", index), make_sample(plain, 4, "val", index)
        kinds.append(s.params.kind)
        assert np.array_equal(s.noise, ref.noise)
        if s.params.has_chirp:
            assert s.params == ref.params and np.array_equal(s.image, ref.image)
            continue
        assert s.params.kind == NO_CHIRP_KIND and s.params.kind_name == "none"
        for name in ("t_start_s", "f_start_hz", "f_end_hz", "duration_s", "snr_db"):
            assert np.isnan(getattr(s.params, name)), name
        assert not np.any(s.chirp) and s.chirp.shape == ref.chirp.shape
        assert np.array_equal(s.image, render_image(s.noise, config))
        assert not np.array_equal(s.image, ref.image)
    assert NO_CHIRP_KIND in kinds and set(kinds) - {NO_CHIRP_KIND}
