"""chirploc.metrics on inputs with known answers, and recipe validation."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chirploc.config import TrainConfig, load_train_config
from chirploc.metrics import error_stats, evaluate_predictions, format_table, pearson_r

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "debug.yaml"


def test_error_stats_known_values():
    s = error_stats(np.array([1.0, -2.0, 3.0, -4.0]))
    assert s["mae"] == 2.5
    assert s["rmse"] == pytest.approx(np.sqrt(30 / 4))
    assert s["median"] == 2.5
    assert s["p90"] == pytest.approx(3.7)
    assert s["n"] == 4
    assert np.isnan(error_stats(np.array([]))["mae"])


def test_pearson_r_known_values():
    x = np.arange(10.0)
    assert pearson_r(2 * x + 1, x) == pytest.approx(1.0)
    assert pearson_r(-x, x) == pytest.approx(-1.0)
    assert np.isnan(pearson_r(np.ones(5), x[:5]))


def _labels():
    true = {
        "t_start_s": np.array([0.0, 10.0, 20.0, 30.0]),
        "f_start_hz": np.array([5.0, 10.0, 15.0, 20.0]),
        "f_end_hz": np.array([50.0, 40.0, 30.0, 20.0]),
        "duration_s": np.array([1.0, 2.0, 3.0, 4.0]),
        "kind": np.array([0, 0, 1, 2]),
    }
    offsets = {
        "t_start_s": [1.0, -1.0, 0.0, 2.0],
        "f_start_hz": [0.5, 0.5, 0.5, 0.5],
        "f_end_hz": [0.0, 0.0, 0.0, -3.0],
        "duration_s": [0.0, 0.0, 0.0, 0.0],
    }
    pred = {k: true[k] + np.array(v) for k, v in offsets.items()}
    pred["kind"] = np.array([0, 1, 1, 2])
    return pred, true


def test_evaluate_predictions_groups_and_values():
    pred, true = _labels()
    snr = np.array([-10.0, -5.0, 0.0, 10.0])  # 10.0 == last edge joins the last bin
    widths = {"t_start_s": 0.5, "f_start_hz": 1.0, "f_end_hz": 1.0, "duration_s": 0.5}
    r = evaluate_predictions(pred, true, snr, [-10, -5, 0, 5, 10], bin_widths=widths)
    assert r["overall"]["t_start_s"]["mae"] == pytest.approx(1.0)
    assert r["overall"]["t_start_s"]["outlier_rate"] == pytest.approx(0.75)
    assert r["overall"]["f_start_hz"]["outlier_rate"] == 0.0
    assert r["overall"]["f_end_hz"]["rmse"] == pytest.approx(1.5)
    assert r["overall"]["kind_accuracy"] == pytest.approx(0.75)
    assert r["per_kind"]["linear"]["n"] == 2
    assert r["per_kind"]["linear"]["kind_accuracy"] == 0.5
    assert r["per_kind"]["exponential"]["f_end_hz"]["mae"] == 3.0
    assert set(r["per_snr"]) == {"-10..-5 dB", "-5..0 dB", "0..5 dB", "5..10 dB"}
    assert [r["per_snr"][k]["n"] for k in ("-10..-5 dB", "-5..0 dB", "0..5 dB", "5..10 dB")] == [1, 1, 1, 1]
    assert r["per_kind_snr"]["linear"]["-5..0 dB"]["t_start_s"]["mae"] == 1.0
    assert r["overall"]["duration_s"]["pearson_r"] == pytest.approx(1.0)
    table = format_table(r)
    assert "overall" in table and "exponential" in table and "5..10 dB" in table


def test_evaluate_predictions_rejects_bad_edges():
    pred, true = _labels()
    with pytest.raises(ValueError, match="snr_edges_db"):
        evaluate_predictions(pred, true, np.zeros(4), [5, 0])


def test_metrics_does_not_import_torch():
    code = "import sys, chirploc.metrics; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_recipe_validation():
    with pytest.raises(ValueError, match="plateau_patience=5 must be shorter"):
        TrainConfig(plateau_patience=5, early_stop_patience=5)
    with pytest.raises(ValueError, match="amp='fp8'"):
        TrainConfig(amp="fp8")
    with pytest.raises(ValueError, match="model.adapt='qlora'"):
        load_train_config(None, ["model.adapt=qlora"])
    with pytest.raises(ValueError, match="unknown recipe key"):
        load_train_config(None, ["epoch=3"])
    assert load_train_config(None, ["lr=2e-3"]).lr == 2e-3  # YAML 1.1 reads 2e-3 as text


def test_debug_recipe_loads_and_pretrain_overrides():
    cfg = load_train_config(RECIPE)
    assert cfg.model.adapt == "lora" and cfg.amp == "off"
    pre = cfg.for_pretrain()
    assert pre.model.adapt == "full" and pre.model.weights == "none"
    assert pre.epochs == cfg.pretrain["epochs"] and pre.pretrain == {}
    load_train_config(RECIPE.with_name("default.yaml"))


def test_description_sentence_has_units_kind_and_duration():
    from chirploc.text import sentence

    assert sentence("exponential", 14.62, 36.81, 38.94, 10.79) == (
        "An exponential chirp sweeping from 14.6 Hz to 36.8 Hz, starting at 38.9 s and lasting 10.8 s."
    )
    assert sentence("linear", 1500.0, 4250.0, 0.25, 0.0825) == (
        "A linear chirp sweeping from 1.50 kHz to 4.25 kHz, starting at 250 ms and lasting 82 ms."
    )


def test_the_presence_line_says_when_a_split_has_no_noise_only_images():
    from chirploc.metrics import detection_stats

    pred, true = _labels()
    r = evaluate_predictions(pred, true, np.array([-8.0, -3.0, 2.0, 7.0]), [-10, -5, 0, 5, 10])
    r["detection"] = detection_stats(np.array([0.9, 0.2, 0.8, 0.7]), np.ones(4, bool), np.zeros(4), [-10, 10])
    line = format_table(r).splitlines()[-1]
    assert "no noise-only images in this split" in line and "nan" not in line and "chirps found 0.750" in line
    r["detection"] = detection_stats(np.array([0.9, 0.2]), np.array([False, True]), np.zeros(2), [-10, 10])
    assert "noise-only images flagged 1.000 (n=1)" in format_table(r)
