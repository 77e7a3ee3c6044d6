"""benchmarks/readme.py: every placeholder of the template is filled from the file its value comes from."""

from __future__ import annotations

import json

import pytest

from benchmarks import readme
from chirpgen.config import GenConfig, load_config


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
