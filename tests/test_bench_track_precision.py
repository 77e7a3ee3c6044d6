"""benchmarks/track_precision.py: the one-window bound against the Fisher information, and the
track's precision and kind on real images against it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import track_precision as tp
from chirpgen.config import load_config


def fisher_std_hz(snr_db: float, n: int, fs: float, f_hz: float = 20.3, phase: float = 0.4) -> float:
    """std of f from the inverse Fisher matrix of x = A cos(2 pi f n / fs + phi) in white noise of unit
    variance, unknowns (A, phi, f): the exact finite-sample bound the closed form approximates."""
    amp = np.sqrt(2 * 10 ** (snr_db / 10))  # SNR = (A^2 / 2) / sigma^2
    t = np.arange(n) / fs
    psi = 2 * np.pi * f_hz * t + phase
    grads = np.stack([np.cos(psi), -amp * np.sin(psi), -amp * np.sin(psi) * 2 * np.pi * t])
    return float(np.sqrt(np.linalg.inv(grads @ grads.T)[2, 2]))


@pytest.mark.parametrize("snr_db", [0.0, 7.5])
def test_the_one_window_bound_is_the_tone_crb(snr_db):
    frame = load_config("default")
    n, fs = frame.stft.window_len, frame.signal.sample_rate_hz
    bound = float(tp.column_bound_hz(np.array([snr_db]), frame)[0])
    assert bound == pytest.approx(fisher_std_hz(snr_db, n, fs), rel=0.02)
    assert float(tp.column_bound_hz(np.array([snr_db + 20.0]), frame)[0]) == pytest.approx(bound / 10, rel=1e-9)


@pytest.fixture(scope="module")
def clear_chirps(tmp_path_factory):
    from chirpgen.dataset import make_dataset
    from chirpgen.shards import read_split

    root = tmp_path_factory.mktemp("track") / "data"
    frame = load_config("default", overrides=["signal.snr_db=[5, 10]"])
    make_dataset(root, 100, frame, seed=12, shard_size=100)
    return read_split(root, "train"), frame


def test_the_track_on_real_images_is_near_the_bound_and_tells_distant_laws_apart(clear_chirps):
    records, frame = clear_chirps
    record = tp.evaluate(records, frame, min_snr_db=5.0)
    assert record["n_chirps"] == int((records["kind"] >= 0).sum()) >= 60
    (row,) = record["precision"]  # every chirp lies in 5..10 dB
    assert row["snr_lo_db"] == 5.0 and row["columns"] > 10 * row["chirps"]
    # a peak read off 8-bit pixels of a Hann-windowed STFT: above the untapered bound, not far above
    assert 1.0 < row["ratio"] < 3.0
    assert row["track_rms_hz"] < 0.2 * frame.bin_hz
    distant = [b for b in record["separation"]["bins"] if b["lo_hz"] >= 0.2 and b["n"]]
    hits = sum(b["kind_accuracy"][tp.TRACK] * b["n"] for b in distant)
    assert hits / sum(b["n"] for b in distant) > 0.9  # laws apart by a fifth of a row or more
    lines = tp.markdown(json.loads(json.dumps(record)))
    assert any(line.startswith("| 5..10 |") for line in lines) and lines[-1].startswith("| all |")


def test_no_chirps_above_the_threshold_is_refused(clear_chirps):
    records, frame = clear_chirps
    with pytest.raises(ValueError, match="no chirps with SNR >= 30 dB"):
        tp.evaluate(records, frame, min_snr_db=30.0)
