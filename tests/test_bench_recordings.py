"""benchmarks/recordings.py: recordings of another tool hold what the truth says, and are described
through the packaged model with the errors scored against it."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from benchmarks import recordings as rb
from chirpgen.config import load_config
from chirpgen.spectrogram import stft_power
from chirploc.describe import Chirp

SEED5_RECORDING1 = ("linear", 5.568717, -0.75400911)  # recording 1 of seed 5 before "several" was added


def _one(truth):
    (chirp,) = truth["chirps"]
    return chirp


def test_a_drawn_recording_holds_its_chirp_at_its_time_rate_and_snr():
    frame = load_config("default")
    rng = np.random.default_rng(1)
    drawn = [rb.draw_recording(i, rng, frame) for i in range(40)]
    assert [rate for _, rate, _ in drawn[:4]] == list(rb.RATES_HZ)
    for x, rate, truth in drawn:
        assert len(x) == int(truth["length_s"] * rate) and truth["rate_hz"] == rate and len(truth["chirps"]) <= 1
        for c in truth["chirps"]:
            assert 0.0 <= c["t_start_s"] and c["t_start_s"] + c["duration_s"] <= truth["length_s"]
            assert -10.0 <= c["snr_db"] <= 10.0 and c["kind"] in frame.signal.kinds
    assert any(not t["chirps"] for _, _, t in drawn) and any(t["chirps"] for _, _, t in drawn)
    # at 256 Hz the chirp lights the STFT bin of its frequency at its time
    x, rate, truth = next(d for d in drawn if d[1] == 256 and d[2]["chirps"] and d[2]["chirps"][0]["snr_db"] > 3)
    c = _one(truth)
    mid = c["t_start_s"] + c["duration_s"] / 2
    power = stft_power(x, frame.stft)
    column = int(mid * rate) // frame.stft.hop
    f_mid = {"linear": 0.5, "quadratic": 0.25, "exponential": None}[c["kind"]]
    f = (c["f_start_hz"] * np.sqrt(c["f_end_hz"] / c["f_start_hz"]) if f_mid is None
         else c["f_start_hz"] + f_mid * (c["f_end_hz"] - c["f_start_hz"]))
    assert abs(np.argmax(power[1:, column]) + 1 - f * frame.stft.nfft / rate) <= 3


def test_several_chirps_are_apart_by_the_gap_and_the_single_draws_stay_as_they_were():
    frame = load_config("default")
    several = [rb.draw_recording(i, np.random.default_rng([1, i]), frame, several="several")[2] for i in range(40)]
    counts = [len(t["chirps"]) for t in several if t["chirps"]]
    assert min(counts) >= 1 and max(counts) == rb.SEVERAL[1] and np.mean(counts) > 2
    for t in several:
        spans = sorted((c["t_start_s"], c["t_start_s"] + c["duration_s"]) for c in t["chirps"])
        assert all(b[0] - a[1] >= rb.GAP_S for a, b in itertools.pairwise(spans))
    crowded = [rb.draw_recording(i, np.random.default_rng([1, i]), frame, several="crowded")[2] for i in range(40)]
    assert sum(len(t["chirps"]) for t in crowded) > sum(counts)  # all fit, when they may overlap
    gaps = [b[0] - a[1] for t in crowded
            for a, b in itertools.pairwise(sorted((c["t_start_s"], c["t_start_s"] + c["duration_s"]) for c in t["chirps"]))]
    assert min(gaps) < 0.0  # some overlap in time
    # one chirp per recording is drawn as before several existed (the published figures stay reproducible)
    x, _, truth = rb.draw_recording(1, np.random.default_rng(5), frame)
    c = _one(truth)
    assert (c["kind"], round(c["t_start_s"], 6), round(float(x[0]), 9)) == SEED5_RECORDING1


def test_match_pairs_each_truth_with_one_overlapping_report_and_score_counts_the_rest():
    true = [{"t_start_s": 10.0, "duration_s": 5.0}, {"t_start_s": 20.0, "duration_s": 5.0}]
    a, b, off = Chirp("linear", 10.5, 4.0, 1, 2), Chirp("linear", 11.0, 12.0, 1, 2), Chirp("linear", 40.0, 2.0, 1, 2)
    assert rb.match(true, (off, b, a)) == [(0, 2), (1, 1)]  # b also overlaps the first, but a is nearer there
    assert rb.match(true, (off,)) == [] and rb.match([], (a,)) == [] and rb.match(true, ()) == []


def test_score_takes_the_reported_chirp_nearest_the_truth_and_counts_the_others():
    chirp = {"kind": "linear", "snr_db": 3.0, "t_start_s": 50.0, "duration_s": 5.0, "f_start_hz": 20.0, "f_end_hz": 30.0}
    truth = {"rate_hz": 256, "length_s": 60.0, "chirps": [chirp]}
    near, far = Chirp("linear", 50.5, 4.0, 21.0, 29.0), Chirp("quadratic", 10.0, 2.0, 60.0, 61.0)
    (got,), n_false = rb.score(truth, (far, near))
    assert got["found"] and got["kind_ok"] and n_false == 1 and got["false"] == 1.0
    assert (got["error_t_start_s"], got["error_duration_s"], got["error_f_end_hz"]) == (0.5, -1.0, -1.0)
    (missed,), n_false = rb.score(truth, (far,))  # far does not overlap the chirp: not it
    assert missed == {"rate_hz": 256, "length_s": 60.0, "kind": "linear", "snr_db": 3.0, "t_start_s": 50.0,
                      "false": 1.0, "found": False} and n_false == 1
    assert rb.score({"rate_hz": 256, "length_s": 20.0, "chirps": []}, (far,)) == ([], 1)
    two = {**truth, "chirps": [chirp, {**chirp, "t_start_s": 20.0}]}
    rows, n_false = rb.score(two, (near, far))
    assert [r["found"] for r in rows] == [True, False] and n_false == 1 and rows[1]["false"] == 0.5
    s = rb.summary([got, missed])
    assert s["found"] == 0.5 and s["false_per_chirp"] == 1.0 and s["median"]["t_start_s"] == 0.5


def test_the_packaged_model_describes_recordings_of_another_tool(tmp_path):
    from chirploc.inference import load_predictor

    record = rb.evaluate(24, seed=3, predictor=load_predictor(None), workdir=tmp_path)
    assert len(list(tmp_path.glob("*.wav"))) == 24
    overall = record["overall"]
    assert overall["n"] + record["noise_only"]["n"] == 24
    assert overall["found"] >= 0.8 and overall["median"]["t_start_s"] < 0.5 and overall["median"]["f_start_hz"] < 1.0
    assert [b["snr_lo_db"] for b in record["by_snr"]] == [-10.0, -5.0, 0.0, 5.0]
    assert [b["length_s"] for b in record["by_length"]] == list(rb.LENGTHS_S)
    lines = rb.markdown(json.loads(json.dumps(record)))
    assert lines[0].startswith("| recordings | chirps | found |") and any(line.startswith("| all |") for line in lines)
    assert lines[-1].startswith("Noise-only recordings with a chirp reported: ")


@pytest.mark.parametrize("argv", [["--n", "0"]])
def test_no_recordings_is_refused(argv, capsys):
    with pytest.raises(SystemExit):
        rb.main(argv)
    assert "--n 0: make at least one recording" in capsys.readouterr().err


def test_impairments_add_an_offset_a_hum_or_a_pink_background_in_noise_units():
    frame = load_config("default")
    rng = np.random.default_rng(2)
    x, rate, truth = next(d for d in (rb.draw_recording(i, rng, frame) for i in range(1, 80, 4)) if d[2]["chirps"])
    assert rate == 500
    sd = truth["noise_sd"]
    assert np.array_equal(rb.impair(x, rate, truth, "clean", rng, 256.0), x)
    assert np.allclose(rb.impair(x, rate, truth, "offset", rng, 256.0) - x, rb.IMPAIR_SDS * sd)
    hum = rb.impair(x, rate, truth, "hum", rng, 256.0) - x
    spectrum = np.abs(np.fft.rfft(hum))
    assert np.fft.rfftfreq(len(hum), 1 / rate)[np.argmax(spectrum)] == pytest.approx(rb.HUM_HZ, abs=0.05)
    assert np.std(hum) == pytest.approx(rb.IMPAIR_SDS * sd / np.sqrt(2), rel=0.01)
    on, clean = _one(truth)["samples"]
    louder = rb.impair(x, rate, truth, "loud", rng, 256.0) - x
    assert np.allclose(louder[on], (10 ** (rb.LOUD_DB / 20) - 1) * clean) and not louder[~on].any()
    pink = rb.impair(x, rate, truth, "pink", rng, 256.0) - x
    assert len(pink) == len(x) and np.std(pink) == pytest.approx(sd, rel=0.1)  # all of it in the model's band
    low = np.abs(np.fft.rfft(pink)) ** 2
    f = np.fft.rfftfreq(len(pink), 1 / rate)
    assert low[(f > 1) & (f < 4)].mean() > 10 * low[(f > 60) & (f < 120)].mean() and low[f > 130].mean() < 1e-3 * low[f < 120].mean()
