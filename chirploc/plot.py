"""The ``chirploc describe --plot`` figure: each spectrogram with the predicted chirp drawn on top.

matplotlib is imported only when a figure is drawn (it takes a second to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from chirpgen.config import NO_CHIRP_NAME, GenConfig
from chirpgen.plumbing import atomic_path
from chirpgen.signal import instantaneous_frequency
from chirpgen.spectrogram import image_axes


def image_extent(frame: GenConfig) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) in s and Hz of the frame's image, pixel edges included (for imshow)."""
    freqs_hz, times_s = image_axes(frame)
    dt = times_s[1] - times_s[0] if len(times_s) > 1 else 1.0
    df = abs(freqs_hz[0] - freqs_hz[1]) if len(freqs_hz) > 1 else 1.0
    return (times_s[0] - dt / 2, times_s[-1] + dt / 2, freqs_hz[-1] - df / 2, freqs_hz[0] + df / 2)


def chirp_curve(record: dict[str, Any], n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(times_s, freqs_hz) of the predicted chirp in a describe record, ``n`` points long."""
    duration_s = max(record["duration_s"], 1e-6)
    tau = np.linspace(0.0, duration_s, n)
    f0, f1 = max(record["f_start_hz"], 1e-3), max(record["f_end_hz"], 1e-3)
    return record["t_start_s"] + tau, instantaneous_frequency(record["kind"], tau, f0, f1, duration_s)


def plot_results(
    images: list[np.ndarray], results: list[dict[str, Any]], frame: GenConfig, out: str | Path
) -> Path:
    """Draw each spectrogram with the predicted chirp's frequency curve on top (one row per input)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extent = image_extent(frame)
    fig, axes = plt.subplots(len(images), 1, figsize=(8, 3.2 * len(images)), squeeze=False)
    for ax, image, r in zip(axes[:, 0], images, results, strict=True):
        ax.imshow(image, cmap="gray", aspect="auto", extent=extent, origin="upper")
        if r["kind"] != NO_CHIRP_NAME:
            ax.plot(*chirp_curve(r), color="tab:red", lw=1.5, label="predicted chirp")
        ax.set_title(f"{Path(r['file']).name}: {r['description']}", fontsize=8)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out) as tmp:  # the format from the final name, not from '.partial'
            fig.savefig(tmp, dpi=110, format=out.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
    return out
