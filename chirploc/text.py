"""What ``chirploc describe`` says: the sentence with units and the plain line.

The unit of each target comes from ``chirpgen.config.TARGET_UNITS``: frequencies of 1 kHz and more
are given in kHz, times under 1 s in ms (audio-rate frames).
"""

from __future__ import annotations

from collections.abc import Callable

from chirpgen.config import TARGET_UNITS


def _hz(f: float) -> str:
    return f"{f / 1000:.2f} kHz" if f >= 1000 else f"{f:.1f} Hz"


def _s(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.1f} s"


_FORMATS: dict[str, Callable[[float], str]] = {"Hz": _hz, "s": _s}


def quantity(target: str, value: float) -> str:
    """``value`` of ``target`` (a key of TARGET_UNITS) with its unit, e.g. '1.50 kHz' or '82 ms'."""
    return _FORMATS[TARGET_UNITS[target]](value)


def sentence(kind: str, f_start_hz: float, f_end_hz: float, t_start_s: float, duration_s: float) -> str:
    """E.g. 'An exponential chirp sweeping from 14.6 Hz to 36.8 Hz, starting at 38.9 s and lasting 10.8 s.'"""
    article = "An" if kind[0] in "aeiou" else "A"
    return (
        f"{article} {kind} chirp sweeping from {quantity('f_start_hz', f_start_hz)} to "
        f"{quantity('f_end_hz', f_end_hz)}, starting at {quantity('t_start_s', t_start_s)} and lasting "
        f"{quantity('duration_s', duration_s)}."
    )


def no_chirp_sentence(p_chirp: float | None) -> str:
    """What describe says when the model finds no chirp."""
    return "No chirp found." if p_chirp is None else f"No chirp found (probability of a chirp {p_chirp:.2f})."


def result_line(source: str, text: str, notes: list[str] | tuple[str, ...]) -> str:
    """The plain-text line of one input: 'file: sentence (note; note)'."""
    suffix = f" ({'; '.join(notes)})" if notes else ""
    return f"{source}: {text}{suffix}"
