"""The ``chirploc describe --plot`` figures: each input's spectrogram with the chirps found drawn on top.

matplotlib is imported only when a figure is drawn (it takes a second to import).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chirpgen.config import GenConfig
from chirpgen.plumbing import atomic_path, file_in_the_way
from chirpgen.signal import instantaneous_frequency
from chirpgen.spectrogram import image_axes
from chirploc.recording import InputError, recording_spectrogram

if TYPE_CHECKING:
    from chirploc.describe import Chirp, Description, _Prepared

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg")


def image_extent(frame: GenConfig, n_columns: int | None = None) -> tuple[float, float, float, float]:
    """(left, right, bottom, top) in s and Hz of an image of the frame's rows and ``n_columns``
    columns (default: the frame's), pixel edges included (for imshow)."""
    freqs_hz, times_s = image_axes(frame)
    dt = frame.column_s
    if n_columns is not None:
        times_s = times_s[0] + np.arange(n_columns) * dt
    df = abs(freqs_hz[0] - freqs_hz[1]) if len(freqs_hz) > 1 else 1.0
    return (times_s[0] - dt / 2, times_s[-1] + dt / 2, freqs_hz[-1] - df / 2, freqs_hz[0] + df / 2)


def chirp_curve(chirp: Chirp, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(times_s, freqs_hz) of a chirp found, ``n`` points long."""
    duration_s = max(chirp.duration_s, 1e-6)
    tau = np.linspace(0.0, duration_s, n)
    f0, f1 = max(chirp.f_start_hz, 1e-3), max(chirp.f_end_hz, 1e-3)
    return chirp.t_start_s + tau, instantaneous_frequency(chirp.kind, tau, f0, f1, duration_s)


def figure_paths(out: str | Path, sources: list[str]) -> list[Path]:
    """Where each input's figure goes: ``out`` itself when it names a figure file and there is one
    input, else ``out/<name>.png`` with the input's file name ('.' as '_'), lengthened by its parent
    folders ('__' between them) only where two inputs would otherwise share a name."""
    out = Path(out)
    single = out.suffix.lower() in FIGURE_SUFFIXES and len(sources) == 1
    folder = out.parent if single else out
    blocked = file_in_the_way(folder)
    if blocked is not None:
        raise InputError(f"--plot {str(out)!r}: {str(blocked)!r} is a file, not a folder; give a folder for the "
                         "figures (or a .png name for one input)")
    if single:
        return [out]
    parts = [Path(s).parts for s in sources]
    depth = [1] * len(sources)
    while True:
        names = ["__".join(p[-d:]).replace(".", "_").lstrip("_/") for p, d in zip(parts, depth, strict=True)]
        seen: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            seen.setdefault(name, []).append(i)
        clashes = [i for group in seen.values() if len(group) > 1 for i in group if depth[i] < len(parts[i])]
        if not clashes:
            return [out / f"{name}.png" for name in names]
        for i in clashes:
            depth[i] += 1


def plot_description(description: Description, prepared: _Prepared, frame: GenConfig, scale: str, out: Path) -> Path:
    """Draw an input's spectrogram (the whole recording for one longer than the frame) with each chirp found."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'chirpgen[loc]' (or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if prepared.signal is not None:
        image = recording_spectrogram(prepared.signal, prepared.rate_hz, frame, scale)
    else:
        image = prepared.segments[0].image
    width = min(24.0, max(8.0, 8.0 * image.shape[1] / frame.n_columns))
    fig, ax = plt.subplots(figsize=(width, 3.6))
    left, right, bottom, top = image_extent(frame, image.shape[1])
    k = prepared.expand  # a time-expanded recording is drawn in its own seconds and hertz, as its chirps are
    ax.imshow(image, cmap="gray", aspect="auto", extent=(left / k, right / k, bottom * k, top * k), origin="upper")
    for i, chirp in enumerate(description.chirps):
        ax.plot(*chirp_curve(chirp), color="tab:red", lw=1.5, label="chirp found" if i == 0 else None)
    ax.set_title(f"{Path(description.source).name}: {description.sentence}", fontsize=8, wrap=True)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if description.chirps:
        ax.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out) as tmp:  # the format from the final name, not from '.partial'
            fig.savefig(tmp, dpi=110, format=out.suffix[1:].lower() or "png")
    finally:
        plt.close(fig)
    return out
