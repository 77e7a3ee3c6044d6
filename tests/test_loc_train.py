"""The training loop: early stopping, the plateau scheduler, resume, Ctrl-C, device and AMP choice."""

import json

import pytest
import torch

from chirploc.runtime import resolve_amp, resolve_device
from chirploc.train import EarlyStopping


def test_early_stopping_on_a_scripted_loss_sequence():
    stopper = EarlyStopping(patience=3, min_delta=0.01)
    improved = [stopper.step(v) for v in [1.0, 0.9, 0.895, 0.95, 0.8905, 0.92]]
    # 0.895 and 0.8905 lie within min_delta of the best 0.9, so neither counts as an improvement
    assert improved == [True, True, False, False, False, False]
    assert stopper.should_stop and stopper.best == 0.9
    restored = EarlyStopping(patience=3, min_delta=0.01)
    restored.load_state_dict(stopper.state_dict())
    assert restored.best == 0.9 and restored.bad_epochs == 4 and restored.should_stop


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    from chirpgen.config import load_config
    from chirpgen.dataset import make_dataset

    root = tmp_path_factory.mktemp("train") / "data"
    make_dataset(root, 100, load_config("default"), seed=5, shard_size=100)
    return root


def _recipe(*overrides):
    from chirploc.config import load_train_config

    tiny = [
        "model.model_kwargs={embed_dim: 16, depth: 1, num_heads: 2}",
        "model.head_hidden=8",
        "model.adapt=full",
        "batch_size=16",
        "max_train_samples=32",
        "max_val_samples=16",
        "num_threads=1",
        "amp=off",
        "device=cpu",
    ]
    return load_train_config(None, [*tiny, *overrides])


def test_training_drops_the_lr_on_a_plateau_then_stops_at_once(small_data, tmp_path):
    """The real loop: with an lr too small to improve the val loss, every epoch after the first is a
    plateau epoch; the lr drops after plateau_patience + 1 of them and training stops right after
    the early_stop_patience-th, reporting exactly the epochs it ran."""
    from chirploc.train import train

    recipe = _recipe("epochs=10", "lr=1e-7", "plateau_patience=1", "early_stop_patience=3", "plateau_factor=0.5")
    summary = train(small_data, tmp_path / "run", recipe)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert [r["lr"] for r in lines] == [1e-7, 1e-7, 1e-7, 0.5e-7]  # lr in force during each epoch
    assert [r["best"] for r in lines] == [True, False, False, False]
    assert summary["epochs_run"] == 4 and summary["stopped_early"] and summary["best_epoch"] == 1
    state = torch.load(tmp_path / "run" / "last" / "train_state.pt", weights_only=True)
    assert state["epoch"] == 3 and state["early_stopping"]["bad_epochs"] == 3


def test_the_lr_falls_linearly_over_the_decay_epochs_from_where_the_plateau_left_it(small_data, tmp_path):
    """2 steps per epoch, the last 2 epochs decaying: the plateau halves the lr after epoch 2, then the
    4 decay steps run at 1, 3/4, 2/4 and 1/4 of that (the metrics log the lr of each epoch's last
    step), and the plateau no longer cuts although the val loss still does not improve."""
    from chirploc.train import train

    recipe = _recipe("epochs=4", "decay_epochs=2", "lr=1e-7", "plateau_patience=0", "early_stop_patience=5",
                     "plateau_factor=0.5")
    train(small_data, tmp_path / "run", recipe)
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in lines] == pytest.approx([1e-7, 1e-7, 0.375e-7, 0.125e-7], rel=1e-9)


def test_decay_longer_than_training_is_refused():
    with pytest.raises(ValueError, match=r"decay_epochs=5 must lie in 0..epochs \(4\)"):
        _recipe("epochs=4", "decay_epochs=5")


def test_resume_after_early_stop_runs_no_more_epochs(small_data, tmp_path):
    from chirploc.train import train

    recipe = _recipe("epochs=10", "lr=1e-12", "plateau_patience=0", "early_stop_patience=1")
    first = train(small_data, tmp_path / "run", recipe)
    again = train(small_data, tmp_path / "run", recipe, resume=True)
    assert first["epochs_run"] == again["epochs_run"] == 2
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_ctrl_c_in_chirploc_train_says_how_to_resume(small_data, tmp_path, monkeypatch):
    from click.testing import CliRunner

    import chirploc.train
    from chirploc.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(chirploc.train, "train", interrupted)
    for command in ("train", "pretrain"):
        result = CliRunner().invoke(main, [command, "--data", str(small_data), "--out", str(tmp_path / "r")])
        assert result.exit_code == 130
        assert "--resume" in result.output and "run the same command again" not in result.output


def test_the_grad_scaler_is_a_pass_through_unless_fp16():
    from chirploc.runtime import autocast, grad_scaler

    cpu = torch.device("cpu")
    for dtype in (None, torch.bfloat16):
        scaler = grad_scaler(cpu, dtype)
        loss = torch.tensor(2.0)
        assert not scaler.is_enabled() and scaler.scale(loss) is loss and scaler.state_dict() == {}
    with autocast(cpu, None):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(cpu, torch.bfloat16):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")


def test_inference_does_not_import_the_training_code():
    import subprocess
    import sys

    code = "import sys, chirploc.inference; print('chirploc.train' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_missing_cuda_is_an_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_amp_choice():
    cpu = torch.device("cpu")
    assert resolve_amp("off", cpu) is None
    assert resolve_amp("bf16", cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="fp16"):
        resolve_amp("fp16", cpu)
    assert resolve_amp("fp16", torch.device("cuda")) == torch.float16


@pytest.mark.gpu
def test_fp16_training_on_cuda_runs_with_a_grad_scaler(tmp_path):
    from chirpgen.config import load_config
    from chirpgen.dataset import make_dataset
    from chirploc.config import load_train_config
    from chirploc.inference import load_predictor
    from chirploc.train import train

    make_dataset(tmp_path / "data", 200, load_config("default"), seed=0)
    recipe = load_train_config(
        None,
        [
            "device=cuda",
            "amp=fp16",
            "epochs=2",
            "plateau_patience=0",
            "batch_size=32",
            "model.model_kwargs={embed_dim: 32, depth: 2, num_heads: 2}",
        ],
    )
    train(tmp_path / "data", tmp_path / "run", recipe)
    state = torch.load(tmp_path / "run/last/train_state.pt", weights_only=True)
    assert state["scaler"], "fp16 must run with a GradScaler"
    pred = load_predictor(tmp_path / "run", device="cuda").predict(
        torch.zeros(2, 128, 128, dtype=torch.uint8).numpy()
    )
    assert pred["t_start_s"].shape == (2,)
