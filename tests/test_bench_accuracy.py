"""End to end on a tiny data set: benchmarks/accuracy.py writes its files atomically, tables.py reads them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import accuracy, tables
from benchmarks.crb import BOUND_TARGETS
from chirpgen.config import TARGET_UNITS, TARGETS, load_config
from chirpgen.dataset import make_dataset


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("acc")
    make_dataset(root / "data", 30, load_config("default"), seed=3, workers=1, shard_size=30)
    out = root / "out" / "accuracy.json"
    assert accuracy.main(["--data", str(root / "data"), "--split", "test", "--out", str(out)]) == 0
    return out


def test_accuracy_writes_json_and_npz_without_leftovers(results):
    result = json.loads(results.read_text())
    assert result["n"] == 3 and set(result["estimators"]) == {"ridge", "ml"}
    assert result["provenance"]["data_manifest_sha256"]
    assert sorted(p.name for p in results.parent.iterdir()) == ["accuracy.json", "accuracy.npz"]
    with np.load(results.with_suffix(".npz")) as f:
        for name in ("ridge", "ml", "true"):
            for k in ("kind", *TARGETS):
                assert f[f"{name}_{k}"].shape == (3,)
        for k in BOUND_TARGETS:
            assert np.all(f[f"crb_{k}"] > 0)
    for k in BOUND_TARGETS:
        assert result["estimators"]["ml"]["overall"][k]["crb"] > 0


def test_tables_follow_the_targets(results, tmp_path):
    md = tmp_path / "accuracy.md"
    assert tables.main([str(results), "--out", str(md), "--no-plots"]) == 0
    text = md.read_text()
    section = text.split("## Overall")[1].split("## ")[0]
    overall = [line for line in section.splitlines() if line.startswith("| ridge | ")]
    assert [line.split(" | ")[1] for line in overall] == [f"{t} ({TARGET_UNITS[t]})" for t in TARGETS]
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert [h.split()[0] for h in headings[: len(TARGETS)]] == list(TARGETS)
    assert not list(tmp_path.glob("*.partial"))


def test_baselines_are_taken_from_an_earlier_run_on_the_same_records_only(results, tmp_path, monkeypatch, capsys):
    data = results.parent.parent / "data"
    again = tmp_path / "again.json"

    def not_run(*args, **kwargs):
        raise AssertionError("a reused baseline ran again")

    monkeypatch.setattr(accuracy, "run_baseline", not_run)
    assert accuracy.main(["--data", str(data), "--split", "test", "--out", str(again),
                          "--baselines-from", str(results.with_suffix(".npz"))]) == 0
    first, second = (json.loads(p.read_text()) for p in (results, again))
    assert second["estimators"] == first["estimators"]
    assert second["timings"]["ml_ms_per_sample"] == first["timings"]["ml_ms_per_sample"]
    assert second["baselines_from"] == str(results.with_suffix(".npz"))
    with np.load(again.with_suffix(".npz")) as f, np.load(results.with_suffix(".npz")) as g:
        assert np.array_equal(f["ridge_f_start_hz"], g["ridge_f_start_hz"], equal_nan=True)
    # other records (another split) are refused with one line, nothing written
    refused = tmp_path / "refused.json"
    with pytest.raises(SystemExit) as exc:
        accuracy.main(["--data", str(data), "--split", "train", "--out", str(refused),
                       "--baselines-from", str(results.with_suffix(".npz"))])
    assert exc.value.code == 2 and "made on another data set or split" in capsys.readouterr().err
    assert not refused.exists()
