"""The ``chirpgen`` command: make, join, export and info. A thin shell over the library."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from chirpgen import __version__
from chirpgen.config import load_config, preset_names
from chirpgen.plumbing import cli_group, user_errors

RESUME_HINT = "Interrupted: complete shards are kept; run the same command again to resume."


@contextmanager
def _ctrl_c_noticed() -> Iterator[threading.Event]:
    """Record every Ctrl-C in an Event while also raising KeyboardInterrupt as usual, so that one
    that lands where Python ignores exceptions (a finaliser, a weakref callback) still stops the work
    at the next block; Python's "Exception ignored" report of such a one, with its traceback, is
    left out: the interruption is not lost, only raised a block later."""
    stop = threading.Event()
    previous_hook = sys.unraisablehook

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        signal.default_int_handler(signum, frame)

    def unraisable(report: Any) -> None:
        if not (isinstance(report.exc_value, KeyboardInterrupt) and stop.is_set()):
            previous_hook(report)

    previous = signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = unraisable
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


@cli_group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chirpgen")
def main() -> None:
    """Labelled chirp spectrograms from real waveforms and a real STFT, in HDF5 shards."""


@main.command()
@click.option("--n", "n", type=int, required=True, help="Total samples over train, val and test.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Data set directory (created).")
@click.option("--preset", default="default", show_default=True, help=f"Built-in frame: {', '.join(preset_names())}.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file (replaces --preset).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value, e.g. signal.noise=pink (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Data set seed; each sample is a function of (config, seed, split, index).")
@click.option("--workers", type=int, default=2, show_default=True, help="Processes computing samples.")
@click.option("--shard-size", type=int, default=10_000, show_default=True, help="Samples per HDF5 shard.")
@click.option("--part", default=None, metavar="K/N", help="Write only part K of N (for many machines); then chirpgen join.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors(RESUME_HINT)
def make(n: int, out: str, preset: str, config_path: str | None, overrides: tuple[str, ...], seed: int,
         workers: int, shard_size: int, part: str | None, quiet: bool) -> None:
    """Generate a data set (or complete an interrupted one) in OUT."""
    from tqdm import tqdm

    from chirpgen.dataset import Part, make_dataset

    config = load_config(preset, config_path, list(overrides))
    the_part = Part.parse(part) if part is not None else None
    start = time.perf_counter()
    with tqdm(total=n if n > 0 else None, unit="sample", disable=quiet, file=sys.stderr, smoothing=0.1) as bar, \
            _ctrl_c_noticed() as stop:

        def advance(k: int) -> None:
            if stop.is_set():  # a Ctrl-C whose KeyboardInterrupt was swallowed (e.g. inside a finaliser)
                raise KeyboardInterrupt
            bar.update(k)

        manifest = make_dataset(out, n, config, seed=seed, workers=workers, shard_size=shard_size, progress=advance,
                                part=the_part)
    seconds = time.perf_counter() - start
    if the_part is not None:
        done = sum(s["count"] for s in manifest["shards"])
        click.echo(f"wrote part {part} ({done} samples in {len(manifest['shards'])} shards) to {out} in {seconds:.1f} s; "
                   f"when all {the_part.n} parts are done: chirpgen join {out} [OTHER PART DIRECTORIES]")
        return
    counts = ", ".join(f"{k} {v}" for k, v in manifest["split_counts"].items())
    click.echo(f"wrote {n} samples ({counts}) in {len(manifest['shards'])} shards to {out} in {seconds:.1f} s")


@main.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("parts", nargs=-1, type=click.Path(file_okay=False))
@user_errors()
def join(out: str, parts: tuple[str, ...]) -> None:
    """Join the parts made by make --part K/N (in OUT and the PARTS directories) into the data set OUT."""
    from chirpgen.dataset import join_parts

    manifest = join_parts(out, list(parts))
    click.echo(f"joined {manifest['n']} samples in {len(manifest['shards'])} shards into {out}")


@main.command()
@click.argument("data", type=click.Path())
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True, help="Split to export.")
@click.option("--n", "n", type=int, default=20, show_default=True, help="Number of samples (the first N of the split).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Directory for the PNGs and labels.csv.")
@user_errors()
def export(data: str, split: str, n: int, out: str) -> None:
    """Write samples of DATA as lossless 8-bit PNGs (the exact stored pixels) plus labels.csv."""
    from chirpgen.export import export_pngs

    csv_path = export_pngs(data, split, n, out)
    click.echo(f"wrote PNGs and {csv_path}")


@main.command()
@click.argument("data", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--no-verify", is_flag=True, help="Skip checking each shard's sha256 against the manifest (reads every byte).")
@user_errors()
def info(data: str, as_json: bool, no_verify: bool) -> None:
    """Counts per split and kind, SNR range, frame and sizes of the data set DATA (shards verified)."""
    from chirpgen.export import dataset_info, format_info

    result = dataset_info(data, verify=not no_verify)
    click.echo(json.dumps(result, indent=2) if as_json else format_info(result))


if __name__ == "__main__":
    main()
