"""chirploc describe with the packaged default model: any gain, any length, no chirp, many files,
bad inputs, the Python API.

The default model runs on the numpy engine (loaded in about 0.1 s, a 60 s frame described in tens
of ms), so these checks of the real model stay fast. Recordings are unit-variance white noise plus
chirps at +5 dB (SNR = amplitude^2 / 2 over the noise variance), well inside what the model finds.
"""

import csv
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy.io import wavfile

import chirploc
from chirpgen.signal import chirp_waveform
from chirpgen.spectrogram import render_image
from chirploc.cli import CSV_FIELDS, main
from chirploc.inference import load_predictor
from chirploc.recording import InputError

RATE_HZ = 256.0
AMPLITUDE_5DB = np.sqrt(2 * 10**0.5)
COLUMN_S = 0.46875  # the default frame's column: the model's time resolution


def recording(seconds, chirps, seed):
    """Unit-variance noise with ``chirps`` = [(kind, t_start_s, duration_s, f_start_hz, f_end_hz)] at +5 dB."""
    n = int(seconds * RATE_HZ)
    signal = np.random.default_rng(seed).standard_normal(n)
    for kind, t0, dur, f0, f1 in chirps:
        signal += chirp_waveform(kind, n, RATE_HZ, t0, dur, f0, f1, AMPLITUDE_5DB, 0.3)
    return signal


@pytest.fixture(scope="module")
def predictor():
    predictor = load_predictor(None)
    assert predictor.engine == "numpy"
    return predictor


def assert_found(chirp, kind, t0, dur, f0, f1):
    assert chirp.kind == kind
    assert chirp.t_start_s == pytest.approx(t0, abs=COLUMN_S)
    assert chirp.duration_s == pytest.approx(dur, abs=COLUMN_S)
    assert chirp.f_start_hz == pytest.approx(f0, abs=1.5) and chirp.f_end_hz == pytest.approx(f1, abs=1.5)
    assert chirp.p_chirp > 0.5 and not chirp.fallback


# --- the Python API on recordings -----------------------------------------------------------------


def test_the_description_does_not_depend_on_the_gain():
    truth = ("exponential", 17.3, 11.0, 30.0, 55.0)
    signal = recording(60, [truth], seed=0)
    quiet, unit, loud = (chirploc.describe(g * signal, sample_rate_hz=RATE_HZ) for g in (1e-3, 1.0, 1e3))
    (chirp,) = unit.chirps
    assert_found(chirp, *truth)
    for other in (quiet, loud):
        assert other.sentence == unit.sentence and len(other.chirps) == 1
        for name in ("t_start_s", "duration_s", "f_start_hz", "f_end_hz", "p_chirp"):
            assert getattr(other.chirps[0], name) == pytest.approx(getattr(chirp, name), abs=1e-6)
    levels = [float(d.notes[0].removeprefix("divided by its noise level ")) for d in (quiet, unit, loud)]
    np.testing.assert_allclose(levels, [1e-3, 1.0, 1e3], rtol=0.03)


def test_a_recording_with_an_offset_and_mains_hum_gives_its_chirp_alone(predictor):
    truth = ("linear", 52.0, 6.0, 35.0, 60.0)  # late in a 60 s file (in the second frame), across the hum
    t = np.arange(60 * RATE_HZ) / RATE_HZ
    signal = recording(60, [truth], seed=6) + 4.0 + 3.0 * np.sin(2 * np.pi * 50.0 * t)
    d = chirploc.describe(signal, sample_rate_hz=RATE_HZ, predictor=predictor)
    (chirp,) = d.chirps
    assert_found(chirp, *truth)
    assert d.notes[0].startswith("offset 4 removed") and d.notes[1].startswith("steady line at 50.00 Hz removed")
    quiet = chirploc.describe(recording(60, [], seed=7) + 4.0 + 3.0 * np.sin(2 * np.pi * 50.0 * t),
                              sample_rate_hz=RATE_HZ, predictor=predictor)
    assert quiet.chirps == ()


def test_a_chirp_far_louder_than_the_frame_knows_is_read_as_well(predictor):
    truth = ("exponential", 12.0, 9.0, 15.0, 40.0)
    n = int(60 * RATE_HZ)
    signal = np.random.default_rng(8).standard_normal(n) + chirp_waveform(
        truth[0], n, RATE_HZ, *truth[1:3], *truth[3:], np.sqrt(2 * 10 ** 3.5), 0.3)  # 35 dB
    d = chirploc.describe(signal, sample_rate_hz=RATE_HZ, predictor=predictor)
    (chirp,) = d.chirps
    assert_found(chirp, *truth)
    assert any(note.startswith("its loudest chirp about 35 dB") for note in d.notes)


def test_several_chirps_in_one_frame_are_each_found(predictor):
    # one after another 3 s apart, as calls follow one another; and two at the same time, 40 Hz apart
    for truth in ([("linear", 5.0, 6.0, 20.0, 35.0), ("exponential", 14.0, 8.0, 60.0, 30.0),
                   ("quadratic", 30.0, 10.0, 40.0, 70.0)],
                  [("linear", 10.0, 12.0, 20.0, 30.0), ("quadratic", 14.0, 8.0, 60.0, 80.0)]):
        d = chirploc.describe(recording(40, truth, seed=9), sample_rate_hz=RATE_HZ, predictor=predictor)
        assert len(d.chirps) == len(truth), d.sentence
        for chirp, want in zip(d.chirps, truth, strict=True):
            assert_found(chirp, *want)
    (alone,) = chirploc.describe(recording(40, truth[:1], seed=9), sample_rate_hz=RATE_HZ, predictor=predictor).chirps
    assert_found(alone, *truth[0])  # and one chirp is one chirp, not its remnants as well


def test_calls_repeated_at_one_pitch_are_each_found(predictor):
    """Eight calls 5 s long every 10 s at 40-44 Hz, as a bird repeats a note: no steady line, and the
    model's first reading, which joins neighbours at one pitch, is read again alone."""
    truth = [("linear", 3.0 + 10 * k, 5.0, 40.0, 44.0) for k in range(8)]
    d = chirploc.describe(recording(90, truth, seed=0), sample_rate_hz=RATE_HZ, predictor=predictor)
    assert not any("steady line" in note for note in d.notes)
    assert len(d.chirps) == len(truth), d.sentence
    for chirp, (_, t0, dur, f0, f1) in zip(d.chirps, truth, strict=True):  # a 4 Hz sweep: any law fits it
        assert chirp.t_start_s == pytest.approx(t0, abs=COLUMN_S) and chirp.duration_s == pytest.approx(dur, abs=COLUMN_S)
        assert chirp.f_start_hz == pytest.approx(f0, abs=2.5) and chirp.f_end_hz == pytest.approx(f1, abs=2.5)


def test_a_short_clip_is_padded_and_its_chirp_found_at_its_time(predictor):
    truth = ("linear", 8.0, 10.0, 30.0, 50.0)
    d = chirploc.describe(recording(25, [truth], seed=2), sample_rate_hz=RATE_HZ, predictor=predictor)
    (chirp,) = d.chirps
    assert_found(chirp, *truth)
    assert "padded with noise from 25 s to the model's 60 s frame" in d.notes


def test_a_long_recording_is_scanned_and_each_chirp_found_once_at_its_time(predictor):
    # frames start at 0, 45, ..., 270 s: the chirps at 100, 190 and 282 s are also seen cut at the edge
    # of the frame before the one that holds them whole
    truth = [
        ("linear", 12.0, 8.0, 20.0, 40.0),
        ("exponential", 100.0, 12.0, 60.0, 80.0),
        ("quadratic", 190.0, 10.0, 50.0, 25.0),
        ("linear", 282.0, 10.0, 10.0, 30.0),
    ]
    d = chirploc.describe(recording(300, truth, seed=3), sample_rate_hz=RATE_HZ, predictor=predictor)
    assert len(d.chirps) == len(truth), d.sentence
    for chirp, want in zip(d.chirps, truth, strict=True):
        assert_found(chirp, *want)
    assert ("300 s long: scanned in 7 overlapping frames of 60 s (starts 45 s apart, so that each chirp starts 0-45 s "
            "into one of them; padded with noise past the end)") in d.notes
    assert d.sentence.startswith("4 chirps. (1) A linear chirp")
    assert [r["chirp"] for r in d.records()] == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_noise_alone_gives_no_chirp(predictor, seed):
    d = chirploc.describe(recording(60, [], seed), sample_rate_hz=RATE_HZ, predictor=predictor)
    assert d.chirps == () and d.p_chirp < 0.5
    assert d.sentence.startswith("No chirp found") and f"{d.p_chirp:.2f}" in d.sentence
    (record,) = d.records()
    assert record["kind"] == "none" and record["t_start_s"] is None and record["p_chirp"] < 0.5


def test_a_channels_first_npy_is_described_as_its_mono_average(predictor, tmp_path):
    truth = ("quadratic", 20.0, 9.0, 40.0, 65.0)
    stereo = np.stack([recording(60, [truth], seed=5), recording(60, [], seed=6)])  # (2, N)
    np.save(tmp_path / "stereo.npy", stereo)
    both = chirploc.describe(tmp_path / "stereo.npy", sample_rate_hz=RATE_HZ, predictor=predictor)
    mono = chirploc.describe(stereo.mean(axis=0), sample_rate_hz=RATE_HZ, predictor=predictor)
    assert len(both.chirps) == 1 and both.chirps == mono.chirps and both.p_chirp == mono.p_chirp
    assert both.notes == ("2 channels (axis 0 of (2, 15360)) averaged to mono", *mono.notes)


def test_images_paths_and_arrays_give_the_same_description(predictor, tmp_path):
    image = render_image(recording(60, [("linear", 30.0, 6.0, 70.0, 90.0)], seed=7), predictor.frame)
    Image.fromarray(image, mode="L").save(tmp_path / "a.png")
    from_path = chirploc.describe(str(tmp_path / "a.png"))
    from_array = chirploc.describe(image, predictor=predictor)
    assert from_path.chirps == from_array.chirps and len(from_path.chirps) == 1
    assert from_path.source == str(tmp_path / "a.png") and from_array.source == "<array (128, 128)>"
    assert_found(from_path.chirps[0], "linear", 30.0, 6.0, 70.0, 90.0)


def test_describe_raises_a_clear_error_for_a_bad_input(predictor, tmp_path):
    with pytest.raises(InputError, match="missing.wav does not exist"):
        chirploc.describe(tmp_path / "missing.wav", predictor=predictor)
    with pytest.raises(InputError, match=r"needs its sample rate \(sample_rate_hz=...\)"):
        chirploc.describe(np.zeros(1000), predictor=predictor)
    with pytest.raises(InputError, match="is silent"):
        chirploc.describe(np.zeros(1000), sample_rate_hz=RATE_HZ, predictor=predictor)
    good, bad = chirploc.describe_many([np.ones((128, 128), np.uint8), tmp_path / "x.png"], predictor)
    assert good.error is None and "x.png does not exist" in bad.error


# --- the CLI on many files ------------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(main, ["describe", *map(str, args)])


@pytest.fixture(scope="module")
def folder(tmp_path_factory, predictor):
    """a.png (a chirp), b.npy (30 s of noise), sub/c.wav (a chirp at 5 s) and a text file to skip."""
    root = tmp_path_factory.mktemp("inputs")
    image = render_image(recording(60, [("linear", 30.0, 6.0, 70.0, 90.0)], seed=7), predictor.frame)
    Image.fromarray(image, mode="L").save(root / "a.png")
    np.save(root / "b.npy", recording(30, [], seed=8))
    (root / "sub").mkdir()
    wavfile.write(
        root / "sub" / "c.wav", 256, recording(20, [("linear", 5.0, 8.0, 20.0, 35.0)], 9).astype(np.float32)
    )
    (root / "sub" / "readme.txt").write_text("not an input")
    return root


def test_a_folder_gives_one_json_line_per_input_in_sorted_order(folder):
    result = invoke(folder, "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(folder / n) for n in ("a.png", "b.npy", "sub/c.wav")]
    assert [r["kind"] for r in records] == ["linear", "none", "linear"]
    assert records[2]["t_start_s"] == pytest.approx(5.0, abs=COLUMN_S)
    assert "no sample rate in a .npy file" in records[1]["notes"][0] and result.stderr == ""


def test_glob_patterns_expand_sorted_per_pattern(folder):
    result = invoke(folder / "**" / "*.wav", folder / "*.np?", "--json")
    assert result.exit_code == 0, result.output
    files = [json.loads(line)["file"] for line in result.stdout.splitlines()]
    assert files == [str(folder / "sub" / "c.wav"), str(folder / "b.npy")]


def test_csv_has_a_header_and_one_row_per_chirp_or_input(folder):
    result = invoke(folder, folder / "missing.png", "--csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [r["file"] for r in rows] == [
        str(folder / n) for n in ("a.png", "b.npy", "sub/c.wav", "missing.png")
    ]
    assert float(rows[0]["t_start_s"]) == pytest.approx(30.0, abs=COLUMN_S) and rows[0]["chirp"] == "0"
    assert rows[1]["kind"] == "none" and rows[1]["t_start_s"] == "" and float(rows[1]["p_chirp"]) < 0.5
    assert (
        rows[1]["notes"].startswith("no sample rate in a .npy file")
        and "; divided by its noise level" in rows[1]["notes"]
    )
    assert "missing.png does not exist" in rows[3]["error"] and rows[3]["kind"] == ""
    assert "missing.png does not exist" in result.stderr


def test_plain_text_gives_one_line_per_input_with_its_notes(folder):
    result = invoke(folder / "a.png", folder / "sub" / "c.wav")
    assert result.exit_code == 0, result.output
    a, c = result.stdout.splitlines()
    assert a.startswith(f"{folder / 'a.png'}: A linear chirp sweeping from ")
    assert c.startswith(f"{folder / 'sub' / 'c.wav'}: A linear chirp")
    assert c.endswith("; padded with noise from 20 s to the model's 60 s frame)")


# --- the CLI on bad inputs: one line each, the others still described --------------------------


def _palette_png(path, index, palette):
    im = Image.fromarray(index, mode="P")
    im.putpalette([v for rgb in palette for v in rgb])
    im.save(path)


def _zero_hz_wav(path):
    wavfile.write(path, 256, recording(10, [], 1).astype(np.float32))
    data = bytearray(path.read_bytes())
    data[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample rate
    path.write_bytes(bytes(data))


PIXELS = np.random.default_rng(1).integers(0, 256, (128, 128), dtype=np.uint8)
OPAQUE_LA = np.stack([PIXELS, np.full_like(PIXELS, 255)], axis=-1)
SEE_THROUGH_LA = np.stack([PIXELS, np.where(PIXELS > 100, 255, 0).astype(np.uint8)], axis=-1)
NAN_SAMPLES = np.where(np.arange(256 * 30) == 100, np.nan, 0.0)

# file name -> (write it, then: [fragments of its one stderr line] if refused, or "its note" if accepted)
CORPUS = {
    "missing.wav": (lambda p: None, ["missing.wav does not exist", "give an image, .wav or .npy file"]),
    "la_alpha.png": (
        lambda p: Image.fromarray(SEE_THROUGH_LA, mode="LA").save(p),
        ["la_alpha.png is a LA image with transparent pixels", "give the opaque 8-bit grey spectrogram"],
    ),
    "la_opaque.png": (
        lambda p: Image.fromarray(OPAQUE_LA, mode="LA").save(p),
        "grey LA image: first channel used",
    ),
    "colour_palette.png": (
        lambda p: _palette_png(p, PIXELS, [(i, 0, 255 - i) for i in range(256)]),
        ["colour_palette.png is a colour", "give the 8-bit grey spectrogram"],
    ),
    "inverted_palette.png": (
        lambda p: _palette_png(p, PIXELS, [(255 - i,) * 3 for i in range(256)]),
        "palette image read through its palette",
    ),
    "zero_hz.wav": (_zero_hz_wav, ["zero_hz.wav says its sample rate is 0 Hz", "fix the WAV header"]),
    "channels_first.npy": (
        lambda p: np.save(p, np.stack([recording(30, [], 2), recording(30, [], 3)])),
        "2 channels (axis 0 of (2, 7680)) averaged to mono",
    ),
    "square.npy": (
        lambda p: np.save(p, np.ones((100, 100))),
        ["square.npy has shape (100, 100): neither axis looks like channels", "give a 1-D recording"],
    ),
    "nan.npy": (
        lambda p: np.save(p, NAN_SAMPLES),
        ["nan.npy holds NaN or infinite samples", "clean the recording"],
    ),
    "silent.wav": (
        lambda p: wavfile.write(p, 256, np.zeros(2560, np.float32)),
        ["silent.wav is silent", "--scale raw"],
    ),
    "small.png": (
        lambda p: Image.fromarray(PIXELS[:64], mode="L").save(p),
        ["small.png is 64x128 (H x W) but the model expects 128x128", "give an image of the model's frame"],
    ),
    "text.png": (lambda p: p.write_text("not an image"), ["text.png is not a readable image", "give a PNG"]),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_each_bad_input_is_one_line_and_the_good_one_is_still_described(folder, tmp_path, name):
    write, expected = CORPUS[name]
    write(tmp_path / name)
    result = invoke(folder / "a.png", tmp_path / name)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{folder / 'a.png'}: A linear chirp")  # the good file is still described
    if isinstance(expected, str):  # accepted, with a note saying how it was read
        assert result.exit_code == 0 and result.stderr == "", result.output
        assert len(lines) == 2 and lines[1].startswith(f"{tmp_path / name}: ") and expected in lines[1]
        return
    assert result.exit_code == 1 and len(lines) == 1
    error, tally = result.stderr.splitlines()
    assert error.startswith("chirploc describe: ") and str(tmp_path / name) in error
    for fragment in expected:
        assert fragment in error, error
    assert tally == "chirploc describe: 1 of 2 inputs could not be described"


def test_an_inverted_grey_palette_is_described_as_its_grey_levels(folder, tmp_path):
    _palette_png(tmp_path / "p.png", 255 - PIXELS, [(255 - i,) * 3 for i in range(256)])
    Image.fromarray(PIXELS, mode="L").save(tmp_path / "l.png")
    result = invoke(tmp_path / "p.png", tmp_path / "l.png", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]  # one per chirp found in each
    palettes, greys = ([r for r in records if r["file"].endswith(name)] for name in ("p.png", "l.png"))
    assert len(palettes) == len(greys) >= 1 and len(records) == 2 * len(greys)
    for palette, grey in zip(palettes, greys, strict=True):
        assert palette["notes"] == ["palette image read through its palette", *grey["notes"]]  # and the same notes on the chirp
        assert palette.keys() == grey.keys()
        for k in palette.keys() - {"file", "notes"}:  # the same pixels, read in other places of a batch
            assert palette[k] == (pytest.approx(grey[k], rel=1e-6) if isinstance(grey[k], float) else grey[k]), k


def bird_song(rate=44100, seed=11):
    """3 s at 44.1 kHz: two calls of a fifth of a second at 2.5-4.5 kHz (a linear and an exponential
    sweep), at +5 dB against the noise in the 0-6.4 kHz band that 50 times expansion brings into the
    model's 0-128 Hz."""
    t = np.arange(3 * rate) / rate
    band_sd = np.sqrt(6400 / (rate / 2))  # unit-variance noise has this standard deviation in 0-6.4 kHz
    signal = np.random.default_rng(seed).standard_normal(len(t))
    for kind, t0, dur, f0, f1 in BIRD_CALLS:
        signal += band_sd * chirp_waveform(kind, len(t), rate, t0, dur, f0, f1, AMPLITUDE_5DB, 0.3)
    return signal


BIRD_CALLS = [("linear", 0.5, 0.2, 3000.0, 4500.0), ("exponential", 1.6, 0.15, 4000.0, 2500.0)]


def test_calls_far_above_the_models_band_are_found_time_expanded(predictor, tmp_path):
    song = bird_song()
    assert chirploc.describe(song, sample_rate_hz=44100, predictor=predictor).chirps == ()  # above 128 Hz: unseen
    d = chirploc.describe(song, sample_rate_hz=44100, predictor=predictor, expand=50)
    assert d.notes[0].startswith("time-expanded 50 times (read as if recorded at 882 Hz): the model's chirps are "
                                 "50-5000 Hz and 0.02-0.3 s long here")
    assert len(d.chirps) == 2, d.sentence
    for chirp, (kind, t0, dur, f0, f1) in zip(d.chirps, BIRD_CALLS, strict=True):  # in the recording's own units
        assert chirp.kind == kind
        assert chirp.t_start_s == pytest.approx(t0, abs=COLUMN_S / 50) and chirp.duration_s == pytest.approx(dur, abs=COLUMN_S / 50)
        assert chirp.f_start_hz == pytest.approx(f0, abs=1.5 * 50) and chirp.f_end_hz == pytest.approx(f1, abs=1.5 * 50)
    assert "kHz" in d.sentence and "ms" in d.sentence
    wavfile.write(tmp_path / "song.wav", 44100, (song / np.max(np.abs(song)) * 0.5).astype(np.float32))
    result = invoke(tmp_path / "song.wav", "--expand", "50", "--json", "--plot", tmp_path / "song.png")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [round(r["f_start_hz"], -2) for r in records] == [3000.0, 4000.0] and (tmp_path / "song.png").stat().st_size > 0


@pytest.mark.parametrize("expand", ["nan", "inf", "0", "-2"])
def test_a_bad_time_expansion_is_one_line_naming_it(folder, expand):
    result = invoke(folder / "sub" / "c.wav", "--expand", expand)
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        f"Error: time expansion {float(expand)!r} must be a finite number > 0 (1: none); pass e.g. --expand 50"
    ]


@pytest.mark.parametrize("rate", ["nan", "inf", "0", "-256"])
def test_a_bad_rate_is_one_line_naming_it(folder, rate):
    result = invoke(folder / "b.npy", "--rate", rate)
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.output
    value = repr(float(rate))
    assert result.stderr.splitlines() == [
        f"Error: sample rate {value} Hz must be a finite number > 0; pass e.g. --rate 256"
    ]


def test_json_and_csv_together_are_a_usage_error(folder):
    result = invoke(folder / "a.png", "--json", "--csv")
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1  # one line, no usage block
    assert result.stderr.startswith("Error: give --json or --csv, not both; see ") and "describe --help" in result.stderr


def test_a_folder_without_inputs_is_reported(folder, tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke(folder / "a.png", tmp_path / "empty")
    assert result.exit_code == 1
    assert str(tmp_path / "empty") in result.stderr


def test_a_glob_matching_folders_is_not_an_error(folder):
    result = invoke(folder / "*")  # a.png, b.npy and the folder sub/
    assert "is a folder" not in result.stderr
    assert result.exit_code == 0, result.output


def test_plot_gives_each_input_its_own_figure(folder, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    for sub in ("x", "y"):
        shutil.copy(folder / "a.png", tmp_path / sub / "a.png")
    result = invoke(tmp_path / "x", tmp_path / "y", "--plot", tmp_path / "figures")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "figures").iterdir())) == 2


# --- a fresh process ------------------------------------------------------------------------------

FRESH = """
import json, sys
from chirploc.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted({"torch", "timm", "peft", "matplotlib"} & set(sys.modules))), file=sys.stderr)
"""


def test_describe_in_a_fresh_process_imports_neither_torch_timm_nor_peft(folder):
    out = subprocess.run(
        [sys.executable, "-c", FRESH, "describe", str(folder / "a.png"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == "linear"
    assert json.loads(out.stderr.splitlines()[-1]) == []
