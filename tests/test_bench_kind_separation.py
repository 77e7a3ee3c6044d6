"""benchmarks/kind_separation.py: the law separation against the mathematics, and the table end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import kind_separation as ks
from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND
from chirpgen.signal import frequency_law

LIN, QUAD, EXP = (KIND_NAMES.index(k) for k in ("linear", "quadratic", "exponential"))


def grid_fit_rms(law: str, curve: np.ndarray, u: np.ndarray, span_hz: float = 80.0) -> float:
    """Brute force: the smallest RMS distance over zooming (f0', f1') grids on f0', f1' > 0."""
    best = np.array([span_hz / 2, span_hz / 2])
    half = span_hz / 2
    for _ in range(6):
        axis = np.linspace(-half, half, 161)
        f0 = np.maximum(best[0] + axis, 1e-9)[:, None, None]
        f1 = np.maximum(best[1] + axis, 1e-9)[None, :, None]
        rms = np.sqrt(np.mean((frequency_law(law, u, f0, f1) - curve) ** 2, axis=2))  # (161, 161)
        i, j = np.unravel_index(np.argmin(rms), rms.shape)
        best = np.array([f0[i, 0, 0], f1[0, j, 0]])
        half /= 8
    return float(rms[i, j])


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_no_sweep_has_no_separation(kind):
    sep, _ = ks.law_separation_hz(np.array([KIND_NAMES.index(kind)]), np.array([37.0]), np.array([37.0]))
    assert sep[0] < 1e-6


def test_wide_linear_sweep_is_separated_and_narrow_one_is_not():
    sep, closest = ks.law_separation_hz(np.array([LIN, LIN]), np.array([10.0, 50.0]), np.array([40.0, 51.0]))
    assert sep[0] > 1.0
    assert sep[1] < 0.05
    assert np.all(closest != LIN)


def test_linear_laws_are_linear_in_their_end_frequencies():
    u = ks.unit_time()
    for law in ks.LINEAR_LAWS:
        combined = 3.0 * frequency_law(law, u, 1.0, 0.0) + 7.0 * frequency_law(law, u, 0.0, 1.0)
        np.testing.assert_allclose(frequency_law(law, u, 3.0, 7.0), combined)


@pytest.mark.parametrize(
    ("truth", "law", "f0", "f1"),
    [
        ("exponential", "linear", 5.0, 35.0),
        ("exponential", "quadratic", 60.0, 40.0),
        ("linear", "quadratic", 20.0, 45.0),
        ("quadratic", "linear", 70.0, 71.5),
        ("linear", "quadratic", 31.0, 1.0),  # the free optimum has f1' < 0: the constraint binds
        ("quadratic", "exponential", 10.0, 38.0),
        ("linear", "exponential", 50.0, 20.0),
    ],
)
def test_fit_matches_a_brute_force_grid(truth, law, f0, f1):
    u = ks.unit_time()
    curve = frequency_law(truth, u, f0, f1)
    fitted = ks.fit_law(law, curve[None, :], u)[0]
    rms = float(np.sqrt(np.mean((fitted - curve) ** 2)))
    assert rms == pytest.approx(grid_fit_rms(law, curve, u), abs=1e-3)


def test_fit_of_a_curve_of_the_same_law_is_exact():
    u = ks.unit_time()
    for law in KIND_NAMES:
        curve = frequency_law(law, u, np.array([[12.0], [80.0]]), np.array([[41.0], [55.0]]))
        np.testing.assert_allclose(ks.fit_law(law, curve, u), curve, atol=1e-6)


def test_bad_kind_is_refused():
    with pytest.raises(ValueError, match="not indices"):
        ks.law_separation_hz(np.array([NO_CHIRP_KIND]), np.array([10.0]), np.array([20.0]))


def synthetic_npz(path):
    """Chirps with obvious bins: no sweep (first bin) and a 30 Hz linear sweep (last bin); one no-chirp."""
    sweep = {"none": (40.0, 40.0), "wide": (10.0, 40.0)}
    rows = [  # (true kind, sweep, snr_db, model kind, ridge kind)
        (LIN, "none", 5.0, LIN, QUAD),
        (QUAD, "none", 5.0, LIN, QUAD),
        (EXP, "none", -5.0, EXP, EXP),
        (LIN, "wide", 5.0, LIN, LIN),
        (LIN, "wide", 5.0, LIN, EXP),
        (LIN, "wide", -5.0, QUAD, QUAD),
        (NO_CHIRP_KIND, "none", 5.0, LIN, LIN),
    ]
    arrays = {
        "snr_db": np.array([r[2] for r in rows]),
        "true_kind": np.array([r[0] for r in rows]),
        "true_f_start_hz": np.array([sweep[r[1]][0] for r in rows]),
        "true_f_end_hz": np.array([sweep[r[1]][1] for r in rows]),
        "true_duration_s": np.full(len(rows), 5.0),
        "ridge_kind": np.array([r[4] for r in rows]),
        "model_kind": np.array([r[3] for r in rows]),
        "model_extras_p_chirp": np.ones(len(rows)),
    }
    np.savez(path, **arrays)


def test_main_writes_counts_and_hand_counted_accuracies(tmp_path, capsys):
    npz, out = tmp_path / "acc.npz", tmp_path / "res" / "kind_separation.json"
    synthetic_npz(npz)
    assert ks.main(["--npz", str(npz), "--out", str(out), "--bin-hz", "0.5"]) == 0
    record = json.loads(out.read_text())
    assert record["estimators"] == ["model", "ridge"]
    assert record["n_chirps"] == 6 and record["bin_hz"] == 0.5 and record["provenance"]["source_sha256"]
    high, every = record["subsets"]["snr_at_least_min"], record["subsets"]["all_snr"]
    assert [b["n"] for b in every["bins"]] == [3, 0, 0, 0, 0, 0, 3]
    assert [b["n"] for b in high["bins"]] == [2, 0, 0, 0, 0, 0, 2]
    assert sum(b["share"] for b in high["bins"] if b["share"]) == pytest.approx(1.0)
    assert high["bins"][-1]["lo_rows"] == 2.0 and high["bins"][-1]["hi_hz"] is None
    assert high["bins"][0]["kind_accuracy"] == {"model": 0.5, "ridge": 0.5}
    assert high["bins"][-1]["kind_accuracy"] == {"model": 1.0, "ridge": 0.5}
    assert high["bins"][1]["kind_accuracy"] == {"model": None, "ridge": None}
    assert every["bins"][0]["kind_accuracy"] == pytest.approx({"model": 2 / 3, "ridge": 2 / 3})
    assert every["bins"][-1]["kind_accuracy"] == pytest.approx({"model": 2 / 3, "ridge": 1 / 3})
    assert every["kind_accuracy"] == pytest.approx({"model": 4 / 6, "ridge": 3 / 6})
    assert not list(out.parent.glob("*.partial"))
    assert "| law separation (Hz) |" in capsys.readouterr().out


def test_markdown_has_a_table_header(tmp_path):
    npz, out = tmp_path / "acc.npz", tmp_path / "ks.json"
    synthetic_npz(npz)
    ks.main(["--npz", str(npz), "--out", str(out), "--min-snr", "-10"])
    lines = ks.markdown(json.loads(out.read_text()))
    header = next(i for i, line in enumerate(lines) if line.startswith("| law separation"))
    assert (
        lines[header]
        == "| law separation (Hz) | chirps (share) | model kind accuracy | ridge kind accuracy |"
    )
    assert lines[header + 1].startswith("| --- |")
    assert lines[-1] == "| all | 6 | 0.667 | 0.500 |"
    assert "SNR >= -10 dB" in lines[0]


def test_missing_npz_is_a_clean_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        ks.main(["--npz", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.json")])
    assert exc.value.code != 0
