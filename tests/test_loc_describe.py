"""chirploc describe's pieces without a model: sentences, recordings into the frame, images, the plot.

The end-to-end checks with a trained model are in test_loc_core.py; here a stand-in predictor
returns fixed values, so every test runs in well under a second (the plot's matplotlib aside).
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from chirpgen.config import KIND_NAMES, TARGETS, load_config
from chirpgen.plumbing import UserError
from chirpgen.spectrogram import image_axes, render_image
from chirploc.describe import describe_files, grey_pixels, load_image, load_input
from chirploc.plot import chirp_curve, image_extent, plot_results
from chirploc.recording import (
    InputError,
    fit_to_frame,
    load_recording,
    pcm_to_float,
    recording_image,
    resample,
    robust_std,
    scale_to_noise,
    to_mono,
)
from chirploc.text import quantity, result_line, result_record, sentence


@pytest.fixture(scope="module")
def frame():
    return load_config("default")  # 256 Hz, 60 s, 128 x 128 pixels


@pytest.fixture(scope="module")
def noise(frame):
    """Unit-variance white noise filling the frame."""
    return np.random.default_rng(0).standard_normal(frame.signal.n_samples)


# --- text ---------------------------------------------------------------------------------------


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


def test_result_record_keys_values_and_line():
    values = {"duration_s": np.float32(10.79), "f_end_hz": 36.81, "f_start_hz": 14.62, "t_start_s": 38.94}
    record = result_record("a.png", values, "exponential", ["a note", "another"])
    assert list(record) == ["file", *TARGETS, "kind", "description", "notes"]
    assert all(type(record[k]) is float for k in TARGETS)
    assert record["description"] == sentence("exponential", 14.62, 36.81, 38.94, float(np.float32(10.79)))
    assert json.loads(json.dumps(record)) == record
    assert result_line(record) == f"a.png: {record['description']} (a note; another)"
    assert result_line({**record, "notes": []}) == f"a.png: {record['description']}"


# --- recordings ---------------------------------------------------------------------------------


def test_pcm_to_float_maps_the_integer_range_to_minus_one_to_one():
    signed, notes = pcm_to_float(np.array([-32768, 0, 32767], np.int16))
    assert signed.tolist() == [-1.0, 0.0, 32767 / 32768] and notes == ["16-bit integer WAV scaled to [-1, 1)"]
    unsigned, notes = pcm_to_float(np.array([0, 128, 255], np.uint8))
    assert unsigned.tolist() == [-1.0, 0.0, 127 / 128] and notes == ["8-bit integer WAV scaled to [-1, 1)"]
    floats = np.array([0.5, -2.0], np.float32)
    assert pcm_to_float(floats) == (floats, [])


def test_to_mono_averages_channels_and_rejects_empty_or_non_finite():
    mono, notes = to_mono(np.array([[1.0, 3.0], [0.0, -2.0]]), "x.wav")
    assert mono.tolist() == [2.0, -1.0] and notes == ["2 channels averaged to mono"]
    assert to_mono(np.arange(3, dtype=np.int16), "x.npy")[1] == []
    with pytest.raises(InputError, match=r"x.wav holds no samples \(shape \(0,\)\)"):
        to_mono(np.zeros(0), "x.wav")
    with pytest.raises(InputError, match="no samples"):
        to_mono(np.zeros((2, 2, 2)), "x.npy")
    with pytest.raises(InputError, match="NaN or infinite"):
        to_mono(np.array([0.0, np.inf]), "x.wav")


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


def test_fit_to_frame_pads_crops_and_says_so(frame):
    n = frame.signal.n_samples
    short = np.arange(1.0, 256 * 30 + 1)
    padded, notes = fit_to_frame(short, 256.0, frame)
    assert len(padded) == n and np.array_equal(padded[: len(short)], short) and not padded[len(short) :].any()
    assert notes == ["zero-padded from 30 s to 60 s"]
    long = np.arange(float(n + 500))
    cropped, notes = fit_to_frame(long, 256.0, frame)
    assert np.array_equal(cropped, long[:n]) and notes == ["cropped from 62 s to the first 60 s"]
    exact = np.ones(n)
    assert fit_to_frame(exact, 256.0, frame) == (exact, [])
    both, notes = fit_to_frame(np.ones(512 * 30), 512.0, frame)
    assert len(both) == n and notes == ["resampled from 512 Hz to 256 Hz", "zero-padded from 30 s to 60 s"]


def test_robust_noise_level_of_unit_variance_noise_is_one(noise):
    assert robust_std(noise) == pytest.approx(1.0, abs=0.02)
    assert robust_std(3.0 * noise + 7.0) == pytest.approx(3.0 * robust_std(noise))
    loud = noise.copy()
    loud[: len(loud) // 20] *= 100.0  # a loud event in 5 % of the record hardly moves the median
    assert robust_std(loud) == pytest.approx(1.0, abs=0.1) and np.std(loud) > 10
    scaled, notes = scale_to_noise(5.0 * noise)
    assert robust_std(scaled) == pytest.approx(1.0) and notes[0].startswith(
        "divided by its robust noise level 5"
    )
    silence = np.zeros(8)
    assert scale_to_noise(silence) == (silence, [])


def test_recording_image_raw_is_the_frame_render_and_noise_scale_is_amplitude_free(frame, noise):
    image, notes = recording_image(noise, frame.signal.sample_rate_hz, frame)
    assert notes == [] and np.array_equal(image, render_image(noise, frame))
    quiet, _ = recording_image(0.01 * noise, frame.signal.sample_rate_hz, frame, scale="noise")
    loud, notes = recording_image(100.0 * noise, frame.signal.sample_rate_hz, frame, scale="noise")
    assert np.abs(quiet.astype(int) - loud.astype(int)).max() <= 1  # float32 rounding
    assert notes == [f"divided by its robust noise level {robust_std(100.0 * noise):.3g}"]
    with pytest.raises(InputError, match=r"scale='loud' must be one of \['raw', 'noise'\]"):
        recording_image(noise, 256.0, frame, scale="loud")
    assert issubclass(InputError, UserError)


def test_load_recording_reads_wav_and_npy(tmp_path):
    pcm = np.array([[-32768, 0], [16384, 16384]], np.int16)
    wavfile.write(tmp_path / "a.wav", 8000, pcm)
    signal, rate_hz, notes = load_recording(tmp_path / "a.wav")
    assert signal.tolist() == [-0.5, 0.5] and rate_hz == 8000.0
    assert notes == ["16-bit integer WAV scaled to [-1, 1)", "2 channels averaged to mono"]
    np.save(tmp_path / "b.npy", np.arange(4, dtype=np.int32))
    assert load_recording(tmp_path / "b.npy", 100.0)[1:] == (100.0, [])
    with pytest.raises(InputError, match="pass it"):
        load_recording(tmp_path / "b.npy")
    with pytest.raises(InputError, match="sample rate -1 Hz of .*b.npy must be > 0"):
        load_recording(tmp_path / "b.npy", -1.0)
    np.save(tmp_path / "c.npy", np.array(["a", "b"]))
    with pytest.raises(InputError, match="holds <U1 values"):
        load_recording(tmp_path / "c.npy", 100.0)
    (tmp_path / "d.wav").write_bytes(b"RIFF....")
    with pytest.raises(InputError, match="d.wav is not a readable WAV file"):
        load_recording(tmp_path / "d.wav")


# --- images and load_input ----------------------------------------------------------------------


def test_png_round_trip_gives_the_stored_pixels(frame, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, frame.image_shape, dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "a.png")
    image, notes = load_image(tmp_path / "a.png", frame)
    assert np.array_equal(image, pixels) and notes == []
    Image.fromarray(np.stack([pixels] * 3, axis=-1), mode="RGB").save(tmp_path / "rgb.png")
    image, notes = load_input(tmp_path / "rgb.png", frame)
    assert np.array_equal(image, pixels) and notes == ["grey RGB image: first channel used"]
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="notes.png is not a readable image"):
        load_image(tmp_path / "notes.png", frame)


def test_grey_pixels_rejects_colour_depth_and_geometry(frame):
    grey = np.zeros(frame.image_shape, np.uint8)
    colour = np.stack([grey, grey, grey + 1], axis=-1)
    with pytest.raises(InputError, match=r"x.png is a colour \(RGB\) image"):
        grey_pixels(colour, "RGB", frame, "x.png")
    with pytest.raises(InputError, match=r"has uint16 pixels \(mode I;16\)"):
        grey_pixels(grey.astype(np.uint16), "I;16", frame, "x.png")
    with pytest.raises(InputError, match=r"x.png is 64x128 \(H x W\) but the model expects 128x128"):
        grey_pixels(grey[:64], "L", frame, "x.png")


def test_load_input_checks_scale_then_file_and_notes_a_npy_rate(frame, noise, tmp_path):
    with pytest.raises(InputError, match="scale='x'"):
        load_input(tmp_path / "missing.png", frame, scale="x")
    with pytest.raises(InputError, match="missing.png does not exist"):
        load_input(tmp_path / "missing.png", frame)
    np.save(tmp_path / "rec.npy", noise)
    image, notes = load_input(tmp_path / "rec.npy", frame)
    assert np.array_equal(image, render_image(noise, frame))
    assert notes == ["no sample rate in a .npy file: taken as the model's 256 Hz (pass --rate to change)"]
    assert load_input(tmp_path / "rec.npy", frame, sample_rate_hz=512.0)[1] == [
        "resampled from 512 Hz to 256 Hz",
        "zero-padded from 30 s to 60 s",
    ]


# --- describe_files with a stand-in predictor, and the plot -------------------------------------


class FixedPredictor:
    """Predicts the same linear and exponential chirps whatever the images; records what it saw."""

    def __init__(self, frame):
        self.frame = frame
        self.seen = None

    def predict(self, images):
        self.seen = images
        n = len(images)
        values = {"t_start_s": 10.0, "f_start_hz": 20.0, "f_end_hz": 80.0, "duration_s": 30.0}
        return {**{k: np.full(n, v) for k, v in values.items()}, "kind": np.arange(n) % 3}


def test_describe_files_orders_records_like_the_inputs(frame, noise, tmp_path):
    Image.fromarray(np.zeros(frame.image_shape, np.uint8), mode="L").save(tmp_path / "a.png")
    wavfile.write(tmp_path / "b.wav", 256, noise.astype(np.float32))
    predictor = FixedPredictor(frame)
    results = describe_files([tmp_path / "a.png", str(tmp_path / "b.wav")], predictor)
    assert predictor.seen.shape == (2, *frame.image_shape) and predictor.seen.dtype == np.uint8
    assert [r["file"] for r in results] == [str(tmp_path / "a.png"), str(tmp_path / "b.wav")]
    assert [r["kind"] for r in results] == ["linear", "quadratic"]
    assert results[1] == result_record(
        str(tmp_path / "b.wav"),
        {"t_start_s": 10.0, "f_start_hz": 20.0, "f_end_hz": 80.0, "duration_s": 30.0},
        "quadratic",
        [],
    )


def test_plot_curve_spans_the_chirp_and_extent_the_pixel_edges(frame, tmp_path):
    record = {"t_start_s": 5.0, "f_start_hz": 20.0, "f_end_hz": 80.0, "duration_s": 30.0, "kind": "linear"}
    times_s, freqs_hz = chirp_curve(record, n=7)
    np.testing.assert_allclose(times_s, np.linspace(5.0, 35.0, 7))
    np.testing.assert_allclose(freqs_hz, np.linspace(20.0, 80.0, 7))  # linear: f follows t
    left, right, bottom, top = image_extent(frame)
    freqs, times = image_axes(frame)
    assert (right - left) / frame.image_shape[1] == pytest.approx(times[1] - times[0])
    assert (top - bottom) / frame.image_shape[0] == pytest.approx(freqs[0] - freqs[1])
    out = tmp_path / "sub" / "plot.png"
    image = np.zeros(frame.image_shape, np.uint8)
    assert plot_results([image], [{**record, "file": "a.png", "description": "d"}], frame, out) == out
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100
    assert [p.name for p in out.parent.iterdir()] == ["plot.png"]  # no .partial left behind


def test_importing_describe_pulls_in_neither_torch_nor_matplotlib():
    code = "import sys, chirploc.describe; print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
