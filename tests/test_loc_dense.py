"""The dense head: its targets follow chirpgen's laws, its loss learns, and the fit inverts the maps."""

import math

import numpy as np
import pytest
import torch

from chirpgen.config import KIND_NAMES, load_config
from chirpgen.signal import instantaneous_frequency
from chirploc.dense import DenseHead, dense_loss
from chirploc.fit import FitPriors, band_pairs, fit_maps
from chirploc.grid import DenseGrid, column_frequencies

FRAME = load_config("default")
GRID = DenseGrid.from_frame(FRAME, freq_step_hz=0.5, time_subbins=4, freq_sigma_hz=0.75, time_sigma_bins=1.0)
PRIORS = FitPriors.from_frame(FRAME)


def test_grid_follows_the_frame():
    assert GRID.n_columns == 128 and GRID.n_freq_bins == 256  # 128 rows of 1 Hz in 0.5 Hz bins
    assert GRID.column_s == pytest.approx(FRAME.column_s)
    from chirpgen.spectrogram import image_axes

    assert np.allclose(GRID.column_times_s, image_axes(FRAME)[1])  # column centres are the image's


@pytest.mark.parametrize("kind", range(3))
def test_column_targets_are_the_law_at_column_centres(kind):
    t0, dur, f0, f1 = 10.3, 7.1, 20.0, 45.5
    cols = column_frequencies(GRID, kind, t0, dur, f0, f1)
    t = GRID.column_times_s
    inside = (t >= t0) & (t <= t0 + dur)
    assert np.array_equal(np.isfinite(cols), inside)
    want = instantaneous_frequency(KIND_NAMES[kind], t[inside] - t0, f0, f1, dur)
    assert np.allclose(cols[inside], want)
    assert np.isnan(column_frequencies(GRID, 255, math.nan, math.nan, math.nan, math.nan)).all()


def _ideal_maps(kind: int, t0: float, dur: float, f0: float, f1: float, present: bool = True, grid: DenseGrid = GRID,
                sigma_hz: float = 0.75) -> dict:
    """Maps a perfect network would give: log-Gaussians at the truth."""
    cols = column_frequencies(grid, kind, t0, dur, f0, f1)
    bins = np.arange(grid.n_freq_bins) * grid.freq_step_hz
    freq = np.where(
        np.isfinite(cols)[:, None], -0.5 * ((bins[None] - np.nan_to_num(cols)[:, None]) / sigma_hz) ** 2, 0.0
    )
    pos = (np.arange(grid.n_columns * grid.time_subbins) + 0.5) * grid.subbin_s
    edge = lambda t: -0.5 * ((pos - t) / grid.subbin_s) ** 2  # noqa: E731
    maps = {
        "freq": freq,
        "presence": np.where(np.isfinite(cols), 5.0, -5.0),
        "onset": edge(t0),
        "offset": edge(t0 + dur),
        "any_chirp": np.array(8.0 if present else -8.0),
    }
    return {k: torch.tensor(np.asarray(v), dtype=torch.float32)[None] for k, v in maps.items()}


@pytest.mark.parametrize("kind", range(3))
@pytest.mark.parametrize("f0,f1", [(12.3, 38.9), (80.2, 55.7), (30.0, 30.4)])
def test_the_fit_inverts_ideal_maps(kind, f0, f1):
    t0, dur = 17.37, 9.61
    got = fit_maps(_ideal_maps(kind, t0, dur, f0, f1), GRID, PRIORS)
    assert got["t_start_s"][0] == pytest.approx(t0, abs=0.02)
    assert got["duration_s"][0] == pytest.approx(dur, abs=0.04)
    assert got["f_start_hz"][0] == pytest.approx(f0, abs=0.05)
    assert got["f_end_hz"][0] == pytest.approx(f1, abs=0.05)
    if abs(f1 - f0) > 5:  # a near-constant tone looks the same under every law
        assert got["kind"][0] == kind
    assert got["p_chirp"][0] > 0.99


@pytest.mark.parametrize("kind", range(3))
def test_the_fit_searches_another_frame_on_its_own_scale(kind):
    """The audio frame's rows are 62.5 Hz apart: the search grids are in rows, not in Hz."""
    audio = load_config("audio")
    grid = DenseGrid.from_frame(audio, freq_step_hz=31.25, time_subbins=4, freq_sigma_hz=46.875, time_sigma_bins=1.0)
    priors = FitPriors.from_frame(audio)
    assert priors.bin_hz == audio.bin_hz == 62.5
    t0, dur, f0, f1 = 0.3137, 0.1913, 1234.5, 4321.0
    got = fit_maps(_ideal_maps(kind, t0, dur, f0, f1, grid=grid, sigma_hz=46.875), grid, priors)
    assert got["t_start_s"][0] == pytest.approx(t0, abs=0.05 * audio.column_s)
    assert got["duration_s"][0] == pytest.approx(dur, abs=0.1 * audio.column_s)
    assert got["f_start_hz"][0] == pytest.approx(f0, abs=0.05 * audio.bin_hz)
    assert got["f_end_hz"][0] == pytest.approx(f1, abs=0.05 * audio.bin_hz)
    assert got["kind"][0] == kind


def test_the_fit_of_a_batch_equals_the_fits_one_by_one():
    maps = [_ideal_maps(k, 5.0 + 7 * k, 4.0 + k, 20.0 + 9 * k, 40.0 - 3 * k) for k in range(3)]
    batch = {k: torch.cat([m[k] for m in maps]) for k in maps[0]}
    together = fit_maps(batch, GRID, PRIORS)
    for i, m in enumerate(maps):
        alone = fit_maps(m, GRID, PRIORS)
        for k in alone:
            assert together[k][i] == pytest.approx(alone[k][0], rel=1e-5, abs=1e-5)


def test_candidate_pairs_respect_the_band_and_the_sweep():
    pairs = band_pairs(PRIORS, 2.0)
    assert pairs.min() >= 1.0 and pairs.max() <= 100.0
    assert np.abs(pairs[:, 1] - pairs[:, 0]).max() <= 30.0 + 1e-6


def test_dense_loss_learns_a_fixed_batch():
    torch.manual_seed(0)
    head = DenseHead(16, GRID, columns_per_token=2, hidden=32)
    tokens = torch.randn(4, 1 + 64, 16)
    labels = [(0, 5.0, 6.0, 20.0, 30.0), (1, 20.0, 3.0, 60.0, 50.0), (2, 40.0, 10.0, 10.0, 25.0)]
    cols = [column_frequencies(GRID, *lab) for lab in labels] + [np.full(GRID.n_columns, np.nan)]
    batch = {
        "column_freq_hz": torch.tensor(np.stack(cols), dtype=torch.float32),
        "has_chirp": torch.tensor([True, True, True, False]),
        "t_start_s": torch.tensor([5.0, 20.0, 40.0, math.nan]),
        "t_end_s": torch.tensor([11.0, 23.0, 50.0, math.nan]),
    }
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = dense_loss(head(tokens), batch, GRID)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# --- a tiny dense run end to end ----------------------------------------------------------------


def test_a_dense_run_evaluates_errors_on_chirps_and_presence_on_all(dense_run):
    from chirpgen.shards import read_split
    from chirploc.evaluate import evaluate_run

    result, _ = evaluate_run(dense_run / "run", dense_run / "data", "test")
    kinds = read_split(dense_run / "data", "test")["kind"]
    assert result["overall"]["n"] == int((kinds != 255).sum())
    det = result["detection"]
    assert det["noise"]["n"] == int((kinds == 255).sum()) > 0
    assert (
        0.0 <= det["noise"]["rate"] <= 1.0
        and sum(g["n"] for g in det["per_snr"].values()) == det["chirps"]["n"]
    )


def test_a_dense_run_describes_with_a_presence_probability(dense_run, tmp_path):
    import json

    from click.testing import CliRunner
    from PIL import Image

    from chirpgen.shards import read_split
    from chirploc.cli import main

    image = read_split(dense_run / "data", "test", 1)["image"][0]
    Image.fromarray(image, mode="L").save(tmp_path / "a.png")
    result = CliRunner().invoke(
        main, ["describe", str(tmp_path / "a.png"), "--model", str(dense_run / "run"), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]  # one per chirp found, or one saying none
    assert [r["chirp"] for r in records] == ([None] if records[0]["kind"] == "none" else list(range(len(records))))
    for record in records:
        assert 0.0 <= record["p_chirp"] <= 1.0
        assert record["kind"] in (*KIND_NAMES, "none")
        assert (record["kind"] == "none") == (record["p_chirp"] < 0.5) == (record["t_start_s"] is None)


class _DensePredictor:
    """Stands in for a dense-head model: the same labels for every image, presence ``p_chirp[i]``
    (None: a regression-head model, which has no presence output)."""

    frame = FRAME

    def __init__(self, p_chirp):
        self.p_chirp = p_chirp

    def predict(self, images):
        n = len(images)
        values = {"t_start_s": 1.0, "f_start_hz": 2.0, "f_end_hz": 3.0, "duration_s": 4.0}
        out = {**{k: np.full(n, v) for k, v in values.items()}, "kind": np.zeros(n, np.int64)}
        if self.p_chirp is None:
            return out
        dense = {"p_chirp": np.asarray(self.p_chirp[:n], float), "confidence": np.full(n, -1.5)}
        return {**out, **dense, "fallback": np.zeros(n, bool)}


def test_no_chirp_records_read_as_such():
    from chirploc.describe import describe_many

    images = np.zeros((2, *FRAME.image_shape), np.uint8)
    none, found = describe_many(list(images), _DensePredictor([0.12, 0.97]))
    (record,) = none.records()
    assert record["kind"] == "none" and record["t_start_s"] is None and record["p_chirp"] == 0.12
    assert record["chirp"] is None and "confidence" not in record
    assert record["description"] == none.sentence == "No chirp found (probability of a chirp 0.12)."
    (record,) = found.records()
    assert record["kind"] == "linear" and record["t_start_s"] == 1.0
    assert record["description"] == found.sentence and found.sentence.startswith("A linear")
    assert record["p_chirp"] == 0.97 and record["confidence"] == -1.5 and record["chirp"] == 0
    (regression,) = describe_many([images[0]], _DensePredictor(None))
    (record,) = regression.records()
    assert record["kind"] == "linear" and record["p_chirp"] is None and record["confidence"] is None


def test_the_fallback_answers_the_middle_of_the_ranges_only_when_unsure():
    from chirploc.fit import apply_fallback

    priors = FitPriors.from_frame(FRAME, fallback_p_chirp=0.8)
    pred = {
        "t_start_s": np.array([3.0, 4.0, 5.0]),
        "duration_s": np.array([2.0, 2.0, 2.0]),
        "f_start_hz": np.array([10.0, 10.0, 10.0]),
        "f_end_hz": np.array([20.0, 20.0, 20.0]),
        "kind": np.array([0, 1, 2]),
        "p_chirp": np.array([0.3, 0.6, 0.9]),
    }
    out = apply_fallback(pred, priors)
    assert out["fallback"].tolist() == [False, True, False]  # p 0.3 says "no chirp", not "unsure"
    assert out["t_start_s"].tolist() == [3.0, 22.5, 5.0] and out["duration_s"][1] == 8.0
    assert out["f_start_hz"][1] == out["f_end_hz"][1] == 50.5
    assert not apply_fallback(pred, FitPriors.from_frame(FRAME))["fallback"].any()


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_the_pixel_refinement_moves_a_curve_that_is_off_onto_the_ridge(kind):
    from chirpgen.signal import chirp_waveform
    from chirpgen.spectrogram import render_image
    from chirploc.fit import refine_on_pixels

    t0, dur, f0, f1 = 12.3, 9.0, 31.4, 47.7  # off the row grid, so the ridge lies between rows
    sig = FRAME.signal
    chirp = chirp_waveform(KIND_NAMES[kind], sig.n_samples, sig.sample_rate_hz, t0, dur, f0, f1, 3.0, 0.4)
    noise = 0.1 * np.random.default_rng(kind).standard_normal(sig.n_samples)
    image = render_image(chirp + noise, FRAME)[None]
    pred = {"t_start_s": np.array([t0]), "duration_s": np.array([dur]), "kind": np.array([kind]),
            "f_start_hz": np.array([f0 + 0.4]), "f_end_hz": np.array([f1 - 0.35])}
    got = refine_on_pixels(image, pred, FRAME)
    assert abs(got["f_start_hz"][0] - f0) < 0.15 and abs(got["f_end_hz"][0] - f1) < 0.15
    assert got["t_start_s"] is pred["t_start_s"] and got["kind"] is pred["kind"]  # only the frequencies move


def test_the_pixels_choose_the_law_the_maps_cannot_tell_apart():
    """Maps that score the three laws alike leave the kind to the pixels, which follow the true law."""
    from chirpgen.signal import chirp_waveform
    from chirpgen.spectrogram import render_image
    from chirploc.fit import refine_on_pixels

    t0, dur, f0, f1 = 10.2, 12.0, 20.3, 44.6  # a wide sweep: the laws part by 6 Hz mid-chirp
    sig = FRAME.signal
    for kind in range(3):
        chirp = chirp_waveform(KIND_NAMES[kind], sig.n_samples, sig.sample_rate_hz, t0, dur, f0, f1, 2.0, 0.1)
        noise = np.random.default_rng(kind).standard_normal(sig.n_samples)
        image = render_image(chirp + noise, FRAME)[None]
        pred = {"t_start_s": np.array([t0]), "duration_s": np.array([dur]), "kind": np.array([(kind + 1) % 3]),
                "f_start_hz": np.array([f0]), "f_end_hz": np.array([f1]),
                "law_f_hz": np.array([[[f0 + 0.3, f1 - 0.3]] * 3]), "law_score": np.array([[-1.0, -1.0, -1.0]])}
        got = refine_on_pixels(image, pred, FRAME)
        assert got["kind"][0] == kind
        assert abs(got["f_start_hz"][0] - f0) < 0.2 and abs(got["f_end_hz"][0] - f1) < 0.2
        # maps that are sure of another law by more than the pixels' difference keep it
        sure = {**pred, "law_score": np.where(np.arange(3) == (kind + 1) % 3, 0.0, -1e3)[None]}
        assert refine_on_pixels(image, sure, FRAME)["kind"][0] == (kind + 1) % 3
