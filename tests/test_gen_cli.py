"""The chirpgen command: the real commands end to end, and one clear line for every bad input."""

import csv
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from chirpgen.cli import main
from chirpgen.config import load_config
from chirpgen.shards import read_split


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "data"
    result = run("make", "--n", 40, "--out", out, "--seed", 3, "--workers", 2, "--shard-size", 16, "--quiet")
    assert result.exit_code == 0, result.output
    assert "wrote 40 samples (train 32, val 4, test 4)" in result.output
    return out


def test_info_counts_and_frame(data):
    result = run("info", data)
    assert result.exit_code == 0, result.output
    assert "image 128 x 128" in result.output and "rows 0-127 Hz every 1 Hz" in result.output
    assert "train        32" in result.output and "KB per sample" in result.output


def test_export_writes_the_exact_pixels_and_the_labels(data, tmp_path):
    result = run("export", data, "--split", "val", "--n", 3, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    stored = read_split(data, "val")
    with open(tmp_path / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and list(rows[0]) == [
        "file", "split", "index", "kind", "t_start_s", "f_start_hz", "f_end_hz", "duration_s", "snr_db"
    ]
    for j, row in enumerate(rows):
        png = Image.open(tmp_path / row["file"])
        assert png.mode == "L"
        assert np.array_equal(np.asarray(png), stored["image"][j])
        assert float(row["f_end_hz"]) == pytest.approx(stored["f_end_hz"][j], rel=1e-8)
        assert row["kind"] in ("linear", "quadratic", "exponential")


def test_export_and_info_of_records_without_a_chirp(tmp_path):
    out = tmp_path / "data"
    result = run("make", "--n", 30, "--out", out, "--set", "signal.p_no_chirp=0.5", "--workers", 1, "--quiet")
    assert result.exit_code == 0, result.output
    info = json.loads(run("info", out, "--json").output)
    assert info["frame"]["p_no_chirp"] == 0.5
    for split, counts in info["splits"].items():
        kind = read_split(out, split)["kind"]
        assert counts["kinds"]["none"] == np.sum(kind == 255) and sum(counts["kinds"].values()) == kind.size
    assert 0 < info["splits"]["train"]["kinds"]["none"] < 24
    table = run("info", out).output
    assert "50% of records without a chirp" in table and "none" in table.splitlines()[2]
    assert run("export", out, "--split", "train", "--n", 24, "--out", tmp_path / "png").exit_code == 0
    with open(tmp_path / "png" / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    labels = ("t_start_s", "f_start_hz", "f_end_hz", "duration_s", "snr_db")
    none = [r for r in rows if r["kind"] == "none"]
    assert len(none) == info["splits"]["train"]["kinds"]["none"]
    assert all(r[k] == "" for r in none for k in labels)
    assert all(np.isfinite(float(r[k])) for r in rows if r["kind"] != "none" for k in labels)


def test_make_again_completes_nothing_and_keeps_the_bytes(data):
    before = {p.name: p.read_bytes() for p in data.glob("*.h5")}
    result = run("make", "--n", 40, "--out", data, "--seed", 3, "--shard-size", 16, "--quiet")
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in data.glob("*.h5")} == before


def test_audio_preset_and_overrides(tmp_path):
    result = run("make", "--n", 10, "--out", tmp_path, "--preset", "audio", "--set", "signal.noise=pink", "--workers", 1, "--quiet")
    assert result.exit_code == 0, result.output
    info = run("info", tmp_path, "--json").output
    assert '"sample_rate_hz": 16000.0' in info and '"noise": "pink"' in info


def assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--n", 0], ["n=0", "positive"]),
        (["--n", -5], ["n=-5"]),
        (["--n", 10, "--shard-size", 0], ["shard_size=0"]),
        (["--n", 10, "--workers", 0], ["workers=0"]),
        (["--n", 10, "--set", "signal.freq_hz=[1, 128]"], ["128 Hz", "Nyquist", "lower it"]),
        (["--n", 10, "--set", "signal.freq_hz=[0, 50]", "--set", "signal.kinds=[exponential]"], ["exponential", "> 0"]),
        (["--n", 10, "--set", "signal.duration_s=[1, 20]"], ["past record_s=60", "shorten"]),
        (["--n", 10, "--preset", "nope"], ["unknown preset 'nope'", "audio", "default"]),
        (["--n", 10, "--set", "signal.bogus=1"], ["bogus"]),
        (["--n", 10, "--set", "signal.p_no_chirp=1"], ["signal.p_no_chirp=1", "[0, 1)"]),
    ],
)
def test_make_rejects_bad_input_in_one_line(tmp_path, args, fragments):
    out = tmp_path / "d"
    assert_one_line_error(run("make", "--out", out, "--quiet", *args), *fragments)
    assert not out.exists() or not any(out.glob("*.h5"))


def test_make_rejects_an_unwritable_directory(tmp_path):
    (tmp_path / "f").write_text("")
    assert_one_line_error(run("make", "--n", 4, "--out", tmp_path / "f" / "d", "--quiet"), "cannot write to output directory", "--out")


def test_make_refuses_another_config_in_one_line(data):
    assert_one_line_error(run("make", "--n", 40, "--out", data, "--seed", 4, "--shard-size", 16, "--quiet"), "another seed 3", "new --out")


def test_make_reports_a_corrupted_shard_in_one_line(tmp_path):
    assert run("make", "--n", 12, "--out", tmp_path, "--shard-size", 4, "--quiet", "--workers", 1).exit_code == 0
    victim = tmp_path / "train-00001.h5"
    victim.write_bytes(victim.read_bytes()[:-100])
    assert_one_line_error(run("make", "--n", 12, "--out", tmp_path, "--shard-size", 4, "--quiet"), "train-00001.h5 is corrupt", "delete")


def test_info_and_export_on_a_directory_that_is_not_a_data_set(tmp_path):
    assert_one_line_error(run("info", tmp_path), "not a chirpgen data set", "chirpgen make")
    assert_one_line_error(run("export", tmp_path, "--out", tmp_path / "p"), "not a chirpgen data set")


def test_config_file(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("name: slow\nsignal:\n  sample_rate_hz: 128\n  freq_hz: [1, 40]\n")
    config = load_config(path=config_file)
    assert config.signal.sample_rate_hz == 128 and config.signal.freq_hz == (1.0, 40.0)
    assert run("make", "--n", 4, "--out", tmp_path / "ok", "--config", config_file, "--quiet").exit_code == 0
    config_file.write_text("name: slow\nsignal:\n  sample_rate_hz: 128\n  freq_hz: [1, 70]\n")
    assert_one_line_error(run("make", "--n", 4, "--out", tmp_path / "d", "--config", config_file, "--quiet"), "Nyquist")


# what --help must not load: each takes from a tenth of a second (tqdm) to seconds (torch, scipy.signal)
HEAVY_MODULES = ("torch", "chirploc", "scipy", "h5py", "PIL", "tqdm")


def test_import_chirpgen_never_imports_torch_and_help_loads_no_heavy_module():
    """--help is fast because it loads nothing heavy: checked in sys.modules, not with a stopwatch."""
    code = "import sys, chirpgen, chirpgen.dataset, chirpgen.export, chirpgen.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code = (
        "import sys\n"
        "from chirpgen.cli import main\n"
        "for args in (['--help'], ['make', '--help'], ['export', '--help'], ['info', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, args\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


@pytest.mark.slow
def test_ctrl_c_on_the_real_command_then_resume_gives_the_same_bytes(tmp_path):
    import signal

    exe = [sys.executable, "-m", "chirpgen.cli", "make", "--n", "6000", "--shard-size", "1000", "--quiet"]
    proc = subprocess.Popen([*exe, "--out", str(tmp_path / "a")], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "a" / "train-00001.h5").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "run the same command again to resume" in err and "Traceback" not in err
    assert not (tmp_path / "a" / "test-00000.h5").exists()
    subprocess.run([*exe, "--out", str(tmp_path / "a")], check=True, capture_output=True)
    subprocess.run([*exe, "--out", str(tmp_path / "b"), "--workers", "1"], check=True, capture_output=True)
    sha = [[s["sha256"] for s in json.loads((tmp_path / d / "manifest.json").read_text())["shards"]] for d in "ab"]
    assert sha[0] == sha[1] and None not in sha[0]


def test_the_narrowest_sweep_allowed_draws_quickly_and_a_narrower_one_is_refused():
    from chirpgen.sample import draw_params, sample_rng

    config = load_config("default", overrides=["signal.max_sweep_hz=0.099"])  # 1/1000 of the 99 Hz band
    start = time.perf_counter()
    params = [draw_params(config, sample_rng(0, "train", i)) for i in range(50)]
    assert time.perf_counter() - start < 2.0
    assert all(abs(p.f_end_hz - p.f_start_hz) <= 0.099 for p in params)
    for sweep in ("0.098", "0"):
        with pytest.raises(ValueError, match=rf"signal.max_sweep_hz={sweep} must be at least 0.099 Hz"):
            load_config("default", overrides=[f"signal.max_sweep_hz={sweep}"])
    assert load_config("default", overrides=["signal.freq_hz=[50, 50]", "signal.max_sweep_hz=0"])  # one frequency


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("signal.snr_db=[-101, 0]", "signal.snr_db=[-101, 0] must lie within [-100, 100] dB"),
        ("signal.snr_db=[400, 400]", "signal.snr_db=[400, 400] must lie within [-100, 100] dB"),
        ("signal.kinds=linear", "signal.kinds='linear' must be a list"),
        ("signal.kinds=5", "signal.kinds=5 must be a list"),
        ("stft.window=null", "stft.window=None must be the name of a scipy.signal.get_window window"),
        ("stft.window=[kaiser, 8]", "stft.window=['kaiser', 8] must be the name"),
    ],
)
def test_config_refuses_values_that_would_fail_or_mislead_later(override, fragment):
    with pytest.raises(ValueError) as caught:
        load_config("default", overrides=[override])
    assert fragment in str(caught.value)
    assert load_config("default", overrides=["signal.snr_db=[-100, 100]"]).signal.snr_db == (-100.0, 100.0)


def test_config_file_that_is_not_text_a_section_that_is_not_a_mapping_and_a_preset_path(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "sig5.yaml").write_text("signal: 5\n")
    (tmp_path / "empty_section.yaml").write_text("signal:\nstft:\n  hop: 120\n")
    with pytest.raises(ValueError, match=r"binary.yaml' is not UTF-8 text; it must be a YAML text file"):
        load_config(path=tmp_path / "binary.yaml")
    with pytest.raises(ValueError, match=r"config section signal=5 must be a mapping"):
        load_config(path=tmp_path / "sig5.yaml")
    assert load_config(path=tmp_path / "empty_section.yaml").signal == load_config("default").signal
    with pytest.raises(ValueError, match=r"unknown preset .*choose one of \['audio', 'default'\]"):
        load_config(str(tmp_path / "sig5"))


def test_a_ctrl_c_inside_a_finaliser_is_kept_for_the_next_block_without_a_traceback(monkeypatch):
    from types import SimpleNamespace

    from chirpgen.cli import _ctrl_c_noticed

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    with _ctrl_c_noticed() as stop:
        sys.unraisablehook(SimpleNamespace(exc_value=KeyboardInterrupt()))  # before any Ctrl-C: reported
        stop.set()  # what the SIGINT handler does first
        sys.unraisablehook(SimpleNamespace(exc_value=KeyboardInterrupt()))  # then swallowed: kept in stop
        sys.unraisablehook(SimpleNamespace(exc_value=ValueError("x")))  # anything else: reported
    assert [type(r.exc_value) for r in seen] == [KeyboardInterrupt, ValueError]
    assert sys.unraisablehook == seen.append  # restored
