"""Generation configs: the signal frame, the STFT and the split fractions.

A config is a tree of frozen dataclasses built from a preset YAML (``chirpgen/presets``) or a user
file, with optional dotted overrides (``signal.snr_db=[0, 20]``). ``__post_init__`` rejects bad
combinations with a ``ValueError`` that names the value and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chirpgen.plumbing import one_line

KIND_NAMES: tuple[str, ...] = ("linear", "quadratic", "exponential")
# the ``kind`` of a record without a chirp (noise only); its float labels are NaN
NO_CHIRP_KIND = 255
NO_CHIRP_NAME = "none"
# the continuous labels of a chirp with their units, in the order models predict them
TARGET_UNITS: dict[str, str] = {"t_start_s": "s", "f_start_hz": "Hz", "f_end_hz": "Hz", "duration_s": "s"}
TARGETS: tuple[str, ...] = tuple(TARGET_UNITS)
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
NOISE_KINDS: tuple[str, ...] = ("white", "pink")
PRESET_DIR = Path(__file__).parent / "presets"

SNR_DEFINITION = (
    "snr_db = 10*log10(P_chirp / sigma^2), where P_chirp = A^2/2 is the mean power of the chirp "
    "A*cos(phi(t)) over its own duration and sigma^2 is the variance of the additive noise "
    "(unit variance, over the whole record)."
)
GREY_DEFINITION = (
    "grey = round(255 * clip((P_db - db_min) / (db_max - db_min), 0, 1)), where "
    "P_db = 10*log10(|X[k, m]|^2 / sum(w^2) + 1e-12) is the STFT power relative to the floor of "
    "unit-variance white noise (which sits at 0 dB)."
)


MAX_RECORD_SAMPLES = 100_000_000  # samples per record (sample_rate_hz * record_s)
MAX_IMAGE_PIXELS = 16_000_000  # stft.freq_bins * image columns
SNR_LIMITS_DB = (-100.0, 100.0)  # beyond +100 dB the float32 STFT power overflows; below -100 dB no chirp is left
# (f_start, f_end) is drawn by rejection: a sweep below this fraction of the band would almost never be accepted
MIN_SWEEP_FRACTION = 1e-3


def finite_number(name: str, value: Any, *, integer: bool = False, what: str = "") -> float:
    """``value`` as a finite float (or an int with ``integer``); ValueError naming ``name`` (and
    ``what`` it must be) otherwise. Booleans are refused: YAML's ``true`` is not 1."""
    what = what or ("an integer" if integer else "a finite number")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name}={value!r} must be {what}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} must be {what}") from None
    if not math.isfinite(number) or (integer and number != int(number)):
        raise ValueError(f"{name}={value!r} must be {what}")
    return int(number) if integer else number


def _range(name: str, value: Any, *, low: float | None = None) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name}={value!r} must be a pair [min, max] of numbers")
    lo, hi = (finite_number(name, v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}={[lo, hi]} has min > max; swap them")
    if low is not None and lo < low:
        raise ValueError(f"{name}={[lo, hi]} must not go below {low}")
    return lo, hi


@dataclass(frozen=True)
class SignalConfig:
    """The record and the chirp parameter ranges (all drawn uniformly)."""

    sample_rate_hz: float = field(default=256.0, metadata={"help": "sampling rate of the record"})
    record_s: float = field(default=60.0, metadata={"help": "record length in seconds"})
    t_start_s: tuple[float, float] = field(default=(0.0, 45.0), metadata={"help": "chirp start"})
    duration_s: tuple[float, float] = field(default=(1.0, 15.0), metadata={"help": "chirp length"})
    freq_hz: tuple[float, float] = field(
        default=(1.0, 100.0), metadata={"help": "band holding f_start and f_end"}
    )
    max_sweep_hz: float = field(
        default=30.0, metadata={"help": "largest |f_end - f_start|, at least 1/1000 of the band"}
    )
    kinds: tuple[str, ...] = field(default=KIND_NAMES, metadata={"help": "kinds, equally likely"})
    snr_db: tuple[float, float] = field(
        default=(-10.0, 10.0), metadata={"help": "per-sample SNR, within [-100, 100] dB"}
    )
    noise: str = field(default="white", metadata={"help": "'white' or 'pink' (1/f) noise"})
    p_no_chirp: float = field(
        default=0.0, metadata={"help": "fraction of records holding noise only, in [0, 1)"}
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "sample_rate_hz", finite_number("signal.sample_rate_hz", self.sample_rate_hz))
        set_(self, "record_s", finite_number("signal.record_s", self.record_s))
        if self.sample_rate_hz <= 0 or self.record_s <= 0:
            raise ValueError(
                f"sample_rate_hz={self.sample_rate_hz} and record_s={self.record_s} must be > 0"
            )
        if self.sample_rate_hz * self.record_s > MAX_RECORD_SAMPLES:
            raise ValueError(
                f"signal.sample_rate_hz={self.sample_rate_hz:g} x record_s={self.record_s:g} makes records of "
                f"{self.sample_rate_hz * self.record_s:.3g} samples (at most {MAX_RECORD_SAMPLES:.0e}); lower one of them"
            )
        set_(self, "t_start_s", _range("signal.t_start_s", self.t_start_s, low=0.0))
        set_(self, "duration_s", _range("signal.duration_s", self.duration_s))
        set_(self, "freq_hz", _range("signal.freq_hz", self.freq_hz))
        set_(self, "snr_db", _range("signal.snr_db", self.snr_db))
        if self.snr_db[0] < SNR_LIMITS_DB[0] or self.snr_db[1] > SNR_LIMITS_DB[1]:
            raise ValueError(
                f"signal.snr_db=[{self.snr_db[0]:g}, {self.snr_db[1]:g}] must lie within "
                f"[{SNR_LIMITS_DB[0]:g}, {SNR_LIMITS_DB[1]:g}] dB; narrow it"
            )
        if isinstance(self.kinds, (str, bytes)) or not isinstance(self.kinds, (list, tuple)):
            raise ValueError(
                f"signal.kinds={self.kinds!r} must be a list of kinds; give a list such as [linear, quadratic]"
            )
        set_(self, "kinds", tuple(self.kinds))
        set_(self, "max_sweep_hz", finite_number("signal.max_sweep_hz", self.max_sweep_hz))
        if self.duration_s[0] <= 0:
            raise ValueError(f"signal.duration_s={list(self.duration_s)} must be > 0")
        end_s = self.t_start_s[1] + self.duration_s[1]
        if end_s > self.record_s:
            raise ValueError(
                f"a chirp may end at {end_s:g} s (t_start_s max {self.t_start_s[1]:g} + "
                f"duration_s max {self.duration_s[1]:g}), past record_s={self.record_s:g}; "
                "shorten the ranges or lengthen the record"
            )
        nyquist = self.sample_rate_hz / 2
        if self.freq_hz[1] >= nyquist:
            raise ValueError(
                f"signal.freq_hz max {self.freq_hz[1]:g} Hz is at or above Nyquist "
                f"({nyquist:g} Hz at sample_rate_hz={self.sample_rate_hz:g}); lower it or raise "
                "the sample rate"
            )
        if self.freq_hz[0] <= 0:
            raise ValueError(
                f"signal.freq_hz min {self.freq_hz[0]:g} Hz must be > 0 (an exponential chirp "
                "needs positive frequencies and 0 Hz is DC); raise it"
            )
        min_sweep_hz = MIN_SWEEP_FRACTION * (self.freq_hz[1] - self.freq_hz[0])
        if self.max_sweep_hz < min_sweep_hz:  # the band is checked above: min_sweep_hz >= 0
            raise ValueError(
                f"signal.max_sweep_hz={self.max_sweep_hz:g} must be at least {min_sweep_hz:.3g} Hz "
                f"({MIN_SWEEP_FRACTION:g} of the band signal.freq_hz=[{self.freq_hz[0]:g}, {self.freq_hz[1]:g}]: "
                "narrower sweeps are almost never drawn); raise it"
            )
        bad = [k for k in self.kinds if k not in KIND_NAMES]
        if bad or not self.kinds:
            raise ValueError(f"signal.kinds={list(self.kinds)} must be a non-empty subset of {list(KIND_NAMES)}")
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"signal.noise={self.noise!r} must be one of {list(NOISE_KINDS)}")
        set_(self, "p_no_chirp", finite_number("signal.p_no_chirp", self.p_no_chirp, what="a number in [0, 1)"))
        if not 0.0 <= self.p_no_chirp < 1.0:
            raise ValueError(
                f"signal.p_no_chirp={self.p_no_chirp:g} must lie in [0, 1) (the fraction of records "
                "without a chirp)"
            )

    @property
    def n_samples(self) -> int:
        return int(round(self.record_s * self.sample_rate_hz))


@dataclass(frozen=True)
class StftConfig:
    """The short-time Fourier transform and the fixed dB-to-grey mapping."""

    window: str = field(default="hann", metadata={"help": "scipy.signal.get_window name"})
    window_len: int = field(default=128, metadata={"help": "window length in samples"})
    hop: int = field(default=120, metadata={"help": "samples between column centres"})
    nfft: int = field(default=256, metadata={"help": "FFT length (zero-padded window)"})
    freq_bins: int = field(default=128, metadata={"help": "image rows: the lowest rfft bins kept"})
    db_range: tuple[float, float] = field(
        default=(-20.0, 40.0), metadata={"help": "dB mapped to grey 0 and 255"}
    )

    def __post_init__(self) -> None:
        # the name itself is checked by chirpgen.spectrogram.stft_window: scipy.signal takes a second to import
        if not isinstance(self.window, str) or not self.window:
            raise ValueError(
                f"stft.window={self.window!r} must be the name of a scipy.signal.get_window window, e.g. hann"
            )
        for name in ("window_len", "hop", "nfft", "freq_bins"):
            value = finite_number(f"stft.{name}", getattr(self, name), integer=True)
            if value <= 0:
                raise ValueError(f"stft.{name}={value!r} must be a positive integer")
            object.__setattr__(self, name, value)
        if self.window_len > self.nfft:
            raise ValueError(
                f"stft.window_len={self.window_len} exceeds stft.nfft={self.nfft}; raise nfft"
            )
        if self.freq_bins > self.nfft // 2 + 1:
            raise ValueError(
                f"stft.freq_bins={self.freq_bins} exceeds the {self.nfft // 2 + 1} bins of "
                f"nfft={self.nfft}"
            )
        lo, hi = _range("stft.db_range", self.db_range)
        if lo == hi:
            raise ValueError(f"stft.db_range={[lo, hi]} must span a non-zero range")
        object.__setattr__(self, "db_range", (lo, hi))


@dataclass(frozen=True)
class GenConfig:
    """A complete generation config: what a data set is a pure function of (with seed, split, index)."""

    name: str = "default"
    signal: SignalConfig = field(default_factory=SignalConfig)
    stft: StftConfig = field(default_factory=StftConfig)
    splits: dict[str, float] = field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.splits, dict):
            raise ValueError(f"splits={self.splits!r} must map train, val and test to fractions, e.g. "
                             "{train: 0.8, val: 0.1, test: 0.1}")
        splits = {k: finite_number(f"splits.{k}", v) for k, v in self.splits.items()}
        if set(splits) != set(SPLIT_NAMES) or any(v < 0 for v in splits.values()):
            raise ValueError(f"splits={splits} must give train, val and test fractions >= 0")
        if abs(sum(splits.values()) - 1.0) > 1e-9:
            raise ValueError(f"splits={splits} must sum to 1 (they sum to {sum(splits.values()):g})")
        object.__setattr__(self, "splits", {k: splits[k] for k in SPLIT_NAMES})
        top_hz = (self.stft.freq_bins - 1) * self.bin_hz
        if self.signal.freq_hz[1] > top_hz:
            raise ValueError(
                f"signal.freq_hz max {self.signal.freq_hz[1]:g} Hz lies above the image's top row "
                f"({top_hz:g} Hz); raise stft.freq_bins or lower the band"
            )
        if self.n_columns < 1:
            raise ValueError(f"stft.hop={self.stft.hop} is longer than the record; lower it")
        if self.stft.freq_bins * self.n_columns > MAX_IMAGE_PIXELS:
            raise ValueError(
                f"images of {self.stft.freq_bins} x {self.n_columns} pixels (at most {MAX_IMAGE_PIXELS:.0e}); raise "
                "stft.hop or shorten the record"
            )

    @property
    def n_columns(self) -> int:
        return self.signal.n_samples // self.stft.hop

    @property
    def column_s(self) -> float:
        """Time step between image columns (the STFT hop), s."""
        return self.stft.hop / self.signal.sample_rate_hz

    @property
    def bin_hz(self) -> float:
        """Frequency step between image rows (one rfft bin), Hz."""
        return self.signal.sample_rate_hz / self.stft.nfft

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of every image."""
        return self.stft.freq_bins, self.n_columns

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["signal"]["kinds"] = list(self.signal.kinds)
        for section in ("signal", "stft"):
            for k, v in d[section].items():
                if isinstance(v, tuple):
                    d[section][k] = list(v)
        # left out at its default so configs (and fingerprints) from before the key still match
        if d["signal"]["p_no_chirp"] == 0.0:
            del d["signal"]["p_no_chirp"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON: two configs make the same data iff this matches."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GenConfig:
        d = dict(d)
        unknown = set(d) - {"name", "signal", "stft", "splits"}
        if unknown:
            raise ValueError(f"unknown config section(s) {sorted(map(str, unknown))}; expected name, signal, stft, splits")
        sections = {}
        for section, cls_ in (("signal", SignalConfig), ("stft", StftConfig)):
            values = d.get(section)
            values = {} if values is None else values  # an empty section in YAML: all its defaults
            if not isinstance(values, dict):
                raise ValueError(f"config section {section}={values!r} must be a mapping of its keys, e.g. "
                                 f"{section}: {{{'noise: pink' if section == 'signal' else 'window: hann'}}}")
            known = [f.name for f in dataclasses.fields(cls_)]
            unknown_keys = [k for k in values if k not in known]
            if unknown_keys:
                raise ValueError(f"unknown config key {section}.{unknown_keys[0]}; {section} has {sorted(known)}")
            sections[section] = cls_(**values)
        kwargs = {**sections, "name": str(d.get("name", "custom"))}
        if "splits" in d:
            kwargs["splits"] = d["splits"]
        return cls(**kwargs)


def kind_name(kind: int) -> str:
    """The name of a stored ``kind``: one of ``KIND_NAMES``, or ``NO_CHIRP_NAME`` for ``NO_CHIRP_KIND``."""
    return NO_CHIRP_NAME if int(kind) == NO_CHIRP_KIND else KIND_NAMES[int(kind)]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def apply_override(d: dict[str, Any], override: str, example: str = "signal.noise=pink") -> None:
    """Set ``d[a][b] = value`` from ``"a.b=value"`` (the value is parsed as YAML), in place."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ValueError(f"override {override!r} must look like KEY=VALUE, e.g. {example}")
    node = d
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {override!r}: {part!r} holds {node!r}, not a section of keys; "
                             f"set its keys instead, e.g. {example}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ValueError(f"override {override!r}: {raw!r} is not a YAML value (quote the whole KEY=VALUE)") from None
    if isinstance(node.get(parts[-1]), dict) and not isinstance(value, dict):
        raise ValueError(f"override {override!r}: {key!r} is a config section; set one of its keys, e.g. {example}")
    node[parts[-1]] = value


def dotted_value(d: Any, key: str) -> Any:
    """``d[a][b]`` of the dotted ``"a.b"`` (the reading side of :func:`apply_override`), None if absent."""
    for part in key.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def load_config(
    preset: str | None = "default", path: str | Path | None = None, overrides: list[str] = ()
) -> GenConfig:
    """Build a config from a preset name or a YAML file, then apply ``key=value`` overrides.

    Args:
        preset: name of a file in ``chirpgen/presets`` (ignored when ``path`` is given).
        path: a YAML file with the same layout as the presets.
        overrides: dotted assignments such as ``"signal.snr_db=[0, 20]"``.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} does not exist; give a YAML file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"config file {str(path)!r} is not UTF-8 text; it must be a YAML text file") from None
    else:
        if preset not in preset_names():  # a name, never a path: a file goes to --config
            raise ValueError(f"unknown preset {preset!r}; choose one of {preset_names()} (a YAML file goes to --config)")
        text = (PRESET_DIR / f"{preset}.yaml").read_text(encoding="utf-8")
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"config {str(path or preset)!r} is not valid YAML: {one_line(exc)}") from None
    d = {} if d is None else d  # an empty file: all defaults
    if not isinstance(d, dict):
        raise ValueError(f"config {str(path or preset)!r} must be a YAML mapping")
    for override in overrides:
        apply_override(d, override)
    return GenConfig.from_dict(d)
