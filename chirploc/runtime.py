"""Where and how the model runs: the device, CPU threads, and mixed precision (AMP).

Training, inference and the speed benchmarks all build their autocast context and gradient
scaler here, once: ``autocast(device, dtype)`` is a no-op context when ``dtype`` is None, and
``grad_scaler(device, dtype)`` is a GradScaler that is enabled only for float16, so the training
step is written once for fp32, bf16 and fp16.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; an asked-for CUDA that is missing is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device='cuda' was asked for but no CUDA device is available; use --device cpu or auto"
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 matrix units (AMX or AVX512-BF16), where bf16 autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None: full float32). fp16 is CUDA-only and always runs with a GradScaler."""
    if amp == "off":
        return None
    if amp == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_bf16() else None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs CUDA (with a GradScaler); on CPU use amp=bf16 or amp=off")
    return torch.float16 if amp == "fp16" else torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """The autocast context for ``dtype`` on ``device`` (disabled, i.e. float32, when None)."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler that scales only float16 losses; for other dtypes every call is a pass-through."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` torch CPU threads inside the block (0: leave as is); on shared cores 1 can be much faster."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
