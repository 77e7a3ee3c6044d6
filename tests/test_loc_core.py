"""chirploc end to end on a tiny data set: LoRA wiring, checkpoints, resume, describe, the CLI.

A tiny data set and a tiny pretrain + LoRA run are built once per session through the real CLI.
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from scipy.io import wavfile

from chirpgen.config import load_config
from chirpgen.dataset import make_dataset
from chirpgen.sample import make_sample
from chirpgen.shards import read_split
from chirploc.checkpoint import load_run, save_checkpoint, save_run_files
from chirploc.cli import main
from chirploc.config import ModelConfig, TrainConfig, load_train_config
from chirploc.data import ChirpShards, TargetNormalisation
from chirploc.describe import describe, describe_many
from chirploc.inference import load_predictor
from chirploc.model import build_model, prepare_images, trainable_parameter_names
from chirploc.train import train
from chirploc.weights import spec_of

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "debug.yaml"

TINY = [  # the debug recipe with the regression head on a tiny 16x16-patch ViT (test_loc_dense covers the dense head)
    "model.head=regression",
    "model.model_kwargs={embed_dim: 32, depth: 2, num_heads: 2}",
    "model.head_hidden=32",
    "batch_size=32",
    "num_threads=1",
    "pretrain.epochs=1",
]
SEED = 3


@pytest.fixture(scope="session")
def frame():
    return load_config("default", overrides=["signal.snr_db=[5, 15]"])


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, frame):
    root = tmp_path_factory.mktemp("loc") / "data"
    make_dataset(root, 200, frame, seed=SEED, shard_size=80)
    return root


def _invoke(args):
    result = CliRunner().invoke(main, args)
    return result


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory):
    """pretrain (1 epoch, full) then LoRA train (2 epochs) through the CLI."""
    base = tmp_path_factory.mktemp("runs")
    sets = [a for s in TINY for a in ("--set", s)]
    pre = _invoke(
        [
            "pretrain",
            "--data",
            str(tiny_data),
            "--out",
            str(base / "pre"),
            "--config",
            str(RECIPE),
            "--no-progress",
            *sets,
        ]
    )
    assert pre.exit_code == 0, pre.output
    run = _invoke(
        [
            "train",
            "--data",
            str(tiny_data),
            "--out",
            str(base / "run"),
            "--config",
            str(RECIPE),
            "--backbone",
            str(base / "pre"),
            "--no-progress",
            "--set",
            "epochs=2",
            *sets,
        ]
    )
    assert run.exit_code == 0, run.output
    return base / "run"


def _tiny_model_config(**kw):
    return load_train_config(RECIPE, TINY).model.__class__(
        **{**load_train_config(RECIPE, TINY).model.__dict__, **kw}
    )


# --- LoRA wiring -------------------------------------------------------------------------------


@pytest.mark.parametrize("lora_mlp", [False, True])
def test_lora_trains_only_adapters_and_head(lora_mlp):
    cfg = _tiny_model_config(lora_mlp=lora_mlp)
    model, _, _ = build_model(cfg, load_config("default"), 3)
    names = trainable_parameter_names(model)
    assert names, "nothing trains"
    assert not [n for n in names if "patch_embed" in n]
    backbone = [n for n in names if n.startswith("backbone.")]
    assert all(".lora_A." in n or ".lora_B." in n for n in backbone)
    adapted = {n.split(".lora_")[0].split("blocks.")[1] for n in backbone}
    expected = {f"{b}.attn.qkv" for b in range(2)} | {f"{b}.attn.proj" for b in range(2)}
    if lora_mlp:
        expected |= {f"{b}.mlp.fc1" for b in range(2)} | {f"{b}.mlp.fc2" for b in range(2)}
    assert adapted == expected
    head = {n for n, _ in model.named_parameters() if n.startswith("head.")}
    assert head and head <= set(names)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert any("base_layer.weight" in n for n in frozen) and any("pos_embed" in n for n in frozen)


def test_full_finetune_trains_everything():
    model, _, _ = build_model(_tiny_model_config(adapt="full"), load_config("default"), 3)
    assert all(p.requires_grad for p in model.parameters())


def test_save_then_load_gives_identical_predictions(tmp_path, frame):
    cfg = TrainConfig(model=_tiny_model_config())
    model, base_state, resolved = build_model(cfg.model, frame, 3, seed=1)
    with torch.no_grad():  # make the adapters non-trivial (lora_B starts at zero)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    norm = TargetNormalisation.from_frame(frame)
    save_run_files(tmp_path, cfg, frame, norm, spec_of(resolved, frame.image_shape), base_state)
    save_checkpoint(tmp_path, "best", model, "lora", {"epoch": 1})
    x = prepare_images(torch.randint(0, 256, (4, 128, 128), dtype=torch.uint8))
    model.eval()
    with torch.no_grad():
        want = model(x)
        got = load_run(tmp_path).model(x)
    assert torch.equal(want[0], got[0]) and torch.equal(want[1], got[1])


# --- training loop pieces -----------------------------------------------------------------------


def test_resume_matches_an_uninterrupted_run(tiny_data, tmp_path):
    overrides = [*TINY, "max_train_samples=64", "max_val_samples=20", "model.weights=none"]
    straight = load_train_config(RECIPE, [*overrides, "epochs=2"])
    train(tiny_data, tmp_path / "a", straight)
    first = load_train_config(RECIPE, [*overrides, "epochs=1"])
    train(tiny_data, tmp_path / "b", first)
    state_b1 = torch.load(tmp_path / "b/last/train_state.pt", weights_only=True)
    assert state_b1["epoch"] == 0
    # resume runs the saved recipe; extend its epochs as a user would after a stop
    saved = json.loads((tmp_path / "b/config.json").read_text())
    saved["epochs"] = 2
    (tmp_path / "b/config.json").write_text(json.dumps(saved))
    train(tiny_data, tmp_path / "b", first, resume=True)
    a = [json.loads(line) for line in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (tmp_path / "b/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in b] == [1, 2]
    assert b[1]["val_loss"] == pytest.approx(a[1]["val_loss"], rel=1e-6)
    assert b[1]["lr"] == a[1]["lr"]
    sa = torch.load(tmp_path / "a/last/train_state.pt", weights_only=True)
    sb = torch.load(tmp_path / "b/last/train_state.pt", weights_only=True)
    assert sa["early_stopping"] == sb["early_stopping"] and sa["scheduler"] == sb["scheduler"]
    for ta, tb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values(), strict=True):
        assert torch.allclose(ta["exp_avg"], tb["exp_avg"], atol=1e-7)


def test_same_seed_same_run(tiny_data, tmp_path):
    cfg = load_train_config(RECIPE, [*TINY, "max_train_samples=64", "max_val_samples=20", "epochs=1"])
    train(tiny_data, tmp_path / "a", cfg)
    train(
        tiny_data,
        tmp_path / "b",
        load_train_config(RECIPE, [*TINY, "max_train_samples=64", "max_val_samples=20", "epochs=1"]),
    )
    la = (tmp_path / "a/metrics.jsonl").read_text().splitlines()[0]
    lb = (tmp_path / "b/metrics.jsonl").read_text().splitlines()[0]
    assert json.loads(la)["val_loss"] == json.loads(lb)["val_loss"]


def test_dataset_normalisation_comes_from_the_frame(tiny_data, frame):
    ds = ChirpShards(tiny_data, "train")
    assert ds.normalisation == TargetNormalisation.from_frame(frame)
    assert np.all(np.abs(ds.targets) <= 1.0)
    norm = ds.normalisation
    x = np.array([[0.0, 1.0, 100.0, 15.0]])
    assert np.allclose(norm.encode(x), [[-1, -1, 1, 1]])
    assert np.allclose(norm.decode(norm.encode(x)), x)


# --- the trained run: files, predictions, describe ----------------------------------------------


def test_run_directory_holds_everything(tiny_run):
    for name in (
        "config.json",
        "frame.json",
        "normalisation.json",
        "backbone.json",
        "base.safetensors",
        "metrics.jsonl",
        "best/head.safetensors",
        "best/adapter.safetensors",
        "best/adapter_config.json",
        "last/train_state.pt",
    ):
        assert (tiny_run / name).is_file(), name
    assert len((tiny_run / "metrics.jsonl").read_text().splitlines()) == 2
    pre = tiny_run.parent / "pre"
    assert (pre / "backbone.safetensors").is_file() and (pre / "backbone.json").is_file()
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["model"]["weights"] == str(pre.resolve())


def test_predictor_api(tiny_run, tiny_data, frame):
    predictor = load_predictor(tiny_run)
    assert predictor.frame.to_dict() == frame.to_dict()
    images = read_split(tiny_data, "test", 5)["image"]
    out = predictor.predict(images)
    assert set(out) == {"t_start_s", "f_start_hz", "f_end_hz", "duration_s", "kind"}
    assert all(out[k].dtype == np.float64 and out[k].shape == (5,) for k in out if k != "kind")
    assert out["kind"].dtype == np.int64
    single = predictor.predict(images[2])
    assert single["t_start_s"][0] == pytest.approx(out["t_start_s"][2], abs=1e-4)
    with pytest.raises(ValueError, match="do not match"):
        predictor.predict(np.zeros((1, 64, 128), np.uint8))


def test_png_and_hdf5_pixels_give_the_same_prediction(tiny_run, tiny_data, tmp_path):
    predictor = load_predictor(tiny_run)
    pixels = read_split(tiny_data, "test", 3)["image"]
    paths = []
    for i, image in enumerate(pixels):
        Image.fromarray(image, mode="L").save(tmp_path / f"{i}.png")
        paths.append(tmp_path / f"{i}.png")
    results = list(describe_many(paths, predictor))
    want = predictor.predict(pixels)
    assert [r.source for r in results] == [str(p) for p in paths]
    for i, r in enumerate(results):
        (chirp,) = r.chirps  # a regression head reports one chirp per image
        assert chirp.t_start_s == want["t_start_s"][i] and chirp.f_end_hz == want["f_end_hz"][i]
        assert chirp.p_chirp is None and r.p_chirp is None


def test_describe_wav_matches_the_sample_image(tiny_run, frame, tmp_path):
    predictor = load_predictor(tiny_run)
    sample = make_sample(frame, SEED, "test", 0)
    path = tmp_path / "rec.wav"
    wavfile.write(path, int(frame.signal.sample_rate_hz), sample.signal.astype(np.float32))
    ((raw, prepared),) = describe_many([path], predictor, scale="raw", keep_images=True)
    assert raw.notes == ("60 s long: scanned in 2 overlapping frames of 60 s (starts 45 s apart, so that each chirp "
                         "starts 0-45 s into one of them; padded with noise past the end)",)
    assert [s.offset_s for s in prepared.segments] == [0.0, 45.0]
    image = prepared.segments[0].image
    assert np.abs(image.astype(int) - sample.image.astype(int)).max() <= 1  # float32 rounding
    want = predictor.predict(sample.image)
    assert raw.chirps[0].t_start_s == pytest.approx(want["t_start_s"][0], abs=1e-3)
    got = describe(path, predictor=predictor)  # scaled by its noise level, which is about 1
    assert got.notes[0].startswith("divided by its noise level ")
    assert got.chirps[0].t_start_s == pytest.approx(want["t_start_s"][0], abs=0.2)
    assert got.chirps[0].f_start_hz == pytest.approx(want["f_start_hz"][0], abs=0.5)
    assert got.sentence.endswith(" s.") and " Hz to " in got.sentence


def test_describe_resamples_and_pads_recordings(tiny_run, frame, tmp_path):
    sample = make_sample(frame, SEED, "test", 1)
    path = tmp_path / "rec.wav"
    stereo = np.stack([sample.signal[: 256 * 30]] * 2, axis=1)  # 30 s of stereo
    from scipy.signal import resample_poly

    wavfile.write(path, 512, resample_poly(stereo, 2, 1, axis=0).astype(np.float32))
    ((d, prepared),) = describe_many([path], load_predictor(tiny_run), keep_images=True)
    assert [s.image.shape for s in prepared.segments] == [frame.image_shape]
    assert d.notes[0] == "2 channels (axis 1 of (15360, 2)) averaged to mono"
    assert d.notes[1] == "resampled from 512 Hz to 256 Hz"
    assert d.notes[2].startswith("divided by its noise level ")
    assert d.notes[3] == "padded with noise from 30 s to the model's 60 s frame"


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_evaluate_writes_table_json_csv(tiny_run, tiny_data, tmp_path):
    result = _invoke(
        ["evaluate", str(tiny_run), "--data", str(tiny_data), "--split", "test", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "overall" in result.output and "exponential" in result.output
    data = json.loads((tmp_path / "eval-test.json").read_text())
    assert data["overall"]["n"] == 20 and "per_kind_snr" in data
    assert "t_start_s" in data["overall"] and math.isfinite(data["overall"]["t_start_s"]["mae"])
    assert (tmp_path / "eval-test.csv").read_text().startswith("group,name,target")


def test_cli_describe_json_and_plot(tiny_run, tiny_data, tmp_path):
    pixels = read_split(tiny_data, "test", 1)["image"][0]
    Image.fromarray(pixels, mode="L").save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", make_sample(load_run(tiny_run).frame, 0, "test", 5).signal[: 40 * 256])  # one frame
    result = _invoke(
        [
            "describe",
            str(tmp_path / "a.png"),
            str(tmp_path / "b.npy"),
            "--rate",
            "256",
            "--model",
            str(tiny_run),
            "--json",
            "--plot",
            str(tmp_path / "p.png"),
        ]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [obj["file"] for obj in lines] == [str(tmp_path / "a.png"), str(tmp_path / "b.npy")]
    for obj in lines:
        assert {
            "t_start_s",
            "f_start_hz",
            "f_end_hz",
            "duration_s",
            "kind",
            "description",
            "file",
            "chirp",
            "notes",
        } <= set(obj)
        assert obj["chirp"] == 0  # a regression head reports one chirp per input
    # two inputs: --plot OUT is a folder with one figure per input, reported on stderr beside --json
    figures = [tmp_path / "p.png" / "a_png.png", tmp_path / "p.png" / "b_npy.png"]
    assert all(f.stat().st_size > 1000 for f in figures)
    assert result.stderr.splitlines() == [f"wrote {f}" for f in figures]
    one = tmp_path / "one.svg"
    text = _invoke(["describe", str(tmp_path / "a.png"), "--model", str(tiny_run), "--plot", str(one)])
    assert text.exit_code == 0 and " chirp sweeping from " in text.stdout
    assert one.read_text().lstrip().startswith("<?xml")  # one input: OUT is the figure


def assert_input_error(result, *fragments):
    """describe's report of an unreadable input: one line naming it, the tally, exit status 1."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    line, tally = result.stderr.strip().splitlines()
    assert line.startswith("chirploc describe: ")
    assert tally == "chirploc describe: 1 of 1 inputs could not be described"
    for fragment in fragments:
        assert fragment in line, line


def assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_bad_inputs_give_one_clear_line(tiny_run, tiny_data, tmp_path):
    assert_one_line_error(_invoke(["describe", "x.png", "--model", str(tmp_path / "nope")]), "does not exist")
    Image.fromarray(np.zeros((64, 128), np.uint8), mode="L").save(tmp_path / "small.png")
    assert_input_error(
        _invoke(["describe", str(tmp_path / "small.png"), "--model", str(tiny_run)]), "64x128", "128x128"
    )
    (tmp_path / "notes.png").write_text("not an image")
    assert_input_error(
        _invoke(["describe", str(tmp_path / "notes.png"), "--model", str(tiny_run)]), "not a readable image"
    )
    (tmp_path / "empty.wav").write_bytes(b"")
    assert_input_error(
        _invoke(["describe", str(tmp_path / "empty.wav"), "--model", str(tiny_run)]), "empty.wav"
    )
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    assert_input_error(
        _invoke(["describe", str(tmp_path / "corrupt.wav"), "--model", str(tiny_run)]), "corrupt.wav"
    )
    wavfile.write(tmp_path / "silent.wav", 256, np.zeros(0, np.float32))
    assert_input_error(
        _invoke(["describe", str(tmp_path / "silent.wav"), "--model", str(tiny_run)]), "no samples"
    )
    wavfile.write(tmp_path / "zeros.wav", 256, np.zeros(1000, np.float32))
    assert_input_error(
        _invoke(["describe", str(tmp_path / "zeros.wav"), "--model", str(tiny_run)]), "zeros.wav is silent"
    )
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    head = broken / "best" / "head.safetensors"
    head.write_bytes(head.read_bytes()[: head.stat().st_size // 2])
    Image.fromarray(np.zeros((128, 128), np.uint8), mode="L").save(tmp_path / "ok.png")
    assert_one_line_error(
        _invoke(["describe", str(tmp_path / "ok.png"), "--model", str(broken)]),
        "head.safetensors",
        "corrupt",
    )
    assert_one_line_error(
        _invoke(["evaluate", str(tmp_path / "nope"), "--data", str(tiny_data)]), "does not exist"
    )
    assert_one_line_error(
        _invoke(
            ["train", "--data", str(tiny_data), "--out", str(tmp_path / "r"), "--set", "plateau_patience=9"]
        ),
        "plateau_patience=9",
    )
    assert_one_line_error(
        _invoke(["train", "--data", str(tmp_path), "--out", str(tmp_path / "r")]), "not a chirpgen data set"
    )
    assert_one_line_error(
        _invoke(["train", "--data", str(tiny_data), "--out", str(tiny_run)]), "already holds a run"
    )
    assert_one_line_error(
        _invoke(
            [
                "train",
                "--data",
                str(tiny_data),
                "--out",
                str(tmp_path / "r"),
                "--backbone",
                str(tmp_path / "missing.pt"),
            ]
        ),
        "missing.pt",
    )


def _copy_run(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    return run


def test_lora_is_rebuilt_from_the_saved_adapter_config(tiny_run, tmp_path):
    """peft's round trip: the adapter's own adapter_config.json, not the recipe, defines LoRA on load."""
    run = _copy_run(tiny_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["model"]["lora_r"], config["model"]["lora_mlp"] = 2, False  # a recipe edited after training
    (run / "config.json").write_text(json.dumps(config))
    x = prepare_images(torch.randint(0, 256, (2, 128, 128), dtype=torch.uint8))
    with torch.no_grad():
        assert torch.equal(load_run(run).model(x)[0], load_run(tiny_run).model(x)[0])


def test_an_adapter_with_missing_lora_weights_is_refused(tiny_run, tmp_path):
    from safetensors.torch import load_file, save_file

    from chirpgen.shards import sha256_file
    from chirploc.checkpoint import CheckpointError

    run = _copy_run(tiny_run, tmp_path)
    path = run / "best" / "adapter.safetensors"
    state = load_file(str(path))
    dropped = sorted(state)[0]
    save_file({k: v for k, v in state.items() if k != dropped}, str(path))
    with pytest.raises(CheckpointError, match="corrupt"):  # the file no longer has its recorded hash
        load_run(run)
    info = json.loads((run / "best" / "checkpoint.json").read_text())
    info["sha256"]["adapter.safetensors"] = sha256_file(path)  # a file saved that way by a faulty writer
    (run / "best" / "checkpoint.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="damaged"):
        load_run(run)


@pytest.mark.parametrize("damage", ["no_arch", "not_json", "other_shape"])
def test_a_damaged_backbone_description_is_one_clear_error(tiny_run, tmp_path, damage):
    from chirploc.checkpoint import CheckpointError

    run = _copy_run(tiny_run, tmp_path)
    meta = json.loads((run / "backbone.json").read_text())
    if damage == "no_arch":
        del meta["arch"]
        (run / "backbone.json").write_text(json.dumps(meta))
    elif damage == "not_json":
        (run / "backbone.json").write_text("{")
    else:
        meta["model_kwargs"]["embed_dim"] = 48
        (run / "backbone.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="backbone.json|base"):
        load_run(run)
    assert_one_line_error(
        _invoke(["describe", "x.png", "--model", str(run)]),
        "backbone.json" if damage != "other_shape" else "base",
    )


def test_cli_describe_without_default_model(tmp_path, monkeypatch):
    import chirploc.inference

    monkeypatch.setattr(chirploc.inference, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    assert_one_line_error(_invoke(["describe", "x.png"]), "--model")


def test_hub_weights_unavailable_is_a_clear_error(monkeypatch):
    import timm

    from chirploc.weights import BackboneError, load_backbone

    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        raise AssertionError("unexpected")

    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(
        BackboneError, match="could not fetch hub weights for 'vit_tiny_patch16_224'.*chirploc pretrain"
    ):
        load_backbone(ModelConfig(weights="hub"), (128, 128))


def test_timm_checkpoint_file_is_adapted_to_one_channel(tmp_path):
    import timm
    from safetensors.torch import save_file

    from chirploc.weights import load_backbone

    rgb = timm.create_model("vit_tiny_patch16_224", pretrained=False, embed_dim=32, depth=1, num_heads=2)
    save_file(rgb.state_dict(), str(tmp_path / "rgb.safetensors"))
    cfg = ModelConfig(
        weights=str(tmp_path / "rgb.safetensors"), model_kwargs={"embed_dim": 32, "depth": 1, "num_heads": 2}
    )
    backbone, _ = load_backbone(cfg, (128, 128))
    want = rgb.state_dict()["patch_embed.proj.weight"].sum(1, keepdim=True)  # timm sums RGB into one channel
    assert torch.allclose(backbone.patch_embed.proj.weight, want, atol=1e-6)
    assert torch.equal(backbone.blocks[0].attn.qkv.weight, rgb.blocks[0].attn.qkv.weight)


def test_records_without_a_chirp_are_refused_by_the_regression_data(tmp_path):
    from chirpgen.shards import DatasetError

    make_dataset(tmp_path / "d", 40, load_config("default", overrides=["signal.p_no_chirp=0.5"]), seed=1)
    with pytest.raises(DatasetError, match="without a chirp.*p_no_chirp=0"):
        ChirpShards(tmp_path / "d", "train")


def test_dataloader_workers_open_their_own_files(tiny_data):
    from torch.utils.data import DataLoader

    ds = ChirpShards(tiny_data, "val")
    ds[0]  # a handle open in the parent must not be shared with the workers
    sequential = torch.stack([ds[i]["image"] for i in range(len(ds))])
    loader = DataLoader(ds, batch_size=7, num_workers=2)
    parallel = torch.cat([b["image"] for b in loader])
    assert torch.equal(sequential, parallel)


def test_cli_train_with_progress_bars(tiny_data, tmp_path):
    sets = [
        a for s in [*TINY, "epochs=1", "max_train_samples=64", "max_val_samples=10"] for a in ("--set", s)
    ]
    result = _invoke(
        ["train", "--data", str(tiny_data), "--out", str(tmp_path / "r"), "--config", str(RECIPE), *sets]
    )
    assert result.exit_code == 0, result.output
    assert "best epoch 1" in result.output
    record = json.loads((tmp_path / "r/metrics.jsonl").read_text())
    assert record["images_per_s"] > 0 and record["best"] is True
