"""chirploc describe's pieces without a model: sentences, records, recordings into frames, images,
inputs, merging frames, streaming, the plot.

The checks with a trained model are in test_loc_describe_model.py (the packaged default model) and
test_loc_core.py (a tiny run); here a stand-in predictor returns fixed values, so every test runs in
well under a second (the plot's matplotlib aside).
"""

import dataclasses
import importlib
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from chirpgen.config import KIND_NAMES, TARGETS, load_config
from chirpgen.plumbing import UserError
from chirpgen.signal import chirp_waveform
from chirpgen.spectrogram import image_axes, render_image, stft_power
from chirploc.describe import (
    Chirp,
    Description,
    cover_chirp,
    cover_half_hz,
    curve_distance_hz,
    describe_many,
    expand_inputs,
    grey_pixels,
    load_image,
    merge_frames,
    noise_images,
)
from chirploc.plot import chirp_curve, figure_paths, image_extent, plot_description
from chirploc.recording import (
    InputError,
    check_rate,
    frame_starts,
    load_recording,
    noise_floor,
    noise_level,
    pad_with_noise,
    pcm_to_float,
    peak_bin_power,
    quieten,
    recording_segments,
    recording_spectrogram,
    remove_lines,
    remove_offset,
    resample,
    scale_to_noise,
    steady_lines_hz,
    to_mono,
    whiten,
)
from chirploc.text import no_chirp_sentence, quantity, result_line, sentence


@pytest.fixture(scope="module")
def frame():
    return load_config("default")  # 256 Hz, 60 s, 128 x 128 pixels, chirps start 0-45 s


@pytest.fixture(scope="module")
def noise(frame):
    """Unit-variance white noise filling the frame, of mean 0 (so removing its offset changes nothing)."""
    x = np.random.default_rng(0).standard_normal(frame.signal.n_samples)
    return x - np.mean(x)


def _chirp(t_start_s, duration_s, kind="linear", confidence=-1.0, **kw):
    return Chirp(kind, t_start_s, duration_s, 20.0, 40.0, p_chirp=0.9, confidence=confidence, **kw)


# --- text and records ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "article"), [("linear", "A"), ("quadratic", "A"), ("exponential", "An")])
def test_sentence_for_each_kind(kind, article):
    assert kind in KIND_NAMES
    assert sentence(kind, 14.62, 36.81, 38.94, 10.79) == (
        f"{article} {kind} chirp sweeping from 14.6 Hz to 36.8 Hz, starting at 38.9 s and lasting 10.8 s."
    )


def test_sentence_switches_to_khz_and_ms_at_one_unit():
    assert sentence("linear", 1500.0, 4250.0, 0.25, 0.0825) == (
        "A linear chirp sweeping from 1.50 kHz to 4.25 kHz, starting at 250 ms and lasting 82 ms."
    )
    assert [quantity("f_end_hz", f) for f in (999.94, 1000.0)] == ["999.9 Hz", "1.00 kHz"]
    assert [quantity("duration_s", t) for t in (0.9994, 1.0)] == ["999 ms", "1.0 s"]


def test_every_target_has_a_unit_format():
    for target in TARGETS:
        assert quantity(target, 2.0).endswith((" Hz", " s"))


def test_chirp_records_keys_values_and_line():
    chirp = Chirp("exponential", 38.94, np.float32(10.79), 14.62, 36.81, p_chirp=0.97, confidence=-1.2)
    d = Description("a.png", (chirp,), 0.97, ("a note", "another"))
    (record,) = d.records()
    assert list(record) == [
        "file",
        "chirp",
        *TARGETS,
        "kind",
        "description",
        "p_chirp",
        "confidence",
        "evidence",
        "trust",
        "notes",
    ]
    assert (
        record["chirp"] == 0 and record["kind"] == "exponential" and record["notes"] == ["a note", "another"]
    )
    (by_ridge,) = Description("a.png", (dataclasses.replace(chirp, ridge=True, evidence=12.5),)).records()
    assert by_ridge["evidence"] == 12.5 and "the labels are the ridge tracker's" in by_ridge["notes"][-1]
    (weak,) = Description("a.png", (dataclasses.replace(chirp, evidence=9.0, trust=0.27),)).records()
    assert weak["trust"] == 0.27 and "weak evidence (Z = 9.0)" in weak["notes"][-1] and "27% the fit's" in weak["notes"][-1]
    (strong,) = Description("a.png", (dataclasses.replace(chirp, evidence=90.0, trust=1.0),)).records()
    assert not any("weak evidence" in n for n in strong["notes"])
    assert all(type(record[k]) is float for k in TARGETS)
    assert (
        record["description"]
        == d.sentence
        == sentence("exponential", 14.62, 36.81, 38.94, float(np.float32(10.79)))
    )
    assert chirp.t_end_s == pytest.approx(38.94 + 10.79)
    assert json.loads(json.dumps(record)) == record
    assert result_line("a.png", d.sentence, d.notes) == f"a.png: {d.sentence} (a note; another)"
    assert result_line("a.png", d.sentence, []) == f"a.png: {d.sentence}"


def test_several_chirps_give_one_record_each_and_a_numbered_sentence():
    first, second = _chirp(5.0, 3.0), _chirp(30.0, 4.0, kind="quadratic", fallback=True)
    d = Description("r.wav", (first, second), 0.9, ("n",))
    records = d.records()
    assert [r["chirp"] for r in records] == [0, 1] and [r["kind"] for r in records] == ["linear", "quadratic"]
    assert records[0]["notes"] == ["n"]
    assert records[1]["notes"][0] == "n" and "hardly shows the chirp" in records[1]["notes"][1]
    assert d.sentence == f"2 chirps. (1) {first.sentence} (2) {second.sentence}"


def test_no_chirp_and_error_descriptions():
    none = Description("x.png", (), 0.12, ("a note",))
    assert none.sentence == no_chirp_sentence(0.12) == "No chirp found (probability of a chirp 0.12)."
    assert none.records() == [
        {
            "file": "x.png",
            "chirp": None,
            **{k: None for k in TARGETS},
            "kind": "none",
            "description": none.sentence,
            "p_chirp": 0.12,
            "notes": ["a note"],
        }
    ]
    assert Description("x.png").sentence == "No chirp found."  # a model without a presence output
    bad = Description("y.png", error="y.png is broken")
    assert bad.records() == [{"file": "y.png", "error": "y.png is broken"}]
    assert bad.sentence == "not described: y.png is broken"


# --- recordings ---------------------------------------------------------------------------------


def test_pcm_to_float_maps_the_integer_range_to_minus_one_to_one():
    signed, notes = pcm_to_float(np.array([-32768, 0, 32767], np.int16))
    assert signed.tolist() == [-1.0, 0.0, 32767 / 32768] and notes == ["16-bit integer WAV scaled to [-1, 1)"]
    unsigned, notes = pcm_to_float(np.array([0, 128, 255], np.uint8))
    assert unsigned.tolist() == [-1.0, 0.0, 127 / 128] and notes == ["8-bit integer WAV scaled to [-1, 1)"]
    floats = np.array([0.5, -2.0], np.float32)
    assert pcm_to_float(floats) == (floats, [])


def test_to_mono_averages_the_shorter_axis_and_rejects_empty_or_non_finite():
    samples_first = np.array([[1.0, 3.0], [0.0, -2.0], [4.0, 4.0]])  # (N, channels)
    mono, notes = to_mono(samples_first, "x.wav")
    assert mono.tolist() == [2.0, -1.0, 4.0] and notes == ["2 channels (axis 1 of (3, 2)) averaged to mono"]
    mono, notes = to_mono(samples_first.T, "x.npy")  # (channels, N)
    assert mono.tolist() == [2.0, -1.0, 4.0] and notes == ["2 channels (axis 0 of (2, 3)) averaged to mono"]
    assert to_mono(np.arange(3, dtype=np.int16), "x.npy")[1] == []
    assert to_mono(np.zeros((64, 100)), "x.npy")[1] == ["64 channels (axis 0 of (64, 100)) averaged to mono"]
    with pytest.raises(InputError, match=r"x.npy has shape \(65, 100\): neither axis looks like channels"):
        to_mono(np.zeros((65, 100)), "x.npy")
    with pytest.raises(InputError, match=r"x.wav holds no samples \(shape \(0,\)\)"):
        to_mono(np.zeros(0), "x.wav")
    with pytest.raises(InputError, match="no samples"):
        to_mono(np.zeros((2, 2, 2)), "x.npy")
    with pytest.raises(InputError, match="NaN or infinite"):
        to_mono(np.array([0.0, np.inf]), "x.wav")


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf"), "256"])
def test_check_rate_names_a_bad_rate(rate):
    with pytest.raises(InputError, match=rf"sample rate {rate!r} Hz must be a finite number > 0"):
        check_rate(rate)


@pytest.mark.parametrize("rate", [np.int64(256), np.float32(256.0)])
def test_check_rate_takes_numpy_scalars(rate):
    check_rate(rate)


def test_resampling_a_tone_keeps_its_frequency_and_amplitude():
    rate_hz, target_hz, f_hz = 300.0, 256.0, 20.0
    t = np.arange(int(10 * rate_hz)) / rate_hz
    out, notes = resample(np.sin(2 * np.pi * f_hz * t), rate_hz, target_hz)
    assert notes == ["resampled from 300 Hz to 256 Hz"] and len(out) == 10 * 256
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(len(out), 1 / target_hz)[spectrum.argmax()] == pytest.approx(f_hz)
    want = np.sin(2 * np.pi * f_hz * np.arange(len(out)) / target_hz)
    middle = slice(len(out) // 4, 3 * len(out) // 4)  # away from the filter's edge transients
    np.testing.assert_allclose(out[middle], want[middle], atol=0.02)
    same = np.ones(4)
    assert resample(same, 256.0, 256.0) == (same, [])


def test_noise_level_of_unit_variance_noise_is_one_and_ignores_a_chirp_and_padding(frame, noise):
    assert noise_level(noise, frame) == pytest.approx(1.0, abs=0.03)
    assert noise_level(3.0 * noise, frame) == pytest.approx(3.0 * noise_level(noise, frame))
    t = np.arange(len(noise)) / frame.signal.sample_rate_hz
    loud_tone = noise + 10.0 * np.cos(2 * np.pi * 30.0 * t)  # one bin per column: the median hardly sees it
    assert noise_level(loud_tone, frame) == pytest.approx(noise_level(noise, frame), rel=0.05)
    assert np.std(loud_tone) > 7
    short = 7.0 * noise[: 25 * 256]
    assert noise_level(short, frame) == pytest.approx(7.0, rel=0.05)  # measured before the zero padding
    scaled, notes = scale_to_noise(5.0 * noise, frame, "x.wav")
    assert noise_level(scaled, frame) == pytest.approx(1.0) and notes == [
        f"divided by its noise level {noise_level(5.0 * noise, frame):.3g}"
    ]
    with pytest.raises(InputError, match="x.wav is silent .*--scale raw"):
        scale_to_noise(np.zeros(1000), frame, "x.wav")


def test_frame_starts_let_every_chirp_start_where_the_model_knows_starts(frame):
    size, hop = frame.signal.n_samples, 45 * 256  # the frame's chirps start 0-45 s in and last 1-15 s
    assert frame_starts(10, frame) == [0] and frame_starts(46 * 256, frame) == [0]
    assert frame_starts(46 * 256 + 1, frame) == [0, hop]  # a 1 s chirp may start after 45 s
    assert frame_starts(size, frame) == [0, hop]
    assert frame_starts(300 * 256, frame) == [k * hop for k in range(7)]  # the last starts at 270 s
    for n in (size, 100 * 256 + 17, 300 * 256):
        starts = np.array(frame_starts(n, frame))
        latest = n - 256  # every start up to the end less the shortest chirp lies 0-45 s into a frame
        assert all(((s - starts >= 0) & (s - starts <= hop)).any() for s in range(0, latest + 1, 97))


def test_recording_segments_pad_a_short_recording_with_noise_after_measuring_its_noise(frame, noise):
    short = 7.0 * noise[: 25 * 256]
    short -= np.mean(short)
    (segment,), notes = recording_segments(short, 256.0, frame, "noise", "x.wav")
    level = noise_level(short, frame)
    assert notes == [
        f"divided by its noise level {level:.3g}",
        "padded with noise from 25 s to the model's 60 s frame",
    ]
    padded = pad_with_noise(short / level, 0, frame.signal.n_samples - len(short), frame)
    assert segment.offset_s == 0.0 and np.array_equal(segment.image, render_image(padded, frame))
    tail = padded[len(short):]  # the frame's noise, the same draw each time
    assert np.array_equal(tail, pad_with_noise(short, 0, len(tail), frame)[len(short):])
    assert abs(np.std(tail) - 1.0) < 0.02 and not np.array_equal(tail[:100], tail[100:200])
    (_,), notes = recording_segments(np.tile(noise[: 30 * 256], 2)[: 512 * 30], 512.0, frame, "raw")
    assert notes == ["resampled from 512 Hz to 256 Hz", "padded with noise from 30 s to the model's 60 s frame"]
    (first,), _ = recording_segments(noise[: 46 * 256], 256.0, frame, "raw")  # one frame: a chirp starts by 45 s
    assert np.array_equal(first.image, render_image(pad_with_noise(noise[: 46 * 256], 0, 14 * 256, frame), frame))


def test_recording_segments_scan_a_recording_in_frames_that_reach_past_its_end(frame, noise):
    segments, notes = recording_segments(noise, 256.0, frame, "raw")  # one frame's length: two frames
    assert notes == ["60 s long: scanned in 2 overlapping frames of 60 s (starts 45 s apart, so that each chirp "
                     "starts 0-45 s into one of them; padded with noise past the end)"]
    assert [s.offset_s for s in segments] == [0.0, 45.0]
    assert np.array_equal(segments[0].image, render_image(noise, frame))
    long = np.random.default_rng(2).standard_normal(300 * 256)
    segments, notes = recording_segments(long, 256.0, frame, "raw")
    assert notes == ["300 s long: scanned in 7 overlapping frames of 60 s (starts 45 s apart, so that each chirp "
                     "starts 0-45 s into one of them; padded with noise past the end)"]
    assert [s.offset_s for s in segments] == [0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0]
    padded = pad_with_noise(long, 0, 330 * 256 - len(long), frame)
    for s in segments:
        start = int(s.offset_s * 256)
        assert np.array_equal(s.image, render_image(padded[start : start + frame.signal.n_samples], frame))
    whole = recording_spectrogram(long, 256.0, frame, "raw")
    assert whole.shape[0] == frame.image_shape[0] and whole.dtype == np.uint8
    assert whole.shape[1] == pytest.approx(300 / frame.column_s, abs=2)


def test_an_offset_is_removed_and_noted_when_it_matters(frame, noise):
    out, notes = remove_offset(noise + 0.5, frame)
    assert abs(np.mean(out)) < 1e-12 and np.allclose(out, noise - np.mean(noise))
    assert notes == [f"offset {0.5 + np.mean(noise):.3g} removed ({abs(0.5 + np.mean(noise)) / noise_level(out, frame):.2g} "
                     "times the noise level)"]
    assert remove_offset(noise, frame)[1] == []  # white noise's own mean is far below a tenth of its level
    for silent in (np.full(20_000, 3.0), np.r_[np.zeros(5000), 1.0, np.zeros(5000)], np.zeros(100)):  # nothing left
        with pytest.raises(InputError, match="x.wav is silent"):
            remove_offset(silent, frame, "x.wav")


def test_a_steady_line_is_found_and_removed_but_a_chirp_is_not(frame, noise):
    rate = frame.signal.sample_rate_hz
    t = np.arange(len(noise)) / rate
    hum = 3.0 * np.sin(2 * np.pi * 50.02 * t + 0.7)
    (f,) = steady_lines_hz(noise + hum, frame)
    assert f == pytest.approx(50.02, abs=0.05)
    out, notes = remove_lines(noise + hum, frame)
    assert notes == ["steady line at 50.02 Hz removed (lit throughout, unlike a chirp)"]
    assert np.std(out - noise) < 0.15 * np.std(hum)  # the hum gone, the noise kept
    # the longest chirp the frame knows, at a constant frequency and +10 dB, is no steady line
    tone = chirp_waveform("linear", len(noise), rate, 20.0, frame.signal.duration_s[1], 30.0, 30.0, np.sqrt(20.0), 0.0)
    assert steady_lines_hz(noise + tone, frame) == []
    out, notes = remove_lines(noise + tone, frame)
    assert notes == [] and np.array_equal(out, noise + tone)
    assert steady_lines_hz(noise[:2000] + hum[:2000], frame) == []  # shorter than the longest chirp: cannot tell


def test_a_hum_is_taken_out_in_one_fit_whatever_its_phase(frame):
    """The frequency search stays in the periodogram's main lobe: out in a sidelobe it would settle a
    fraction of a hertz off, and the line would beat through the rest of the recording."""
    rate = frame.signal.sample_rate_hz
    t = np.arange(frame.signal.n_samples) / rate
    for seed in range(8):
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal(len(t))
        out, notes = remove_lines(noise + 3.0 * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi)), frame)
        assert notes == ["steady line at 50.00 Hz removed (lit throughout, unlike a chirp)"], seed
        row = stft_power(out, frame.stft)[50]  # the 50 Hz row: back to the noise's 0 dB
        assert np.mean(row) < 1.0 and np.max(row) < 10.0, seed


def test_calls_repeated_at_one_pitch_are_no_steady_line(frame):
    rate = frame.signal.sample_rate_hz
    n = int(90 * rate)
    noise = np.random.default_rng(0).standard_normal(n)
    calls = sum(chirp_waveform("linear", n, rate, 3.0 + 10 * k, 5.0, 40.0, 44.0, np.sqrt(2 * 10**0.5), 0.3)
                for k in range(8))  # 5 s on, 5 s off: a row lit for 40 s, more than any chirp
    assert steady_lines_hz(noise + calls, frame)  # found as a candidate ...
    out, notes = remove_lines(noise + calls, frame)
    assert notes == [] and np.array_equal(out, noise + calls)  # ... but it comes and goes: kept
    t = np.arange(n) / rate
    out, notes = remove_lines(noise + calls + 3.0 * np.sin(2 * np.pi * 50.0 * t), frame)  # a hum beside them goes
    assert notes == ["steady line at 50.00 Hz removed (lit throughout, unlike a chirp)"]


def test_a_chirp_louder_than_the_model_knows_is_brought_down_to_its_highest_snr(frame, noise):
    rate, top = frame.signal.sample_rate_hz, frame.signal.snr_db[1]
    tone = chirp_waveform("linear", len(noise), rate, 20.0, 10.0, 40.0, 40.0, np.sqrt(2 * 10 ** (top / 10)), 0.0)
    assert float(stft_power(tone, frame.stft)[40].max()) == pytest.approx(peak_bin_power(top, frame), rel=0.02)
    out, notes = quieten(noise + tone, frame)  # a chirp at the top SNR is left as it is
    assert notes == [] and out is not None and np.array_equal(out, noise + tone)
    loud = noise + 10.0 * tone  # 20 dB above the top
    out, (note,) = quieten(loud, frame)
    assert note == f"its loudest chirp about 30 dB, above the {top:g} dB the model knows: white noise added to bring it to {top:g} dB"
    assert float(stft_power(out, frame.stft)[40].max()) < 1.5 * peak_bin_power(top, frame)
    quiet_part = out[: 15 * int(rate)]  # before the chirp: still noise of unit level
    assert np.std(quiet_part) == pytest.approx(1.0, rel=0.05)


def test_a_coloured_background_is_whitened_and_a_white_one_left_alone(frame, noise):
    from chirpgen.signal import pink_noise

    power = stft_power(noise, frame.stft)
    floor = noise_floor(power)
    assert np.all(np.abs(10 * np.log10(floor[4:101] / np.median(floor))) < 1.5)
    out, notes = whiten(noise, frame)
    assert notes == [] and out is noise
    pink = noise + 3.0 * pink_noise(np.random.default_rng(1), len(noise))
    long = np.random.default_rng(0).standard_normal(150 * 256) + pink_noise(np.random.default_rng(10), 150 * 256)
    assert steady_lines_hz(long - np.mean(long), frame) == []  # its lowest row is lit throughout, but by no line
    rate = frame.signal.sample_rate_hz
    tone = chirp_waveform("linear", len(noise), rate, 20.0, 10.0, 40.0, 60.0, np.sqrt(20.0), 0.0)
    out, (note,) = whiten(pink + tone, frame)
    assert note.startswith("background noise whitened (its level strayed ") and note.endswith(" dB from its median in the chirps' band)")
    after = noise_floor(stft_power(out, frame.stft))[4:101]
    assert 10 * np.log10(after.max() / after.min()) < 4.0  # flat now
    # down to the lowest rows: the 1/f power below the first row, carried up by the window's main
    # lobe, would light them like a low chirp
    means = stft_power(out[: 15 * int(rate)], frame.stft).mean(1)  # before the chirp
    assert np.all(np.abs(10 * np.log10(means[1:4] / np.median(means[4:101]))) < 2.0)
    spectrum = np.fft.rfft(noise)
    spectrum[np.fft.rfftfreq(len(noise), 1 / rate) > 40.0] = 0.0  # a recording with nothing above 40 Hz
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lifted, (note,) = whiten(np.fft.irfft(spectrum, n=len(noise)), frame)
    assert np.all(np.isfinite(lifted)) and note.startswith("background noise whitened")
    column = int(25.0 * rate) // frame.stft.hop  # the chirp at 25 s is at 50 Hz, far above the whitened floor
    assert np.argmax(stft_power(out, frame.stft)[4:, column]) + 4 == pytest.approx(50, abs=1)


def test_noise_scaling_makes_the_images_independent_of_the_gain(frame, noise):
    quiet, _ = recording_segments(0.01 * noise, 256.0, frame)
    loud, notes = recording_segments(100.0 * noise, 256.0, frame)
    assert np.abs(quiet[0].image.astype(int) - loud[0].image.astype(int)).max() <= 1  # float rounding
    assert notes[0] == f"divided by its noise level {noise_level(100.0 * noise, frame):.3g}"
    raw, _ = recording_segments(100.0 * noise, 256.0, frame, "raw")
    assert raw[0].image.mean() > loud[0].image.mean() + 50  # raw keeps the amplitude
    with pytest.raises(InputError, match=r"scale='loud' must be one of \['noise', 'raw'\]"):
        recording_segments(noise, 256.0, frame, scale="loud")
    assert issubclass(InputError, UserError)


def test_load_recording_reads_wav_and_npy(tmp_path):
    pcm = np.array([[-32768, 0], [16384, 16384], [0, 0]], np.int16)  # (N, channels)
    wavfile.write(tmp_path / "a.wav", 8000, pcm)
    signal, rate_hz, notes = load_recording(tmp_path / "a.wav")
    assert signal.tolist() == [-0.5, 0.5, 0.0] and rate_hz == 8000.0
    assert notes == ["16-bit integer WAV scaled to [-1, 1)", "2 channels (axis 1 of (3, 2)) averaged to mono"]
    np.save(tmp_path / "b.npy", np.arange(4, dtype=np.int32))
    assert load_recording(tmp_path / "b.npy", 100.0)[1:] == (100.0, [])
    with pytest.raises(InputError, match="pass it"):
        load_recording(tmp_path / "b.npy")
    with pytest.raises(InputError, match=r"sample rate -1.0 Hz must be a finite number > 0"):
        load_recording(tmp_path / "b.npy", -1.0)
    np.save(tmp_path / "c.npy", np.array(["a", "b"]))
    with pytest.raises(InputError, match="holds <U1 values"):
        load_recording(tmp_path / "c.npy", 100.0)
    (tmp_path / "d.wav").write_bytes(b"RIFF....")
    with pytest.raises(InputError, match="d.wav is not a readable WAV file"):
        load_recording(tmp_path / "d.wav")


def test_a_wav_whose_header_says_zero_hz_is_refused(tmp_path):
    wavfile.write(tmp_path / "z.wav", 256, np.zeros(100, np.float32))
    data = bytearray((tmp_path / "z.wav").read_bytes())
    assert int.from_bytes(data[24:28], "little") == 256  # the fmt chunk's sample rate field
    data[24:28] = (0).to_bytes(4, "little")
    (tmp_path / "z.wav").write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"z.wav says its sample rate is 0 Hz; fix the WAV header"):
        load_recording(tmp_path / "z.wav")


# --- images -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pixels(frame):
    return np.random.default_rng(1).integers(0, 256, frame.image_shape, dtype=np.uint8)


def test_png_round_trip_gives_the_stored_pixels(frame, pixels, tmp_path):
    Image.fromarray(pixels, mode="L").save(tmp_path / "a.png")
    image, notes = load_image(tmp_path / "a.png", frame)
    assert np.array_equal(image, pixels) and notes == []
    Image.fromarray(np.stack([pixels] * 3, axis=-1), mode="RGB").save(tmp_path / "rgb.png")
    image, notes = load_image(tmp_path / "rgb.png", frame)
    assert np.array_equal(image, pixels) and notes == ["grey RGB image: first channel used"]
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="notes.png is not a readable image"):
        load_image(tmp_path / "notes.png", frame)


def test_grey_images_with_alpha_are_read_when_opaque(frame, pixels, tmp_path):
    opaque = np.stack([pixels, np.full_like(pixels, 255)], axis=-1)
    Image.fromarray(opaque, mode="LA").save(tmp_path / "la.png")
    image, notes = load_image(tmp_path / "la.png", frame)
    assert np.array_equal(image, pixels) and notes == ["grey LA image: first channel used"]
    see_through = opaque.copy()
    see_through[3, 4, 1] = 254
    Image.fromarray(see_through, mode="LA").save(tmp_path / "la_t.png")
    with pytest.raises(InputError, match="la_t.png is a LA image with transparent pixels"):
        load_image(tmp_path / "la_t.png", frame)
    rgba = np.concatenate([np.stack([pixels] * 3, axis=-1), see_through[..., 1:]], axis=-1)
    with pytest.raises(InputError, match="is a RGBA image with transparent pixels"):
        grey_pixels(rgba, "RGBA", frame, "x.png")
    rgba[..., 3] = 255
    assert np.array_equal(grey_pixels(rgba, "RGBA", frame, "x.png")[0], pixels)


def _palette_png(path, index, palette):
    im = Image.fromarray(index, mode="P")
    im.putpalette([v for rgb in palette for v in rgb])
    im.save(path)


def test_palette_images_are_read_through_their_palette(frame, pixels, tmp_path):
    _palette_png(tmp_path / "inv.png", pixels, [(255 - i,) * 3 for i in range(256)])
    with Image.open(tmp_path / "inv.png") as im:
        assert im.mode == "P"
    image, notes = load_image(tmp_path / "inv.png", frame)
    assert np.array_equal(image, 255 - pixels) and notes == ["palette image read through its palette"]
    _palette_png(tmp_path / "colour.png", pixels, [(i, 0, 255 - i) for i in range(256)])
    with pytest.raises(InputError, match="colour.png is a colour"):
        load_image(tmp_path / "colour.png", frame)


def test_grey_pixels_rejects_colour_depth_bilevel_and_geometry(frame, tmp_path):
    grey = np.zeros(frame.image_shape, np.uint8)
    colour = np.stack([grey, grey, grey + 1], axis=-1)
    with pytest.raises(InputError, match=r"x.png is a colour \(RGB\) image"):
        grey_pixels(colour, "RGB", frame, "x.png")
    with pytest.raises(InputError, match=r"has uint16 pixels \(mode I;16\)"):
        grey_pixels(grey.astype(np.uint16), "I;16", frame, "x.png")
    with pytest.raises(InputError, match=r"x.png is 64x128 \(H x W\) but the model expects 128x128"):
        grey_pixels(grey[:64], "L", frame, "x.png")
    Image.fromarray(grey.astype(bool)).save(tmp_path / "bw.png")
    with pytest.raises(InputError, match=r"bw.png has bool pixels \(mode 1\)"):
        load_image(tmp_path / "bw.png", frame)


# --- inputs -------------------------------------------------------------------------------------


def test_expand_inputs_reads_folders_recursively_and_globs_sorted(tmp_path):
    for name in ("b.wav", "a.png", "sub/c.npy", "sub/d.txt", "z.PNG"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    got = list(expand_inputs([tmp_path]))
    assert got == [str(tmp_path / n) for n in ("a.png", "b.wav", "sub/c.npy", "z.PNG")]
    assert list(expand_inputs([str(tmp_path / "*.wav"), str(tmp_path / "**" / "*.npy")])) == [
        str(tmp_path / "b.wav"),
        str(tmp_path / "sub/c.npy"),
    ]
    missing = [str(tmp_path / "nope.png"), str(tmp_path / "*.flac")]
    assert list(expand_inputs(missing)) == missing  # passed on, to be reported
    assert list(expand_inputs([tmp_path / "sub/d.txt"])) == [str(tmp_path / "sub/d.txt")]  # a file as given


# --- from frames to chirps ----------------------------------------------------------------------


def test_merge_frames_keeps_one_chirp_per_event_in_time_order():
    whole = _chirp(50.0, 10.0, confidence=-1.2)
    seen_again = _chirp(50.3, 9.8, confidence=-1.5)  # the same chirp from the overlapping frame
    cut = _chirp(100.5, 2.0, confidence=-0.5)  # the end of a chirp cut by a frame edge ...
    its_whole = _chirp(96.0, 6.0, confidence=-1.4)  # ... seen whole in the next frame
    early = _chirp(5.0, 3.0, confidence=-3.0)
    close = _chirp(58.0, 6.0, confidence=-1.3)  # overlaps `whole` by 2 s, under half of its 6 s
    lone_cut = _chirp(200.0, 4.0, confidence=-2.0)  # cut, but no frame holds it whole
    found = [
        (seen_again, False, 0),
        (cut, True, 0),
        (early, False, 0),
        (its_whole, False, 0),
        (whole, False, 0),
        (close, False, 0),
        (lone_cut, True, 0),
    ]
    assert merge_frames(found) == (early, whole, close, its_whole, lone_cut)
    assert merge_frames(found[::-1]) == merge_frames(found)
    assert merge_frames([]) == ()
    by_presence = [(Chirp("linear", 1.0, 5.0, 20.0, 40.0, p_chirp=p), False, 0) for p in (0.6, 0.9)]
    assert merge_frames(by_presence) == (by_presence[1][0],)  # without a confidence, the likelier one


def test_merge_frames_keeps_chirps_at_the_same_time_in_other_bands_and_first_looks_first():
    low = Chirp("linear", 10.0, 8.0, 20.0, 30.0, confidence=-2.0)
    high = Chirp("linear", 11.0, 6.0, 60.0, 70.0, confidence=-1.0)  # at the same time, 40 Hz higher
    remnant = Chirp("linear", 14.0, 4.0, 26.0, 30.0, confidence=-0.5)  # on low's curve (25.0 Hz at 15 s)
    found = [(low, False, 0), (high, False, 1), (remnant, False, 1)]
    assert merge_frames(found) == (low,)  # without a band, all three are one event
    assert merge_frames(found, same_hz=6.0) == (low, high)
    # a chirp of the first look wins over a more confident one of the same event found later
    assert merge_frames([(remnant, False, 1), (low, False, 0)], same_hz=6.0) == (low,)
    assert curve_distance_hz(low, high) == pytest.approx(40.0)  # 38.75 Hz apart at 11 s, 41.25 Hz at 17 s
    assert curve_distance_hz(low, remnant) == pytest.approx(0.5)  # 1 Hz apart at 14 s, none at 18 s
    assert curve_distance_hz(low, _chirp(30.0, 2.0)) == float("inf")  # no time in common


@pytest.fixture
def one_look(monkeypatch):
    """describe reads each frame once: for fakes that find the same chirp whatever the pixels."""
    monkeypatch.setattr(importlib.import_module("chirploc.describe"), "LOOKS_PER_FRAME", 1)


class FixedPredictor:
    """Predicts the same chirp (its start in frame time) in every frame; records the batches it saw."""

    def __init__(self, frame, p_chirp=None):
        self.frame = frame
        self.p_chirp = p_chirp
        self.batches = []

    def predict(self, images):
        self.batches.append(images)
        n = len(images)
        values = {"t_start_s": 10.0, "f_start_hz": 20.0, "f_end_hz": 80.0, "duration_s": 30.0}
        pred = {**{k: np.full(n, v) for k, v in values.items()}, "kind": np.arange(n) % 3}
        if self.p_chirp is not None:
            pred["p_chirp"] = np.full(n, self.p_chirp)
        return pred


def test_describe_many_keeps_input_order_and_goes_on_after_a_bad_input(frame, noise, tmp_path, one_look):
    Image.fromarray(np.zeros(frame.image_shape, np.uint8), mode="L").save(tmp_path / "a.png")
    wavfile.write(tmp_path / "b.wav", 256, noise.astype(np.float32))
    predictor = FixedPredictor(frame)
    inputs = [tmp_path / "a.png", tmp_path / "missing.png", str(tmp_path / "b.wav")]
    results = list(describe_many(inputs, predictor))
    (seen,) = predictor.batches
    assert seen.shape == (3, *frame.image_shape) and seen.dtype == np.uint8  # the 60 s recording is two frames
    assert [r.source for r in results] == [str(p) for p in inputs]
    assert (
        results[1].error.endswith(
            "missing.png does not exist; give an image, .wav or .npy file, a folder or a glob pattern"
        )
        and results[1].chirps == ()
    )
    assert [r.chirps[0].kind for r in (results[0], results[2])] == ["linear", "quadratic"]
    level = noise_level(noise.astype(np.float32).astype(np.float64), frame)
    assert results[2] == Description(
        str(tmp_path / "b.wav"),
        (Chirp("quadratic", 10.0, 30.0, 20.0, 80.0),),  # the second frame's at 55-85 s lies in the padding
        None,
        (f"divided by its noise level {level:.3g}", "60 s long: scanned in 2 overlapping frames of 60 s (starts 45 s "
         "apart, so that each chirp starts 0-45 s into one of them; padded with noise past the end)"),
    )


def test_describe_many_checks_scale_and_rate_and_notes_a_npy_rate(frame, noise, tmp_path):
    predictor = FixedPredictor(frame)
    with pytest.raises(InputError, match="scale='x'"):
        next(describe_many([tmp_path / "a.png"], predictor, scale="x"))
    with pytest.raises(InputError, match="sample rate nan Hz"):
        next(describe_many([tmp_path / "a.png"], predictor, sample_rate_hz=float("nan")))
    np.save(tmp_path / "rec.npy", noise)
    ((d, prepared),) = describe_many([tmp_path / "rec.npy"], predictor, scale="raw", keep_images=True)
    assert np.array_equal(prepared.segments[0].image, render_image(noise, frame))
    assert d.notes[0] == "no sample rate in a .npy file: taken as the model's 256 Hz (pass --rate to change)"
    (d,) = describe_many([tmp_path / "rec.npy"], predictor, sample_rate_hz=512.0, scale="raw")
    assert d.notes == ("resampled from 512 Hz to 256 Hz", "padded with noise from 30 s to the model's 60 s frame")


def test_describe_many_takes_arrays(frame, noise, pixels, one_look):
    predictor = FixedPredictor(frame)
    image, recording, words, unrated = describe_many(
        [pixels, noise, np.array(["a"]), noise.astype(np.float32)], predictor, sample_rate_hz=None
    )
    assert image.source == "<array (128, 128)>" and image.chirps and image.notes == ()
    assert np.array_equal(predictor.batches[0][0], pixels)
    assert recording.error == "<array (15360,)>: a recording array needs its sample rate (sample_rate_hz=...)"
    assert words.error.startswith("<array (1,)> holds <U1 values")
    assert unrated.error is not None
    (rated,) = describe_many([noise], predictor, sample_rate_hz=256.0, scale="raw")
    assert rated.error is None and np.array_equal(predictor.batches[-1][0], render_image(noise, frame))


def test_a_long_recording_gives_chirps_in_recording_time_merged_across_frames(frame):
    """Every frame reports a chirp at 10-40 s of its own time: frames at 0, 45, ... s give chirps
    at 10, 55, ... s; neighbours overlapping by half are one chirp."""
    long = np.random.default_rng(3).standard_normal(150 * 256)  # frames at 0, 45, 90 and 135 s
    (d,) = describe_many([long], FixedPredictor(frame), sample_rate_hz=256.0)
    # 10-40 s, 55-85 s and 100-130 s overlap by nothing: three chirps, all whole in their frame; the
    # last frame's 145-175 s lies mostly past the recording's end, in the padding
    assert [c.t_start_s for c in d.chirps] == [10.0, 55.0, 100.0]
    assert ("150 s long: scanned in 4 overlapping frames of 60 s (starts 45 s apart, so that each chirp starts 0-45 s "
            "into one of them; padded with noise past the end)") in d.notes


class PerFramePredictor:
    """Predicts, in frame k, the chirp ``chirps[k]`` = (t_start_s, duration_s, confidence)."""

    def __init__(self, frame, chirps):
        self.frame, self.chirps = frame, chirps

    def predict(self, images):
        t0, dur, confidence = (np.array(v, dtype=np.float64) for v in zip(*self.chirps[: len(images)], strict=True))
        n = len(images)
        return {"t_start_s": t0, "duration_s": dur, "f_start_hz": np.full(n, 20.0), "f_end_hz": np.full(n, 30.0),
                "kind": np.zeros(n, np.int64), "p_chirp": np.ones(n), "confidence": confidence}


def test_a_chirp_at_the_latest_known_start_gives_way_to_the_next_frame(frame, one_look):
    """A chirp 50-59 s into a 60 s recording: the first frame can only say 45 s (the latest start the
    model knows), the second frame (from 45 s) says 5 s, i.e. 50 s; the second is reported even
    where the first is more confident."""
    recording = np.random.default_rng(4).standard_normal(60 * 256)
    predictor = PerFramePredictor(frame, [(45.0, 10.0, -1.0), (5.0, 9.0, -2.0)])
    (d,) = describe_many([recording], predictor, sample_rate_hz=256.0)
    ((t0, dur),) = [(c.t_start_s, c.duration_s) for c in d.chirps]
    assert (t0, dur) == (50.0, 9.0)
    predictor = PerFramePredictor(frame, [(40.0, 10.0, -3.0), (0.0, 5.0, -1.0)])  # the second frame sees its tail
    (d,) = describe_many([recording], predictor, sample_rate_hz=256.0)
    assert [(c.t_start_s, c.duration_s) for c in d.chirps] == [(40.0, 10.0)]


def test_a_chirp_found_mostly_in_the_padding_is_not_in_the_recording(frame, one_look):
    recording = np.random.default_rng(5).standard_normal(60 * 256)  # frames at 0 and 45 s, the second 45 s of padding
    for second, kept in [((20.0, 10.0, -1.0), []), ((9.0, 12.0, -1.0), [(54.0, 12.0)]), ((8.0, 15.0, -1.0), [])]:
        (d,) = describe_many([recording], PerFramePredictor(frame, [(10.0, 3.0, -1.0), second]), sample_rate_hz=256.0)
        assert [(c.t_start_s, c.duration_s) for c in d.chirps] == [(10.0, 3.0), *kept]  # 54-66 s: half inside


def test_frames_below_the_presence_threshold_give_no_chirp(frame, pixels):
    (d,) = describe_many([pixels], FixedPredictor(frame, p_chirp=0.3))
    assert d.chirps == () and d.p_chirp == 0.3 and d.sentence.startswith("No chirp found")
    (d,) = describe_many([pixels], FixedPredictor(frame, p_chirp=0.5))
    assert len(d.chirps) == 1 and d.chirps[0].p_chirp == 0.5


def test_describe_many_streams_in_bounded_batches(frame, pixels, monkeypatch, one_look):
    # the module, not the function chirploc.describe that the package exports under the same name
    monkeypatch.setattr(importlib.import_module("chirploc.describe"), "FRAMES_PER_BATCH", 2)
    pulled = []

    def inputs():
        for i in range(5):
            pulled.append(i)
            yield pixels

    predictor = FixedPredictor(frame)
    stream = describe_many(inputs(), predictor)
    next(stream)
    assert pulled == [0, 1]  # the first answer comes after one batch, not after all inputs
    rest = list(stream)
    assert len(rest) == 4 and [len(b) for b in predictor.batches] == [2, 2, 1]


def _tones(frame, *chirps):
    """A frame of unit white noise with the chirps (kind, t0, dur, f0, f1) at 10 dB (A^2 / 2 = 10)."""
    sig = frame.signal
    x = np.random.default_rng(7).standard_normal(sig.n_samples)
    for kind, t0, dur, f0, f1 in chirps:
        x += chirp_waveform(kind, sig.n_samples, sig.sample_rate_hz, t0, dur, f0, f1, np.sqrt(20.0), 0.3)
    return x


def test_cover_chirp_puts_noise_over_the_chirps_band_and_leaves_the_rest(frame):
    image = render_image(_tones(frame, ("linear", 10.0, 20.0, 30.0, 50.0), ("linear", 10.0, 20.0, 80.0, 80.0)), frame)
    noise = noise_images(frame, 2)
    assert noise.shape == (2, *frame.image_shape) and np.array_equal(noise, noise_images(frame, 2))
    assert np.median(noise[0]) == pytest.approx(np.median(render_image(np.random.default_rng(0).standard_normal(
        frame.signal.n_samples), frame)), abs=3)  # the frame's noise, in its grey levels
    covered = cover_chirp(image, Chirp("linear", 10.0, 20.0, 30.0, 50.0), frame, noise[0])
    freqs, times = image_axes(frame)
    assert cover_half_hz(frame) == 6.0  # a 0.5 s Hann window's main lobe, 4 Hz, and two 1 Hz rows
    changed = covered != image
    cols = np.flatnonzero(changed.any(0))
    assert times[cols[0]] == pytest.approx(9.14, abs=0.5) and times[cols[-1]] == pytest.approx(30.9, abs=0.5)
    mid = np.argmin(np.abs(times - 20.0))  # at 20 s the curve is at 40 Hz
    rows = np.flatnonzero(covered[:, mid] == noise[0][:, mid])
    band = freqs[rows[(freqs[rows] > 20) & (freqs[rows] < 60)]]
    assert band.min() <= 34.0 and band.max() >= 46.0  # 40 Hz and the 0.5 s window's sweep, +-6 Hz
    assert not changed[freqs > 65].any()  # the 80 Hz tone at the same time is left as it was
    bright = image[np.argmin(np.abs(freqs - 40.0)), mid]
    assert bright > 180 and covered[np.argmin(np.abs(freqs - 40.0)), mid] < 140  # a 10 dB chirp is ~25 dB a pixel, noise 0 dB


class ToneFinder:
    """A fake model that reads pixels: the row brightest on average over the columns is a constant
    chirp over the columns where it is lit, if it is lit in at least four of them; with
    ``blurred``, over the columns where any row is lit (so other chirps in the frame spoil it)."""

    def __init__(self, frame, blurred=False):
        self.frame, self.looks, self.blurred = frame, 0, blurred

    def predict(self, images):
        self.looks += 1
        freqs, times = image_axes(self.frame)
        out = {k: np.zeros(len(images)) for k in (*TARGETS, "p_chirp")}
        out["kind"] = np.zeros(len(images), np.int64)
        for b, image in enumerate(images):
            row = int(np.argmax(image[:-2].mean(1)))  # not the lowest rows (DC)
            lit = np.flatnonzero(image[row] > 160)  # 17.6 dB: noise alone hardly ever
            if self.blurred and len(lit) >= 4:
                lit = np.flatnonzero((image[:-2] > 160).sum(0) >= 2)
            if len(lit) >= 4:
                out["t_start_s"][b], out["duration_s"][b] = times[lit[0]], times[lit[-1]] - times[lit[0]]
                out["f_start_hz"][b] = out["f_end_hz"][b] = freqs[row]
                out["p_chirp"][b] = 1.0
        return out


def test_a_frame_gives_every_chirp_in_it_one_look_after_another(frame):
    tones = [("linear", 5.0, 10.0, 20.0, 20.0), ("linear", 30.0, 8.0, 50.0, 50.0), ("linear", 32.0, 10.0, 90.0, 90.0)]
    finder = ToneFinder(frame)
    (d,) = describe_many([render_image(_tones(frame, *tones), frame)], finder)
    got = np.array([(c.t_start_s, c.f_start_hz) for c in d.chirps])
    np.testing.assert_allclose(got, [(5.0, 20.0), (30.0, 50.0), (32.0, 90.0)], atol=1.0)
    assert finder.looks == 5  # three chirps, a look that finds none, and one that reads each with the others covered
    assert len(d.sentence.split("(")) == 4 and d.sentence.startswith("3 chirps.")
    finder = ToneFinder(frame)
    (d,) = describe_many([render_image(_tones(frame), frame)], finder)
    assert d.chirps == () and finder.looks == 1  # noise: one look


class Hallucinator:
    """A fake model that finds a chirp in every look, each 5 s later than the last, its curve's
    evidence on the pixels ``evidence`` (a model whose presence is not calibrated)."""

    def __init__(self, frame, evidence):
        self.frame, self.evidence, self.looks = frame, evidence, 0

    def predict(self, images):
        n, t0 = len(images), 5.0 * self.looks
        self.looks += 1
        return {"t_start_s": np.full(n, t0), "duration_s": np.full(n, 2.0), "f_start_hz": np.full(n, 30.0),
                "f_end_hz": np.full(n, 40.0), "kind": np.zeros(n, np.int64), "p_chirp": np.ones(n),
                "evidence": np.full(n, self.evidence)}


def test_a_chirp_found_after_a_cover_needs_plain_evidence(frame, pixels):
    (d,) = describe_many([pixels], Hallucinator(frame, evidence=40.0))
    assert len(d.chirps) == 16  # a look per chirp, up to LOOKS_PER_FRAME
    (d,) = describe_many([pixels], Hallucinator(frame, evidence=5.0))  # what the search finds in noise
    assert [c.t_start_s for c in d.chirps] == [0.0]  # the first look's answer alone


def test_each_chirp_of_a_frame_is_read_again_with_the_others_covered(frame):
    """A reader that the other chirps in its frame spoil (it reads one chirp's band, but the time span
    of all of them) gets each right once the others are covered."""
    tones = [("linear", 5.0, 10.0, 30.0, 30.0), ("linear", 20.0, 8.0, 80.0, 80.0)]  # the 30 Hz one brighter below
    finder = ToneFinder(frame, blurred=True)
    (d,) = describe_many([render_image(_tones(frame, *tones), frame)], finder)
    got = np.array([(c.t_start_s, c.duration_s, c.f_start_hz) for c in d.chirps])
    np.testing.assert_allclose(got, [(5.0, 10.0, 30.0), (20.0, 8.0, 80.0)], atol=1.0)
    # two chirps, a look that finds none, one that reads both alone, and (the first came out shorter
    # than it was covered) one at what its cover had hidden
    assert finder.looks == 5


# --- the plot -----------------------------------------------------------------------------------


def test_plot_curve_spans_the_chirp_and_extent_the_pixel_edges(frame):
    times_s, freqs_hz = chirp_curve(Chirp("linear", 5.0, 30.0, 20.0, 80.0), n=7)
    np.testing.assert_allclose(times_s, np.linspace(5.0, 35.0, 7))
    np.testing.assert_allclose(freqs_hz, np.linspace(20.0, 80.0, 7))  # linear: f follows t
    left, right, bottom, top = image_extent(frame)
    freqs, times = image_axes(frame)
    assert (right - left) / frame.image_shape[1] == pytest.approx(times[1] - times[0])
    assert (top - bottom) / frame.image_shape[0] == pytest.approx(freqs[0] - freqs[1])
    wide = image_extent(frame, 3 * frame.n_columns)
    assert wide[0] == left and (wide[1] - wide[0]) == pytest.approx(3 * (right - left))


def test_figure_paths_are_the_file_for_one_input_else_one_unique_name_per_input(tmp_path):
    assert figure_paths(tmp_path / "f.PDF", ["x/a.png"]) == [tmp_path / "f.PDF"]
    assert figure_paths(tmp_path / "f.png", ["x/a.png", "x/b.npy"]) == [
        tmp_path / "f.png" / "a_png.png",
        tmp_path / "f.png" / "b_npy.png",
    ]
    assert figure_paths(tmp_path / "figs", ["x/rec.1.wav"]) == [tmp_path / "figs" / "rec_1_wav.png"]
    # one file name in two folders: the folders tell them apart, the others keep their short names
    got = figure_paths(tmp_path / "figs", ["/d/x/a.png", "/d/y/a.png", "/d/y/b.png"])
    assert [p.name for p in got] == ["x__a_png.png", "y__a_png.png", "b_png.png"]


@pytest.mark.parametrize("seconds", [30, 150])
def test_plot_description_writes_the_figure_atomically(frame, tmp_path, seconds):
    signal = np.random.default_rng(4).standard_normal(seconds * 256)
    ((d, prepared),) = describe_many([signal], FixedPredictor(frame), sample_rate_hz=256.0, keep_images=True)
    assert (prepared.signal is not None) == (seconds > 46)  # a recording of more than one frame is drawn whole
    out = tmp_path / "sub" / "plot.png"
    assert plot_description(d, prepared, frame, "noise", out) == out
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100
    assert [p.name for p in out.parent.iterdir()] == ["plot.png"]  # no .partial left behind


def test_importing_chirploc_pulls_in_neither_torch_nor_matplotlib():
    code = (
        "import sys, chirploc, chirploc.describe; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_resampling_is_exact_for_whole_rates_and_says_when_it_is_not():
    out, notes = resample(np.zeros(44100 * 3), 44100.0, 256.0)  # 64 / 11025
    assert len(out) == 3 * 256 and notes == ["resampled from 44100 Hz to 256 Hz"]
    out, notes = resample(np.zeros(2000), 123456.789, 256.0)  # no small exact ratio: rounded, and said
    assert "the nearest ratio to 256 Hz" in notes[0] and "times off by 0.05%" in notes[0]
    with pytest.raises(InputError, match=r"sample rate 3.33333e\+08 Hz is over 1000 times the model's 256 Hz"):
        resample(np.zeros(10), 1e9 / 3, 256.0)
