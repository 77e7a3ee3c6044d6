"""The ``chirploc`` command: pretrain, train, evaluate, describe.

    chirploc pretrain --data data/ --out runs/pre --config configs/debug.yaml
    chirploc train --data data/ --out runs/exp1 --config configs/debug.yaml --backbone runs/pre
    chirploc evaluate runs/exp1 --data data/ --split test
    chirploc describe img.png rec.wav recordings/ --model runs/exp1 [--json | --csv] [--plot out.png]
    chirploc package runs/exp1 --out models/exp1

Each command parses its options, calls one library function and prints the result. Every user
error is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import click

from chirpgen.config import SPLIT_NAMES
from chirpgen.plumbing import cli_group, user_errors

DEVICE_CHOICE = click.Choice(["auto", "cpu", "cuda"])
RESUME_HINT = (
    "Interrupted: the run's last/ checkpoint holds the last complete epoch; "
    "add --resume to the same command to continue."
)
run_device_option = click.option(
    "--device", type=DEVICE_CHOICE, default="cpu", show_default=True, help="Where to run the model."
)


@cli_group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Localise chirps in spectrograms with a LoRA-adapted Vision Transformer."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")
    for noisy in ("timm", "peft", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)  # retries are reported as one error line


def _recipe(config: str | None, overrides: tuple[str, ...], device: str | None, seed: int | None) -> Any:
    from chirploc.config import load_train_config

    overrides = list(overrides)
    if device is not None:
        overrides.append(f"device={device}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    return load_train_config(config, overrides)


def _train_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--data", required=True, type=click.Path(), help="chirpgen data set directory."),
        click.option("--out", required=True, type=click.Path(), help="Run directory to create (or resume)."),
        click.option(
            "--config",
            "config",
            type=click.Path(),
            default=None,
            help="Recipe YAML, e.g. configs/debug.yaml.",
        ),
        click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Recipe override, e.g. epochs=3 or model.lora_r=4.",
        ),
        click.option(
            "--device", type=DEVICE_CHOICE, default=None, help="Override the recipe's device (auto|cpu|cuda)."
        ),
        click.option("--seed", type=int, default=None, help="Override the recipe's seed."),
        click.option("--resume", is_flag=True, help="Continue from RUN/last with the run's saved recipe."),
        click.option("--progress/--no-progress", default=True, help="Show progress bars with images/s."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@_train_options
@click.option(
    "--backbone",
    type=click.Path(),
    default=None,
    help="Backbone weights: a pretrain run dir, a file, 'hub' or 'none' (sets model.weights).",
)
@user_errors(RESUME_HINT)
def train(backbone: str | None, overrides: tuple[str, ...], **options: Any) -> None:
    """Train a chirp localiser (LoRA by default) on a chirpgen data set."""
    if backbone is not None:
        overrides = (*overrides, f"model.weights={backbone}")
    summary = _run_training(overrides=overrides, pretrain=False, **options)
    if summary["rank"] == 0:
        click.echo(f"best epoch {summary['best_epoch']} (val loss {summary['best_val_loss']:.4f}); run in {options['out']}")


@main.command()
@_train_options
@user_errors(RESUME_HINT)
def pretrain(**options: Any) -> None:
    """Train a backbone in full from random init; `train --backbone OUT` then adapts it with LoRA."""
    summary = _run_training(pretrain=True, **options)
    if summary["rank"] == 0:
        click.echo(
            f"best epoch {summary['best_epoch']} (val loss {summary['best_val_loss']:.4f}); "
            f"backbone in {options['out']}/backbone.safetensors"
        )


def _run_training(
    data: str,
    out: str,
    config: str | None,
    overrides: tuple[str, ...],
    device: str | None,
    seed: int | None,
    resume: bool,
    progress: bool,
    pretrain: bool,
) -> dict[str, Any]:
    from chirploc.config import TrainConfig
    from chirploc.train import train as run_train

    recipe = _recipe(config, overrides, device, seed)
    if resume:  # --resume trains with the run's saved recipe: refuse settings it would ignore
        from chirploc.train import check_resume_overrides

        given = [*overrides, *([f"device={device}"] if device else []), *([f"seed={seed}"] if seed is not None else [])]
        check_resume_overrides(out, recipe, given, pretrain)
    if pretrain and not resume:
        recipe = TrainConfig.for_pretrain(recipe)
    return run_train(data, out, recipe, resume=resume, pretrain=pretrain, progress=progress)


@main.command()
@click.argument("run", type=click.Path())
@click.option("--data", required=True, type=click.Path(), help="chirpgen data set of the run's frame.")
@click.option("--split", type=click.Choice(SPLIT_NAMES), default="test", show_default=True, help="Split to report on.")
@click.option(
    "--out", type=click.Path(), default=None, help="Directory for eval-<split>.json/.csv (default RUN/eval)."
)
@click.option("--n", type=click.IntRange(min=1), default=None, help="Evaluate only the first N samples.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True, help="Which checkpoint.")
@run_device_option
@user_errors()
def evaluate(
    run: str, data: str, split: str, out: str | None, n: int | None, checkpoint: str, device: str
) -> None:
    """Error table per chirp kind and SNR bin (MAE, RMSE, median, p90, Pearson r, kind accuracy)."""
    from chirploc.evaluate import evaluate_run
    from chirploc.metrics import format_table

    result, paths = evaluate_run(run, data, split, out=out, n=n, device=device, which=checkpoint)
    click.echo(format_table(result))
    click.echo("wrote " + ", ".join(str(p) for p in paths))


@main.command()
@click.argument("run", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Folder to write the packaged model to (replaced whole).")
@click.option(
    "--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True, help="Which checkpoint."
)
@user_errors()
def package(run: str, out: str, checkpoint: str) -> None:
    """Package a run's checkpoint for fast inference: LoRA merged into the backbone (no peft needed), a
    dense-head model runnable without torch. Use it with --model OUT."""
    from chirploc.checkpoint import package_run
    from chirploc.engine import engine_supports

    dest = package_run(run, out, checkpoint)
    runtime = "numpy or torch" if engine_supports(dest) else "torch"
    click.echo(f"wrote {dest} ({runtime} runtime)")


CSV_FIELDS = ("file", "chirp", "t_start_s", "duration_s", "f_start_hz", "f_end_hz", "kind", "p_chirp", "confidence",
              "description", "notes", "error")


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--model", "model", type=click.Path(), default=None,
    help="Run or packaged model directory (default: the packaged model).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one object per chirp found (one per input without).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header: one row per chirp found (one per input without).")
@click.option(
    "--plot", type=click.Path(), default=None,
    help="Draw the chirps found: OUT.png for one input, else one PNG per input in the folder OUT.",
)
@click.option("--rate", type=float, default=None, help="Sample rate in Hz of .npy recordings (default: the model's rate).")
@click.option(
    "--expand", type=float, default=1.0, show_default=True,
    help="Time expansion: read recordings as if K times slower, for calls far above the model's band (bats, birds); "
         "answers stay in the recording's own seconds and Hz.",
)
@click.option(
    "--scale", type=click.Choice(["noise", "raw"]), default="noise", show_default=True,
    help="noise: divide recordings by their noise level; raw: keep the amplitude (already in the frame's units).",
)
@click.option(
    "--engine", type=click.Choice(["auto", "numpy", "torch"]), default="auto", show_default=True,
    help="Runtime: numpy for packaged dense-head models on the CPU (fast start), torch otherwise.",
)
@run_device_option
@user_errors()
def describe(
    inputs: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
    plot: str | None,
    rate: float | None,
    expand: float,
    scale: str,
    engine: str,
    device: str,
) -> None:
    """Say what chirps each image or recording holds, in a sentence with units.

    INPUTS are images (.png), recordings (.wav, .npy), folders (searched for both) or glob
    patterns. An input that cannot be read is reported on stderr and the others are described;
    the exit status is then 1.
    """
    import csv
    import sys

    from chirploc.describe import describe_many, expand_inputs
    from chirploc.inference import load_predictor
    from chirploc.plot import figure_paths, plot_description
    from chirploc.text import result_line

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    predictor = load_predictor(model, device=device, engine=engine)
    paths = list(expand_inputs(inputs))
    writer = csv.DictWriter(sys.stdout, CSV_FIELDS, extrasaction="ignore") if as_csv else None
    if writer is not None:
        writer.writeheader()
    failed = 0
    figures = dict(zip(paths, figure_paths(plot, paths), strict=True)) if plot is not None else {}
    for d, prepared in describe_many(paths, predictor, sample_rate_hz=rate, scale=scale, keep_images=True,
                                     expand=expand):
        if d.error is not None:
            failed += 1
            click.echo(f"chirploc describe: {d.error}", err=True)
        for record in d.records():
            if as_json:
                click.echo(json.dumps(record))
            elif writer is not None:
                writer.writerow({**record, "notes": "; ".join(record.get("notes", []))})
        if not (as_json or as_csv) and d.error is None:
            click.echo(result_line(d.source, d.sentence, d.notes))
        if plot is not None and d.error is None:
            out = plot_description(d, prepared, predictor.frame, scale, figures[d.source])
            click.echo(f"wrote {out}", err=as_json or as_csv)
    if failed:
        click.echo(f"chirploc describe: {failed} of {len(paths)} inputs could not be described", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
