"""Classical chirp estimators: an STFT ridge tracker on the image and dechirping ML on the signal.

Both return the five outputs of the model, in physical units: ``kind`` (index into
``KIND_NAMES``), ``t_start_s``, ``duration_s``, ``f_start_hz`` and ``f_end_hz``.

Notes:
    **Ridge tracker** (:func:`ridge_estimate`, on the uint8 image). The grey levels are mapped
    back to power P[k, m] (rfft bin k, column m; unit-variance noise sits at 1). A short oriented
    average Q[k, m] = mean_j P[k + s j, m + j], j in {-1, 0, 1}, maximised over slopes s, raises
    the ridge out of the noise; the column statistic c_m = max_k Q[k, m] is thresholded at
    median(c) + 4 * 1.4826 * MAD(c) (the chirp covers a minority of columns) and the run with the
    largest excess is the support. Per column the peak bin is refined by parabolic interpolation
    of log P (exact for a Gaussian main lobe): delta = (l - r) / (2 (l - 2 c + r)). Each kind's
    curve, written f(u) = f0 + (f1 - f0) g(u) with u = (t - t0) / T, is fitted by Huber-weighted
    iteratively reweighted least squares (linear, quadratic: linear in (f0, f1); exponential:
    log f linear in u, weighted by f^2 to approximate the error in Hz), at the window-weighted
    centroid time of each column. The onset t0 and end t1 are refined below one column by fitting
    the profile of the column energy sum_k (P - 1) around the curve (relative to its plateau)
    with the fraction of sum w^2 inside [t0, t1]. The kind is the one with the smallest robust residual.

    **Dechirping maximum likelihood** (:func:`ml_estimate`, on the raw signal). For a real chirp
    of unknown amplitude and phase in white noise, the log-likelihood, concentrated over the
    amplitude and phase, is (up to the image term at -2f) the energy of the matched filter
    J = 2 |S|^2 / N, S = sum_n x[n] exp(-j phi(t_n - t0; f0, f1)) over the N samples of the
    chirp. Started from the ridge estimate, for each kind: a grid over the sweep f1 - f0 (steps of
    0.5 / T Hz) and an FFT over f0 of the dechirped, block-averaged signal find the main lobe
    (for the exponential kind the grid holds f1 / f0 fixed); Nelder-Mead on the exact J refines
    (f0, f1); the onset and end are the change points that maximise 2 |S(a, b)|^2 / (b - a + 1)
    over windows [a, b] within one column of the current edges (cumulative sums of the
    dechirped signal, the curve held fixed in absolute time). This is done twice (the curve's
    shape is anchored at the onset), then (f0, f1) are refined once more on the final window. The kind with the
    largest J wins (generalised likelihood ratio).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.signal import get_window

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import chirp_phase
from chirpgen.spectrogram import column_centres, grey_to_db

OUTPUT_KEYS: tuple[str, ...] = ("kind", "t_start_s", "duration_s", "f_start_hz", "f_end_hz")
BASELINES: tuple[str, ...] = ("ridge", "ml")
_HUBER_K = 1.345
_MAX_SLOPE_BINS = 4
_EDGE_COST_TOL = 0.01


# ----------------------------------------------------------------------------- curve models


def _shape(kind: str, u: np.ndarray) -> np.ndarray:
    """g(u) of the kinds linear in (f0, f1): f(u) = f0 + (f1 - f0) g(u)."""
    return u if kind == "linear" else u**2


def _huber_weights(resid: np.ndarray) -> np.ndarray:
    scale = 1.4826 * np.median(np.abs(resid)) + 1e-9
    a = np.abs(resid) / (_HUBER_K * scale)
    return np.where(a <= 1.0, 1.0, 1.0 / np.maximum(a, 1e-12))


def _fit_kind(kind: str, u: np.ndarray, f: np.ndarray, w: np.ndarray, n_iter: int = 8) -> tuple[float, float, float]:
    """Huber IRLS fit of one kind's curve to ridge points (u, f); returns (f0, f1, robust residual)."""
    robust = np.ones_like(f)
    if kind == "exponential":
        y = np.log(np.maximum(f, 0.25))
        x = np.stack([np.ones_like(u), u], axis=1)
        fit = f
        for _ in range(n_iter):
            ww = np.sqrt(w * robust) * np.maximum(fit, 0.25)
            beta = np.linalg.lstsq(x * ww[:, None], y * ww, rcond=None)[0]
            fit = np.exp(x @ beta)
            robust = _huber_weights(f - fit)
        f0, f1 = float(np.exp(beta[0])), float(np.exp(beta[0] + beta[1]))
    else:
        x = np.stack([1.0 - _shape(kind, u), _shape(kind, u)], axis=1)
        for _ in range(n_iter):
            ww = np.sqrt(w * robust)
            beta = np.linalg.lstsq(x * ww[:, None], f * ww, rcond=None)[0]
            fit = x @ beta
            robust = _huber_weights(f - fit)
        f0, f1 = float(beta[0]), float(beta[1])
    resid = f - fit
    return f0, f1, float(np.sum(w * robust * resid**2) / max(np.sum(w * robust), 1e-12))


def _curve(kind: str, u: np.ndarray, f0: float, f1: float) -> np.ndarray:
    if kind == "exponential":
        f0, f1 = max(f0, 1e-6), max(f1, 1e-6)
        return f0 * (f1 / f0) ** u
    return f0 + (f1 - f0) * _shape(kind, u)


# ----------------------------------------------------------------------------- ridge tracker


class _Frame:
    """Per-config constants of the image: axes, window, band rows (computed once per batch)."""

    def __init__(self, config: GenConfig):
        sig, stft = config.signal, config.stft
        self.fs = sig.sample_rate_hz
        self.df_hz = self.fs / stft.nfft
        self.hop_s = stft.hop / self.fs
        self.n_samples = sig.n_samples
        self.window = get_window(stft.window, stft.window_len)
        self.cum_window = np.concatenate([[0.0], np.cumsum(self.window)])
        self.cum_window_sq = np.concatenate([[0.0], np.cumsum(self.window**2)])
        self.win_start = column_centres(sig.n_samples, stft) - stft.window_len // 2  # (W,) first sample
        self.times_s = (self.win_start + stft.window_len // 2) / self.fs
        self.n_cols = len(self.times_s)
        lo = max(int(np.floor(sig.freq_hz[0] / self.df_hz)) - 2, 1)
        hi = min(int(np.ceil(sig.freq_hz[1] / self.df_hz)) + 2, stft.freq_bins - 2)
        self.rows = np.arange(lo, hi + 1)  # rfft bins searched
        self.db_range = stft.db_range
        self.freq_range = sig.freq_hz
        self.duration_range = sig.duration_s
        self.record_s = sig.record_s
        max_rate = sig.max_sweep_hz / sig.duration_s[0] * self.hop_s / self.df_hz
        self.slopes = np.arange(-min(int(np.ceil(max_rate)), _MAX_SLOPE_BINS), min(int(np.ceil(max_rate)), _MAX_SLOPE_BINS) + 1)

    def coverage(self, t0_s: float | np.ndarray, t1_s: float | np.ndarray,
                 energy: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Per column: fraction of the window sum (of w^2 if ``energy``) inside [t0, t1], and the
        centre time of the covered part."""
        t0 = np.atleast_1d(np.asarray(t0_s, dtype=np.float64))[:, None] * self.fs - self.win_start  # (G, W)
        t1 = np.atleast_1d(np.asarray(t1_s, dtype=np.float64))[:, None] * self.fs - self.win_start
        pos = np.arange(len(self.cum_window), dtype=np.float64)
        a = np.clip(t0, 0, len(self.window))
        b = np.clip(t1 + 1, 0, len(self.window))
        cum = self.cum_window_sq if energy else self.cum_window
        frac = (np.interp(b, pos, cum) - np.interp(a, pos, cum)) / cum[-1]
        mid = self.win_start + 0.5 * (a + b - 1)  # centroid approximated by the covered part's midpoint
        return frac, mid / self.fs


def _image_power(image: np.ndarray, frame: _Frame) -> np.ndarray:
    """Linear power (bins, W) of a uint8 image, row 0 = bin 0; unit-variance noise sits at 1."""
    return 10.0 ** (grey_to_db(image[::-1], frame.db_range) / 10.0)


def _oriented_mean(p: np.ndarray, slopes: np.ndarray) -> np.ndarray:
    """max over slopes s of the mean of p[k + s j, m + j], j = -1, 0, 1 (edges padded with 1)."""
    pad = int(np.max(np.abs(slopes))) + 1
    padded = np.pad(p, ((pad, pad), (1, 1)), constant_values=1.0)
    k, w = p.shape
    best = np.zeros_like(p)
    for s in slopes:
        acc = padded[pad : pad + k, 1 : 1 + w].copy()
        acc += padded[pad - s : pad - s + k, 0:w]
        acc += padded[pad + s : pad + s + k, 2 : 2 + w]
        np.maximum(best, acc / 3.0, out=best)
    return best


def _support_run(stat: np.ndarray) -> tuple[int, int]:
    """Columns [a, b] of the run of ``stat`` above a robust noise threshold with the largest excess."""
    med = np.median(stat)
    mad = 1.4826 * np.median(np.abs(stat - med)) + 1e-9
    mask = stat > med + 4.0 * mad
    mask[1:-1] |= mask[:-2] & mask[2:]  # bridge one-column gaps
    if not mask.any():
        m = int(np.argmax(stat))
        return m, m
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    starts, stops = edges[::2], edges[1::2]
    excess = np.array([np.sum(stat[a:b] - med) for a, b in zip(starts, stops, strict=True)])
    i = int(np.argmax(excess))
    return int(starts[i]), int(stops[i] - 1)


def _peak_bins(p: np.ndarray, centre: np.ndarray, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``p`` (bins, n), sub-bin peak position within centre +- half_width, and its power."""
    n_bins = p.shape[0]
    offsets = np.arange(-half_width, half_width + 1)
    idx = np.clip(np.rint(centre).astype(int)[None, :] + offsets[:, None], 1, n_bins - 2)  # (O, n)
    cols = np.arange(p.shape[1])
    k = idx[np.argmax(p[idx, cols], axis=0), cols]
    lg = np.log(np.maximum(p[np.stack([k - 1, k, k + 1]), cols], 1e-12))
    den = lg[0] - 2 * lg[1] + lg[2]
    delta = np.where(den < 0, 0.5 * (lg[0] - lg[2]) / np.where(den < 0, den, -1.0), 0.0)
    return k + np.clip(delta, -0.5, 0.5), p[k, cols]


def _band_energy(frame: _Frame, p: np.ndarray, cols: np.ndarray, kind: str, f0: float, f1: float,
                 t0: float, dur: float) -> np.ndarray:
    """Per column, the power above the noise (mean 1) summed over the bins the curve crosses in
    that column's window, +-2 bins: the chirp energy in the column whatever its sweep rate."""
    half = 0.5 * len(frame.window) / frame.fs
    t = frame.times_s[cols]
    ends = np.stack([_curve(kind, np.clip((t + d - t0) / dur, 0.0, 1.0), f0, f1) for d in (-half, 0.0, half)])
    lo = np.min(ends, axis=0) / frame.df_hz - frame.rows[0] - 2
    hi = np.max(ends, axis=0) / frame.df_hz - frame.rows[0] + 2
    k = np.arange(p.shape[0])[:, None]
    band = (k >= np.floor(lo)) & (k <= np.ceil(hi))
    return np.sum(np.where(band, p[:, cols] - 1.0, 0.0), axis=0)


def _refine_edge(frame: _Frame, amp: np.ndarray, cols: np.ndarray, t_other_s: float, start: bool,
                 guess_s: float) -> float:
    """Onset (start=True) or end time whose energy coverage profile best matches ``amp`` (the
    column energies relative to the plateau)."""
    grid = guess_s + frame.hop_s * np.linspace(-1.5, 1.5, 61)
    if start:
        frac, _ = frame.coverage(grid, np.full_like(grid, t_other_s), energy=True)
    else:
        frac, _ = frame.coverage(np.full_like(grid, t_other_s), grid, energy=True)
    cost = np.sum((frac[:, cols] - amp[None, :]) ** 2, axis=1)
    # the Hann tails carry little weight, so the cost is flat over part of a column: take the
    # middle of the near-minimal stretch around the minimum
    i = int(np.argmin(cost))
    near = cost <= cost[i] + _EDGE_COST_TOL
    lo = i - np.argmin(near[i::-1]) + 1 if not near[: i + 1].all() else 0
    hi = i + np.argmin(near[i:]) - 1 if not near[i:].all() else len(grid) - 1
    return float(0.5 * (grid[lo] + grid[hi]))


def _ridge_core(image: np.ndarray, frame: _Frame) -> dict:
    """The ridge tracker on one image; also returns each kind's fit (used to start the ML search)."""
    power = _image_power(image, frame)[frame.rows]  # (K, W), row i = bin frame.rows[i]
    q = _oriented_mean(power, frame.slopes)
    a, b = _support_run(q.max(axis=0))
    t0 = frame.times_s[a] - 0.5 * frame.hop_s
    t1 = frame.times_s[b] + 0.5 * frame.hop_s
    cols = np.arange(a, b + 1)
    centre = np.argmax(q[:, cols], axis=0).astype(np.float64)
    bins, _ = _peak_bins(power[:, cols], centre, 1)
    kind = "linear"
    for _ in range(2):
        # fit, then track: search +-3 bins around the fitted curve, one column beyond each edge
        frac, tc = frame.coverage(t0, t1)
        dur = max(t1 - t0, 1e-3)
        fits = {k: _fit_kind(k, (tc[0, cols] - t0) / dur, bins, np.maximum(frac[0, cols], 0.05))
                for k in KIND_NAMES}
        kind = min(fits, key=lambda k: fits[k][2])
        cols = np.arange(max(a - 1, 0), min(b + 1, frame.n_cols - 1) + 1)
        u = np.clip((tc[0, cols] - t0) / dur, -0.2, 1.2)
        curve_bin = _curve(kind, u, *fits[kind][:2]) / frame.df_hz - frame.rows[0]
        bins_c, _ = _peak_bins(power[:, cols], curve_bin, 3)
        # edges: column energy along the curve, relative to the plateau, vs the window coverage
        energy = _band_energy(frame, power, cols, kind, *fits[kind][:2], t0, dur)
        inner = energy[1:-1] if len(energy) > 2 else energy
        amp = np.clip(energy / max(np.median(inner), 1e-3), 0.0, 1.5)
        t0_new = _refine_edge(frame, amp, cols, t1, True, t0)
        t1_new = _refine_edge(frame, amp, cols, t0_new, False, t1)
        if t1_new - t0_new > 0.25 * frame.hop_s:
            t0, t1 = t0_new, t1_new
        frac, _ = frame.coverage(t0, t1)
        keep = frac[0, cols] > 0.3
        if keep.sum() < 2:
            keep = np.argsort(frac[0, cols])[-2:]
        cols, bins = cols[keep], bins_c[keep]
    frac, tc = frame.coverage(t0, t1)
    dur = max(t1 - t0, 1e-3)
    u = (tc[0, cols] - t0) / dur
    f_pts = (bins + frame.rows[0]) * frame.df_hz
    fits = {k: _fit_kind(k, u, f_pts, np.maximum(frac[0, cols], 0.05)) for k in KIND_NAMES}
    kind = min(fits, key=lambda k: fits[k][2])
    lo, hi = 0.5 * frame.freq_range[0], frame.freq_range[1] + 2 * frame.df_hz
    fits = {k: (float(np.clip(v[0], lo, hi)), float(np.clip(v[1], lo, hi)), v[2]) for k, v in fits.items()}
    t0 = float(np.clip(t0, 0.0, frame.record_s))
    dur = float(np.clip(t1 - t0, 1.0 / frame.fs, frame.record_s - t0))
    return {
        "kind": KIND_NAMES.index(kind),
        "t_start_s": t0,
        "duration_s": dur,
        "f_start_hz": fits[kind][0],
        "f_end_hz": fits[kind][1],
        "fits": fits,
    }


def ridge_estimate(image: np.ndarray, config: GenConfig) -> dict[str, float]:
    """STFT ridge tracker on one uint8 spectrogram (see module Notes).

    Args:
        image: (H, W) uint8 image of ``config``'s geometry, row 0 = highest frequency.
        config: the generation config the image was made with.

    Returns:
        dict with ``kind`` (int), ``t_start_s``, ``duration_s``, ``f_start_hz``, ``f_end_hz``.
    """
    image = np.asarray(image)
    if image.shape != config.image_shape or image.dtype != np.uint8:
        raise ValueError(
            f"image of shape {image.shape} and dtype {image.dtype} must be uint8 of shape {config.image_shape}"
        )
    out = _ridge_core(image, _Frame(config))
    return {k: out[k] for k in OUTPUT_KEYS}


# ----------------------------------------------------------------------------- dechirping ML


def _phase(kind: str, tau_s: np.ndarray, f0: float, f1: float, dur: float) -> np.ndarray:
    if kind == "exponential":
        f0, f1 = max(f0, 1e-3), max(f1, 1e-3)
    return chirp_phase(kind, tau_s, f0, f1, dur)


def _neg_j(params: np.ndarray, kind: str, x: np.ndarray, tau: np.ndarray, dur: float) -> float:
    s = np.sum(x * np.exp(-1j * _phase(kind, tau, params[0], params[1], dur)))
    return -2.0 * (s.real**2 + s.imag**2) / len(x)


def _integrated_shape(kind: str, u: np.ndarray, ratio: float) -> np.ndarray:
    """G(u) = int_0^u g(v) dv, so that phi = 2 pi (f0 tau + (f1 - f0) T G(u))."""
    if kind == "linear":
        return u**2 / 2
    if kind == "quadratic":
        return u**3 / 3
    if abs(ratio - 1.0) < 1e-9:
        return u**2 / 2
    lr = np.log(ratio)
    return (np.expm1(u * lr) / lr - u) / (ratio - 1.0)


def _grid_search(kind: str, x: np.ndarray, tau: np.ndarray, dur: float, fs: float, f0: float, f1: float,
                 half_range_hz: float) -> tuple[float, float]:
    """Best (f0, f1) over a sweep grid x FFT over f0, both within +-half_range_hz of the start."""
    u = tau / dur
    ratio = max(f1, 0.25) / max(f0, 0.25)
    big_g = _integrated_shape(kind, u, ratio)
    sweep0 = f1 - f0
    sweeps = sweep0 + np.arange(-half_range_hz, half_range_hz + 1e-9, 0.5 / dur)
    base = x * np.exp(-2j * np.pi * f0 * tau)  # (N,)
    z = base[None, :] * np.exp(-2j * np.pi * sweeps[:, None] * dur * big_g[None, :])  # (S, N)
    dec = max(int(fs / (4 * (half_range_hz + 2.0))), 1)
    n_blocks = z.shape[1] // dec
    if n_blocks >= 4:
        z = z[:, : n_blocks * dec].reshape(len(sweeps), n_blocks, dec).sum(axis=2)  # (S, N / dec)
        fs_dec = fs / dec
    else:
        fs_dec = fs
    nfft = 1 << int(np.ceil(np.log2(4 * z.shape[1])))
    spec = np.abs(np.fft.fft(z, nfft, axis=1)) ** 2  # (S, nfft)
    offsets = np.fft.fftfreq(nfft, 1.0 / fs_dec)
    spec[:, np.abs(offsets) > half_range_hz] = 0.0
    s_i, k_i = np.unravel_index(int(np.argmax(spec)), spec.shape)
    f0_best = f0 + offsets[k_i]
    return float(f0_best), float(f0_best + sweeps[s_i])


def _change_points(kind: str, x: np.ndarray, fs: float, t0: float, t1: float, f0: float, f1: float,
                   search_s: float) -> tuple[float, float]:
    """(onset, end) maximising 2 |S(a, b)|^2 / (b - a + 1) for the chirp curve fixed in absolute time."""
    n = len(x)
    lo = max(int(np.floor((t0 - search_s) * fs)), 0)
    hi = min(int(np.ceil((t1 + search_s) * fs)), n - 1)
    t = np.arange(lo, hi + 1) / fs
    dur = t1 - t0
    u = (t - t0) / dur
    # the phase continued past the edges with the edge frequencies (f constant outside [0, 1])
    inside = np.clip(u, 0.0, 1.0)
    phi = _phase(kind, inside * dur, f0, f1, dur)
    phi += 2 * np.pi * np.where(u < 0, f0 * (u * dur), np.where(u > 1, f1 * (u - 1) * dur, 0.0))
    c = np.concatenate([[0.0], np.cumsum(x[lo : hi + 1] * np.exp(-1j * phi))])
    a_idx = np.arange(0, min(int(2 * search_s * fs) + 1, len(c) - 1))
    b_idx = np.arange(max(len(c) - 1 - int(2 * search_s * fs), 1), len(c))
    s = c[b_idx][None, :] - c[a_idx][:, None]  # (A, B): sum over samples [a, b)
    length = b_idx[None, :] - a_idx[:, None]
    score = np.where(length > 0, 2 * np.abs(s) ** 2 / np.maximum(length, 1), -np.inf)
    ia, ib = np.unravel_index(int(np.argmax(score)), score.shape)
    return (lo + a_idx[ia]) / fs, (lo + b_idx[ib] - 1) / fs


def _ml_kind(kind: str, x: np.ndarray, fs: float, t0: float, dur: float, f0: float, f1: float,
             half_range_hz: float, search_s: float, n_rounds: int = 2) -> tuple[float, dict[str, float]]:
    def window(t0_: float, dur_: float) -> tuple[np.ndarray, np.ndarray]:
        first = max(int(np.ceil(t0_ * fs - 1e-9)), 0)
        last = min(int(np.floor((t0_ + dur_) * fs + 1e-9)), len(x) - 1)
        return x[first : last + 1], np.arange(first, last + 1) / fs - t0_

    def refine(xw: np.ndarray, tau: np.ndarray, dur_: float, f0_: float, f1_: float) -> tuple[float, float, float]:
        step = 0.3 / dur_
        res = minimize(_neg_j, np.array([f0_, f1_]), args=(kind, xw, tau, dur_), method="Nelder-Mead",
                       options={"initial_simplex": [[f0_, f1_], [f0_ + step, f1_], [f0_, f1_ + step]],
                                "xatol": 1e-3 / dur_, "fatol": 1e-6, "maxiter": 200})
        return float(res.x[0]), float(res.x[1]), float(-res.fun)

    for _ in range(n_rounds):
        xw, tau = window(t0, dur)
        f0, f1 = _grid_search(kind, xw, tau, dur, fs, f0, f1, half_range_hz)
        f0, f1, _ = refine(xw, tau, dur, f0, f1)
        t0_new, t1_new = _change_points(kind, x, fs, t0, t0 + dur, f0, f1, search_s)
        if t1_new - t0_new <= 4.0 / fs:
            break
        f_edges = _curve(kind, (np.array([t0_new, t1_new]) - t0) / dur, f0, f1)
        t0, dur = t0_new, t1_new - t0_new
        f0, f1 = float(f_edges[0]), float(f_edges[1])
    xw, tau = window(t0, dur)
    f0, f1, _ = refine(xw, tau, dur, f0, f1)
    s = np.sum(xw * np.exp(-1j * _phase(kind, tau, f0, f1, dur)))
    j = 2.0 * abs(s) ** 2 / len(xw)
    return j, {"t_start_s": float(t0), "duration_s": float(dur), "f_start_hz": f0, "f_end_hz": f1}


def _ml_core(signal: np.ndarray, image: np.ndarray, frame: _Frame, half_range_hz: float) -> dict:
    ridge = _ridge_core(image, frame)
    best, best_j = None, -np.inf
    for kind in KIND_NAMES:
        f0, f1, _ = ridge["fits"][kind]
        j, est = _ml_kind(kind, signal, frame.fs, ridge["t_start_s"], ridge["duration_s"], f0, f1,
                          half_range_hz, search_s=frame.hop_s)
        if j > best_j:
            best, best_j = {"kind": KIND_NAMES.index(kind), **est}, j
    return best


def ml_estimate(signal: np.ndarray, config: GenConfig, image: np.ndarray | None = None,
                half_range_hz: float = 2.0) -> dict[str, float]:
    """Dechirping maximum-likelihood estimate from the raw signal, started from the ridge tracker.

    Args:
        signal: (n_samples,) float record of ``config``'s frame.
        config: the generation config.
        image: the sample's uint8 image, to skip recomputing it from ``signal``.
        half_range_hz: half width of the (f0, f1 - f0) grid around the ridge estimate.

    Returns:
        dict with ``kind`` (int), ``t_start_s``, ``duration_s``, ``f_start_hz``, ``f_end_hz``.
    """
    signal = np.asarray(signal, dtype=np.float64)
    if signal.shape != (config.signal.n_samples,):
        raise ValueError(f"signal of shape {signal.shape} must have shape ({config.signal.n_samples},)")
    if half_range_hz <= 0:
        raise ValueError(f"half_range_hz={half_range_hz} must be > 0")
    if image is None:
        from chirpgen.spectrogram import render_image

        image = render_image(signal, config)
    return _ml_core(signal, image, _Frame(config), half_range_hz)


def run_baseline(name: str, inputs: np.ndarray, config: GenConfig, images: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Run one baseline over a batch.

    Args:
        name: ``"ridge"`` (inputs: (B, H, W) uint8 images) or ``"ml"`` (inputs: (B, n_samples) signals).
        inputs: the batch.
        config: the generation config of the batch.
        images: for ``"ml"``, the matching images (else they are rendered from the signals).

    Returns:
        dict of (B,) arrays keyed by ``OUTPUT_KEYS`` (``kind`` as int64).
    """
    if name not in BASELINES:
        raise ValueError(f"baseline name={name!r} must be one of {list(BASELINES)}")
    inputs = np.asarray(inputs)
    frame = _Frame(config)
    rows = []
    if name == "ridge":
        if inputs.ndim != 3 or inputs.shape[1:] != config.image_shape or inputs.dtype != np.uint8:
            raise ValueError(f"ridge inputs of shape {inputs.shape}, dtype {inputs.dtype} must be uint8 (B, *{config.image_shape})")
        rows = [_ridge_core(img, frame) for img in inputs]
    else:
        if inputs.ndim != 2 or inputs.shape[1] != config.signal.n_samples:
            raise ValueError(f"ml inputs of shape {inputs.shape} must be (B, {config.signal.n_samples})")
        if images is None:
            from chirpgen.spectrogram import render_image

            images = render_image(inputs, config)
        rows = [_ml_core(sig.astype(np.float64), img, frame, 2.0) for sig, img in zip(inputs, images, strict=True)]
    out = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in OUTPUT_KEYS}
    out["kind"] = out["kind"].astype(np.int64)
    return out
