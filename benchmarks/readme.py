"""Write benchmarks/README.md from the committed results JSONs (no number is typed by hand).

    python benchmarks/readme.py [--out benchmarks/README.md]

Reads ``benchmarks/README.in.md`` and replaces each line ``{{name}}`` with a table generated from
``benchmarks/results/``: ``accuracy`` (the full accuracy tables), ``headline`` (model vs baselines vs
bound per kind), ``where_it_loses`` (every place the model is worse than a classical estimator),
``decode_steps`` (what each decode step adds), ``detection`` (presence against SNR),
``kind_separation`` (kind against law separation), ``track_precision`` (the column peaks' precision
and the kind they hold), ``recordings`` (WAV files of another tool, described), ``ablation`` (heads
and adaptation at one budget), ``generate_speed``,
``train_speed`` and ``inference_speed``. A missing results file becomes a line saying which
command writes it. A ``{{name}}`` inside a line is a value (see :func:`values`): the benchmark data
set's frame from ``benchmarks/bench_data.json`` and its preset, the image grid from
``accuracy.json``, the prior art's version from ``generate_speed.json`` ("?" when the results file
is missing).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import kind_separation, recordings, track_precision  # noqa: E402
from benchmarks.provenance import REPO  # noqa: E402
from benchmarks.tables import PRIOR_ART_PEARSON_T_START, fmt, markdown, md_header, md_row  # noqa: E402
from chirpgen.config import TARGETS, load_config  # noqa: E402
from chirpgen.dataset import split_counts  # noqa: E402
from chirpgen.plumbing import read_json, write_text_atomic  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
TEMPLATE = REPO / "benchmarks" / "README.in.md"
OUT = REPO / "benchmarks" / "README.md"
BENCH_DATA = REPO / "benchmarks" / "bench_data.json"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_COUNT_WORDS = ("one", "two", "three")


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _source(record: dict[str, Any], file: str) -> str:
    p = record["provenance"]
    machine = p["machine"]
    return (
        f"Source: `benchmarks/results/{file}` (commit {(p.get('git_commit') or 'none')[:10]}"
        f"{', dirty' if p.get('git_dirty') else ''}; {machine.get('cpu')}, {machine.get('cpu_count')} CPUs; "
        f"`{p.get('command')}`)."
    )


def headline(result: dict[str, Any]) -> list[str]:
    """Per kind: RMSE (median) of each target for every estimator, and the bound for the frequencies."""
    names = list(result["estimators"])
    lines = md_header(["kind", "target", *[f"{n} RMSE (median)" for n in names], "CRB (RMS)", "best RMSE / CRB"])
    for kind in result["bound"]["per_kind"]:
        for target in TARGETS:
            stats = [result["estimators"][n]["per_kind"][kind][target] for n in names]
            bound = result["bound"]["per_kind"][kind].get(target)
            ratio = f"{min(s['rmse'] for s in stats) / bound:.0f}" if bound else "-"
            cells = [f"{fmt(s['rmse'])} ({fmt(s['median'])})" for s in stats]
            lines.append(md_row([kind, target, *cells, fmt(bound) if bound else "-", ratio]))
        accs = [result["estimators"][n]["per_kind"][kind].get("kind_accuracy") for n in names]
        lines.append(md_row([kind, "kind accuracy", *[fmt(a) for a in accs], "-", "-"]))
    return lines


def verdict(result: dict[str, Any], model: str = "model") -> list[str]:
    """Plain sentences: where the model is better or worse than the best baseline, over the whole split."""
    if model not in result["estimators"]:
        return []
    base = [n for n in result["estimators"] if n != model]
    overall = {n: result["estimators"][n]["overall"] for n in result["estimators"]}
    lines = ["Over the whole test split:", ""]
    for target in TARGETS:
        for stat in ("median", "rmse"):
            best = min(base, key=lambda n: overall[n][target][stat])
            m, b = overall[model][target][stat], overall[best][target][stat]
            word = "worse" if m > b else "better"
            lines.append(f"- {target} {stat}: the model is **{word}** than the best baseline ({model} "
                         f"{fmt(m)}, {best} {fmt(b)}).")
    best = max(base, key=lambda n: overall[n]["kind_accuracy"])
    m, b = overall[model]["kind_accuracy"], overall[best]["kind_accuracy"]
    lines.append(f"- kind accuracy: the model is **{'worse' if m < b else 'better'}** than the best baseline "
                 f"({model} {fmt(m)}, {best} {fmt(b)}).")
    return lines


def _snr_lo(label: str) -> float:
    """The lower edge in dB of an SNR bin labelled as chirploc.metrics writes it ("-5..0 dB")."""
    return float(label.split("..")[0])


def _kind_at_or_above(est: dict[str, Any], snr_db: float) -> float:
    """An estimator's kind accuracy over the SNR bins from ``snr_db`` up (weighted by their chirps; NaN
    without any)."""
    bins = [b for label, b in est["per_snr"].items() if _snr_lo(label) >= snr_db]
    n = sum(b["n"] for b in bins)
    return sum(b["kind_accuracy"] * b["n"] for b in bins) / n if n else float("nan")


def worse_cells(result: dict[str, Any], lowest_db: float = -5.0) -> list[str]:
    """The kind x SNR cells from ``lowest_db`` up where the model's RMSE of a target exceeds the ridge's."""
    model, ridge = result["estimators"]["model"], result["estimators"]["ridge"]
    out = []
    for kind, bins in model["per_kind_snr"].items():
        for label, cell in bins.items():
            if _snr_lo(label) < lowest_db:
                continue
            for t in TARGETS:
                theirs = ridge["per_kind_snr"][kind][label][t]["rmse"]
                if cell[t]["rmse"] > theirs:
                    out.append(f"{kind} {label} {t} ({fmt(cell[t]['rmse'])} against {fmt(theirs)})")
    return out


def where_it_loses(sets: list[tuple[str, dict[str, Any]]], track: dict[str, Any] | None,
                   ablation: dict[str, Any] | None) -> list[str]:
    """Every place the model is worse than a classical estimator, read off the results files."""
    lines = []
    for name, result in sets:
        e = result["estimators"]
        model = e["model"]["overall"]
        for label, key in (("the ridge tracker", "ridge"), ("the ML estimator (it reads the raw signal)", "ml")):
            theirs = e[key]["overall"]
            worse = [f"{t} {fmt(model[t]['median'])} against {fmt(theirs[t]['median'])}"
                     for t in TARGETS if model[t]["median"] > theirs[t]["median"]]
            if worse:
                lines.append(f"- {name}: medians against {label}: {', '.join(worse)}.")
            mine, other = _kind_at_or_above(e["model"], 0.0), _kind_at_or_above(e[key], 0.0)
            if model["kind_accuracy"] < theirs["kind_accuracy"] or mine < other:
                lines.append(f"- {name}: kind accuracy against {label.split(' (')[0]}, {fmt(model['kind_accuracy'])} "
                             f"against {fmt(theirs['kind_accuracy'])} ({fmt(mine)} against {fmt(other)} from 0 dB).")
        cells = worse_cells(result)
        n = len(e["model"]["per_kind_snr"]) * len(TARGETS) * sum(_snr_lo(label) >= -5.0 for label in e["model"]["per_snr"])
        lines.append(f"- {name}: {len(cells)} of the {n} RMSEs per kind, SNR bin from -5 dB and target above the ridge "
                     f"tracker's" + (": " + "; ".join(cells) + "." if cells else "."))
    if track:
        every, sep = track["kind_all"]["kind_accuracy"], track["separation"]["kind_accuracy"]
        lines.append(f"- The kind is what the image holds: a likelihood-ratio test over the chirp's pixels, given its true "
                     f"start, duration, amplitude and phase, gets {fmt(every[track_precision.IMAGE])} over all SNRs and "
                     f"{fmt(sep[track_precision.IMAGE])} from {track['min_snr_db']:g} dB (\"How far the image tells the "
                     "kinds apart\" below); ML keeps the phase between columns that an image loses.")
    if ablation:
        rows = {(r["frame"], r["variant"].split(":")[-1].strip()): r for r in ablation["rows"]}
        ridge = next((r for (frame, v), r in rows.items() if frame != "default" and v.startswith("ridge")), None)
        for (frame, variant), r in rows.items():
            if (frame != "default" and ridge is not None and not variant.startswith("ridge")
                    and r["median"]["f_start_hz"] > ridge["median"]["f_start_hz"]):
                lines.append(f"- The {frame} frame in the ablation ({variant}, {r['images']:,} images): median f_start "
                             f"{fmt(r['median']['f_start_hz'])} Hz against the ridge tracker's "
                             f"{fmt(ridge['median']['f_start_hz'])} Hz.")
    return lines


def overall_table(result: dict[str, Any]) -> list[str]:
    """One row per estimator over the whole split: RMSE (median) per target, kind accuracy overall and
    at SNR >= 0 dB, and Pearson r of t_start."""
    lines = md_header(["estimator", *[f"{t} RMSE (median)" for t in TARGETS], "kind accuracy",
                       "kind accuracy, SNR >= 0 dB", "Pearson r t_start"])
    for name, stats in result["estimators"].items():
        g = stats["overall"]
        lines.append(md_row([name, *[f"{fmt(g[t]['rmse'])} ({fmt(g[t]['median'])})" for t in TARGETS],
                             fmt(g["kind_accuracy"]), fmt(_kind_at_or_above(stats, 0.0)), f"{g['t_start_s']['pearson_r']:.4f}"]))
    return lines


def generate_speed(record: dict[str, Any]) -> list[str]:
    r = record["results"]
    lines = md_header(["generator", "samples/s per core", "bytes per sample", "projected 100,000 on one core", "per sample vs chirpgen"])
    rows = [("chirpgen (HDF5 shards)", "chirpgen"), ("same images through matplotlib savefig", "matplotlib"),
            ("prior art 0.1.6 (matplotlib figures)", "prior_art")]
    for label, key in rows:
        v = r.get(key)
        if not v:
            continue
        ratio = v["s_per_sample"] / r["chirpgen"]["s_per_sample"]
        lines.append(md_row([label, f"{v['samples_per_s_per_core']:.1f}", f"{v['bytes_per_sample'] / 1e3:.1f} KB",
                           f"{v['s_per_sample'] * 1e5 / 60:.1f} min", f"{ratio:.0f}x slower" if ratio > 1.5 else "1x"]))
    workers = ", ".join(sorted({str(m["workers"]) for m in r["make_full"]}))
    lines += ["", *md_header([f"command ({workers} workers)", "wall time", "samples/s", "peak memory (largest process)", "bytes per sample"])]
    for m in r["make_full"]:
        lines.append(md_row([f"`{m['command']}`", f"{m['wall_s']:.1f} s", f"{m['samples_per_s']:.0f}",
                           f"{m['peak_rss_mb_largest_process']:.0f} MB", f"{m['bytes_per_sample'] / 1e3:.1f} KB"]))
    lines += ["", f"Peak memory grows by a factor {r['memory_growth']:.2f} from the smaller to the larger run."]
    if "storage" in r:
        s = r["storage"]
        lines += ["", *md_header([f"image storage ({s['n']:,} images, one HDF5 chunk each)", "write time per sample",
                                  "bytes per sample"])]
        for label, key in (("uncompressed (sample format 2, what make writes)", "uncompressed"),
                           ("gzip level 1 (sample format 1)", "gzip_1")):
            lines.append(md_row([label, f"{s[key]['s_per_sample'] * 1e3:.3f} ms",
                                 f"{s[key]['bytes_per_sample'] / 1e3:.1f} KB"]))
    return lines


def generate_speed_before(record: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The 100,000-sample run of sample format 1 (gzip images, numpy's FFT) next to today's."""
    def big(rec: dict[str, Any]) -> dict[str, Any]:
        return max(rec["results"]["make_full"], key=lambda m: m["n"])

    b, a = big(record), big(after)
    prov = record["provenance"]
    return [f"Before sample format 2 (chirpgen {prov['versions']['chirpgen']}, commit {prov['git_commit'][:7]}, "
            f"{prov['utc']}, `generate_speed_format1.json`): `{b['command']}` took {b['wall_s']:.1f} s at "
            f"{b['bytes_per_sample'] / 1e3:.1f} KB per sample; now {a['wall_s']:.1f} s at "
            f"{a['bytes_per_sample'] / 1e3:.1f} KB ({b['wall_s'] / a['wall_s']:.2f}x faster)."]


def train_speed(records: list[tuple[str, dict[str, Any]]]) -> list[str]:
    lines = md_header(["recipe", "trainable parameters", "batch", "AMP off images/s", "bf16 autocast images/s", "device, threads"])
    for _, rec in records:
        c, r, p = rec["config"], rec["results"], rec["provenance"]
        amp = next((v for k, v in r.items() if k != "off"), None)
        lines.append(md_row([f"`{c['recipe']}`", f"{c['trainable_params']:,}", str(c["batch_size"]),
                           f"{r['off']['images_per_s']:.1f}", f"{amp['images_per_s']:.1f}" if amp else "-",
                           f"{p.get('device')}, {p.get('torch_threads')}"]))
    return lines


def inference_speed(record: dict[str, Any]) -> list[str]:
    """One row per runtime: in-process throughput and latency, and the describe command in fresh processes."""
    lines = md_header(["runtime", "images/s (batch 256)", "one image (ms)", "`describe one.png`: wall (s)",
                       "peak memory (MB)", f"`describe` a folder of {record['provenance'].get('n_folder', 1000):,} PNGs: images/s"])
    for name, r in record["results"].items():
        for amp, p in r["in_process"].items():
            label = name if amp == "fp32" else f"{name}, bf16 autocast"
            one, folder = r["describe_one_png"], r["describe_folder"]
            cli = [f"{one['wall_s']:.2f}", f"{one['peak_mb']:.0f}", f"{folder['images_per_s']:.0f}"] if amp == "fp32" else ["", "", ""]
            lines.append(md_row([label, f"{p['images_per_s']:.0f}", f"{p['single_image_ms']:.1f}", *cli]))
    return lines


def calibration(record: dict[str, Any]) -> list[str]:
    """The values calibrate.py chose on the val split, with the kind choice's curve."""
    kind = record.get("kind")
    lines = [f"On {record['n']:,} chirps of the {record['split']} split: presence logit offset "
             f"{record['presence']['logit_offset']:.3f} (flags {record['presence']['flag_rate']:.0%} of "
             f"{record['presence']['n_noise']:,} noise-only records), fallback below p_chirp {record['chosen']:g}."]
    if kind:
        tracks = sorted({c.get("track_weight", 0.0) for c in kind["curve"]})
        lines += ["", *md_header(["kind pixel weight (0: the maps alone choose the kind)",
                                  *[f"kind accuracy, track weight {v:g}" for v in tracks]])]
        for w in sorted({c["weight"] for c in kind["curve"]}):
            cells = []
            for v in tracks:
                c = next(c for c in kind["curve"] if c["weight"] == w and c.get("track_weight", 0.0) == v)
                chosen = w == kind["chosen_weight"] and v == kind.get("chosen_track_weight", 0.0)
                cells.append(f"{c['kind_accuracy']:.4f}{' (chosen)' if chosen else ''}")
            lines.append(md_row([f"{w:g}", *cells]))
    evidence = record.get("evidence")
    if evidence:
        from chirploc.fit import FALLBACK_EVIDENCE_OFF

        lines += ["", *md_header(["fallback evidence Z0 (trust of the fit = 1 / (1 + exp(Z0 - Z)))",
                                  *[f"{t} RMSE" for t in TARGETS], "cost"])]
        for c in evidence["curve"]:
            mark = " (chosen)" if c["z0"] == evidence["chosen_z0"] else ""
            z0 = "never (the fit always)" if c["z0"] <= FALLBACK_EVIDENCE_OFF else f"{c['z0']:g}"
            lines.append(md_row([f"{z0}{mark}", *[fmt(c["rmse"][t]) for t in TARGETS], f"{c['cost']:.4f}"]))
    return lines


def decode_steps(record: dict[str, Any]) -> list[str]:
    """Per decode step: overall RMSE (median) per target, kind accuracy, the ridge's share and the time;
    then RMSE of f_start / f_end per SNR bin."""
    lines = md_header(["decode", *[f"{t} RMSE (median)" for t in TARGETS], "kind accuracy", "answered by the ridge",
                       "decode ms / image"])
    for r in record["rows"]:
        g = r["groups"]["overall"]
        lines.append(md_row([r["step"], *[f"{fmt(g[f'rmse_{t}'])} ({fmt(g[f'median_{t}'])})" for t in TARGETS],
                             fmt(g["kind_accuracy"]), f"{r['ridge_share']:.1%}", f"{r['decode_ms_per_image']:.2f}"]))
    bins = [b for b in record["rows"][0]["groups"] if b != "overall"]
    lines += ["", *md_header(["decode", *[f"{b}: f_start / f_end RMSE, kind" for b in bins]])]
    for r in record["rows"]:
        lines.append(md_row([r["step"], *[f"{fmt(r['groups'][b]['rmse_f_start_hz'])} / {fmt(r['groups'][b]['rmse_f_end_hz'])}, "
                                          f"{fmt(r['groups'][b]['kind_accuracy'])}" for b in bins]]))
    return lines + ["", f"On the {record['n']:,} chirps of the first records of the {record['split']} split."]


def detection(record: dict[str, Any]) -> list[str]:
    """Presence against SNR: chirps found per SNR bin, and noise-only images flagged as chirp."""
    lines = md_header(["images", "n", f"share with p_chirp >= {record['threshold']:g}"])
    lines.append(md_row(["noise only (flagged as chirp)", str(record["noise"]["n"]), f"{record['noise']['rate']:.4f}"]))
    lines.append(md_row(["all chirps (found)", str(record["chirps"]["n"]), f"{record['chirps']['rate']:.4f}"]))
    for label, g in record["per_snr"].items():
        lines.append(md_row([f"chirps at {label} (found)", str(g["n"]), f"{g['rate']:.4f}"]))
    return lines


def ablation(record: dict[str, Any]) -> list[str]:
    """One row per variant: what trains, its speed and cost, and its accuracy at the same budget."""
    has_rmse = all("rmse" in r for r in record["rows"])
    lines = md_header(["variant", "trainable parameters", "images/s", "minutes",
                       *[f"{t} median{' (RMSE)' if has_rmse else ''}" for t in TARGETS], "kind accuracy"])
    for r in record["rows"]:
        speed = f"{r['images_per_s']:.0f}" if r["images"] else "-"
        cells = [fmt(r["median"][t]) + (f" ({fmt(r['rmse'][t])})" if has_rmse else "") for t in TARGETS]
        lines.append(md_row([r["variant"], f"{r['trainable_params']:,}", speed, f"{r['minutes']:.1f}", *cells,
                             fmt(r["kind_accuracy"])]))
    trained = [r for r in record["rows"] if r["images"]]
    return lines + ["", f"Each variant trained on {trained[0]['images']:,} images and was scored on the chirps among the "
                    f"first {record['n_test']:,} records of its frame's test split (the benchmark test split, or the "
                    "audio set's)."]


def experiments(records: list[dict[str, Any]]) -> list[str]:
    """The experiment log: one row per recorded run (benchmarks/experiments.py)."""
    lines = md_header(["experiment", "recipe (model changes; epochs x samples)", "minutes", "images/s",
                       "median t_start (s)", "median f_start (Hz)", "median f_end (Hz)", "median duration (s)",
                       "kind acc.", "note"])
    for r in records:
        recipe = r["recipe"]
        model = ", ".join(f"{k}={json.dumps(v)}" for k, v in recipe["model"].items())
        budget = f"{recipe['epochs']} x {recipe['epoch_samples'] or 'all'}"
        decay = recipe.get("decay_epochs", 0)
        if decay:
            budget += ", lr decaying over the last " + ("epoch" if decay == 1 else f"{decay} epochs")
        m = r["median"]
        lines.append(md_row([r["name"], f"{model}; {budget}", f"{r['minutes']:.1f}", f"{r['images_per_s']:.0f}",
                             f"{m['t_start_s']:.3f}", f"{m['f_start_hz']:.3f}", f"{m['f_end_hz']:.3f}",
                             f"{m['duration_s']:.3f}", f"{r['kind_accuracy']:.3f}", r["note"]]))
    return lines


def sections() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    acc = _load("accuracy.json")
    missing = "_No results yet: run `{}`._"
    if acc:
        out["headline"] = [_source(acc, "accuracy.json"), "", *headline(acc), "", *verdict(acc)]
        body = markdown(acc, "benchmarks/results/accuracy.json").split("\n", 1)[1]
        out["accuracy"] = [body.replace("\n## ", "\n### ")]
    else:
        out["headline"] = out["accuracy"] = [missing.format("make bench-full")]
    out["overall_test"] = [*overall_table(acc)] if acc else [missing.format("make bench-full")]
    fresh = _load("accuracy_fresh.json")
    out["fresh"] = [_source(fresh, "accuracy_fresh.json"), "",
                    f"{fresh['n']:,} chirps of a data set made with seed {fresh['dataset_seed']} "
                    f"(`chirpgen make --n 6000 --seed {fresh['dataset_seed']}`, its train split), the same preset:", "",
                    *overall_table(fresh)] if fresh else [
        missing.format("chirpgen make --n 6000 --out data/fresh --seed 31337; python benchmarks/accuracy.py --data "
                       "data/fresh --split train --model chirploc/models/default --out benchmarks/results/accuracy_fresh.json")]
    gen = _load("generate_speed.json")
    before = _load("generate_speed_format1.json")
    out["generate_speed"] = [_source(gen, "generate_speed.json"), "", *generate_speed(gen),
                             *(["", *generate_speed_before(before, gen)] if before else [])] if gen else [
        missing.format("python benchmarks/bench_generate.py")]
    trains = [(f.name, json.loads(f.read_text())) for f in sorted(RESULTS.glob("train_speed_*.json"))]
    out["train_speed"] = [*(_source(rec, name) for name, rec in trains), "", *train_speed(trains)] if trains else [
        missing.format("python benchmarks/bench_train_speed.py")]
    for f in sorted(RESULTS.glob("train_time_*.json")):
        rec = json.loads(f.read_text())
        m = rec["minutes"]
        out["train_speed"] += ["", f"The whole recipe `{rec['recipe']}`, trained by `benchmarks/train_reference.py "
                               f"--no-package` alone on this machine: {m['pretrain']:.1f} min of pretraining epochs "
                               f"and {m['train']:.1f} min of LoRA epochs, {m['total']:.1f} min in all.",
                               _source(rec, f.name)]
    abl = _load("ablation.json")
    out["ablation"] = [_source(abl, "ablation.json"), "", *ablation(abl)] if abl else [
        missing.format("python benchmarks/ablation.py --backbone runs/reference-cpu_dense-pre")]
    steps = _load("decode_steps.json")
    out["decode_steps"] = [_source(steps, "decode_steps.json"), "", *decode_steps(steps)] if steps else [
        missing.format("python benchmarks/decode_steps.py")]
    sep = _load("kind_separation.json")
    out["kind_separation"] = [_source(sep, "kind_separation.json"), "", *kind_separation.markdown(sep)] if sep else [
        missing.format("python benchmarks/kind_separation.py")]
    track = _load("track_precision.json")
    out["track_precision"] = [_source(track, "track_precision.json"), "", *track_precision.markdown(track)] if track else [
        missing.format("python benchmarks/track_precision.py")]
    acc = _load("accuracy.json")
    sets = [(n, r) for n, r in (("test split", acc), ("fresh set", fresh)) if r]
    out["where_it_loses"] = [*(_source(r, f) for r, f in ((acc, "accuracy.json"), (fresh, "accuracy_fresh.json"),
                                                         (track, "track_precision.json"), (abl, "ablation.json")) if r),
                             "", *where_it_loses(sets, track, abl)] if sets else [
        missing.format("python benchmarks/accuracy.py --data data/bench --split test --model chirploc/models/default")]
    rec = _load("recordings.json")
    out["recordings"] = [_source(rec, "recordings.json"), "", *recordings.markdown(rec)] if rec else [
        missing.format("python benchmarks/recordings.py")]
    det = _load("detection.json")
    out["detection"] = [_source(det, "detection.json"), "", *detection(det)] if det else [
        missing.format("python benchmarks/detection.py")]
    cal = _load("calibration.json")
    out["calibration"] = [_source(cal, "calibration.json"), "", *calibration(cal)] if cal else [
        missing.format("python benchmarks/calibrate.py RUN --data DIR")]
    inf = _load("inference_speed_cpu.json")
    out["inference_speed"] = [_source(inf, "inference_speed_cpu.json"), "", *inference_speed(inf)] if inf else [
        missing.format("python benchmarks/bench_inference.py")]
    exp = json.loads((RESULTS / "experiments.json").read_text()) if (RESULTS / "experiments.json").is_file() else []
    out["experiments"] = [*(_source(r, "experiments.json").replace("Source", f"{r['name']}", 1) for r in exp), "",
                          *experiments(exp)] if exp else [missing.format("python benchmarks/experiments.py RUN --name N")]
    return out


def _span(lo_hi: list[float]) -> str:
    return f"{lo_hi[0]:g}-{lo_hi[1]:g}"


def values() -> dict[str, str]:
    """The values of the ``{{name}}`` placeholders inside lines, each read from the file it comes from."""
    bench = read_json(BENCH_DATA, fix="restore it from git or run benchmarks/bench_data.py --record")
    config = load_config(bench["preset"])
    sig = config.signal
    counts = split_counts(bench["n"], config.splits)
    out = {
        "bench_preset": bench["preset"], "bench_seed": str(bench["seed"]), "bench_n": f"{bench['n']:,}",
        **{f"bench_n_{split}": f"{n:,}" for split, n in counts.items()},
        "record_s": f"{sig.record_s:g}", "sample_rate_hz": f"{sig.sample_rate_hz:g}",
        "image_shape": " x ".join(str(n) for n in config.image_shape), "n_kinds": _COUNT_WORDS[len(sig.kinds) - 1],
        "freq_hz": _span(sig.freq_hz), "t_start_s": _span(sig.t_start_s), "duration_s": _span(sig.duration_s),
        "snr_db": f"{sig.snr_db[0]:+g} to {sig.snr_db[1]:+g}",
        "prior_art_pearson_t_start": f"{PRIOR_ART_PEARSON_T_START:g}",
    }
    acc, gen = _load("accuracy.json"), _load("generate_speed.json")
    floor = acc["grid_floor"] if acc else {}  # benchmarks/crb.py grid_floor of the data the tables come from
    for name, key in (("floor_time_s", "time_s"), ("floor_freq_hz", "freq_hz"), ("column_s", "dt_s"), ("bin_hz", "df_hz")):
        out[name] = f"{floor[key]:.3g}" if key in floor else "?"
    out["prior_art_version"] = gen["results"]["prior_art"]["version"] if gen and "prior_art" in gen["results"] else "?"
    import matplotlib  # the matplotlib contestant of bench_generate.py draws a default-sized figure

    width_in, height_in = matplotlib.rcParamsDefault["figure.figsize"]
    dpi = matplotlib.rcParamsDefault["figure.dpi"]
    out["figure_px"] = f"{width_in * dpi:.0f} x {height_in * dpi:.0f}"
    return out


def fill(line: str, known: dict[str, str]) -> str:
    """``line`` with each ``{{name}}`` replaced by ``known[name]``; an unknown name is a ValueError."""

    def value(match: re.Match) -> str:
        if match.group(1) not in known:
            raise ValueError(f"{TEMPLATE.name}: placeholder {match.group(0)} has no value; known: {sorted(known)}")
        return known[match.group(1)]

    return PLACEHOLDER.sub(value, line)


def render() -> str:
    """The README: the template with each ``{{name}}`` line replaced by its section, and each
    ``{{name}}`` inside a line by its value."""
    parts, known = sections(), values()
    lines = []
    for line in TEMPLATE.read_text().splitlines():
        key = line.strip()[2:-2] if line.strip().startswith("{{") and line.strip().endswith("}}") else None
        lines.extend(parts[key] if key in parts else [fill(line, known)])
    header = "<!-- Generated by benchmarks/readme.py from benchmarks/README.in.md and benchmarks/results/; edit those. -->"
    return header + "\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the README")
    args = parser.parse_args(argv)
    try:
        text = render()
    except ValueError as exc:
        parser.exit(1, f"error: {exc}\n")
    write_text_atomic(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
