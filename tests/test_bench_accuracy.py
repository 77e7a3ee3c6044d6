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
