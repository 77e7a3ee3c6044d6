"""Train the reference model and package it as chirploc's default model, with its model card.

    python benchmarks/train_reference.py --recipe benchmarks/reference/cpu_dense.yaml   # the default model, 2 CPU cores
    python benchmarks/train_reference.py --recipe benchmarks/reference/cpu.yaml         # the regression-head recipe
    python benchmarks/train_reference.py --recipe benchmarks/reference/gpu.yaml         # a CUDA machine

Steps, each the real command, each skipped when its output is already complete (so a stopped run
resumes): the fixed benchmark data set (``benchmarks/bench_data.py``) and the recipe's pretraining
set (``<recipe>.data.yaml``, else a high-SNR set: SNR 0-20 dB, seed 7), ``chirploc pretrain`` on it
(the backbone, trained in full), ``chirploc train`` on the benchmark train split (LoRA adapters +
head; with the data plan's overrides, e.g. some records made noise only), for a dense head
``benchmarks/calibrate.py`` on the val splits (presence on the pretraining set's noise-only records),
``chirploc evaluate`` on the test split, then the best checkpoint packaged with its adapters merged
into the backbone (``chirploc package``) as ``chirploc/models/default/`` (at most 25 MB), and its
``README.md`` model card generated from the evaluation JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.bench_data import DEFAULT_OUT, ensure_bench_data  # noqa: E402
from benchmarks.bench_data import SEED as BENCH_SEED  # noqa: E402
from benchmarks.bench_data import SHARD_SIZE as BENCH_SHARD_SIZE  # noqa: E402
from benchmarks.bench_data import N as BENCH_N  # noqa: E402
from benchmarks.provenance import REPO, provenance  # noqa: E402
from chirpgen.config import GenConfig  # noqa: E402
from chirpgen.plumbing import read_json, write_json_atomic, write_text_atomic  # noqa: E402
from chirpgen.shards import manifest_config, read_manifest  # noqa: E402

if TYPE_CHECKING:
    from chirploc.config import TrainConfig

PACKAGE_DIR = REPO / "chirploc" / "models" / "default"
MAX_BYTES = 25 * 2**20


PRETRAIN_DATA = {"n": 24_000, "seed": 7, "overrides": ["signal.snr_db=[0, 20]"]}


@dataclass(frozen=True)
class DataPlan:
    """The data of a reference recipe, from ``<recipe>.data.yaml`` next to it (else the defaults).

    ``pretrain``: n, seed and config overrides of the pretraining set (default frame).
    ``train_overrides``: overrides applied to the benchmark data set (same preset, seed, n and
    shards) for the adaptation stage, e.g. ``signal.p_no_chirp=0.05`` so that the presence output
    keeps seeing noise-only records; none means the benchmark data set itself.
    """

    pretrain: dict[str, Any]
    train_overrides: tuple[str, ...] = ()


def data_plan(recipe: Path) -> DataPlan:
    import yaml

    side = recipe.with_name(recipe.stem + ".data.yaml")
    if not side.is_file():
        return DataPlan(PRETRAIN_DATA)
    d = yaml.safe_load(side.read_text()) or {}
    return DataPlan({**PRETRAIN_DATA, **d.get("pretrain", {})}, tuple(d.get("train_overrides", ())))


def run(tool: str, *args: str) -> None:
    """Run a chirpgen or chirploc command."""
    print(f"+ {tool} " + " ".join(args), flush=True)
    subprocess.run([str(Path(sys.executable).parent / tool), *args], check=True)


def training_minutes(run_dir: Path) -> float:
    """Minutes spent in training epochs, from the run's metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return sum(r.get("epoch_time_s", 0.0) for r in rows) / 60


def package(run_dir: Path, dest: Path) -> int:
    """Package the best checkpoint into ``dest`` (LoRA merged, chirploc.checkpoint.package_run); return its size in bytes."""
    from chirploc.checkpoint import package_run

    package_run(run_dir, dest)
    config = read_json(dest / "config.json", fix="the run directory is incomplete; train it again")
    weights = Path(config["model"]["weights"])
    if weights.is_absolute():  # where the backbone came from, as a path inside the repository
        config["model"]["weights"] = str(weights.relative_to(REPO)) if weights.is_relative_to(REPO) else weights.name
        write_json_atomic(dest / "config.json", config)
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    if size > MAX_BYTES:
        raise SystemExit(f"packaged model is {size / 2**20:.1f} MB, over the 25 MB limit; shrink the recipe")
    return size


@dataclass(frozen=True)
class CardInputs:
    """What the model card reports, each read from the files the run actually used."""

    recipe: str  # the recipe's path inside the repository
    frame: GenConfig  # the frame the model was trained on (the packaged frame.json)
    run_config: dict[str, Any]  # the packaged config.json
    best_epoch: int | None  # from best/checkpoint.json
    evaluation: dict[str, Any]  # `chirploc evaluate`'s eval-test.json
    train_manifest: dict[str, Any]  # manifest of the data set the adapters were trained on
    pretrain_manifest: dict[str, Any]  # manifest of the pretraining data set
    minutes: dict[str, float]  # minutes of epochs: "pretrain" and "train"
    size_bytes: int  # of the packaged files


def read_card_inputs(dest: Path, recipe: Path, eval_json: Path, data: Path, pretrain_data: Path,
                     minutes: dict[str, float], size: int) -> CardInputs:
    """Gather the model card's facts from the packaged model, its evaluation and the two data sets."""
    fix = "run benchmarks/train_reference.py again"
    checkpoint = read_json(dest / "best" / "checkpoint.json", fix=fix)
    return CardInputs(
        recipe=str(recipe.relative_to(REPO)) if recipe.is_relative_to(REPO) else str(recipe),
        frame=GenConfig.from_dict(read_json(dest / "frame.json", fix=fix)),
        run_config=read_json(dest / "config.json", fix=fix),
        best_epoch=checkpoint.get("epoch"),
        evaluation=read_json(eval_json, fix=fix),
        train_manifest=read_manifest(data),
        pretrain_manifest=read_manifest(pretrain_data),
        minutes=minutes,
        size_bytes=size,
    )


def _no_chirp_share(manifest: dict[str, Any]) -> str:
    p = manifest_config(manifest).signal.p_no_chirp
    return f", {p:.0%} of records without a chirp" if p else ""


def _head_words(model: dict[str, Any]) -> str:
    if model.get("head") == "dense":
        return "a dense head (per-column frequency, presence and edge maps, turned into labels by a physical fit)"
    return "a head over all tokens"


def _schedule(config: TrainConfig) -> str:
    """The lr schedule of a recipe in words."""
    words = f"{config.epochs} epochs at lr {config.lr:g} (cut on plateaus)"
    last = "the last epoch" if config.decay_epochs == 1 else f"the last {config.decay_epochs} epochs"
    return words + (f", falling linearly towards zero over {last}" if config.decay_epochs else "")


def model_card(card: CardInputs, prov: dict[str, Any]) -> str:
    """The packaged model's README.md: frame, recipe and test table, every number from ``card``."""
    from chirploc.config import TrainConfig
    from chirploc.fit import FALLBACK_EVIDENCE_OFF, RIDGE_GATE_COLUMNS, RIDGE_GATE_SHARE, RIDGE_GATE_Z
    from chirploc.metrics import format_table

    frame, model = card.frame, card.run_config["model"]
    recipe = TrainConfig.from_dict(card.run_config)
    sig = frame.signal
    height, width = frame.image_shape
    pre = card.pretrain_manifest
    pre_snr_db = manifest_config(pre).signal.snr_db
    info = card.evaluation.get("info", {})
    lines = [
        "# chirploc default model",
        "",
        "The model `chirploc describe` uses when no `--model` is given. Generated by",
        f"`benchmarks/train_reference.py --recipe {card.recipe}` (commit {prov['git_commit']},",
        f"{prov['machine']['cpu']}, {prov['machine']['cpu_count']} CPUs); do not edit by hand.",
        "",
        "## Frame (what it reads)",
        "",
        f"- chirpgen preset `{frame.name}`: {sig.record_s:g} s records at {sig.sample_rate_hz:g} Hz, "
        f"image {height} x {width} grey levels (rows 0-{(height - 1) * frame.bin_hz:g} Hz, "
        f"row 0 highest; columns {frame.column_s:.4g} s apart).",
        f"- Trained on chirps starting {sig.t_start_s[0]:g}-{sig.t_start_s[1]:g} s, lasting "
        f"{sig.duration_s[0]:g}-{sig.duration_s[1]:g} s, {sig.freq_hz[0]:g}-{sig.freq_hz[1]:g} Hz, "
        f"SNR {sig.snr_db[0]:g} to {sig.snr_db[1]:g} dB, {sig.noise} noise; predictions stay in these ranges.",
        "",
        "## Recipe",
        "",
        f"- Backbone: timm `{model['arch']}` with {json.dumps(model['model_kwargs'])}, `in_chans=1`, "
        f"pretrained in full by `chirploc pretrain` on a chirpgen set (SNR {pre_snr_db[0]:g} to "
        f"{pre_snr_db[1]:g} dB, seed {pre['seed']}{_no_chirp_share(pre)}) of {pre['n']:,} samples "
        f"({pre['split_counts']['train']:,} train), {_schedule(recipe.for_pretrain())}, "
        f"{card.minutes['pretrain']:.1f} min of epochs.",
        f"- Adaptation: LoRA r={model['lora_r']}, alpha={model['lora_alpha']:g} on attention qkv/proj"
        f"{' and the MLP' if model['lora_mlp'] else ''}; {_head_words(model)} trained in full; "
        f"on the benchmark train split ({card.train_manifest['split_counts']['train']:,} samples, "
        f"`benchmarks/bench_data.py`{_no_chirp_share(card.train_manifest)}), {_schedule(recipe)}, "
        f"{card.minutes['train']:.1f} min of epochs. "
        f"Best epoch {card.best_epoch} by val loss.",
        f"- Calibrated on the val splits by `benchmarks/calibrate.py`: presence logit offset "
        f"{model.get('presence_logit_offset', 0.0):.3f}, kind pixel weight {model.get('kind_pixel_weight', 1.0):g}, "
        f"kind track weight {model.get('kind_track_weight', 0.0):g}, "
        f"fallback below p_chirp {model.get('fallback_p_chirp', 0.0):g}"
        + (f"; a curve with evidence Z answers its start time and frequencies as trust x fit + (1 - trust) x the "
           f"middle of the ranges, trust = 1 / (1 + exp({model['fallback_evidence']:g} - Z))"
           if model.get("fallback_evidence", FALLBACK_EVIDENCE_OFF) > FALLBACK_EVIDENCE_OFF else "") + ".",
        *([f"- Decode (chirploc.decode): where the fitted curve's evidence on the pixels is below "
           f"{model.get('ridge_gate_z', RIDGE_GATE_Z):g} or below {model.get('ridge_gate_share', RIDGE_GATE_SHARE):g} "
           f"of the best path's, or the fitted chirp is shorter than "
           f"{model.get('ridge_gate_columns', RIDGE_GATE_COLUMNS):g} image columns, "
           "the ridge tracker also reads the image and answers when its curve has more "
           "evidence (`benchmarks/README.md` has what each decode step adds)."]
          if model.get("head") == "dense" else []),
        f"- Files: {card.size_bytes / 2**20:.1f} MB (safetensors and JSON; nothing is unpickled when loading), "
        "the LoRA adapters merged into the backbone weights, so that loading needs neither peft nor torch "
        "(chirploc.engine).",
        "",
        f"## Test table (benchmark {info.get('split', 'test')} split, {card.evaluation['overall']['n']:,} samples)",
        "",
        "MAE (median / p90) per target; `chirploc evaluate` output:",
        "",
        "```",
        format_table(card.evaluation),
        "```",
        "",
        "Side by side with classical estimators and the Cramér-Rao bound, and every place where it is still worse "
        "than them: `benchmarks/README.md`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=REPO / "benchmarks" / "reference" / "cpu.yaml")
    parser.add_argument("--data", type=Path, default=DEFAULT_OUT, help="benchmark data set directory")
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="where the runs go")
    parser.add_argument("--pretrain-n", type=int, default=0, help="samples in the pretraining set (0: the recipe's)")
    parser.add_argument("--no-package", action="store_true", help="train and evaluate only")
    args = parser.parse_args()
    recipe = args.recipe.resolve()
    name = recipe.stem
    pre, lora = args.runs / f"reference-{name}-pre", args.runs / f"reference-{name}"
    ensure_bench_data(args.data)
    plan = data_plan(recipe)
    pd = {**plan.pretrain, **({"n": args.pretrain_n} if args.pretrain_n else {})}
    pre_data = args.data.with_name(f"pretrain-{name}-{pd['n']}")
    run("chirpgen", "make", "--n", str(pd["n"]), "--out", str(pre_data), "--seed", str(pd["seed"]),
        *[a for o in pd["overrides"] for a in ("--set", o)], "--quiet")
    train_data = args.data
    if plan.train_overrides:  # the benchmark data set with the plan's overrides
        train_data = args.data.with_name(f"bench-{name}")
        run("chirpgen", "make", "--n", str(BENCH_N), "--out", str(train_data), "--seed", str(BENCH_SEED),
            "--shard-size", str(BENCH_SHARD_SIZE), *[a for o in plan.train_overrides for a in ("--set", o)], "--quiet")
    if not (pre / "backbone.safetensors").exists():
        run("chirploc", "pretrain", "--data", str(pre_data), "--out", str(pre), "--config", str(recipe), "--no-progress")
    if not (lora / "best" / "head.safetensors").exists() or not (lora / "eval" / "eval-test.json").exists():
        if (lora / "last").exists():
            run("chirploc", "train", "--data", str(train_data), "--out", str(lora), "--resume", "--no-progress")
        else:
            run("chirploc", "train", "--data", str(train_data), "--out", str(lora), "--config", str(recipe),
                "--backbone", str(pre), "--no-progress")
        if read_json(lora / "config.json", fix="train it again")["model"].get("head") == "dense":
            print(f"+ calibrate {lora} on the val split of {train_data}", flush=True)
            subprocess.run([sys.executable, str(REPO / "benchmarks" / "calibrate.py"), str(lora), "--data",
                            str(train_data), "--noise-data", str(pre_data)], check=True)
        run("chirploc", "evaluate", str(lora), "--data", str(args.data), "--split", "test")
    minutes = {"pretrain": training_minutes(pre), "train": training_minutes(lora)}
    if args.no_package:  # the time of this training, for the speed tables
        write_json_atomic(REPO / "benchmarks" / "results" / f"train_time_{name}.json",
                          {"benchmark": "train_time", "provenance": provenance(runs=str(args.runs)),
                           "recipe": str(recipe.relative_to(REPO)) if recipe.is_relative_to(REPO) else str(recipe),
                           "minutes": {**minutes, "total": minutes["pretrain"] + minutes["train"]}})
        return
    size = package(lora, PACKAGE_DIR)
    inputs = read_card_inputs(PACKAGE_DIR, recipe, lora / "eval" / "eval-test.json", train_data, pre_data,
                              minutes, size)
    card = model_card(inputs, provenance())
    write_text_atomic(PACKAGE_DIR / "README.md", card)
    print(card)


if __name__ == "__main__":
    main()
