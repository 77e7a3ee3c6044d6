"""One labelled sample as a pure function of (config, seed, split, index).

A record holds a chirp in noise, or, with probability ``signal.p_no_chirp``, the noise alone. That
decision comes from its own stream (see :func:`has_chirp`), so the chirp parameters and the noise
of a record are the same whatever ``p_no_chirp`` is: a record without a chirp is the record with
its chirp taken out, and at ``p_no_chirp = 0`` no extra number is drawn at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chirpgen.config import KIND_NAMES, NO_CHIRP_KIND, SPLIT_NAMES, GenConfig, SignalConfig, kind_name
from chirpgen.signal import NOISE_FUNCTIONS, chirp_waveform
from chirpgen.spectrogram import render_image

LABEL_FIELDS: tuple[str, ...] = ("t_start_s", "f_start_hz", "f_end_hz", "duration_s", "kind", "snr_db")


@dataclass(frozen=True)
class ChirpParams:
    """Labels of one chirp, in physical units; ``kind`` is an index into ``KIND_NAMES``.

    A record without a chirp has ``kind == NO_CHIRP_KIND`` and NaN everywhere else (``NO_CHIRP``).
    """

    kind: int
    t_start_s: float
    duration_s: float
    f_start_hz: float
    f_end_hz: float
    snr_db: float
    phase0_rad: float

    @property
    def kind_name(self) -> str:
        return kind_name(self.kind)

    @property
    def has_chirp(self) -> bool:
        return self.kind != NO_CHIRP_KIND

    @property
    def amplitude(self) -> float:
        """Amplitude A with (A^2 / 2) / sigma^2 = SNR for unit noise variance."""
        return float(np.sqrt(2.0 * 10.0 ** (self.snr_db / 10.0)))


NO_CHIRP = ChirpParams(NO_CHIRP_KIND, *[float("nan")] * 6)


@dataclass(frozen=True)
class Sample:
    params: ChirpParams
    chirp: np.ndarray  # (n_samples,) clean chirp, all zero in a record without one
    noise: np.ndarray  # (n_samples,) unit-variance noise
    image: np.ndarray  # (H, W) uint8

    @property
    def signal(self) -> np.ndarray:
        return self.chirp + self.noise


def _seed_sequence(seed: int, split: str, index: int) -> np.random.SeedSequence:
    if split not in SPLIT_NAMES:
        raise ValueError(f"split={split!r} must be one of {list(SPLIT_NAMES)}")
    if index < 0:
        raise ValueError(f"index={index} must be >= 0")
    return np.random.SeedSequence(seed, spawn_key=(SPLIT_NAMES.index(split), index))


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of ``split``: SeedSequence(seed, spawn_key=(split_id, index))."""
    return np.random.default_rng(_seed_sequence(seed, split, index))


def has_chirp(config: GenConfig, seed: int, split: str, index: int) -> bool:
    """Whether sample ``index`` of ``split`` holds a chirp: False with probability ``p_no_chirp``.

    The uniform draw u comes from the sample's first child stream, SeedSequence(seed,
    spawn_key=(split_id, index, 0)), independent of :func:`sample_rng`; the record has no chirp
    iff u < p_no_chirp, so raising p_no_chirp only takes chirps out, it never changes one.
    """
    seq = _seed_sequence(seed, split, index)
    if config.signal.p_no_chirp == 0.0:
        return True
    return bool(np.random.default_rng(seq.spawn(1)[0]).random() >= config.signal.p_no_chirp)


def draw_frequencies(sig: SignalConfig, rng: np.random.Generator) -> tuple[float, float]:
    """(f_start, f_end) uniform over the part of the band square ``sig.freq_hz`` x ``sig.freq_hz`` with
    |f_end - f_start| <= ``sig.max_sweep_hz`` (rejection sampling)."""
    lo, hi = sig.freq_hz
    while True:
        f_start_hz, f_end_hz = rng.uniform(lo, hi, size=2)
        if abs(f_end_hz - f_start_hz) <= sig.max_sweep_hz:
            return float(f_start_hz), float(f_end_hz)


def draw_params(config: GenConfig, rng: np.random.Generator) -> ChirpParams:
    """Draw one chirp's parameters.

    (f_start, f_end) is uniform over the part of the band square with |f_end - f_start| <=
    max_sweep_hz (rejection sampling), so neither frequency piles up at the band edges.
    """
    sig = config.signal
    kind = sig.kinds[int(rng.integers(len(sig.kinds)))]
    t_start_s = rng.uniform(*sig.t_start_s)
    duration_s = rng.uniform(*sig.duration_s)
    f_start_hz, f_end_hz = draw_frequencies(sig, rng)
    snr_db = rng.uniform(*sig.snr_db)
    phase0_rad = rng.uniform(0.0, 2 * np.pi)
    return ChirpParams(
        kind=KIND_NAMES.index(kind),
        t_start_s=float(t_start_s),
        duration_s=float(duration_s),
        f_start_hz=float(f_start_hz),
        f_end_hz=float(f_end_hz),
        snr_db=float(snr_db),
        phase0_rad=float(phase0_rad),
    )


def synthesize(config: GenConfig, params: ChirpParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The clean chirp and the unit-variance noise of one record."""
    sig = config.signal
    chirp = chirp_waveform(
        params.kind_name,
        sig.n_samples,
        sig.sample_rate_hz,
        params.t_start_s,
        params.duration_s,
        params.f_start_hz,
        params.f_end_hz,
        params.amplitude,
        params.phase0_rad,
    )
    noise = NOISE_FUNCTIONS[sig.noise](rng, sig.n_samples)
    return chirp, noise


def make_sample(config: GenConfig, seed: int, split: str, index: int) -> Sample:
    """Sample ``index`` of ``split``: parameters, waveforms and image, all from one seeded stream.

    A record without a chirp (see :func:`has_chirp`) has ``params`` ``NO_CHIRP``, a zero ``chirp``
    and the spectrogram of its noise as image; its chirp is still drawn, to keep the noise the same.
    """
    rng = sample_rng(seed, split, index)
    params = draw_params(config, rng)
    chirp, noise = synthesize(config, params, rng)
    if not has_chirp(config, seed, split, index):
        params, chirp = NO_CHIRP, np.zeros_like(chirp)
    return Sample(params=params, chirp=chirp, noise=noise, image=render_image(chirp + noise, config))
