"""Recordings into the model's frame: read a .wav or .npy file, make it mono, resample, scale by its
noise level, then cut it into overlapping frames of the model's length, padded with the frame's noise
where they reach past it.

Only :func:`load_recording` touches a file; everything else is a pure function of its arguments
and returns, besides its result, notes saying what it did to the recording.

Notes:
    Integer PCM samples x of b bits are scaled to [-1, 1) by (x - offset) / 2^(b-1), where the
    offset is 0 for signed and 2^(b-1) for unsigned samples. Resampling by the rational
    p / q = target / rate uses ``scipy.signal.resample_poly``, exact for rates that are whole
    numbers (44100 Hz to 256 Hz is 64 / 11025); ratios whose terms pass ``MAX_RESAMPLE_FACTOR`` are
    rounded to factors up to 1000, and the note says by how much.

    Noise level: the frame's grey levels assume white noise of unit variance, whose normalised STFT
    power (chirpgen.spectrogram.stft_power) is exponentially distributed with mean 1 in every bin.
    The level of a recording is sigma = sqrt(median(P) / ln 2), the median over every bin but DC of
    the columns whose window lies wholly inside the recording: a chirp fills one bin in a column,
    so the median hardly sees it, and it is measured on the real samples before any padding.

    Frames: the model knows chirps that start between ``t_start_s = [lo, hi]`` seconds into its
    frame. A recording is described in frames of the frame's length; frame k starts at k (hi - lo) - lo
    seconds, so it holds the chirps that start k (hi - lo) to (k + 1) (hi - lo) seconds into the
    recording where the model knows them, and there are as many frames as it takes for every start
    up to the recording's end less the shortest chirp (``duration_s[0]``). Frames reach past the
    recording's ends: a chirp 50 s into a 60 s recording starts 5 s into the second frame, where
    the default model (lo, hi = 0, 45 s) can say so, and not 50 s into the first, where it cannot.
    Frames overlap by the frame's length less the start span, which is the longest chirp for the
    default frame.

    Offset: with ``--scale noise`` the recording's mean is subtracted first. An offset would light
    the lowest rows of every column, and the step where it meets the zeros beyond the record (or the
    padding) every row of the first and last columns; the model never saw either. (A high-pass
    below the chirps' band would also take slow drift, but its edge transients at the ends of the
    recording look like low chirps to the model.)

    Steady lines: with ``--scale noise``, a row of the recording's STFT lit above ``LINE_FACTOR``
    times the noise in more columns than the longest chirp can light (its duration's columns and
    ``LINE_MARGIN``), and more than noise lights by chance (mean plus four standard deviations of a
    binomial count), holds a steady line such as mains hum: no chirp lasts that long. The strongest
    is taken out, its frequency refined to the periodogram's peak within its main lobe (beyond it the
    search would settle on a sidelobe, a fraction of a hertz off, and leave the line beating) and its amplitude
    and phase fitted by least squares as a(t) cos + b(t) sin with a, b piecewise linear between knots
    ``LINE_KNOT_S`` apart (mains hum drifts), and the search repeats, up to ``MAX_LINES`` lines. A
    line that comes and goes is no steady line but calls repeated at one pitch, as a bird repeats
    a note: where its fitted amplitude at the ``LINE_STEADY[0]`` quantile of the knots is below
    ``LINE_STEADY[1]`` of that at the 1 - ``LINE_STEADY[0]`` quantile (12 dB apart), it is kept. A
    lit row whose periodogram peak lies below the first row's frequency is no line but drift or a
    1/f background, lighting the lowest rows throughout: the whitening below takes it. A
    subtracted fit leaves no edge transients, which a notch filter run over the recording would, at
    its ends. A recording no longer than the longest chirp cannot tell a line from a chirp and keeps
    its lines.

    Whitening: the model knows white noise only. A row's noise floor (:func:`noise_floor`) is its
    20 % quantile over the recording's columns (a chirp lights fewer than 80 % of them in any
    recording longer than 19 s) made a mean, smoothed by a running median over 17 rows (a line or a
    chirp is narrower; a 1/f slope passes unchanged). Where the floor strays more than ``WHITEN_DB``
    from its median in a row of the chirps' band (the estimate of a white one strays less), the
    recording's spectrum is divided by its square root, in one FFT of the recording mirrored by
    ``WHITEN_PAD_S`` at both ends. Below the first row's frequency the rows tell nothing (and no
    chirp lies there), but a 1/f background or drift is strongest there, and a 0.5 s window's main
    lobe carries it up into the lowest rows, where it would look like a low chirp: there the level
    is read off the recording's own periodogram (``WHITEN_LOW_BINS``), so that it is made white down
    to DC as well.

    Loud chirps: the model knows chirps up to ``snr_db[1]`` (10 dB for the default frame). Once the
    recording is in unit noise, if its brightest pixel (rows above DC) exceeds ``LOUD_MARGIN`` times
    the pixel of a steady tone at that SNR (:func:`peak_bin_power`), white noise of variance g - 1 is
    added and the sum divided by sqrt(g), g the ratio: the noise stays at unit level and the loudest
    chirp comes down to that SNR, the image one the model was trained on. The noise is drawn from
    ``PAD_SEED + 1``, the same for every recording.

    Padding: a recording is padded, at its frame's rate and in its units, with the frame's noise
    (chirpgen's, of unit variance: the recording's own level after the division by it), the same
    draw for every recording. Zeros would leave an edge the model never saw in training, where the recording
    stops, whose broadband step it can take for the end of a chirp.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from chirpgen.config import GenConfig, StftConfig
from chirpgen.plumbing import UserError
from chirpgen.signal import NOISE_FUNCTIONS
from chirpgen.spectrogram import column_centres, power_to_grey, render_image, stft_power, stft_window

RECORDING_SUFFIXES = (".wav", ".npy")
SCALES = ("noise", "raw")
MAX_RESAMPLE_FACTOR = 100_000  # largest up or down factor of an exact resampling ratio
MAX_CHANNELS = 64  # a 2-D recording's shorter axis is its channels, up to this many


FLOOR_QUANTILE = 0.2  # a row's noise floor from this quantile over the columns: a chirp lights fewer than 80 %
FLOOR_ROWS = 8  # and the running median over twice this many rows and one: lines and chirps are narrower
WHITEN_DB = 6.0  # a floor straying more than this from its median in the chirps' band is whitened (a white one's < 5)
WHITEN_MIN_COLUMNS = 16  # fewer columns of a recording than this tell too little of its floor
WHITEN_FLOOR = 1e-12  # row floors are taken as at least this share of the median: no division by an empty row
WHITEN_PAD_S = 4.0  # mirrored seconds either side while whitening
WHITEN_LOW_BINS = 9  # below the first row the noise level is the periodogram's running mean over this many bins
LINE_FACTOR = 4.0  # a row lit this many times above the noise for longer than any chirp holds a steady line
LINE_MARGIN = 4  # columns a chirp can light beyond its duration's (its window reaches past both ends)
MAX_LINES = 8  # steady lines notched out at most
LINE_STEADY = (0.1, 0.25)  # a line is steady where its amplitude's q and 1 - q quantiles over the knots are within this ratio
LINE_KNOT_S = 2.0  # a steady line's amplitude and phase may change this fast
LOUD_MARGIN = 2.0  # a brightest pixel this many times a top-SNR chirp's is quietened (a top-SNR chirp's stays below)
SILENT_RATIO = 1e-6  # a noise level this far (120 dB) below the recording's peak is digital silence
OFFSET_NOTE = 0.1  # a removed offset of this share of the noise level or more is noted
PAD_SEED = 0  # padding is the frame's noise drawn from this seed: the same for every recording
MAX_RAW_AMPLITUDE = 1e15  # with --scale raw: the float32 STFT's power stays far from overflow


class InputError(UserError):
    """An input file that cannot be described (phrased for the user, with the fix)."""


def check_scale(scale: str) -> None:
    """Raise InputError unless ``scale`` is one of SCALES."""
    if scale not in SCALES:
        raise InputError(f"scale={scale!r} must be one of {list(SCALES)}")


def _positive(value: object) -> bool:
    """Whether ``value`` is a finite real number > 0 (not a bool)."""
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return bool(number and np.isfinite(value) and value > 0)


def check_expand(expand: float) -> None:
    """Raise InputError unless ``expand`` (a time expansion factor) is a finite number > 0."""
    if not _positive(expand):
        raise InputError(f"time expansion {expand!r} must be a finite number > 0 (1: none); pass e.g. --expand 50")


def check_rate(rate_hz: float, target_hz: float | None = None) -> None:
    """Raise InputError unless ``rate_hz`` is a finite sample rate > 0 (and, given the model's
    ``target_hz``, not over 1000 times below it: no recording is stretched a thousandfold)."""
    if not _positive(rate_hz):
        raise InputError(f"sample rate {rate_hz!r} Hz must be a finite number > 0; pass e.g. --rate 256")
    if target_hz is not None and rate_hz * 1000 < target_hz:
        raise InputError(f"sample rate {rate_hz:g} Hz is over 1000 times below the model's {target_hz:g} Hz; "
                         "check --rate or the file's rate, or resample the recording nearer to it first")


def pcm_to_float(data: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer PCM samples scaled to [-1, 1) as float64 (see Notes); float samples unchanged."""
    if data.dtype.kind not in "iu":
        return data, []
    info = np.iinfo(data.dtype)
    data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    return data, [f"{info.bits}-bit integer WAV scaled to [-1, 1)"]


def _read_wav(path: Path) -> tuple[np.ndarray, float, list[str]]:
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks are skipped
            rate, data = wavfile.read(path)
    except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, EOFError or struct.error on bad files
        raise InputError(f"{path} is not a readable WAV file ({exc}); give a PCM or float WAV") from None
    if rate <= 0:
        raise InputError(f"{path} says its sample rate is {rate} Hz; fix the WAV header (or save the samples as .npy "
                         "and pass --rate)")
    data, notes = pcm_to_float(data)
    return data, float(rate), notes


def _read_npy(path: Path, sample_rate_hz: float | None) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{path} is not a readable .npy array ({exc}); save the recording with numpy.save"
        ) from None
    if data.dtype.kind not in "iuf":
        raise InputError(f"{path} holds {data.dtype} values; give a numeric 1-D recording")
    if sample_rate_hz is None:
        raise InputError(f"{path}: a .npy file has no sample rate; pass it (--rate HZ)")
    check_rate(sample_rate_hz)
    return data


def to_mono(data: np.ndarray, name: str | Path) -> tuple[np.ndarray, list[str]]:
    """A finite, non-empty float64 (N,) signal from (N,), (N, channels) or (channels, N) samples
    (channels averaged; the shorter axis of a 2-D array is taken as the channels).

    Raises:
        InputError: no samples, more than two dimensions, a 2-D array with no clear channel axis,
            or NaN / infinite samples in ``name``.
    """
    data = np.asarray(data, dtype=np.float64)
    notes = []
    if data.size == 0:
        raise InputError(f"{name} holds no samples (shape {data.shape}); give a non-empty mono or multi-channel recording")
    if data.ndim == 2:
        axis = 0 if data.shape[0] < data.shape[1] else 1
        channels = data.shape[axis]
        if channels > MAX_CHANNELS:
            raise InputError(
                f"{name} has shape {data.shape}: neither axis looks like channels (at most {MAX_CHANNELS}); "
                "give a 1-D recording, or (samples, channels)"
            )
        notes.append(f"{channels} channels (axis {axis} of {data.shape}) averaged to mono")
        data = data.mean(axis=axis)
    if data.ndim != 1 or data.size == 0:
        raise InputError(
            f"{name} holds no samples (shape {data.shape}); give a non-empty mono or multi-channel recording"
        )
    if not np.all(np.isfinite(data)):
        raise InputError(f"{name} holds NaN or infinite samples; clean the recording first")
    return data, notes


def load_recording(path: Path, sample_rate_hz: float | None = None) -> tuple[np.ndarray, float, list[str]]:
    """A mono float64 signal and its rate from a .wav or .npy file, with notes on what was done.

    Args:
        path: a .wav file (which carries its rate) or anything else, read as a .npy array.
        sample_rate_hz: the rate of a .npy recording; required for one.
    """
    if path.suffix.lower() == ".wav":
        data, rate, notes = _read_wav(path)
    else:
        data, rate, notes = _read_npy(path, sample_rate_hz), sample_rate_hz, []
    signal, mono_notes = to_mono(data, path)
    return signal, rate, notes + mono_notes


def resample(signal: np.ndarray, rate_hz: float, target_hz: float) -> tuple[np.ndarray, list[str]]:
    """``signal`` at ``rate_hz`` resampled to ``target_hz`` (polyphase, see Notes)."""
    check_rate(rate_hz, target_hz)
    if rate_hz == target_hz:
        return signal, []
    from scipy.signal import resample_poly

    ratio = Fraction(target_hz) / Fraction(rate_hz)  # exact for rates such as 44100 and 256: 64/11025
    notes = [f"resampled from {rate_hz:g} Hz to {target_hz:g} Hz"]
    if max(ratio.numerator, ratio.denominator) > MAX_RESAMPLE_FACTOR:
        ratio = ratio.limit_denominator(1000)
        if ratio == 0:
            raise InputError(f"sample rate {rate_hz:g} Hz is over 1000 times the model's {target_hz:g} Hz; resample "
                             "the recording nearer to it first, or for calls far above the model's band (bats, "
                             "birds) time-expand it (--expand)")
        got_hz = rate_hz * ratio
        notes = [f"resampled from {rate_hz:g} Hz to {float(got_hz):.6g} Hz (the nearest ratio to {target_hz:g} Hz "
                 f"with factors up to 1000: times off by {abs(float(got_hz) / target_hz - 1):.2%})"]
    return resample_poly(signal, ratio.numerator, ratio.denominator), notes


def _inside_power(signal: np.ndarray, stft: StftConfig) -> tuple[float, np.ndarray] | None:
    """(peak, power): the STFT power (F, W') of ``signal`` scaled to a peak of 1 (float32 never
    overflows) over the W' columns whose windows lie wholly inside it; None for a silent signal or
    one shorter than a window."""
    peak = float(np.max(np.abs(signal), initial=0.0))
    if peak == 0:
        return None
    power = stft_power(signal / peak, stft)
    first = column_centres(len(signal), stft) - stft.window_len // 2  # first sample of each column's window
    inside = (first >= 0) & (first + stft.window_len <= len(signal))
    return (peak, power[:, inside]) if inside.any() else None


def noise_level(signal: np.ndarray, frame: GenConfig) -> float:
    """The recording's noise standard deviation, from the median of its STFT power (see Notes).

    ``signal`` is at the frame's rate; for one shorter than a window, the sample standard deviation.
    """
    scaled = _inside_power(signal, frame.stft)
    if scaled is None:
        return float(np.std(signal))
    peak, power = scaled
    return peak * float(np.sqrt(np.median(power[1:]) / np.log(2.0)))


def noise_floor(power: np.ndarray) -> np.ndarray:
    """(F,) the mean noise power of each row of ``power`` (F, W') (see Notes): its ``FLOOR_QUANTILE``
    over the columns, made a mean as for exponential noise, then the running median over
    2 ``FLOOR_ROWS`` + 1 rows; the DC row takes the next row's."""
    from scipy.ndimage import median_filter

    rows = np.quantile(power, FLOOR_QUANTILE, axis=1) / -np.log(1.0 - FLOOR_QUANTILE)
    rows[0] = rows[1]
    return median_filter(rows, size=2 * FLOOR_ROWS + 1, mode="nearest")


def whiten(signal: np.ndarray, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """``signal`` (at the frame's rate) with its background noise made white when its floor
    (:func:`noise_floor`) strays more than ``WHITEN_DB`` from its median in the chirps' band, with a
    note (see Notes)."""
    from scipy.ndimage import uniform_filter1d

    scaled = _inside_power(signal, frame.stft)
    if scaled is None or scaled[1].shape[1] < WHITEN_MIN_COLUMNS:
        return signal, []
    floor = noise_floor(scaled[1])
    lo, hi = (round(f / frame.bin_hz) for f in frame.signal.freq_hz)
    band = floor[max(lo, 1) : hi + 1]  # the rows chirps are drawn in (not those a resampler's filter rolls off)
    level = float(np.median(band))
    if not level > 0:
        return signal, []
    span_db = float(np.max(np.abs(10.0 * np.log10(np.maximum(band, WHITEN_FLOOR * level) / level))))
    if not span_db > WHITEN_DB:
        return signal, []
    fs = frame.signal.sample_rate_hz
    pad = min(len(signal) - 1, round(WHITEN_PAD_S * fs))
    padded = np.pad(signal, pad, mode="reflect")  # the filter's short response wraps into mirrored samples
    freqs = np.fft.rfftfreq(len(padded), 1.0 / fs)
    floor = np.maximum(floor, WHITEN_FLOOR * level)  # an empty row (nothing above a recording's own Nyquist) stays finite
    gain = np.interp(freqs, np.arange(len(floor)) * frame.bin_hz, np.sqrt(level / floor))
    spectrum = np.fft.rfft(padded)
    below = freqs < frame.bin_hz  # under the first row: no chirp, the rows cannot tell; the periodogram can
    density = uniform_filter1d(np.abs(spectrum[below] / scaled[0]) ** 2 / len(padded), WHITEN_LOW_BINS, mode="nearest")  # floor's units
    gain[below] = np.sqrt(level / np.maximum(density, WHITEN_FLOOR * level))
    out = np.fft.irfft(spectrum * gain, n=len(padded))[pad : pad + len(signal)]
    return out, [f"background noise whitened (its level strayed {span_db:.0f} dB from its median in the chirps' band)"]


def steady_lines_hz(signal: np.ndarray, frame: GenConfig) -> list[float]:
    """The frequencies of the steady lines in ``signal`` (at the frame's rate), such as mains hum, the
    strongest first: rows of its STFT above ``LINE_FACTOR`` times the noise for longer than the longest
    chirp (see Notes)."""
    scaled = _inside_power(signal, frame.stft)
    longest = int(np.ceil(frame.signal.duration_s[1] / frame.column_s)) + LINE_MARGIN  # columns the longest chirp can light
    if scaled is None or scaled[1].shape[1] <= longest:
        return []
    power = scaled[1]
    n = power.shape[1]
    p_noise = np.exp(-LINE_FACTOR)  # noise power (exponential) exceeds LINE_FACTOR times its mean so often
    lit = (power > LINE_FACTOR * noise_floor(power)[:, None]).sum(axis=1)  # columns per row
    line = lit > longest + n * p_noise + 4.0 * np.sqrt(n * p_noise * (1.0 - p_noise))  # more than a chirp and noise
    line[0] = False  # DC: the offset's
    rows = np.flatnonzero(line)
    if not len(rows):
        return []
    fs, bin_hz = frame.signal.sample_rate_hz, frame.bin_hz
    spectrum = np.abs(np.fft.rfft((signal - np.mean(signal)) * np.hanning(len(signal)))) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1.0 / fs)
    out = []
    for group in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1):  # adjacent rows: one line
        near = (freqs >= (group[0] - 1) * bin_hz) & (freqs <= (group[-1] + 1) * bin_hz)
        peak = float(freqs[near][np.argmax(spectrum[near])])
        if peak >= bin_hz:  # below the first row: drift or a 1/f background, no line (see Notes)
            out.append((float(spectrum[near].max()), peak))
    return [f for _, f in sorted(out, reverse=True)]  # the strongest first


def line_component(signal: np.ndarray, f_hz: float, fs: float, row_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """The steady line near ``f_hz`` in ``signal``: a(t) cos(2 pi f t) + b(t) sin(2 pi f t), its frequency
    refined to the largest periodogram value within one bin of the whole signal's periodogram (its
    main lobe; ``f_hz`` is that periodogram's peak) and half an STFT row (``row_hz``), and a, b piecewise
    linear between knots ``LINE_KNOT_S`` apart, fitted by least squares (see Notes); and its amplitude
    at each knot. Each sample has two knots, so the normal equations are summed per knot pair: no
    design matrix of samples x knots."""
    from scipy.optimize import minimize_scalar

    t = np.arange(len(signal)) / fs
    centred = signal - np.mean(signal)
    half = min(0.5 * row_hz, fs / max(len(signal), 1))  # the main lobe: farther out, sidelobes trap the search
    fit = minimize_scalar(lambda f: -np.abs(np.sum(centred * np.exp(-2j * np.pi * f * t))),
                          bounds=(f_hz - half, f_hz + half), method="bounded", options={"xatol": 1e-5})
    n_knots = max(2, int(np.ceil(t[-1] / LINE_KNOT_S)) + 1)
    step = t[-1] / (n_knots - 1) if t[-1] > 0 else 1.0
    left = np.minimum((t / step).astype(np.intp), n_knots - 2)  # each sample lies between knots left and left + 1
    w = t / step - left
    phase = 2 * np.pi * fit.x * t
    rows = np.stack([(1 - w) * np.cos(phase), (1 - w) * np.sin(phase), w * np.cos(phase), w * np.sin(phase)])  # (4, N)
    columns = 2 * left + np.arange(4)[:, None]  # (4, N): the unknowns (a, b at the left knot, then at the right one)
    size = 2 * n_knots
    pairs = (columns[:, None] * size + columns[None]).ravel()  # (4 x 4 x N) entries of the normal matrix
    normal = np.bincount(pairs, weights=(rows[:, None] * rows[None]).ravel(), minlength=size * size).reshape(size, size)
    rhs = np.bincount(columns.ravel(), weights=(rows * signal).ravel(), minlength=size)
    coef = np.linalg.lstsq(normal, rhs, rcond=None)[0]
    return np.sum(rows * coef[columns], axis=0), np.hypot(coef[0::2], coef[1::2])


def remove_lines(signal: np.ndarray, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """``signal`` (at the frame's rate) less its steady lines (:func:`steady_lines_hz`,
    :func:`line_component`), the strongest first and the rest found again after it (a strong line's
    window leakage is steady too, and goes with it), but for those that come and go (see Notes);
    with a note naming them."""
    fs, removed, kept = frame.signal.sample_rate_hz, [], []
    lines = steady_lines_hz(signal, frame)
    for _ in range(MAX_LINES):
        if not lines:
            break
        component, amplitude = line_component(signal, lines[0], fs, frame.bin_hz)
        quantile, share = LINE_STEADY
        low, high = np.quantile(amplitude, [quantile, 1.0 - quantile])
        if low < share * high:  # kept: the signal is as it was, and so are its other lines
            kept.append(lines[0])
        else:
            signal = signal - component
            removed.append(lines[0])
            lines = steady_lines_hz(signal, frame)
        lines = [f for f in lines if all(abs(f - k) > frame.bin_hz for k in kept)]
    if not removed:
        return signal, []
    shown = ", ".join(f"{f:.2f} Hz" for f in sorted(removed))
    return signal, [f"steady line{'s' if len(removed) > 1 else ''} at {shown} removed (lit throughout, unlike a chirp)"]


def scale_to_noise(signal: np.ndarray, frame: GenConfig, name: str | Path) -> tuple[np.ndarray, list[str]]:
    """``signal`` (at the frame's rate) divided by its noise level (:func:`noise_level`).

    Raises:
        InputError: a silent recording (noise level 0).
    """
    level = noise_level(signal, frame)
    if not level > 0:
        raise _silent(name)
    return signal / level, [f"divided by its noise level {level:.3g}"]


def peak_bin_power(snr_db: float, frame: GenConfig) -> float:
    """The normalised STFT power of a steady tone of ``snr_db`` (chirpgen's A^2 / 2 over unit noise) in its
    bin: (A / 2)^2 (sum w)^2 / sum w^2, the brightest pixel a chirp of that SNR makes."""
    w = stft_window(frame.stft).astype(np.float64)
    return 2.0 * 10.0 ** (snr_db / 10.0) / 4.0 * float(np.sum(w)) ** 2 / float(np.sum(w**2))


def quieten(signal: np.ndarray, frame: GenConfig) -> tuple[np.ndarray, list[str]]:
    """``signal`` (in the frame's units: unit noise) with white noise added and the sum scaled back to
    unit noise, so that its brightest pixel is no brighter than a chirp of the highest SNR the frame
    knows makes it (see Notes); unchanged, without a note, when it is not ``LOUD_MARGIN`` times that."""
    scaled = _inside_power(signal, frame.stft)
    if scaled is None:
        return signal, []
    brightest = float(np.max(scaled[1][1:])) * scaled[0] ** 2
    top_db = frame.signal.snr_db[1]
    gain = brightest / peak_bin_power(top_db, frame)
    if not gain > LOUD_MARGIN:
        return signal, []
    noise = NOISE_FUNCTIONS["white"](np.random.default_rng(PAD_SEED + 1), len(signal)).astype(np.float64)
    out = (signal + np.sqrt(gain - 1.0) * noise) / np.sqrt(gain)
    return out, [f"its loudest chirp about {top_db + 10 * np.log10(gain):.0f} dB, above the {top_db:g} dB the model "
                 f"knows: white noise added to bring it to {top_db:g} dB"]


def _silent(name: str | Path) -> InputError:
    return InputError(f"{name} is silent (noise level 0); nothing to describe (use --scale raw to render it as is)")


@dataclass(frozen=True)
class Segment:
    """One frame of a recording: its start in the recording and its spectrogram image."""

    offset_s: float
    image: np.ndarray  # uint8 (H, W)


def frame_starts(n: int, frame: GenConfig) -> list[int]:
    """Start samples of the frames that describe a recording of ``n`` samples (see Notes); a start
    below 0 or a frame past ``n`` reaches into the padding."""
    sig = frame.signal
    lo, hi = (round(t * sig.sample_rate_hz) for t in sig.t_start_s)
    hop = hi - lo if hi > lo else sig.n_samples
    last_start = n - round(sig.duration_s[0] * sig.sample_rate_hz)  # the latest start of a whole chirp
    return [k * hop - lo for k in range(max(1, -(-last_start // hop)))]


def remove_offset(signal: np.ndarray, frame: GenConfig, name: str | Path = "recording") -> tuple[np.ndarray, list[str]]:
    """``signal`` (at the frame's rate) less its mean (see Notes), with a note when the mean is not small
    against the noise.

    Raises:
        InputError: a recording with no noise left once its mean is removed (a constant, digital
            silence with a click): nothing to scale by.
    """
    peak = float(np.max(np.abs(signal), initial=0.0))
    if peak == 0:
        raise _silent(name)
    mean = float(np.mean(signal / peak)) * peak  # the sum of samples near the float limit would overflow
    out = signal - mean
    level = noise_level(out, frame)
    if not level > SILENT_RATIO * peak:
        raise _silent(name)
    if not abs(mean) > OFFSET_NOTE * level:
        return out, []
    return out, [f"offset {mean:.3g} removed ({abs(mean) / level:.2g} times the noise level)"]


def in_frame_units(
    signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "noise", name: str | Path = "recording"
) -> tuple[np.ndarray, list[str]]:
    """A recording resampled to the frame's rate and, for ``scale='noise'``, divided by its noise
    level (see :func:`recording_segments`), with notes."""
    check_scale(scale)
    try:
        signal, notes = resample(signal, rate_hz, frame.signal.sample_rate_hz)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    if scale == "noise":
        signal, offset_notes = remove_offset(signal, frame, name)
        signal, line_notes = remove_lines(signal, frame)
        signal, white_notes = whiten(signal, frame)
        signal, scale_notes = scale_to_noise(signal, frame, name)
        signal, loud_notes = quieten(signal, frame)
        notes += offset_notes + line_notes + white_notes + scale_notes + loud_notes
    elif np.max(np.abs(signal), initial=0.0) > MAX_RAW_AMPLITUDE:
        raise InputError(f"{name} has samples beyond {MAX_RAW_AMPLITUDE:.0e}, too loud for --scale raw; use --scale noise")
    return signal, notes


def pad_with_noise(signal: np.ndarray, before: int, after: int, frame: GenConfig) -> np.ndarray:
    """``signal`` (in the frame's units) with ``before`` and ``after`` samples of the frame's noise
    (chirpgen's, of unit variance) drawn from ``PAD_SEED`` (see Notes)."""
    fill = NOISE_FUNCTIONS[frame.signal.noise](np.random.default_rng(PAD_SEED), before + after)
    return np.concatenate([fill[:before], signal, fill[before:]])


def recording_segments(
    signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "noise", name: str | Path = "recording"
) -> tuple[list[Segment], list[str]]:
    """The frames of a mono recording rendered in the model's frame, with notes.

    Args:
        signal: float (N,) samples.
        rate_hz: their sample rate.
        frame: the model's frame: its rate, record length and STFT.
        scale: 'noise' divides the recording by its noise level first (see Notes); 'raw' keeps the
            amplitude (for data already in the frame's units: unit-variance noise).
        name: the recording's name in messages.
    """
    target_hz = frame.signal.sample_rate_hz
    signal, notes = in_frame_units(signal, rate_hz, frame, scale, name)
    size, have_s, record_s = frame.signal.n_samples, len(signal) / target_hz, frame.signal.record_s
    starts = frame_starts(len(signal), frame)
    before, after = max(0, -starts[0]), max(0, starts[-1] + size - len(signal))
    lo, hi = frame.signal.t_start_s
    if len(starts) == 1:
        if before or after:
            notes.append(f"padded with noise from {have_s:.3g} s to the model's {record_s:g} s frame")
    else:
        notes.append(f"{have_s:.4g} s long: scanned in {len(starts)} overlapping frames of {record_s:g} s "
                     f"(starts {(starts[1] - starts[0]) / target_hz:g} s apart, so that each chirp starts "
                     f"{lo:g}-{hi:g} s into one of them{'; padded with noise past the end' if after else ''})")
    signal = pad_with_noise(signal, before, after, frame)
    images = render_image(np.stack([signal[s + before : s + before + size] for s in starts]), frame)
    return [Segment(s / target_hz, image) for s, image in zip(starts, images, strict=True)], notes


def recording_spectrogram(signal: np.ndarray, rate_hz: float, frame: GenConfig, scale: str = "noise") -> np.ndarray:
    """The uint8 (H, W') image of a whole recording of any length in the frame's STFT and grey levels
    (for figures of long recordings; W' columns of ``frame.column_s``)."""
    signal, _ = in_frame_units(signal, rate_hz, frame, scale)
    return power_to_grey(stft_power(signal, frame.stft), frame.stft.db_range)[::-1].copy()
