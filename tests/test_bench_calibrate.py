"""benchmarks/calibrate.py sets the presence offset and the fallback threshold and writes them into the run."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.calibrate import THRESHOLDS

REPO = Path(__file__).resolve().parents[1]


def test_calibrate_writes_a_threshold_of_its_grid_into_the_run(dense_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(dense_run / "run", run)
    out = tmp_path / "calibration.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "calibrate.py"), str(run), "--data",
                    str(dense_run / "data"), "--split", "train", "--noise-flag-rate", "0.1", "--out", str(out)],
                   check=True, capture_output=True)
    record = json.loads(out.read_text())
    model = json.loads((run / "config.json").read_text())["model"]
    chosen = model["fallback_p_chirp"]
    assert model["presence_logit_offset"] == record["presence"]["logit_offset"] and record["presence"]["n_noise"] > 0
    assert chosen == record["chosen"] in THRESHOLDS
    assert [c["threshold"] for c in record["curve"]] == list(THRESHOLDS)
    assert min(c["cost"] for c in record["curve"]) == next(c["cost"] for c in record["curve"] if c["threshold"] == chosen)
    from chirploc.inference import load_predictor

    priors = load_predictor(run, engine="torch").model.head.priors
    assert priors.fallback_p_chirp == chosen and priors.presence_logit_offset == model["presence_logit_offset"]
