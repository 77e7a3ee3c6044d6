"""The packaged default model: small, loadable without pickle, and it finds clear chirps."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.sample import make_sample
from chirploc.inference import DEFAULT_MODEL_DIR, load_predictor


def test_the_default_model_is_packaged_and_small():
    files = [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()]
    assert (DEFAULT_MODEL_DIR / "README.md").is_file(), "the model card is missing"
    assert sum(p.stat().st_size for p in files) <= 25 * 2**20
    assert not [p for p in files if p.suffix in (".pt", ".pth", ".pkl", ".bin")], "nothing that needs pickle"


@pytest.fixture(scope="module")
def clear_samples():
    predictor = load_predictor(None)
    frame = GenConfig.from_dict({**predictor.frame.to_dict(), "signal": {**predictor.frame.to_dict()["signal"], "snr_db": [8, 10]}})
    samples = [make_sample(frame, 99, "test", i) for i in range(48)]
    return predictor, samples


def test_the_default_model_localises_clear_chirps(clear_samples):
    predictor, samples = clear_samples
    pred = predictor.predict(np.stack([s.image for s in samples]))
    err = {k: np.abs(pred[k] - np.array([getattr(s.params, k) for s in samples])) for k in ("t_start_s", "f_start_hz", "f_end_hz", "duration_s")}
    # the frame's spread: a guess of the training mean is off by about 11 s, 20 Hz and 3.5 s
    assert np.median(err["t_start_s"]) < 1.5
    assert np.median(err["duration_s"]) < 1.5
    assert np.median(err["f_start_hz"]) < 4.0 and np.median(err["f_end_hz"]) < 4.0


def test_describe_without_model_uses_the_default(clear_samples, tmp_path):
    from chirploc.cli import main

    _, samples = clear_samples
    png = tmp_path / "one.png"
    Image.fromarray(samples[0].image, mode="L").save(png)
    result = CliRunner().invoke(main, ["describe", str(png), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[0])  # one JSON object per input and line
    assert out["kind"] in KIND_NAMES and " Hz" in out["description"] and " s" in out["description"]
