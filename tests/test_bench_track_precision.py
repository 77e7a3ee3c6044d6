"""benchmarks/track_precision.py: the one-window bound against the Fisher information, the pixel
likelihood against the noncentral chi-squared law, and the track's precision and kind (and the whole
image's) on real images."""

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


def test_the_pixel_likelihood_is_the_noncentral_chi_squared_density():
    from scipy.stats import ncx2

    power = np.array([0.05, 0.7, 2.0, 9.0, 40.0])
    for clean in (0.5, 3.0, 25.0):  # 2 P / 1 is chi-squared with 2 degrees of freedom, noncentrality 2 c
        want = np.sum(np.log(2.0 * ncx2.pdf(2.0 * power, 2, 2.0 * clean)))
        assert tp.pixel_loglik(power, np.full_like(power, clean)) == pytest.approx(want, rel=1e-9)
    assert tp.pixel_loglik(power, np.zeros_like(power)) == pytest.approx(-power.sum())  # noise alone: exponential


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
    record = tp.evaluate(records, frame, 5.0, seed=12, split="train")
    assert record["n_chirps"] == int((records["kind"] >= 0).sum()) >= 60
    (row,) = record["precision"]  # every chirp lies in 5..10 dB
    assert row["snr_lo_db"] == 5.0 and row["columns"] > 10 * row["chirps"]
    # a peak read off 8-bit pixels of a Hann-windowed STFT: above the untapered bound, not far above
    assert 1.0 < row["ratio"] < 3.0
    assert row["track_rms_hz"] < 0.2 * frame.bin_hz
    distant = [b for b in record["separation"]["bins"] if b["lo_hz"] >= 0.2 and b["n"]]
    for reader in (tp.TRACK, tp.IMAGE):
        hits = sum(b["kind_accuracy"][reader] * b["n"] for b in distant)
        assert hits / sum(b["n"] for b in distant) > 0.9  # laws apart by a fifth of a row or more
    (by_snr,) = record["kind_by_snr"]
    assert by_snr["chirps"] == record["kind_all"]["chirps"] == record["n_chirps"]
    assert record["kind_all"]["kind_accuracy"][tp.IMAGE] > 0.85
    lines = tp.markdown(json.loads(json.dumps(record)))
    assert sum(line.startswith("| 5..10 |") for line in lines) == 2 and lines[-1].startswith("| all |")


def test_the_likelihood_ratio_refuses_records_of_another_seed(clear_chirps):
    records, frame = clear_chirps
    with pytest.raises(ValueError, match="not chirpgen's sample of seed 13"):
        tp.image_kinds({k: v[:1] for k, v in records.items()}, frame, seed=13, split="train")


def test_no_chirps_above_the_threshold_is_refused(clear_chirps):
    records, frame = clear_chirps
    with pytest.raises(ValueError, match="no chirps with SNR >= 30 dB"):
        tp.evaluate(records, frame, 30.0, seed=12, split="train")
