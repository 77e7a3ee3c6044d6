"""chirpgen.plumbing: atomic writes, JSON files, user errors; and the frame steps both packages use."""

import click
import numpy as np
import pytest
from click.testing import CliRunner

from chirpgen.config import load_config, preset_names
from chirpgen.plumbing import (
    PARTIAL_SUFFIX,
    UserError,
    atomic_path,
    one_line,
    read_json,
    user_errors,
    write_json_atomic,
)
from chirpgen.shards import DatasetError
from chirpgen.spectrogram import image_axes


class Boom(Exception):
    pass


def test_atomic_path_replaces_the_target_only_when_the_write_is_complete(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp == tmp_path / ("out.json" + PARTIAL_SUFFIX)
        tmp.write_text("new, half")
        assert target.read_text() == "old"  # a reader meanwhile sees the old file, whole
        tmp.write_text("new, whole")
    assert target.read_text() == "new, whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


@pytest.mark.parametrize("existed", [True, False])
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_atomic_path_leaves_no_partial_file_and_the_target_untouched_on_failure(tmp_path, existed, error):
    target = tmp_path / "out.h5"
    if existed:
        target.write_bytes(b"complete")
    with pytest.raises(error), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of it")
        raise error
    assert [p.name for p in tmp_path.iterdir()] == (["out.h5"] if existed else [])
    if existed:
        assert target.read_bytes() == b"complete"


def test_write_json_atomic_round_trip(tmp_path):
    data = {"n": 3, "f_hz": [1.5, 2.25], "nested": {"name": "chirp", "ok": True, "none": None}}
    path = tmp_path / "a.json"
    write_json_atomic(path, data)
    assert read_json(path) == data
    write_json_atomic(path, {"shape": (2, 3)})  # tuples (and other iterables, via default=list) become lists
    assert read_json(path) == {"shape": [2, 3]}
    assert path.read_text().endswith("\n") and not list(tmp_path.glob("*" + PARTIAL_SUFFIX))


def test_read_json_errors_name_the_file_and_the_fix(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(UserError, match=r"missing\.json' is missing; make it again"):
        read_json(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match=r"bad\.json' is not readable JSON .*; run chirpgen make"):
        read_json(bad, error=DatasetError, fix="run chirpgen make")


def test_one_line_folds_white_space_and_cuts_to_the_limit():
    assert one_line("size mismatch for\n  head.weight:\tcopying") == "size mismatch for head.weight: copying"
    cut = one_line(KeyError("x" * 500), limit=40)
    assert len(cut) == 40 and cut.endswith("...") and cut.startswith("'xxx")
    assert one_line("x" * 40, limit=40) == "x" * 40


def test_dataset_error_is_a_user_error_and_a_value_error():
    assert issubclass(DatasetError, UserError) and issubclass(DatasetError, ValueError)


def _command(exc: BaseException) -> click.Command:
    @click.command()
    @user_errors("Interrupted: the partial file was removed; run it again.")
    def cmd() -> None:
        raise exc

    return cmd


@pytest.mark.parametrize(
    "exc, line",
    [
        (UserError("n=0 must be positive; give --n 1 or more"), "Error: n=0 must be positive; give --n 1 or more"),
        (ValueError("signal.noise='red' must be one of ['white', 'pink']"), "Error: signal.noise='red' must be"),
        (FileNotFoundError(2, "No such file or directory", "data/x.h5"), "Error: No such file or directory: data/x.h5"),
    ],
)
def test_user_errors_prints_one_line_and_exits_1(exc, line):
    result = CliRunner().invoke(_command(exc), [])
    assert result.exit_code == 1
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(line) and "Traceback" not in result.output


def test_user_errors_lets_a_bug_through_with_its_traceback():
    result = CliRunner().invoke(_command(KeyError("bug")), [])
    assert isinstance(result.exception, KeyError)


def test_ctrl_c_exits_130_with_the_given_message():
    result = CliRunner().invoke(_command(KeyboardInterrupt()), [])
    assert result.exit_code == 130
    assert result.stderr.strip() == "Interrupted: the partial file was removed; run it again."


@pytest.mark.parametrize("preset", preset_names())
def test_column_and_bin_steps_are_the_hop_and_the_rfft_bin(preset):
    config = load_config(preset)
    fs = config.signal.sample_rate_hz
    assert config.column_s == config.stft.hop / fs and config.bin_hz == fs / config.stft.nfft
    freqs_hz, times_s = image_axes(config)  # and they are the steps of the stored axes
    np.testing.assert_allclose(np.diff(times_s), config.column_s, rtol=1e-12)
    np.testing.assert_allclose(-np.diff(freqs_hz), config.bin_hz, rtol=1e-12)
