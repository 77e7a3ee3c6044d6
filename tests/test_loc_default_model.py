"""The packaged default model: small, loadable without pickle or peft, run by numpy, and it finds clear chirps."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.sample import make_sample
from chirploc.engine import engine_supports
from chirploc.inference import DEFAULT_MODEL_DIR, load_predictor


def test_the_default_model_is_packaged_and_small():
    files = [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()]
    assert (DEFAULT_MODEL_DIR / "README.md").is_file(), "the model card is missing"
    assert sum(p.stat().st_size for p in files) <= 25 * 2**20
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".pkl", ".bin")], "nothing that needs pickle"


def test_the_default_model_has_lora_merged_and_runs_on_numpy():
    info = json.loads((DEFAULT_MODEL_DIR / "best" / "checkpoint.json").read_text())
    assert info["adapt"] == "merged"
    assert (DEFAULT_MODEL_DIR / "best" / "backbone.safetensors").is_file()
    assert not (DEFAULT_MODEL_DIR / "base.safetensors").exists()
    assert not list(DEFAULT_MODEL_DIR.rglob("adapter*"))
    assert engine_supports(DEFAULT_MODEL_DIR)
    predictor = load_predictor(None)
    assert predictor.engine == "numpy" and predictor.model is None


@pytest.fixture(scope="module")
def clear_samples():
    predictor = load_predictor(None)
    signal = {**predictor.frame.to_dict()["signal"], "snr_db": [8, 10], "p_no_chirp": 0.0}
    frame = GenConfig.from_dict({**predictor.frame.to_dict(), "signal": signal})
    samples = [make_sample(frame, 99, "test", i) for i in range(48)]
    return predictor, samples


def test_the_default_model_localises_clear_chirps(clear_samples):
    predictor, samples = clear_samples
    pred = predictor.predict(np.stack([s.image for s in samples]))
    err = {
        k: np.abs(pred[k] - np.array([getattr(s.params, k) for s in samples]))
        for k in ("t_start_s", "f_start_hz", "f_end_hz", "duration_s")
    }
    # the frame's spread: a guess of the training mean is off by about 11 s, 20 Hz and 3.5 s; a column
    # is 0.47 s wide and a frequency bin 1 Hz
    assert np.median(err["t_start_s"]) < 0.2
    assert np.median(err["duration_s"]) < 0.3
    assert np.median(err["f_start_hz"]) < 0.6 and np.median(err["f_end_hz"]) < 0.6
    assert np.mean(pred["kind"] == np.array([s.params.kind for s in samples])) >= 0.7
    assert (pred["p_chirp"] > 0.5).all()


def test_the_default_model_says_no_chirp_on_noise():
    from chirpgen.spectrogram import render_image

    predictor = load_predictor(None)
    rng = np.random.default_rng(5)
    noise = np.stack(
        [
            render_image(rng.standard_normal(predictor.frame.signal.n_samples), predictor.frame)
            for _ in range(32)
        ]
    )
    # most, not all: benchmarks/results/detection.json has the measured rates
    assert (predictor.predict(noise)["p_chirp"] < 0.5).mean() >= 0.75


def test_describe_without_model_uses_the_default(clear_samples, tmp_path):
    from chirploc.cli import main

    _, samples = clear_samples
    png = tmp_path / "one.png"
    Image.fromarray(samples[0].image, mode="L").save(png)
    result = CliRunner().invoke(main, ["describe", str(png), "--json"])
    assert result.exit_code == 0, result.output
    (out,) = [json.loads(line) for line in result.stdout.splitlines()]  # one JSON object per chirp and line
    assert out["file"] == str(png) and out["chirp"] == 0
    assert out["kind"] in KIND_NAMES and " Hz" in out["description"] and " s" in out["description"]
    assert out["t_start_s"] == pytest.approx(samples[0].params.t_start_s, abs=0.5)
