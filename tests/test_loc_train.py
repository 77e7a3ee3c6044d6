"""Training loop pieces on scripted inputs: early stopping, the plateau scheduler, device and AMP choice."""

import pytest
import torch

from chirploc.config import TrainConfig
from chirploc.train import EarlyStopping, resolve_amp, resolve_device


def test_early_stopping_on_a_scripted_loss_sequence():
    stopper = EarlyStopping(patience=3, min_delta=0.01)
    improved = [stopper.step(v) for v in [1.0, 0.9, 0.895, 0.95, 0.8905, 0.92]]
    # 0.895 and 0.8905 lie within min_delta of the best 0.9, so neither counts as an improvement
    assert improved == [True, True, False, False, False, False]
    assert stopper.should_stop and stopper.best == 0.9
    restored = EarlyStopping(patience=3, min_delta=0.01)
    restored.load_state_dict(stopper.state_dict())
    assert restored.best == 0.9 and restored.bad_epochs == 4 and restored.should_stop


def test_plateau_scheduler_fires_before_early_stopping():
    cfg = TrainConfig(plateau_patience=1, early_stop_patience=3, plateau_factor=0.5, lr=1.0)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    stopper = EarlyStopping(cfg.early_stop_patience, cfg.min_delta)
    lrs = []
    for loss in [1.0, 0.8, 0.8, 0.8, 0.8]:
        sched.step(loss)
        stopper.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
        if stopper.should_stop:
            break
    # two epochs without improvement exceed patience 1: the lr halves before stopping (3 bad epochs)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert stopper.should_stop


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
