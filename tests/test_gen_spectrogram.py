"""The STFT and the image: checked against a direct DFT and against the labels."""

import numpy as np
import pytest

from chirpgen.config import load_config
from chirpgen.sample import make_sample
from chirpgen.signal import instantaneous_frequency
from chirpgen.spectrogram import (
    _window,
    column_centres,
    grey_to_db,
    image_axes,
    power_to_grey,
    render_image,
    stft_power,
)

CONFIG = load_config("default")


def test_stft_matches_a_direct_dft_of_each_windowed_frame():
    stft = CONFIG.stft
    x = np.random.default_rng(0).standard_normal(CONFIG.signal.n_samples)
    power = stft_power(x, stft)
    w = _window(stft.window, stft.window_len)
    n = np.arange(stft.window_len)
    k = np.arange(stft.freq_bins)[:, None]
    for m in (0, 1, 64, power.shape[1] - 1):
        start = column_centres(x.size, stft)[m] - stft.window_len // 2
        idx = start + n
        seg = np.where((idx >= 0) & (idx < x.size), x[np.clip(idx, 0, x.size - 1)], 0.0) * w
        dft = np.sum(seg * np.exp(-2j * np.pi * k * n / stft.nfft), axis=1)
        np.testing.assert_allclose(power[:, m], np.abs(dft) ** 2 / np.sum(w.astype(float) ** 2), rtol=1e-3, atol=1e-4)


def test_white_noise_floor_sits_at_0_db():
    x = np.random.default_rng(1).standard_normal((8, CONFIG.signal.n_samples))
    power = stft_power(x, CONFIG.stft)[:, 5:-5, 2:-2]  # away from DC and the record edges
    assert abs(np.mean(power) - 1.0) < 0.02


def test_axes_orientation_row0_highest_frequency_column0_time0():
    freqs, times = image_axes(CONFIG)
    assert freqs.shape == (128,) and times.shape == (128,)
    assert freqs[0] == 127.0 and freqs[-1] == 0.0 and np.all(np.diff(freqs) < 0)
    np.testing.assert_allclose(times[0], 60 / 256)  # centre of the first hop
    np.testing.assert_allclose(np.diff(times), 120 / 256)


def test_a_tone_lands_on_its_row():
    t = np.arange(CONFIG.signal.n_samples) / CONFIG.signal.sample_rate_hz
    image = render_image(10 * np.cos(2 * np.pi * 37.0 * t), CONFIG)
    freqs, _ = image_axes(CONFIG)
    assert np.all(freqs[np.argmax(image[:, 2:-2], axis=0)] == 37.0)


def test_grey_mapping_is_the_documented_fixed_one():
    lo, hi = CONFIG.stft.db_range
    power = 10 ** (np.array([lo - 5, lo, (lo + hi) / 2, hi, hi + 5]) / 10)
    grey = power_to_grey(power, (lo, hi))
    assert grey.tolist() == [0, 0, 128, 255, 255]
    np.testing.assert_allclose(grey_to_db(grey[1:4], (lo, hi)), [lo, (lo + hi) / 2 + (hi - lo) / 510, hi])


def test_batched_render_equals_per_item():
    x = np.random.default_rng(2).standard_normal((3, CONFIG.signal.n_samples))
    batch = render_image(x, CONFIG)
    for b in range(3):
        assert np.array_equal(batch[b], render_image(x[b], CONFIG))


def test_render_rejects_a_record_of_the_wrong_length():
    with pytest.raises(ValueError, match="15360"):
        render_image(np.zeros(1000), CONFIG)


def _expected_ridge_hz(params, centre, fs, window_len):
    """f(t) averaged over the part of the window holding the chirp, weighted by the window's energy."""
    n = np.arange(centre - window_len // 2, centre + window_len // 2)
    t = n / fs
    on = (t >= params.t_start_s) & (t <= params.t_start_s + params.duration_s)
    tau = t[on] - params.t_start_s
    f = instantaneous_frequency(params.kind_name, tau, params.f_start_hz, params.f_end_hz, params.duration_s)
    w2 = _window("hann", window_len)[on] ** 2
    return np.sum(w2 * f) / np.sum(w2)


def test_labels_agree_with_pixels_from_start_to_end():
    """On clean samples (the sample's chirp alone, no noise, rendered with its frame) the ridge (row of
    the brightest pixel) follows the labelled f(t) within one bin in every column from the labelled
    start to the labelled end, and every column whose window misses the chirp is black.

    The amplitude is that of a 15 dB sample, so the ridge stays below the top of the dB window. Below
    two window bins (4 Hz here) a real chirp's positive and negative frequency lobes overlap, which
    pulls the ridge up; those samples are left out.
    """
    config = load_config("default", overrides=["signal.snr_db=[15, 15]"])
    fs, window_len = config.signal.sample_rate_hz, config.stft.window_len
    freqs, times = image_axes(config)
    centres = column_centres(config.signal.n_samples, config.stft)
    lobe_hz = 2 * fs / window_len
    checked = 0
    for index in range(150):
        s = make_sample(config, 0, "train", index)
        p = s.params
        if min(p.f_start_hz, p.f_end_hz) < lobe_hz:
            continue
        clean = render_image(s.chirp, config)
        t_end = p.t_start_s + p.duration_s
        inside = np.where((times >= p.t_start_s) & (times <= t_end))[0]
        assert inside.size >= 1
        for m in inside:  # including the first and last column of the chirp
            got = freqs[np.argmax(clean[:, m])]
            assert abs(got - _expected_ridge_hz(p, centres[m], fs, window_len)) <= 1.0, (index, m)
        half_window_s = window_len / 2 / fs
        outside = (times < p.t_start_s - half_window_s) | (times > t_end + half_window_s)
        assert np.all(clean[:, outside] == 0) and clean[:, inside].max(axis=0).min() > 0
        checked += 1
    assert checked > 130
