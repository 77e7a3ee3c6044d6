"""chirploc package and the numpy engine: a packaged LoRA run predicts what the run predicts, with
numpy or torch, and runs without peft (numpy: without torch).

The LoRA run is built in seconds from the session's tiny dense-head run (conftest ``dense_run``,
trained in full): its weights become the frozen base, and LoRA adapters with random, non-zero
B matrices go on top, so that merging them changes the weights.
"""

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file

from chirpgen.config import KIND_NAMES, TARGETS, GenConfig
from chirpgen.shards import read_split
from chirploc.checkpoint import CheckpointError, save_checkpoint, save_run_files
from chirploc.cli import main
from chirploc.config import TrainConfig
from chirploc.data import TargetNormalisation
from chirploc.engine import engine_supports, load_engine
from chirploc.inference import DEFAULT_MODEL_DIR, load_predictor
from chirploc.model import build_model, prepare_images
from chirploc.weights import spec_of


@pytest.fixture(scope="module")
def lora_run(dense_run, tmp_path_factory):
    """A dense-head LoRA run directory (best checkpoint only) on the frame of ``dense_run``."""
    base = tmp_path_factory.mktemp("lora")
    pre = base / "pre"  # laid out like a chirploc pretrain run, so that model.weights can name it
    (pre / "best").mkdir(parents=True)
    shutil.copy(dense_run / "run" / "best" / "backbone.safetensors", pre / "backbone.safetensors")
    shutil.copy(dense_run / "run" / "backbone.json", pre / "backbone.json")
    shutil.copy(dense_run / "run" / "best" / "head.safetensors", pre / "best" / "head.safetensors")
    config = TrainConfig.from_dict(json.loads((dense_run / "run" / "config.json").read_text()))
    config.model = dataclasses.replace(config.model, adapt="lora", lora_r=4, weights=str(pre))
    frame = GenConfig.from_dict(json.loads((dense_run / "run" / "frame.json").read_text()))
    model, base_state, config.model = build_model(config.model, frame, len(KIND_NAMES), seed=1)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=generator))
    run = base / "run"
    spec = spec_of(config.model, frame.image_shape)
    save_run_files(run, config, frame, TargetNormalisation.from_frame(frame), spec, base_state)
    save_checkpoint(run, "best", model, "lora", {"epoch": 1})
    return run


@pytest.fixture(scope="module")
def packaged(lora_run):
    out = lora_run.parent / "packaged"
    result = CliRunner().invoke(main, ["package", str(lora_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out} (numpy or torch runtime)"
    return out


@pytest.fixture(scope="module")
def images(dense_run):
    return read_split(dense_run / "data", "test", 8)["image"]


def test_the_package_holds_merged_weights_and_no_adapter(lora_run, packaged):
    names = sorted(str(p.relative_to(packaged)) for p in packaged.rglob("*") if p.is_file())
    assert names == [
        "backbone.json",
        "best/backbone.safetensors",
        "best/checkpoint.json",
        "best/head.safetensors",
        "config.json",
        "frame.json",
        "normalisation.json",
    ]
    info = json.loads((packaged / "best" / "checkpoint.json").read_text())
    assert (info["epoch"], info["adapt"], info["checkpoint"]) == (1, "merged", "best")
    merged, base = (
        load_file(str(packaged / "best" / "backbone.safetensors")),
        load_file(str(lora_run / "base.safetensors")),
    )
    assert set(merged) == set(base)
    assert (
        np.abs(merged["blocks.0.attn.qkv.weight"] - base["blocks.0.attn.qkv.weight"]).max() > 1e-3
    )  # LoRA merged in
    np.testing.assert_array_equal(
        merged["patch_embed.proj.weight"], base["patch_embed.proj.weight"]
    )  # not adapted
    assert engine_supports(packaged) and not engine_supports(lora_run)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_the_package_predicts_what_the_run_predicts(lora_run, packaged, images, engine):
    run = load_predictor(lora_run)
    assert run.engine == "torch"  # adapters on a base: peft
    want = run.predict(images)
    predictor = load_predictor(packaged, engine=engine)
    assert predictor.engine == engine and predictor.frame.to_dict() == run.frame.to_dict()
    got = predictor.predict(images)
    assert set(got) == set(want) == {*TARGETS, "kind", "p_chirp", "confidence", "fallback", "evidence", "ridge", "trust"}
    for name in TARGETS:
        np.testing.assert_allclose(got[name], want[name], atol=1e-3, rtol=0, err_msg=name)
    np.testing.assert_allclose(got["p_chirp"], want["p_chirp"], atol=1e-4, rtol=0)
    np.testing.assert_array_equal(got["kind"], want["kind"])
    np.testing.assert_array_equal(got["fallback"], want["fallback"])
    np.testing.assert_array_equal(got["ridge"], want["ridge"])


def _torch_maps(predictor, images):
    with torch.no_grad():
        out = predictor.model(prepare_images(torch.from_numpy(images)))
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("which", ["default", "packaged"])
def test_numpy_maps_equal_the_torch_model_maps(which, lora_run, packaged, images):
    """The numpy forward pass against the torch model's, logit by logit (for the packaged model,
    against the unmerged run: the merge and the forward pass at once)."""
    model_dir, reference = (DEFAULT_MODEL_DIR, None) if which == "default" else (packaged, lora_run)
    torch_model = load_predictor(reference or model_dir, engine="torch")
    engine = load_engine(model_dir, torch_model.frame)
    rng = np.random.default_rng(0)
    batch = np.concatenate([images[:3], rng.integers(0, 256, (2, *images.shape[1:]), dtype=np.uint8)])
    want = _torch_maps(torch_model, batch)
    got = engine.maps(batch)
    assert set(got) == set(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], atol=1e-4, rtol=0, err_msg=name)


def test_the_numpy_engine_refuses_a_run_it_cannot_run(lora_run):
    with pytest.raises(CheckpointError, match="make one with chirploc package, or use --engine torch"):
        load_predictor(lora_run, engine="numpy")


def test_loading_a_package_with_torch_needs_no_peft(packaged, images, monkeypatch):
    monkeypatch.setitem(sys.modules, "peft", None)  # any `import peft` now raises ImportError
    predictor = load_predictor(packaged, engine="torch")
    assert predictor.engine == "torch" and len(predictor.predict(images[:2])["kind"]) == 2


NUMPY_ONLY = """
import sys
import chirploc
from chirploc.inference import load_predictor
predictor = load_predictor(sys.argv[1], engine="numpy")
print(chirploc.describe(sys.argv[2], predictor=predictor).sentence)
print(sorted({"torch", "timm", "peft"} & set(sys.modules)))
"""


def test_describing_with_a_package_on_numpy_imports_neither_torch_nor_peft(packaged, images, tmp_path):
    from PIL import Image

    Image.fromarray(images[0], mode="L").save(tmp_path / "one.png")
    out = subprocess.run(
        [sys.executable, "-c", NUMPY_ONLY, str(packaged), str(tmp_path / "one.png")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    sentence, modules = out.stdout.splitlines()
    assert sentence.endswith(".") and modules == "[]"


def test_package_refuses_an_out_inside_the_run_and_a_missing_run(lora_run, tmp_path):
    inside = CliRunner().invoke(main, ["package", str(lora_run), "--out", str(lora_run / "pkg")])
    assert inside.exit_code == 1 and "is inside the run" in inside.stderr and "Traceback" not in inside.output
    assert not (lora_run / "pkg").exists()
    missing = CliRunner().invoke(main, ["package", str(tmp_path / "nope"), "--out", str(tmp_path / "pkg")])
    assert (
        missing.exit_code == 1 and missing.stderr.startswith("Error: ") and "does not exist" in missing.stderr
    )


def test_a_batch_gives_what_its_images_give_one_by_one(dense_run):
    """Chunked, threaded forward passes and the length-sorted fit chunks do not mix images up."""
    predictor = load_predictor(None)
    images = read_split(dense_run / "data", "val", 40)["image"]
    together = predictor.predict(images)
    alone = [predictor.predict(image) for image in images]
    for key in (*TARGETS, "kind", "p_chirp"):
        np.testing.assert_allclose(together[key], np.concatenate([a[key] for a in alone]), rtol=0, atol=1e-4)
