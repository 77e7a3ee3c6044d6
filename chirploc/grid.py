"""The grids of the dense head's maps (columns, frequency bins, edge sub-bins) and their targets.

Free of torch, so that the fit (chirploc.fit) and the numpy engine (chirploc.engine) can use them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from chirpgen.config import KIND_NAMES, GenConfig
from chirpgen.signal import frequency_law


@dataclass(frozen=True)
class DenseGrid:
    """The grids the dense head predicts on, from the frame and the head's settings."""

    n_columns: int  # W
    column_s: float  # dt
    n_freq_bins: int  # F
    freq_step_hz: float  # df
    time_subbins: int  # S
    freq_sigma_hz: float
    time_sigma_bins: float

    @classmethod
    def from_frame(
        cls, frame: GenConfig, freq_step_hz: float, time_subbins: int, freq_sigma_hz: float, time_sigma_bins: float
    ) -> DenseGrid:
        top_hz = frame.stft.freq_bins * frame.bin_hz
        n_freq = int(math.ceil(top_hz / freq_step_hz))
        return cls(frame.n_columns, frame.column_s, n_freq, freq_step_hz, time_subbins, freq_sigma_hz, time_sigma_bins)

    @property
    def column_times_s(self) -> np.ndarray:
        return (np.arange(self.n_columns) + 0.5) * self.column_s  # (W,)

    @property
    def subbin_s(self) -> float:
        return self.column_s / self.time_subbins

    @property
    def maps_per_column(self) -> int:
        """The head's outputs per column: F frequency logits, presence, S onset and S offset (see split_maps)."""
        return self.n_freq_bins + 1 + 2 * self.time_subbins


def column_frequencies(
    grid: DenseGrid, kind: int, t_start_s: float, duration_s: float, f_start_hz: float, f_end_hz: float
) -> np.ndarray:
    """f(t_m) of the chirp at every column centre it covers, NaN elsewhere (and for no chirp)."""
    out = np.full(grid.n_columns, np.nan)
    if not np.isfinite(t_start_s) or kind >= len(KIND_NAMES):
        return out
    u = (grid.column_times_s - t_start_s) / duration_s
    inside = (u >= 0) & (u <= 1)
    out[inside] = frequency_law(KIND_NAMES[kind], u[inside], f_start_hz, f_end_hz)
    return out


def split_maps(columns: Any, any_chirp: Any, grid: DenseGrid) -> dict[str, Any]:
    """The named maps of the dense head's per-column outputs ``columns`` (B, W, F + 1 + 2 S), torch
    or numpy alike (the layout both runtimes share), and its image-level logit ``any_chirp`` (B,)."""
    b, f, s = columns.shape[0], grid.n_freq_bins, grid.time_subbins
    return {
        "freq": columns[..., :f],  # (B, W, F)
        "presence": columns[..., f],  # (B, W)
        "onset": columns[..., f + 1 : f + 1 + s].reshape(b, -1),  # (B, W S)
        "offset": columns[..., f + 1 + s :].reshape(b, -1),  # (B, W S)
        "any_chirp": any_chirp,  # (B,)
    }
