"""chirpgen: labelled chirp spectrograms from real waveforms and a real STFT.

Numpy, scipy, h5py and Pillow only: importing chirpgen never imports torch.
"""

__version__ = "0.2.0"

from chirpgen.config import KIND_NAMES, SPLIT_NAMES, GenConfig, load_config  # noqa: E402
from chirpgen.sample import ChirpParams, Sample, make_sample  # noqa: E402
from chirpgen.spectrogram import image_axes, render_image  # noqa: E402

__all__ = [
    "KIND_NAMES",
    "SPLIT_NAMES",
    "ChirpParams",
    "GenConfig",
    "Sample",
    "image_axes",
    "load_config",
    "make_sample",
    "render_image",
]
