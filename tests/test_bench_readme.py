"""benchmarks/readme.py: every placeholder of the template is filled from the file its value comes from."""

from __future__ import annotations

import json

import pytest

from benchmarks import readme
from chirpgen.config import TARGETS, GenConfig, load_config


def bench_config() -> tuple[dict, GenConfig]:
    bench = json.loads(readme.BENCH_DATA.read_text())
    return bench, load_config(bench["preset"])


def test_readme_has_no_placeholder_left_and_describes_the_bench_data():
    text = readme.render()
    assert "{{" not in text and "}}" not in text
    bench, config = bench_config()
    h, w = config.image_shape
    assert f"{h} x {w} images" in text and f"seed {bench['seed']}, {bench['n']:,} samples" in text


def test_values_follow_bench_data_and_results(tmp_path, monkeypatch):
    bench = tmp_path / "bench_data.json"
    bench.write_text(json.dumps({"preset": "audio", "seed": 5, "n": 1000, "shard_size": 1000, "shards": {}}))
    monkeypatch.setattr(readme, "BENCH_DATA", bench)
    monkeypatch.setattr(readme, "RESULTS", tmp_path)  # no results files
    got = readme.values()
    assert (got["record_s"], got["sample_rate_hz"], got["freq_hz"], got["snr_db"]) == ("1", "16000", "500-7500", "-10 to +10")
    assert (got["bench_n"], got["bench_n_train"], got["bench_n_test"], got["bench_seed"]) == ("1,000", "800", "100", "5")
    assert got["column_s"] == got["bin_hz"] == got["prior_art_version"] == "?"
    (tmp_path / "accuracy.json").write_text(json.dumps({"grid_floor": {"time_s": 0.1, "freq_hz": 18.04, "dt_s": 0.0078125,
                                                                      "df_hz": 62.5}}))
    got = readme.values()
    assert (got["floor_time_s"], got["floor_freq_hz"], got["column_s"], got["bin_hz"]) == ("0.1", "18", "0.00781", "62.5")


def test_unknown_placeholder_is_an_error_naming_it(tmp_path, monkeypatch, capsys):
    template = tmp_path / "README.in.md"
    template.write_text("A {{no_such_value}} here.\n")
    monkeypatch.setattr(readme, "TEMPLATE", template)
    with pytest.raises(SystemExit) as exc:
        readme.main(["--out", str(tmp_path / "README.md")])
    assert exc.value.code == 1 and "{{no_such_value}}" in capsys.readouterr().err
    assert not (tmp_path / "README.md").exists()
    template.write_text("{{image_shape}} images\n")
    assert readme.main(["--out", str(tmp_path / "README.md")]) == 0
    h, w = bench_config()[1].image_shape
    assert (tmp_path / "README.md").read_text().splitlines()[1] == f"{h} x {w} images"


def test_experiment_rows_state_the_budget_and_the_lr_decay():
    def record(**recipe):
        return {"name": "n", "note": "", "minutes": 1.0, "images_per_s": 2.0, "kind_accuracy": 0.5,
                "median": {t: 0.1 for t in ("t_start_s", "f_start_hz", "f_end_hz", "duration_s")},
                "recipe": {"model": {"lora_r": 4}, "epochs": 3, "epoch_samples": 0, **recipe}}

    old, one, two = (readme.experiments([r])[-1] for r in (record(), record(decay_epochs=1), record(decay_epochs=2)))
    assert "| lora_r=4; 3 x all |" in old  # a record from before the decay existed
    assert "3 x all, lr decaying over the last epoch |" in one
    assert "3 x all, lr decaying over the last 2 epochs |" in two


def _estimator(rmse: float, median: float, kind: float) -> dict:
    target = {"rmse": rmse, "median": median}
    cell = {"n": 10, "kind_accuracy": kind, **{t: dict(target) for t in TARGETS}}
    bins = ("-10..-5 dB", "-5..0 dB", "0..5 dB")
    return {"overall": cell, "per_snr": {b: dict(cell) for b in bins},
            "per_kind_snr": {k: {b: {t: dict(target) for t in TARGETS} for b in bins} for k in ("linear", "quadratic")}}


def test_where_it_loses_lists_each_cell_and_median_worse_than_a_classical_estimator():
    result = {"estimators": {"model": _estimator(1.0, 0.1, 0.8), "ridge": _estimator(1.5, 0.2, 0.7),
                             "ml": _estimator(2.0, 0.01, 0.9)}}
    assert readme.worse_cells(result) == []
    result["estimators"]["model"]["per_kind_snr"]["quadratic"]["0..5 dB"]["f_end_hz"]["rmse"] = 1.6
    result["estimators"]["model"]["per_kind_snr"]["linear"]["-10..-5 dB"]["t_start_s"]["rmse"] = 9.0  # below -5 dB
    assert readme.worse_cells(result) == ["quadratic 0..5 dB f_end_hz (1.600 against 1.500)"]
    lines = readme.where_it_loses([("test split", result)], None, None)
    assert lines[0] == ("- test split: medians against the ML estimator (it reads the raw signal): t_start_s 0.100 against "
                        "0.010, f_start_hz 0.100 against 0.010, f_end_hz 0.100 against 0.010, duration_s 0.100 against 0.010.")
    assert lines[1] == "- test split: kind accuracy against the ML estimator, 0.800 against 0.900 (0.800 against 0.900 from 0 dB)."
    assert lines[2].startswith("- test split: 1 of the 16 RMSEs per kind, SNR bin from -5 dB and target above")
    assert len(lines) == 3  # the ridge is worse on every median and on the kind: no line for it
