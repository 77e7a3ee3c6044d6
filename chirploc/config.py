"""Training recipes: the model, the adaptation and the optimisation, as dataclasses.

A recipe is a YAML file (``configs/debug.yaml``, ``configs/default.yaml``) with a ``model`` section,
the training fields at the top level, and an optional ``pretrain`` section whose keys override the
recipe when ``chirploc pretrain`` trains the backbone in full. ``__post_init__`` rejects bad values
with a ``ValueError`` that names the value and the fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chirpgen.config import apply_override, finite_number
from chirpgen.plumbing import one_line

MAX_COUNT = 10**12  # larger batch sizes, epochs or sample counts are typing mistakes
MAX_THREADS = 1024  # torch CPU threads or DataLoader workers: more is a typing mistake on any machine
MAX_WIDTH = 65536  # head widths, LoRA rank: wider layers are typing mistakes that allocate gigabytes
MAX_TIME_SUBBINS = 64  # dense edge bins per image column
MAX_EMBED_DIM = 8192  # wider than any published ViT (ViT-22B: 6144)
MAX_DEPTH = 256
MAX_MLP_RATIO = 64.0
ADAPT_MODES: tuple[str, ...] = ("lora", "full")
AMP_MODES: tuple[str, ...] = ("auto", "bf16", "fp16", "off")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
POOLS: tuple[str, ...] = ("token", "avg", "flatten")
HEADS: tuple[str, ...] = ("regression", "dense")

_POOL_HELP = "'token' (class token), 'avg' (mean of patch tokens) or 'flatten' (all tokens, keeps position)"
_HEAD_HELP = (
    "'regression' (4 numbers and kind logits from all tokens) or 'dense' (per-column maps and a physical "
    "fit; needs full-frequency strip tokens, patch_size [H, w], and global_pool flatten)"
)
_FALLBACK_HELP = (
    "dense: below this presence probability (and above 0.5) the fit is too unsure to trust: report the middle "
    "of the frame's label ranges instead, flagged as a fallback (set by benchmarks/calibrate.py on a val split)"
)
_RIDGE_GATE_HELP = (
    "dense: below this evidence of the fitted curve on the pixels the ridge tracker also reads the image, "
    "and answers if its curve has more (chirploc.decode; -1e9 with ridge_gate_share 0 and ridge_gate_columns 0 turns it off)"
)
_RIDGE_SHARE_HELP = (
    "dense: ... and also below this share of the evidence of the best path under the fit's edges (in [0, 1]; "
    "0: the evidence alone decides)"
)
_FALLBACK_EVIDENCE_HELP = (
    "dense: evidence Z of the fitted curve at which its start time and frequencies are answered half from the fit, "
    "half from the middle of the frame's ranges (more fit above, more middle below; chirploc.fit.apply_fallback; "
    "set by benchmarks/calibrate.py on a val split; -1e9: always the fit)"
)
_RIDGE_COLUMNS_HELP = (
    "dense: ... and also where the fitted chirp is shorter than this many image columns (8.5: 4 s on the default "
    "frame; 0: duration alone never asks)"
)
_KIND_TRACK_HELP = (
    "dense: weight of the peak track's law likelihoods in the kind choice (chirploc.track; 0: not read; "
    "set by benchmarks/calibrate.py on a val split)"
)
_KIND_PIXEL_HELP = (
    "dense: weight of the pixels against the maps when the fit chooses the kind, in nats of mean log-probability "
    "per grey level (0: the maps alone; set by benchmarks/calibrate.py on a val split)"
)
_PRESENCE_HELP = (
    "dense: subtracted from the image-level presence logit, so that p_chirp >= 0.5 flags a chosen share of "
    "noise-only images (set by benchmarks/calibrate.py on a val split)"
)
_AMP_HELP = "'auto' (bf16 on a CPU with bf16 units, fp16 + GradScaler on CUDA), 'bf16', 'fp16', 'off'"


def _check_model_kwargs(kwargs: dict[str, Any]) -> None:
    """ValueError naming the key for a size timm would divide by, allocate or loop over that is not a
    positive number within bounds (timm turns these into ZeroDivisionErrors or gigabyte allocations)."""
    key = "model.model_kwargs."
    counts = {"embed_dim": MAX_EMBED_DIM, "depth": MAX_DEPTH, "num_heads": MAX_EMBED_DIM}
    for name, bound in counts.items():
        if name in kwargs:
            value = finite_number(f"{key}{name}", kwargs[name], integer=True, what=f"an integer in 1..{bound}")
            if not 1 <= value <= bound:
                raise ValueError(f"{key}{name}={kwargs[name]!r} must be an integer in 1..{bound}")
    if "patch_size" in kwargs:
        patch = kwargs["patch_size"]
        sizes = list(patch) if isinstance(patch, (list, tuple)) else [patch]
        what = "a positive integer or a pair [h, w] of them, e.g. [128, 2]"
        if len(sizes) not in (1, 2):
            raise ValueError(f"{key}patch_size={patch!r} must be {what}")
        for size in sizes:
            if finite_number(f"{key}patch_size", size, integer=True, what=what) < 1:
                raise ValueError(f"{key}patch_size={patch!r} must be {what}")
    if "mlp_ratio" in kwargs:
        ratio = finite_number(f"{key}mlp_ratio", kwargs["mlp_ratio"])
        if not 0 < ratio <= MAX_MLP_RATIO:
            raise ValueError(f"{key}mlp_ratio={kwargs['mlp_ratio']!r} must lie in (0, {MAX_MLP_RATIO:g}]")


def _coerce_numbers(obj: Any, names: tuple[str, ...], prefix: str = "", integer: bool = False) -> None:
    """Finite floats (or ints) in place, also from YAML strings like '2e-3' (YAML 1.1 reads exponents
    without a dot as text); booleans, NaN and infinities are refused with the key named."""
    for name in names:
        setattr(obj, name, finite_number(f"{prefix}{name}", getattr(obj, name), integer=integer))


@dataclass
class ModelConfig:
    """The backbone, where its weights come from, and how it is adapted."""

    arch: str = field(
        default="vit_tiny_patch16_224",
        metadata={"help": "timm model name (a hub tag like '.augreg_in21k' selects hub weights)"},
    )
    model_kwargs: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "extra timm.create_model kwargs, e.g. {embed_dim: 64, depth: 4, num_heads: 4}"},
    )
    weights: str = field(
        default="none",
        metadata={
            "help": "'none' (random init), 'hub' (timm hub weights of arch, needs internet), or a path: "
            "a chirploc pretrain run dir, its backbone.safetensors, or a timm checkpoint file"
        },
    )
    adapt: str = field(default="lora", metadata={"help": "'lora' (adapters + head) or 'full' (all weights)"})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: float = field(default=16.0, metadata={"help": "LoRA scaling numerator (scale = alpha / r)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "dropout on the LoRA input"})
    lora_mlp: bool = field(default=False, metadata={"help": "also adapt the MLP (fc1, fc2) of each block"})
    global_pool: str = field(default="token", metadata={"help": _POOL_HELP})
    head_hidden: int = field(default=256, metadata={"help": "hidden width of the head MLP (0: linear head)"})
    pixel_skip: int = field(
        default=0, metadata={"help": "dense: width of each column's own pixels projected into the head (0: none)"}
    )
    drop_path_rate: float = field(default=0.0, metadata={"help": "stochastic depth rate of the backbone"})
    head: str = field(default="regression", metadata={"help": _HEAD_HELP})
    freq_step_hz: float = field(default=0.5, metadata={"help": "dense: width of the frequency bins, Hz"})
    freq_sigma_hz: float = field(default=0.75, metadata={"help": "dense: width of the Gaussian frequency target, Hz"})
    time_subbins: int = field(default=4, metadata={"help": "dense: onset/offset bins per image column"})
    time_sigma_bins: float = field(default=1.0, metadata={"help": "dense: width of the Gaussian edge target, bins"})
    fallback_p_chirp: float = field(default=0.0, metadata={"help": _FALLBACK_HELP})
    presence_logit_offset: float = field(default=0.0, metadata={"help": _PRESENCE_HELP})
    kind_pixel_weight: float = field(default=1.0, metadata={"help": _KIND_PIXEL_HELP})
    ridge_gate_z: float = field(default=30.0, metadata={"help": _RIDGE_GATE_HELP})
    ridge_gate_share: float = field(default=0.8, metadata={"help": _RIDGE_SHARE_HELP})
    ridge_gate_columns: float = field(default=8.5, metadata={"help": _RIDGE_COLUMNS_HELP})
    fallback_evidence: float = field(default=-1e9, metadata={"help": _FALLBACK_EVIDENCE_HELP})
    kind_track_weight: float = field(default=0.0, metadata={"help": _KIND_TRACK_HELP})

    def __post_init__(self) -> None:
        if not isinstance(self.arch, str) or not self.arch.strip():
            raise ValueError(f"model.arch={self.arch!r} must be a timm model name, e.g. vit_tiny_patch16_224")
        _coerce_numbers(
            self,
            ("lora_alpha", "lora_dropout", "drop_path_rate", "freq_step_hz", "freq_sigma_hz", "time_sigma_bins",
             "fallback_p_chirp", "presence_logit_offset", "kind_pixel_weight", "ridge_gate_z",
             "ridge_gate_share", "ridge_gate_columns", "fallback_evidence", "kind_track_weight"),
            prefix="model.",
        )
        _coerce_numbers(self, ("lora_r", "head_hidden", "time_subbins", "pixel_skip"), prefix="model.", integer=True)
        if self.pixel_skip < 0 or (self.pixel_skip and self.head != "dense"):
            raise ValueError(f"model.pixel_skip={self.pixel_skip!r} must be >= 0, and 0 unless model.head=dense")
        if self.head not in HEADS:
            raise ValueError(f"model.head={self.head!r} must be one of {list(HEADS)}")
        if self.head == "dense" and self.global_pool != "flatten":
            raise ValueError(f"model.head=dense needs model.global_pool=flatten (got {self.global_pool!r})")
        if self.kind_pixel_weight < 0:
            raise ValueError(f"model.kind_pixel_weight={self.kind_pixel_weight!r} must be >= 0 (0: the maps alone choose the kind)")
        if self.kind_track_weight < 0:
            raise ValueError(f"model.kind_track_weight={self.kind_track_weight!r} must be >= 0 (0: the track is not read)")
        if self.ridge_gate_columns < 0:
            raise ValueError(f"model.ridge_gate_columns={self.ridge_gate_columns!r} must be >= 0 (0: off)")
        if not 0.0 <= self.ridge_gate_share <= 1.0:
            raise ValueError(f"model.ridge_gate_share={self.ridge_gate_share!r} must lie in [0, 1]")
        if not 0.0 <= self.fallback_p_chirp < 1.0:
            raise ValueError(f"model.fallback_p_chirp={self.fallback_p_chirp!r} must lie in [0, 1)")
        if min(self.freq_step_hz, self.freq_sigma_hz, self.time_sigma_bins) <= 0 or int(self.time_subbins) < 1:
            raise ValueError(
                f"model.freq_step_hz={self.freq_step_hz!r}, freq_sigma_hz={self.freq_sigma_hz!r} and "
                f"time_sigma_bins={self.time_sigma_bins!r} must be > 0 and time_subbins={self.time_subbins!r} >= 1"
            )
        if self.time_subbins > MAX_TIME_SUBBINS:
            raise ValueError(f"model.time_subbins={self.time_subbins!r} must be at most {MAX_TIME_SUBBINS}")
        for name in ("head_hidden", "pixel_skip", "lora_r"):
            if getattr(self, name) > MAX_WIDTH:
                raise ValueError(f"model.{name}={getattr(self, name)!r} must be at most {MAX_WIDTH}")
        if self.adapt not in ADAPT_MODES:
            raise ValueError(f"model.adapt={self.adapt!r} must be one of {list(ADAPT_MODES)}")
        if self.global_pool not in POOLS:
            raise ValueError(f"model.global_pool={self.global_pool!r} must be one of {list(POOLS)}")
        if int(self.lora_r) != self.lora_r or self.lora_r < 1:
            raise ValueError(f"model.lora_r={self.lora_r!r} must be a positive integer")
        if self.lora_alpha <= 0:
            raise ValueError(f"model.lora_alpha={self.lora_alpha!r} must be > 0")
        if not 0.0 <= self.lora_dropout < 1.0 or not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(
                f"model.lora_dropout={self.lora_dropout!r} and model.drop_path_rate="
                f"{self.drop_path_rate!r} must lie in [0, 1)"
            )
        if int(self.head_hidden) != self.head_hidden or self.head_hidden < 0:
            raise ValueError(f"model.head_hidden={self.head_hidden!r} must be an integer >= 0")
        if not isinstance(self.model_kwargs, dict):
            raise ValueError(f"model.model_kwargs={self.model_kwargs!r} must be a mapping")
        _check_model_kwargs(self.model_kwargs)
        reserved = {"img_size", "in_chans", "num_classes", "pretrained", "global_pool"} & set(
            self.model_kwargs
        )
        if reserved:
            raise ValueError(
                f"model.model_kwargs sets {sorted(reserved)}, which chirploc sets from the data set and the "
                "recipe; remove them"
            )
        self.weights = str(self.weights)


@dataclass
class TrainConfig:
    """A training recipe. Fields are grouped: data, optimisation, schedule, stopping, runtime."""

    model: ModelConfig = field(default_factory=ModelConfig)
    # data
    batch_size: int = field(default=64, metadata={"help": "images per step"})
    max_train_samples: int = field(default=0, metadata={"help": "use the first N train samples (0: all)"})
    max_val_samples: int = field(default=0, metadata={"help": "use the first N val samples (0: all)"})
    epoch_samples: int = field(
        default=0, metadata={"help": "train samples per epoch, drawn afresh each epoch (0: the whole split)"}
    )
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes"})
    num_threads: int = field(
        default=0, metadata={"help": "torch CPU threads while training (0: torch's default)"}
    )
    # optimisation
    epochs: int = field(default=30, metadata={"help": "maximum number of epochs"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate of trained parameters"})
    warmup_steps: int = field(default=0, metadata={"help": "steps of linear lr warmup at the start"})
    decay_epochs: int = field(
        default=0, metadata={"help": "last epochs over which the lr falls linearly towards zero (0: none)"}
    )
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (not on biases/norms)"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm (0: no clipping)"})
    kind_loss_weight: float = field(default=0.5, metadata={"help": "weight of the kind cross-entropy"})
    amp: str = field(default="auto", metadata={"help": _AMP_HELP})
    # schedule and stopping (on the val loss)
    plateau_patience: int = field(
        default=2, metadata={"help": "epochs without val improvement before lr drops"}
    )
    plateau_factor: float = field(default=0.3, metadata={"help": "lr multiplier on a plateau"})
    early_stop_patience: int = field(
        default=5, metadata={"help": "epochs without val improvement before stopping"}
    )
    min_delta: float = field(default=1e-4, metadata={"help": "smallest val loss decrease that counts"})
    # runtime
    seed: int = field(default=0, metadata={"help": "seeds init, shuffling and dropout (repeatable on CPU)"})
    device: str = field(default="auto", metadata={"help": "'auto', 'cpu' or 'cuda'"})
    pretrain: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "overrides applied by `chirploc pretrain` (which also sets adapt=full, weights=none)"
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = model_config_from_dict(self.model)
        if not isinstance(self.model, ModelConfig):
            raise ValueError(f"model={self.model!r} must be a mapping of model keys, e.g. model.lora_r=4")
        _coerce_numbers(
            self, ("lr", "weight_decay", "grad_clip", "kind_loss_weight", "plateau_factor", "min_delta")
        )
        counts = ("batch_size", "epochs", "max_train_samples", "max_val_samples", "epoch_samples", "warmup_steps",
                  "num_workers", "num_threads", "seed", "plateau_patience", "early_stop_patience", "decay_epochs")
        _coerce_numbers(self, counts, integer=True)
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_COUNT:
                raise ValueError(f"{name}={value!r} must be a positive integer (at most {MAX_COUNT:.0e})")
        for name in counts[2:9]:
            value = getattr(self, name)
            if not 0 <= value <= MAX_COUNT:
                raise ValueError(f"{name}={value!r} must be an integer >= 0 (at most {MAX_COUNT:.0e})")
        for name in ("num_workers", "num_threads"):
            if getattr(self, name) > MAX_THREADS:
                raise ValueError(f"{name}={getattr(self, name)!r} must be an integer in 0..{MAX_THREADS}")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.kind_loss_weight < 0:
            raise ValueError(
                f"lr={self.lr!r} must be > 0 and weight_decay={self.weight_decay!r}, grad_clip="
                f"{self.grad_clip!r}, kind_loss_weight={self.kind_loss_weight!r} must be >= 0"
            )
        if self.amp is False:  # YAML reads a bare `off` as False
            self.amp = "off"
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp={self.amp!r} must be one of {list(AMP_MODES)}")
        if self.device not in DEVICES:
            raise ValueError(f"device={self.device!r} must be one of {list(DEVICES)}")
        if not 0.0 < self.plateau_factor < 1.0:
            raise ValueError(f"plateau_factor={self.plateau_factor!r} must lie in (0, 1)")
        if self.plateau_patience < 0 or self.early_stop_patience < 1:
            raise ValueError(
                f"plateau_patience={self.plateau_patience!r} must be >= 0 and early_stop_patience="
                f"{self.early_stop_patience!r} >= 1"
            )
        if self.plateau_patience >= self.early_stop_patience:
            raise ValueError(
                f"plateau_patience={self.plateau_patience} must be shorter than early_stop_patience="
                f"{self.early_stop_patience}, else the learning rate never drops before training stops"
            )
        if not 0 <= self.decay_epochs <= self.epochs:
            raise ValueError(f"decay_epochs={self.decay_epochs!r} must lie in 0..epochs ({self.epochs})")
        if not isinstance(self.pretrain, dict):
            raise ValueError(f"pretrain={self.pretrain!r} must be a mapping of recipe overrides")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown recipe key(s) {sorted(unknown)}; expected some of {sorted(names)}")
        return cls(**d)

    def for_pretrain(self) -> TrainConfig:
        """The recipe ``chirploc pretrain`` runs: full training from random init, plus ``pretrain`` overrides."""
        d = self.to_dict()
        overrides = dict(d.pop("pretrain"))
        model_overrides = overrides.pop("model", {})
        d.update(overrides)
        d["model"] = {**d["model"], **model_overrides, "adapt": "full", "weights": "none"}
        return TrainConfig.from_dict(d)


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown model key(s) {sorted(unknown)}; expected some of {sorted(names)}")
    return ModelConfig(**d)


def load_train_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> TrainConfig:
    """A recipe from a YAML file (the built-in defaults when None), with ``key=value`` overrides.

    Args:
        path: a YAML recipe such as ``configs/debug.yaml``.
        overrides: dotted assignments such as ``"model.lora_r=4"`` or ``"epochs=3"``.
    """
    d: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(
                f"recipe {str(path)!r} does not exist; give a YAML file such as configs/debug.yaml"
            )
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ValueError(
                f"recipe {str(path)!r} is not UTF-8 text; give a YAML recipe such as configs/debug.yaml"
            ) from None
        except OSError as exc:
            raise ValueError(f"recipe {str(path)!r} cannot be read ({exc.strerror or exc}); check the path") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"recipe {str(path)!r} is not valid YAML: {one_line(exc)}") from None
        if not isinstance(d, dict):
            raise ValueError(f"recipe {str(path)!r} must be a YAML mapping")
    for override in overrides:
        apply_override(d, override, example="model.lora_r=4 or epochs=3")
    try:
        return TrainConfig.from_dict(d)
    except TypeError as exc:
        raise ValueError(f"bad recipe value: {exc}") from None
