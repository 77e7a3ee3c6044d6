"""chirploc under faults: bad recipes refused in one line, checkpoint swaps cut by a kill and put back,
damaged weights and shards named, and training killed at any point resumed to the numbers of an
uninterrupted run.

The runs start from the session's tiny dense-head run (conftest ``dense_run``: 1 epoch on 120 records).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import DENSE_TINY
from PIL import Image
from safetensors.torch import load_file
from test_gen_cli import assert_one_line_error
from test_gen_faults import flip_image_byte

import chirploc.checkpoint
import chirploc.rundir
import chirploc.train
from chirpgen.config import load_config
from chirpgen.dataset import make_dataset
from chirpgen.shards import DatasetError
from chirploc.checkpoint import CheckpointError, load_run, package_run
from chirploc.cli import main
from chirploc.config import load_train_config
from chirploc.data import ChirpShards
from chirploc.inference import load_predictor
from chirploc.rundir import checkpoint_folder, recover_checkpoints
from chirploc.train import train

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "debug.yaml"
TWO_EPOCHS = [*DENSE_TINY, "max_train_samples=32", "max_val_samples=12", "epochs=2"]
TIMING = ("images_per_s", "epoch_time_s", "train_time_s")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def flip_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def metrics(run):
    """metrics.jsonl without the fields that measure time."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def assert_same_weights(run_a, run_b, names=("best", "last")):
    for name in names:
        files = sorted(p.name for p in (run_a / name).glob("*.safetensors"))
        assert files and files == sorted(p.name for p in (run_b / name).glob("*.safetensors"))
        for file in files:
            a, b = load_file(run_a / name / file), load_file(run_b / name / file)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{name}/{file} differ"


def leftovers(run):
    return sorted(p.name for p in run.iterdir() if p.suffix in (".tmp", ".old"))


def epoch_of(folder):
    return json.loads((folder / "checkpoint.json").read_text())["epoch"]


def copy_run(dense_run, tmp_path, epochs=None):
    run = tmp_path / "run"
    shutil.copytree(dense_run / "run", run)
    if epochs is not None:  # resume runs the saved recipe: extend it as a user would
        config = json.loads((run / "config.json").read_text())
        config["epochs"] = epochs
        (run / "config.json").write_text(json.dumps(config))
    return run


# --- recipes: one line naming the key, before any work ----------------------------------------------------

BAD_VALUES = [
    ("lr=.inf", "lr=inf"),
    ("lr=.nan", "lr=nan"),
    ("epochs=true", "epochs=True"),
    ("batch_size=1e20", "batch_size=100000000000000000000"),
    ("model.lora_r=2.5", "model.lora_r=2.5"),
    ("seed=-1", "seed=-1"),
    ("model=5", "model=5"),
    ("model.arch=5", "model.arch=5"),
    ("model.model_kwargs={patch_size: 0}", "model.model_kwargs.patch_size=0"),
    ("model.model_kwargs={embed_dim: 0}", "model.model_kwargs.embed_dim=0"),
    ("model.model_kwargs={depth: -1}", "model.model_kwargs.depth=-1"),
    ("model.head_hidden=1000000000", "model.head_hidden=1000000000"),
    ("model.time_subbins=1000", "model.time_subbins=1000"),
    ("num_threads=1000000000000", "num_threads=1000000000000"),
]


@pytest.mark.parametrize("recipe", [None, RECIPE], ids=["defaults", "debug.yaml"])
@pytest.mark.parametrize("override, key", BAD_VALUES)
def test_a_bad_recipe_value_is_a_value_error_naming_the_key(recipe, override, key):
    with pytest.raises(ValueError, match=re.escape(key)):
        load_train_config(recipe, [override])


@pytest.mark.parametrize("command", ["train", "pretrain"])
@pytest.mark.parametrize("override, key", BAD_VALUES)
def test_chirploc_train_refuses_a_bad_recipe_in_one_line_before_any_work(tmp_path, command, override, key):
    # --data is no data set: a check that ran after reading it would name the data instead
    result = invoke(command, "--data", tmp_path / "nothing", "--out", tmp_path / "run", "--set", override)
    assert result.exit_code == 1
    assert_one_line_error(result, key)
    assert not (tmp_path / "run").exists()


def test_sizes_known_only_with_the_frame_or_from_timm_are_one_line_naming_the_key(recwarn):
    from chirploc.backbone import BackboneError
    from chirploc.config import ModelConfig
    from chirploc.model import build_model

    frame = load_config("default")
    dense = {"model_kwargs": {"embed_dim": 16, "depth": 1, "num_heads": 2, "patch_size": [128, 2]},
             "global_pool": "flatten", "head": "dense", "head_hidden": 16, "adapt": "full"}
    cases = [
        ({**dense, "freq_step_hz": 1e-6}, "model.freq_step_hz=1e-06"),  # 128 Hz in 1.3e8 bins
        ({**dense, "head_hidden": 65536, "freq_step_hz": 0.01}, "model.head_hidden=65536"),  # 8e8 weights
        ({**dense, "arch": "no_such_vit"}, "model.arch"),
        ({**dense, "model_kwargs": {**dense["model_kwargs"], "num_heads": 3}}, "model.model_kwargs"),  # 16 / 3
    ]
    for kwargs, key in cases:
        with pytest.raises(BackboneError, match=re.escape(key)) as info:
            build_model(ModelConfig(**kwargs), frame, 3)
        assert "\n" not in str(info.value)
    assert not [w for w in recwarn if "timm" in w.filename]  # timm's warnings about a model it then refuses


def test_a_refused_train_leaves_no_new_folder_and_adds_nothing_to_an_old_one(dense_run, tmp_path):
    recipe = load_train_config(None, TWO_EPOCHS)
    no_val = tmp_path / "no_val"
    make_dataset(no_val, 4, load_config("default", overrides=["splits={train: 1, val: 0, test: 0}"]))
    for data in (tmp_path / "nothing", no_val):
        with pytest.raises(ValueError):
            train(data, tmp_path / "new" / "deeper" / "run", recipe)
        assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="'val'"):
        train(no_val, tmp_path / "old", recipe)
    assert [p.name for p in (tmp_path / "old").iterdir()] == ["notes.txt"]
    with pytest.raises(CheckpointError, match="holds no run"):
        train(dense_run / "data", tmp_path / "missing", recipe, resume=True)
    assert not (tmp_path / "missing").exists()


# --- checkpoint swaps cut short by a kill -----------------------------------------------------------------


def _folder(path, tag, complete):
    path.mkdir()
    (path / "head.safetensors").write_text(tag)
    if complete:  # checkpoint.json is written last: it marks the folder complete
        (path / "checkpoint.json").write_text("{}")


@pytest.mark.parametrize("name", ["best", "last"])
@pytest.mark.parametrize(
    "present, kept",
    [
        ({"": True, ".tmp": False}, ""),  # killed while writing .tmp
        ({"": True, ".tmp": True}, ""),  # killed before the first rename
        ({".old": True, ".tmp": True}, ".tmp"),  # killed between the renames: the new one is complete
        ({"": True, ".old": True}, ""),  # killed while removing .old
        ({".old": True, ".tmp": False}, ".old"),
        ({".old": True}, ".old"),
        ({".tmp": True}, ".tmp"),
    ],
)
def test_recover_checkpoints_puts_back_the_complete_folder(tmp_path, name, present, kept):
    other = "last" if name == "best" else "best"
    _folder(tmp_path / other, "other", True)
    for suffix, complete in present.items():
        _folder(tmp_path / f"{name}{suffix}", suffix or "final", complete)
    recover_checkpoints(tmp_path)
    assert (tmp_path / name / "head.safetensors").read_text() == (kept or "final")
    assert (tmp_path / name / "checkpoint.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, other])
    assert (tmp_path / other / "head.safetensors").read_text() == "other"


def test_recover_checkpoints_never_promotes_an_incomplete_folder(tmp_path):
    _folder(tmp_path / "last.tmp", "half written", False)
    recover_checkpoints(tmp_path)
    assert not (tmp_path / "last").exists()


def _between_the_renames(ckpt):  # final -> .old done, .tmp -> final not yet
    old, tmp = ckpt.with_name(ckpt.name + ".old"), ckpt.with_name(ckpt.name + ".tmp")
    os.replace(ckpt, old)
    shutil.copytree(old, tmp)


def _moved_to_tmp(ckpt):  # the same, when there was no previous folder
    os.replace(ckpt, ckpt.with_name(ckpt.name + ".tmp"))


def _moved_to_old_with_a_half_written_tmp(ckpt):
    os.replace(ckpt, ckpt.with_name(ckpt.name + ".old"))
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    tmp.mkdir()
    (tmp / "head.safetensors").write_bytes(b"half")


@pytest.mark.parametrize("kill", [_between_the_renames, _moved_to_tmp, _moved_to_old_with_a_half_written_tmp])
@pytest.mark.parametrize("name", ["best", "last"])
def test_a_kill_during_a_checkpoint_swap_is_read_by_evaluate_and_repaired_by_resume(dense_run, tmp_path, name, kill):
    data = dense_run / "data"
    run = copy_run(dense_run, tmp_path, epochs=2)
    want = {p.name: p.read_bytes() for p in (run / name).iterdir()}
    kill(run / name)
    assert not (run / name).exists()
    before = sorted(p.name for p in run.iterdir())
    result = invoke("evaluate", run, "--data", data, "--split", "val", "--checkpoint", name, "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output  # read around the interrupted swap...
    assert sorted(p.name for p in run.iterdir()) == before  # ...changing nothing: the trainer alone repairs
    assert {p.name: p.read_bytes() for p in checkpoint_folder(run, name).iterdir()} == want  # what it read

    result = invoke("train", "--data", data, "--out", run, "--resume", "--no-progress")
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in metrics(run)] == [1, 2] and epoch_of(run / "last") == 2
    assert leftovers(run) == []
    assert invoke("evaluate", run, "--data", data, "--split", "val", "--out", tmp_path / "eval").exit_code == 0


# --- damaged weights and shards are named ---------------------------------------------------------------------


def test_a_flipped_byte_in_a_checkpoint_is_named_corrupt(dense_run, tmp_path):
    run = copy_run(dense_run, tmp_path)
    flip_byte(run / "best" / "head.safetensors")
    with pytest.raises(CheckpointError, match=r"best/head\.safetensors.* is corrupt"):
        load_run(run)
    load_run(run, "last")  # the other checkpoint still loads
    png = tmp_path / "x.png"
    Image.fromarray(np.zeros((128, 128), np.uint8), mode="L").save(png)
    for args in (
        ("evaluate", run, "--data", dense_run / "data", "--split", "val"),
        ("describe", png, "--model", run, "--engine", "torch"),
        ("describe", png, "--model", run),  # the numpy runtime checks the same record
    ):
        assert_one_line_error(invoke(*args), "best/head.safetensors", "corrupt", "use the other checkpoint")


def test_a_flipped_byte_in_a_packaged_model_is_named_corrupt_by_the_numpy_runtime(dense_run, tmp_path):
    model = package_run(dense_run / "run", tmp_path / "model")
    assert load_predictor(model, engine="numpy").engine == "numpy"
    flip_byte(model / "best" / "backbone.safetensors")
    with pytest.raises(CheckpointError, match=r"backbone\.safetensors.* is corrupt"):
        load_predictor(model, engine="numpy")


def test_a_flipped_byte_in_a_shard_is_named_corrupt_by_the_training_data(tmp_path):
    make_dataset(tmp_path / "data", 30, load_config("default"), seed=1, shard_size=10)
    flip_image_byte(tmp_path / "data" / "train-00001.h5")
    with pytest.raises(DatasetError, match=r"train-00001\.h5 is corrupt"):
        ChirpShards(tmp_path / "data", "train")
    assert len(ChirpShards(tmp_path / "data", "val")) == 3
    result = invoke("train", "--data", tmp_path / "data", "--out", tmp_path / "run", *sum((["--set", s] for s in DENSE_TINY), []))
    assert_one_line_error(result, "train-00001.h5 is corrupt")


# --- a kill between the epoch's writes, then --resume ------------------------------------------------------------


class Killed(Exception):
    """Stands for a SIGKILL at one point of end_of_epoch."""


def _kill_at_epoch_2(monkeypatch, where):
    """Stop training in epoch 2 after its metrics line: before ``last`` is written, or between its renames."""
    real_save = chirploc.train.save_checkpoint

    def save_checkpoint(run_dir, name, model, adapt, info, train_state=None):
        if name == "last" and info["epoch"] == 2:
            if where == "before last":
                raise Killed

            def half_swap(tmp, final):
                os.replace(final, final.with_name(final.name + ".old"))
                raise Killed

            monkeypatch.setattr(chirploc.checkpoint, "swap_in", half_swap)
        return real_save(run_dir, name, model, adapt, info, train_state)

    monkeypatch.setattr(chirploc.train, "save_checkpoint", save_checkpoint)


@pytest.fixture(scope="module")
def straight(dense_run, tmp_path_factory):
    """An uninterrupted 2-epoch run."""
    run = tmp_path_factory.mktemp("straight") / "run"
    train(dense_run / "data", run, load_train_config(None, TWO_EPOCHS))
    assert [r["epoch"] for r in metrics(run)] == [1, 2]
    return run


@pytest.mark.parametrize("where", ["before last", "between the renames of last"])
def test_a_kill_after_the_metrics_line_resumes_to_the_numbers_of_an_uninterrupted_run(
    dense_run, straight, tmp_path, monkeypatch, where
):
    data, run = dense_run / "data", tmp_path / "run"
    _kill_at_epoch_2(monkeypatch, where)
    with pytest.raises(Killed):
        train(data, run, load_train_config(None, TWO_EPOCHS))
    monkeypatch.undo()
    assert len(metrics(run)) == 2  # epoch 2's line is written, last still holds epoch 1
    assert epoch_of(run / "last" if where == "before last" else run / "last.old") == 1

    summary = train(data, run, load_train_config(None, TWO_EPOCHS), resume=True)
    assert summary["epochs_run"] == 2 and leftovers(run) == []
    assert metrics(run) == metrics(straight)
    assert_same_weights(run, straight)


def test_resume_drops_the_metrics_lines_of_epochs_last_does_not_hold(dense_run, straight, tmp_path):
    """The brief's recipe without monkeypatching: last of a 1-epoch run beside the 2-epoch run's metrics."""
    data, run = dense_run / "data", tmp_path / "run"
    train(data, run, load_train_config(None, [*TWO_EPOCHS, "epochs=1"]))
    shutil.copy(straight / "metrics.jsonl", run / "metrics.jsonl")
    (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text() + '{"epoch": 3, "torn li')
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "epochs": 2}))
    train(data, run, load_train_config(None, TWO_EPOCHS), resume=True)
    assert metrics(run) == metrics(straight)
    assert_same_weights(run, straight)


def test_a_kill_before_the_first_last_checkpoint_leaves_a_run_that_resumes_or_restarts(dense_run, tmp_path, monkeypatch):
    real_save = chirploc.train.save_checkpoint

    def save_checkpoint(run_dir, name, *args, **kwargs):
        if name == "last":
            raise Killed
        return real_save(run_dir, name, *args, **kwargs)

    monkeypatch.setattr(chirploc.train, "save_checkpoint", save_checkpoint)
    with pytest.raises(Killed):
        train(dense_run / "data", tmp_path / "run", load_train_config(None, TWO_EPOCHS))
    monkeypatch.undo()
    assert (tmp_path / "run" / "best").is_dir() and not (tmp_path / "run" / "last").exists()
    sets = sum((["--set", s] for s in TWO_EPOCHS), [])
    again = invoke("train", "--data", dense_run / "data", "--out", tmp_path / "run", "--no-progress", *sets)
    resumed = invoke("train", "--data", dense_run / "data", "--out", tmp_path / "run", "--no-progress", "--resume")
    assert 0 in (again.exit_code, resumed.exit_code), again.output + resumed.output


def test_loading_a_run_while_it_trains_leaves_the_training_alone(dense_run, tmp_path, monkeypatch):
    run = copy_run(dense_run, tmp_path, epochs=2)
    real_save_tensors = chirploc.checkpoint.save_tensors

    def save_tensors(path, tensors):
        real_save_tensors(path, tensors)
        if path.parent.name == "last.tmp":  # meanwhile, `chirploc evaluate RUN` in another shell
            load_run(run, "best")

    monkeypatch.setattr(chirploc.checkpoint, "save_tensors", save_tensors)
    train(dense_run / "data", run, load_train_config(None, TWO_EPOCHS), resume=True)
    assert epoch_of(run / "last") == 2


def test_resume_refuses_settings_that_would_change_the_saved_recipe(dense_run, tmp_path):
    from chirploc.train import check_resume_overrides

    def check(*overrides, pretrain=False):
        check_resume_overrides(run, load_train_config(RECIPE, overrides), overrides, pretrain)

    run = copy_run(dense_run, tmp_path)
    check(*DENSE_TINY)  # the interrupted command again, with --resume
    check("model.weights=none", "seed=0", "model.model_kwargs.depth=1")
    with pytest.raises(CheckpointError) as info:
        check(*DENSE_TINY, "epochs=3", "seed=7")
    assert all(s in str(info.value) for s in ("epochs=3 (the run has 1)", "seed=7", "config.json", "--out"))
    with pytest.raises(CheckpointError, match="model.model_kwargs.depth=2"):
        check("model.model_kwargs.depth=2")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "epochs": 3}))  # as chirploc pretrain saves it
    check("epochs=1", "model.adapt=lora", "pretrain={epochs: 3}", pretrain=True)
    (run / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=re.escape(f"{str(run / 'config.json')!r}")):
        check("seed=7")


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda run: (run / "config.json").write_text("garbage"), "config.json"),
        (lambda run: (run / "config.json").write_text(json.dumps({"epochs": 0})), "config.json"),
        (lambda run: (run / "frame.json").write_text("{"), "frame.json"),
        (lambda run: (run / "last" / "train_state.pt").write_text("garbage"), "train_state.pt"),
    ],
    ids=["config not json", "config bad value", "frame not json", "state not torch"],
)
def test_resume_of_a_damaged_run_is_one_line_naming_the_file_and_logs_nothing_before(dense_run, tmp_path, damage,
                                                                                     fragment, caplog):
    run = copy_run(dense_run, tmp_path, epochs=2)
    damage(run)
    if fragment == "train_state.pt":  # only its content is wrong
        info = json.loads((run / "last" / "checkpoint.json").read_text())
        info["sha256"][fragment] = chirploc.rundir.sha256_file(run / "last" / fragment)
        (run / "last" / "checkpoint.json").write_text(json.dumps(info))
    def files():  # the lock file holds the pid of its last holder
        return {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != chirploc.train.TRAIN_LOCK}

    before = files()
    with caplog.at_level("INFO"), pytest.raises(CheckpointError) as info:
        train(dense_run / "data", run, load_train_config(None, TWO_EPOCHS), resume=True)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert not [r for r in caplog.records if r.name.startswith("chirploc")]
    assert files() == before


# --- (slow) the real command SIGKILLed mid-epoch, then --resume ---------------------------------------------------


def _lines(path):
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.slow
def test_sigkill_of_chirploc_train_then_resume_gives_the_numbers_of_an_uninterrupted_run(tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    make_dataset(data, 600, load_config("default"), seed=2, shard_size=600)  # 480 train records
    recipe = [*DENSE_TINY, "epochs=4", "max_val_samples=32"]
    cmd = [sys.executable, "-m", "chirploc.cli", "train", "--data", str(data), "--out", str(run), "--no-progress",
           *sum((["--set", s] for s in recipe), [])]

    def kill_when(args, ready, what):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not ready() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert proc.poll() is None, f"train ended before {what}: {proc.stderr.read()}"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()

    def mid_epoch_2():
        try:  # last/ is swapped by renames while we look
            if epoch_of(run / "last") != 1:
                return False
            epoch_s = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])["epoch_time_s"]
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        time.sleep(0.4 * epoch_s)
        return True

    kill_when(cmd, mid_epoch_2, "epoch 2")
    assert _lines(run / "metrics.jsonl") == 1 and epoch_of(run / "last") == 1  # killed inside epoch 2
    kill_when([*cmd, "--resume"], lambda: _lines(run / "metrics.jsonl") >= 3, "the line of epoch 3")
    assert _lines(run / "metrics.jsonl") == 3
    subprocess.run([*cmd, "--resume"], check=True, capture_output=True)

    train(data, tmp_path / "straight", load_train_config(None, recipe))
    assert [r["epoch"] for r in metrics(run)] == [1, 2, 3, 4]
    assert metrics(run) == metrics(tmp_path / "straight")
    assert_same_weights(run, tmp_path / "straight")
    assert leftovers(run) == []


def test_a_model_is_evaluated_on_other_snrs_but_not_on_another_frame():
    from chirpgen.config import load_config
    from chirploc.evaluate import frame_differences

    default = load_config("default")
    other_snr = load_config("default", overrides=["signal.snr_db=[0, 5]", "signal.p_no_chirp=0.1"])
    assert frame_differences(default, other_snr) == []
    assert "signal.sample_rate_hz" in frame_differences(default, load_config("audio"))


def test_a_recipe_or_config_that_is_not_yaml_is_one_line(tmp_path):
    from chirpgen.config import load_config

    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n  b: {\n")
    for load in (lambda: load_train_config(bad), lambda: load_config(path=bad)):
        with pytest.raises(ValueError, match="is not valid YAML") as info:
            load()
        assert "\n" not in str(info.value)


def test_an_unknown_config_key_is_named_with_the_known_ones():
    from chirpgen.config import load_config

    with pytest.raises(ValueError, match=r"unknown config key signal\.nope; signal has \[.*'snr_db'"):
        load_config("default", overrides=["signal.nope=3"])
