"""A numpy runtime for packaged dense-head models: the timm ViT's forward pass and the fit, no torch.

Describing one file with torch, timm and peft costs seconds of imports and most of a gigabyte
before the first image; this runtime reads the same safetensors and runs the same arithmetic in
numpy (float32), so that ``chirploc describe`` starts in a fraction of a second. It covers exactly
what chirploc trains with the dense head: a timm ``VisionTransformer`` with a class token, learned
position embeddings, pre-norm blocks (LayerNorm eps 1e-6, qkv bias, exact GELU, no layer scale) and
a final norm, whose LoRA adapters have been merged into the weights (:func:`chirploc.checkpoint.
package_run`). Anything else is refused by :func:`engine_supports`, and the torch path is used.

Notes:
    GELU(x) = x / 2 (1 + erf(x / sqrt 2)), with erf from Abramowitz and Stegun 7.1.26 (absolute
    error below 1.5e-7, under float32's resolution of the activations).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from chirpgen.config import GenConfig
from chirpgen.plumbing import one_line
from chirploc.decode import decode
from chirploc.fit import FIT_THREADS, FitPriors
from chirploc.grid import DenseGrid, split_maps
from chirploc.rundir import CheckpointError

LN_EPS = 1e-6
FORWARD_CHUNK = 32  # images per forward step
PLAIN_VIT = re.compile(r"vit_(tiny|small|base|large)_patch\d+_(224|384)")  # timm ViTs without extras
PLAIN_KWARGS = {"embed_dim", "depth", "num_heads", "patch_size", "mlp_ratio"}  # changes the runtime follows
_BLOCK_KEYS = ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
HEAD_KEYS = {"mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "any_chirp.weight", "any_chirp.bias"}


def _erf(x: np.ndarray) -> np.ndarray:
    """erf of float32 ``x`` (module Notes), computed in place in two temporaries: the GELUs are a
    large share of the forward pass, and numpy's temporaries most of theirs."""
    a1, a2, a3, a4, a5, p = 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429, 0.3275911
    ax = np.abs(x)
    t = p * ax
    t += 1.0
    np.reciprocal(t, out=t)
    y = a5 * t
    for a in (a4, a3, a2, a1):  # Horner: ((((a5 t + a4) t + a3) t + a2) t + a1) t
        y += a
        y *= t
    e = np.square(ax, out=ax)
    np.negative(e, out=e)
    np.exp(e, out=e)
    y *= e
    np.subtract(1.0, y, out=y)
    return np.copysign(y, x, out=y)


def gelu(x: np.ndarray) -> np.ndarray:
    y = _erf(x * np.float32(1 / np.sqrt(2)))
    y += 1.0
    y *= x
    y *= 0.5
    return y


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(-1, keepdims=True)
    return centred / np.sqrt(var + LN_EPS) * weight + bias


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def vit_keys(depth: int) -> set[str]:
    """The state-dict keys of the ViT this runtime runs, for ``depth`` blocks."""
    keys = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"}
    return keys | {f"blocks.{i}.{m}.{p}" for i in range(depth) for m in _BLOCK_KEYS for p in ("weight", "bias")}


def state_depth(state: dict[str, np.ndarray]) -> int:
    """Number of transformer blocks in a ViT state dict."""
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))}
    return max(blocks) + 1 if blocks else 0


class NumpyViT:
    """The forward pass of a timm VisionTransformer (see the module docstring) on (B, 1, H, W) floats."""

    def __init__(self, state: dict[str, np.ndarray], num_heads: int) -> None:
        self.s = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}
        self.depth = state_depth(state)
        self.heads = num_heads
        w = self.s["patch_embed.proj.weight"]  # (D, C, ph, pw)
        self.patch = w.shape[2:]
        self.embed_w = w.reshape(w.shape[0], -1).T.copy()  # (C ph pw, D)
        for i in range(self.depth):  # transposed once, for x @ W
            for m in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"):
                self.s[f"blocks.{i}.{m}.weight"] = self.s[f"blocks.{i}.{m}.weight"].T.copy()

    def _patches(self, x: np.ndarray) -> np.ndarray:
        b, c, h, w = x.shape
        ph, pw = self.patch
        x = x.reshape(b, c, h // ph, ph, w // pw, pw).transpose(0, 2, 4, 1, 3, 5)  # (B, gh, gw, C, ph, pw)
        return x.reshape(b, (h // ph) * (w // pw), c * ph * pw)

    def _attention(self, x: np.ndarray, i: int) -> np.ndarray:
        b, n, d = x.shape
        p = f"blocks.{i}.attn."
        qkv = x @ self.s[p + "qkv.weight"] + self.s[p + "qkv.bias"]  # (B, N, 3D)
        qkv = qkv.reshape(b, n, 3, self.heads, d // self.heads).transpose(2, 0, 3, 1, 4)  # (3, B, h, N, d/h)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = _softmax((q * np.float32((d // self.heads) ** -0.5)) @ k.transpose(0, 1, 3, 2))  # (B, h, N, N)
        out = (attn @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        return out @ self.s[p + "proj.weight"] + self.s[p + "proj.bias"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(B, 1 + N, D) tokens after the final norm (class token first)."""
        s = self.s
        tokens = self._patches(x) @ self.embed_w + s["patch_embed.proj.bias"]  # (B, N, D)
        cls = np.broadcast_to(s["cls_token"], (len(x), 1, tokens.shape[-1]))
        x = np.concatenate([cls, tokens], 1) + s["pos_embed"]
        for i in range(self.depth):
            p = f"blocks.{i}."
            x = x + self._attention(layer_norm(x, s[p + "norm1.weight"], s[p + "norm1.bias"]), i)
            h = layer_norm(x, s[p + "norm2.weight"], s[p + "norm2.bias"])
            h = gelu(h @ s[p + "mlp.fc1.weight"] + s[p + "mlp.fc1.bias"])
            x = x + h @ s[p + "mlp.fc2.weight"] + s[p + "mlp.fc2.bias"]
        return layer_norm(x, s["norm.weight"], s["norm.bias"])


class NumpyDenseHead:
    """chirploc.dense.DenseHead in numpy: tokens to the dense maps."""

    def __init__(self, state: dict[str, np.ndarray], grid: DenseGrid, columns_per_token: int) -> None:
        self.s = {k: np.ascontiguousarray(v, dtype=np.float32).T for k, v in state.items()}
        self.grid, self.pw = grid, columns_per_token

    def __call__(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        s, g = self.s, self.grid
        cls, strips = tokens[:, 0], tokens[:, -(g.n_columns // self.pw) :]
        b = len(tokens)
        out = (gelu(strips @ s["mlp.0.weight"] + s["mlp.0.bias"]) @ s["mlp.2.weight"] + s["mlp.2.bias"])
        any_chirp = (cls @ s["any_chirp.weight"] + s["any_chirp.bias"])[:, 0]
        return split_maps(out.reshape(b, g.n_columns, -1), any_chirp, g)


class NumpyDenseModel:
    """Backbone, head and fit of a packaged dense-head model: uint8 images to labels."""

    def __init__(self, vit: NumpyViT, head: NumpyDenseHead, priors: FitPriors, frame: GenConfig) -> None:
        self.vit, self.head, self.priors, self.frame = vit, head, priors, frame

    def maps(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """The dense maps of uint8 (B, H, W) images: chunks of ``FORWARD_CHUNK`` images on
        ``FIT_THREADS`` threads, BLAS limited to one thread each (faster than one BLAS call
        spread over the cores, whose matrices are small)."""
        from threadpoolctl import threadpool_limits

        def forward(start: int) -> dict[str, np.ndarray]:
            x = images[start : start + FORWARD_CHUNK, None].astype(np.float32)
            return self.head(self.vit(x * np.float32(1 / 127.5) - np.float32(1.0)))  # as model.prepare_images

        with threadpool_limits(1, "blas"), ThreadPoolExecutor(FIT_THREADS) as pool:
            parts = list(pool.map(forward, range(0, len(images), FORWARD_CHUNK)))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return decode(self.maps(images), images, self.head.grid, self.priors, self.frame)


def engine_supports(run_dir: str | Path, which: str = "best") -> bool:
    """Whether ``run_dir`` is a packaged dense-head model this runtime can run (merged weights)."""
    from chirploc.rundir import checkpoint_folder

    run_dir = Path(run_dir)
    folder = checkpoint_folder(run_dir, which)
    return (folder / "backbone.safetensors").is_file() and _dense_config(run_dir) is not None


def _dense_config(run_dir: Path) -> tuple[dict, int] | None:
    """The model config and number of attention heads of a dense-head plain-ViT run, else None."""
    from chirpgen.plumbing import read_json

    try:
        config = read_json(run_dir / "config.json", ValueError, "")
        spec = read_json(run_dir / "backbone.json", ValueError, "")
    except (ValueError, OSError):
        return None
    if not isinstance(config, dict) or not isinstance(spec, dict):
        return None
    model, kwargs = config.get("model", {}), spec.get("model_kwargs", {})
    plain = PLAIN_VIT.fullmatch(str(spec.get("arch", ""))) and set(kwargs) <= PLAIN_KWARGS
    if model.get("head") != "dense" or model.get("pixel_skip") or spec.get("global_pool") != "flatten" or not plain:
        return None
    num_heads = kwargs.get("num_heads")
    return (model, num_heads) if isinstance(num_heads, int) and num_heads > 0 else None


def load_engine(run_dir: str | Path, frame: GenConfig, which: str = "best") -> NumpyDenseModel:
    """The numpy model of a packaged run (check :func:`engine_supports` first).

    Raises:
        ValueError: weights that are not the ViT and dense head this runtime runs.
        CheckpointError: weight files that are not safetensors, or a frame.json the head does not fit.
    """
    from safetensors.numpy import load_file

    run_dir = Path(run_dir)
    found = _dense_config(run_dir)
    if found is None:
        raise ValueError(f"{run_dir} is not a packaged dense-head ViT")
    model, num_heads = found

    def load(name: str) -> dict[str, np.ndarray]:
        path = run_dir / which / name
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own SafetensorError (and OSError, ValueError)
            raise CheckpointError(f"{str(path)!r} is not a safetensors file ({one_line(exc, 120)}); package the run again") from None

    backbone = load("backbone.safetensors")
    if set(backbone) != vit_keys(state_depth(backbone)) or backbone["pos_embed"].shape[1] != 1 + _n_patches(backbone, frame):
        raise ValueError(f"{run_dir}: the backbone is not a plain timm ViT with a class token of this frame.json's image")
    head_state = load("head.safetensors")
    if set(head_state) != HEAD_KEYS:
        raise ValueError(f"{run_dir}: the head is not a dense head")
    grid = DenseGrid.from_frame(frame, model["freq_step_hz"], int(model["time_subbins"]), model["freq_sigma_hz"],
                                model["time_sigma_bins"])
    columns_per_token = int(backbone["patch_embed.proj.weight"].shape[3])
    if head_state["mlp.2.weight"].shape[0] != columns_per_token * grid.maps_per_column:
        raise CheckpointError(f"{str(run_dir / 'frame.json')!r} is not the frame this model's head was trained on; "
                              "package the run again")
    priors = FitPriors.from_model(frame, model)
    vit = NumpyViT(backbone, num_heads)
    return NumpyDenseModel(vit, NumpyDenseHead(head_state, grid, int(vit.patch[1])), priors, frame)


def _n_patches(state: dict[str, np.ndarray], frame: GenConfig) -> int:
    ph, pw = state["patch_embed.proj.weight"].shape[2:]
    h, w = frame.image_shape
    return (h // ph) * (w // pw)
