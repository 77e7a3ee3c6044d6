"""What ``chirploc describe`` says: the sentence with units, the JSON record and the plain line.

The unit of each target comes from ``chirpgen.config.TARGET_UNITS``: frequencies of 1 kHz and more
are given in kHz, times under 1 s in ms (audio-rate frames).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chirpgen.config import NO_CHIRP_NAME, TARGET_UNITS, TARGETS


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


def result_record(
    file: str, values: dict[str, float], kind: str, notes: list[str], p_chirp: float | None = None
) -> dict[str, Any]:
    """The JSON record of one input: file, the TARGETS in that order, kind, description and notes.

    With ``p_chirp`` (a model that can tell whether there is a chirp at all) the record also holds
    it; below 0.5 the kind is 'none', the targets are None and the description says so.
    """
    record: dict[str, Any] = {"file": file}
    if p_chirp is not None and p_chirp < 0.5:
        record.update({k: None for k in TARGETS})
        record.update(kind=NO_CHIRP_NAME, description=f"No chirp found (probability of a chirp {p_chirp:.2f}).")
    else:
        values = {k: float(values[k]) for k in TARGETS}
        record.update(values, kind=kind, description=sentence(kind, **values))
    if p_chirp is not None:
        record["p_chirp"] = float(p_chirp)
    record["notes"] = notes
    return record


def result_line(record: dict[str, Any]) -> str:
    """The plain-text line of a record: 'file: sentence (note; note)'."""
    notes = f" ({'; '.join(record['notes'])})" if record["notes"] else ""
    return f"{record['file']}: {record['description']}{notes}"
