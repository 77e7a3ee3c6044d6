"""Hostile but fair input to every command: wrong types, huge numbers, wrong files, wrong frames,
damaged runs. The standard: one line on stderr naming the bad value (and the fix), a non-zero exit,
no traceback, and nothing already written damaged.

Cases run in a few grouped subprocesses (``_driver``: one Python process runs many invocations of
``chirpgen.cli.main`` / ``chirploc.cli.main``, each with its own stdout and stderr, an uncaught
exception printed as the interpreter would, and a time limit), so the whole module starts four
processes: chirpgen (fast), describe on the packaged numpy model (fast), and torch (slow: trains a
tiny run first). Cases already covered by test_gen_cli, test_gen_faults, test_loc_faults,
test_loc_core, test_loc_engine and test_loc_describe_model are not repeated here.
"""

import datetime
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from conftest import DENSE_TINY
from PIL import Image
from test_gen_cli import assert_one_line_error

from chirpgen.config import load_config
from chirpgen.dataset import Part, make_dataset

TESTS = Path(__file__).resolve().parent
DEFAULT_MODEL = TESTS.parent / "chirploc" / "models" / "default"
TINY_RECIPE = [*DENSE_TINY, "max_train_samples=16", "max_val_samples=2"]
TINY_SETS = [a for s in TINY_RECIPE for a in ("--set", s)]


# --- the driver: many CLI invocations in one process -------------------------------------------------


def _driver() -> None:
    """Read {"cases": [...], "setup": name, "max_memory": bytes} from stdin, run each case's CLI in this
    process, print {id: {"code", "stdout", "stderr"}} as JSON on the real stdout."""
    import contextlib
    import importlib
    import io
    import logging
    import resource
    import signal
    import traceback
    import warnings

    spec = json.load(sys.stdin)
    if spec.get("max_memory"):  # a huge allocation fails at once instead of swapping the machine
        resource.setrlimit(resource.RLIMIT_AS, (spec["max_memory"], spec["max_memory"]))
    if spec.get("setup"):
        globals()[spec["setup"]](*spec.get("setup_args", []))

    class Hang(BaseException):  # not an OSError: the CLI's error handler must not turn it into a line
        pass

    def on_alarm(signum, frame):
        raise Hang(f"the case ran past its time limit of {case.get('timeout', 60)} s")

    signal.signal(signal.SIGALRM, on_alarm)
    results, home = {}, os.getcwd()
    for case in spec["cases"]:
        main = importlib.import_module(f"{case['tool']}.cli").main
        out, err = io.StringIO(), io.StringIO()
        logging.root.handlers.clear()  # chirploc's basicConfig binds a handler to this case's stderr
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            try:
                os.chdir(case.get("cwd") or home)
                signal.alarm(case.get("timeout", 60))
                main(case["args"], prog_name=case["tool"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 - what the interpreter would print for an uncaught one
                traceback.print_exc()
                code = 1
            finally:
                signal.alarm(0)
                os.chdir(home)
        results[case["id"]] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
    print(json.dumps(results), file=sys.__stdout__)


def run_group(cases, base, setup=None, max_memory=None, timeout=240):
    """Run ``cases`` (Case, with {base} replaced by ``base``) in one driver process; results by case id."""
    spec = {
        "cases": [{"id": c.id, "tool": c.tool, "args": [a.replace("{base}", str(base)) for a in c.args],
                   "cwd": c.cwd.replace("{base}", str(base)) if c.cwd else None, "timeout": c.timeout} for c in cases],
        "setup": setup,
        "setup_args": [str(base)],
        "max_memory": max_memory,
    }
    code = f"import sys; sys.path[:0] = [{str(TESTS)!r}]; import test_bad_inputs as t; t._driver()"
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(spec), capture_output=True, text=True,
                          timeout=timeout, cwd=str(TESTS.parent))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {k: SimpleNamespace(**v) for k, v in json.loads(proc.stdout.splitlines()[-1]).items()}


@dataclass
class Case:
    id: str
    tool: str
    args: list[str]
    fragments: list[str]  # each must be in the one error line: the bad value, the key or the file
    forbid: list[str] = field(default_factory=list)  # wrong or garbled words the line must not hold
    cwd: str | None = None
    timeout: int = 60


def _tail(text, lines=12):
    return "\n".join(text.splitlines()[-lines:])


def assert_one_line(result, case):
    assert "Traceback" not in result.stderr, _tail(result.stderr)
    assert_one_line_error(SimpleNamespace(exit_code=result.code, output=result.stderr, exception=None),
                          *case.fragments)
    for word in case.forbid:
        assert word not in result.stderr, result.stderr


def assert_input_error(result, name, *fragments, described=1):
    """describe's documented form for an input it cannot read: one line naming it, the tally, exit 1,
    and the other inputs still described."""
    assert "Traceback" not in result.stderr, _tail(result.stderr)
    assert result.code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("chirploc describe: ") and name in lines[0], lines[0]
    assert lines[1].startswith("chirploc describe: 1 of "), lines[1]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert len(result.stdout.splitlines()) == described, result.stdout


def _resha(folder: Path, name: str) -> None:
    """Record a replaced file's sha256 in checkpoint.json, so that only its content is wrong."""
    info = json.loads((folder / "checkpoint.json").read_text())
    info["sha256"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "checkpoint.json").write_text(json.dumps(info))


def _set_manifest(root: Path, change) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def _reshard(root: Path, file: str) -> None:
    digest = hashlib.sha256((root / file).read_bytes()).hexdigest()
    _set_manifest(root, lambda m: [s.update(sha256=digest) for s in m["shards"] if s["file"] == file])


# --- fixtures: tiny data sets and damaged copies (no torch in this process) ------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-inputs")
    config = load_config("default")
    make_dataset(base / "data", 20, config, seed=1, shard_size=16)  # train 16, val 2, test 2
    make_dataset(base / "audio", 10, load_config("audio"), seed=1, shard_size=16)
    make_dataset(base / "no_val", 4, load_config("default", overrides=["splits={train: 1, val: 0, test: 0}"]))
    make_dataset(base / "part2", 20, config, seed=1, shard_size=16, part=Part(2, 2))

    def copy(name, src="data"):
        shutil.copytree(base / src, base / name)
        (base / name / ".chirpgen-verified.json").unlink(missing_ok=True)
        return base / name

    (copy("text_shard") / "val-00000.h5").write_text("not hdf5")
    _reshard(base / "text_shard", "val-00000.h5")  # a shard that is text, recorded as such
    with h5py.File(copy("no_kind") / "val-00000.h5", "r+") as f:
        del f["kind"]
    with h5py.File(copy("kind7") / "val-00000.h5", "r+") as f:
        f["kind"][0] = 7
    with h5py.File(copy("schema_text") / "val-00000.h5", "r+") as f:
        f.attrs["schema_version"] = "two"
    (copy("missing_shard") / "val-00000.h5").unlink()
    (copy("manifest_empty") / "manifest.json").write_text("")
    _set_manifest(copy("sha_int"), lambda m: m["shards"][0].update(sha256=5))
    _set_manifest(copy("config_unknown"), lambda m: m["config"]["signal"].update(nope=1))
    copy("data_for_package")
    shutil.copytree(base / "part2", base / "part_without_k")
    (base / "part_without_k" / "manifest.part-2-of-2.json").write_text(
        json.dumps({k: v for k, v in json.loads((base / "part2" / "manifest.part-2-of-2.json").read_text()).items()
                    if k != "part"}))
    shutil.copytree(base / "part2", base / "part_text")
    (base / "part_text" / "manifest.part-2-of-2.json").write_text("garbage")
    (base / "h5only").mkdir()
    shutil.copy(base / "data" / "val-00000.h5", base / "h5only")

    (base / "a_file").write_text("x")
    (base / "emptydir").mkdir()
    (base / "cwd").mkdir()
    (base / "binary.yaml").write_bytes(b"\xff\xfe\x00binary")
    (base / "bad.yaml").write_text("a: [1,\n")
    (base / "list.yaml").write_text("- 1\n")
    (base / "sig5.yaml").write_text("signal: 5\n")
    (base / "bogus.yaml").write_text("bogus: 1\n")
    (base / "elsewhere.yaml").write_text("name: elsewhere\n")
    (base / "text.safetensors").write_text("not safetensors")
    (base / "blocked.pth").write_bytes(pickle.dumps({"w": datetime.date(2020, 1, 1)}, protocol=4))

    inputs = base / "in"
    inputs.mkdir()
    Image.fromarray(np.zeros((128, 128), np.uint8), mode="L").save(inputs / "good.png")
    Image.new("L", (20000, 10000)).save(inputs / "bomb.png")  # 200 M pixels, 190 KB of PNG
    rng = np.random.default_rng(0)
    np.save(inputs / "loud.npy", rng.standard_normal(256 * 30) * 1e307)  # finite, beyond float32
    np.save(inputs / "no_columns.npy", np.ones((2, 0)))
    np.save(inputs / "short.npy", rng.standard_normal(1000))
    (inputs / "TEXT.WAV").write_text("not a wav")
    np.save(inputs / "complex.npy", np.ones(100, complex))
    np.save(inputs / "str.npy", np.array(["a", "b"]))
    np.save(inputs / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(inputs / "three_d.npy", np.ones((2, 3, 4)))
    Image.fromarray(np.zeros((128, 128), np.uint16)).save(inputs / "grey16.png")
    Image.fromarray(np.zeros((128, 128), bool)).save(inputs / "mode1.png")
    Image.fromarray(np.zeros((128, 128), np.float32), mode="F").save(inputs / "float.tiff")
    (inputs / "folder.wav").mkdir()
    (inputs / "text.jpg").write_text("not a jpeg")
    (inputs / "empty.png").write_bytes(b"")
    png = (inputs / "good.png").read_bytes()
    (inputs / "truncated.png").write_bytes(png[: len(png) // 2])
    os.symlink("loop.png", inputs / "loop.png")

    def model(name):
        shutil.copytree(DEFAULT_MODEL, base / name)
        return base / name

    (model("model_head_text") / "best" / "head.safetensors").write_text("not safetensors")
    _resha(base / "model_head_text" / "best", "head.safetensors")
    (model("model_audio_frame") / "frame.json").write_text(json.dumps(load_config("audio").to_dict()))
    info = json.loads((model("model_sha_list") / "best" / "checkpoint.json").read_text())
    (base / "model_sha_list" / "best" / "checkpoint.json").write_text(json.dumps({**info, "sha256": [1]}))
    return base


# --- chirpgen ----------------------------------------------------------------------------------------------


def make(name, *args):
    return ["make", "--quiet", "--workers", "1", "--n", "4", "--out", f"{{base}}/out/{name}", *args]


GEN_CASES = [
    Case("set_kinds_a_string", "chirpgen", make("k", "--set", "signal.kinds=linear"), ["signal.kinds"]),
    Case("set_noise_unknown", "chirpgen", make("n", "--set", "signal.noise=brown"), ["signal.noise='brown'", "white"]),
    Case("set_snr_swapped", "chirpgen", make("s", "--set", "signal.snr_db=[10, 0]"), ["signal.snr_db", "swap"]),
    Case("set_sweep_negative", "chirpgen", make("w", "--set", "signal.max_sweep_hz=-1"), ["signal.max_sweep_hz=-1"]),
    Case("set_window_over_nfft", "chirpgen", make("l", "--set", "stft.window_len=512"), ["stft.window_len=512", "nfft"]),
    Case("set_hop_past_record", "chirpgen", make("h", "--set", "stft.hop=100000000"), ["stft.hop=100000000"]),
    Case("set_split_a_bool", "chirpgen", make("b", "--set", "splits.test=true"), ["splits.test=True"]),
    Case("set_start_negative", "chirpgen", make("t", "--set", "signal.t_start_s=[-5, 10]"), ["signal.t_start_s"]),
    Case("set_key_inside_a_value", "chirpgen", make("v", "--set", "signal.noise.x=1"), ["signal.noise.x=1", "section"]),
    Case("set_without_key", "chirpgen", make("e", "--set", "=pink"), ["'=pink'", "KEY=VALUE"]),
    Case("set_unknown_section", "chirpgen", make("u", "--set", "foo.bar=1"), ["foo"]),
    Case("config_missing", "chirpgen", make("c1", "--config", "{base}/missing.yaml"), ["missing.yaml", "does not exist"]),
    Case("config_malformed", "chirpgen", make("c2", "--config", "{base}/bad.yaml"), ["bad.yaml", "not valid YAML"]),
    Case("config_a_list", "chirpgen", make("c3", "--config", "{base}/list.yaml"), ["list.yaml", "mapping"]),
    Case("config_unknown_section", "chirpgen", make("c4", "--config", "{base}/bogus.yaml"), ["bogus"]),
    Case("part_three_numbers", "chirpgen", make("p1", "--part", "1/2/3"), ["--part '1/2/3'", "K/N"]),
    Case("part_too_many", "chirpgen", make("p2", "--part", "1/1000000"), ["--part '1/1000000'"]),
    Case("out_holds_h5_but_no_manifest", "chirpgen", ["make", "--quiet", "--n", "4", "--out", "{base}/h5only"],
         ["h5only", "manifest.json"]),
    Case("info_manifest_empty", "chirpgen", ["info", "{base}/manifest_empty"], ["manifest.json", "not valid JSON"]),
    Case("export_out_under_a_file", "chirpgen", ["export", "{base}/data", "--n", "1", "--out", "{base}/a_file/x"],
         ["a_file/x", "--out"]),
    Case("export_empty_split", "chirpgen", ["export", "{base}/no_val", "--split", "val", "--out", "{base}/out/ev"],
         ["split 'val'", "no samples"]),
    Case("join_part_dir_missing", "chirpgen", ["join", "{base}/out/j1", "{base}/nothing"], ["nothing", "not a directory"]),
    Case("join_part_manifest_not_json", "chirpgen", ["join", "{base}/out/j2", "{base}/part_text"],
         ["manifest.part-2-of-2.json", "not valid JSON"]),
    Case("config_binary", "chirpgen", make("x1", "--config", "{base}/binary.yaml"), ["binary.yaml"]),
    Case("config_section_a_number", "chirpgen", make("x2", "--config", "{base}/sig5.yaml"), ["signal"],
         forbid=["after **", "unknown config key"]),
    Case("set_kinds_a_number", "chirpgen", make("x3", "--set", "signal.kinds=5"), ["signal.kinds"]),
    Case("set_snr_overflow", "chirpgen", make("x4", "--set", "signal.snr_db=[4000, 4000]"), ["signal.snr_db"]),
    Case("set_window_a_list", "chirpgen", make("x5", "--set", "stft.window=[kaiser, 8]"), ["stft.window"]),
    Case("set_window_unknown", "chirpgen", make("x6", "--set", "stft.window=nonsense"), ["stft.window"]),
    Case("set_sweep_zero", "chirpgen", make("x7", "--set", "signal.max_sweep_hz=0"), ["signal.max_sweep_hz"],
         timeout=8),
    Case("preset_a_path", "chirpgen", make("x8", "--preset", "{base}/elsewhere"), ["preset"]),
    Case("n_not_a_number", "chirpgen", ["make", "--n", "abc", "--out", "{base}/out/x9"], ["--n", "abc"]),
    Case("export_split_unknown", "chirpgen", ["export", "{base}/data", "--split", "all", "--out", "{base}/out/e2"],
         ["--split", "all"]),
    Case("join_out_a_file", "chirpgen", ["join", "{base}/a_file", "{base}/part2"], ["a_file"]),
    Case("info_shard_missing", "chirpgen", ["info", "{base}/missing_shard"], ["val-00000.h5", "chirpgen make"]),
    Case("info_unverified_text_shard", "chirpgen", ["info", "{base}/text_shard", "--no-verify"], ["val-00000.h5"]),
    Case("info_unverified_shard_without_kind", "chirpgen", ["info", "{base}/no_kind", "--no-verify"],
         ["val-00000.h5"]),
    Case("info_unverified_kind_7", "chirpgen", ["info", "{base}/kind7", "--no-verify"], ["val-00000.h5"]),
    Case("info_unverified_schema_text", "chirpgen", ["info", "{base}/schema_text", "--no-verify"], ["val-00000.h5"]),
    Case("info_manifest_sha_a_number", "chirpgen", ["info", "{base}/sha_int"], ["manifest.json"]),
    Case("info_manifest_config_unknown_key", "chirpgen", ["info", "{base}/config_unknown"], ["manifest.json"]),
    Case("join_part_manifest_without_part", "chirpgen", ["join", "{base}/out/j3", "{base}/part_without_k"],
         ["manifest.part-2-of-2.json"]),
]


@pytest.fixture(scope="module")
def gen_results(world):
    return run_group(GEN_CASES, world)


@pytest.mark.parametrize("case", GEN_CASES, ids=lambda c: c.id)
def test_chirpgen_bad_input_is_one_line_naming_it(gen_results, case):
    assert_one_line(gen_results[case.id], case)


def test_a_refused_make_leaves_no_directory_behind(gen_results, world):
    # an incomplete manifest are written; the same command with a good value is then refused ("another config")
    assert gen_results["set_window_unknown"].code != 0
    assert not (world / "out" / "x6").exists()
    assert not (world / "out" / "x4" / "manifest.json").exists()


def test_a_refused_join_and_info_change_nothing(gen_results, world):
    assert gen_results["join_part_manifest_not_json"].code != 0
    assert sorted(p.name for p in (world / "part_text").iterdir()) == sorted(p.name for p in (world / "part2").iterdir())
    assert sorted(p.name for p in (world / "h5only").iterdir() if p.suffix == ".h5") == ["val-00000.h5"]


# --- chirploc describe on the packaged default model (numpy runtime: no torch) -------------------------------

IN = "{base}/in"
READ_ONE_BY_ONE = ["TEXT.WAV", "complex.npy", "str.npy", "obj.npy", "three_d.npy", "grey16.png", "mode1.png",
                   "float.tiff", "folder.wav", "text.jpg", "empty.png", "truncated.png", "loop.png"]

DESCRIBE_CASES = [
    Case("model_a_data_set", "chirploc", ["describe", f"{IN}/good.png", "--model", "{base}/data"], ["config.json"]),
    Case("model_a_file", "chirploc", ["describe", f"{IN}/good.png", "--model", "{base}/a_file"], ["a_file", "is a file"]),
    Case("rate_tiny", "chirploc", ["describe", f"{IN}/short.npy", "--rate", "1e-6"], ["rate"]),
    Case("rate_far_too_small", "chirploc", ["describe", f"{IN}/short.npy", "--rate", "1e-300"], ["rate"]),
    Case("model_head_not_safetensors", "chirploc", ["describe", f"{IN}/good.png", "--model", "{base}/model_head_text"],
         ["head.safetensors"]),
    Case("model_frame_of_another_model", "chirploc",
         ["describe", f"{IN}/good.png", "--model", "{base}/model_audio_frame"], ["frame.json"]),
    Case("model_checkpoint_sha_a_list", "chirploc", ["describe", f"{IN}/good.png", "--model", "{base}/model_sha_list"],
         ["checkpoint.json"]),
    Case("plot_into_a_file", "chirploc", ["describe", f"{IN}/good.png", f"{IN}/good.png", "--plot", "{base}/a_file"],
         ["--plot"]),
    Case("scale_unknown", "chirploc", ["describe", f"{IN}/good.png", "--scale", "loud"], ["--scale", "loud"]),
]
PER_INPUT = [
    Case("each_unreadable_input", "chirploc", ["describe", f"{IN}/good.png", *(f"{IN}/{n}" for n in READ_ONE_BY_ONE)], []),
    Case("bomb", "chirploc", ["describe", f"{IN}/good.png", f"{IN}/bomb.png"], []),
    Case("no_columns", "chirploc", ["describe", f"{IN}/good.png", f"{IN}/no_columns.npy"], []),
    # a loud file is described like any other: the noise scaling makes the description gain-invariant
    Case("loud", "chirploc", ["describe", f"{IN}/good.png", f"{IN}/loud.npy"], []),
]


@pytest.fixture(scope="module")
def describe_results(world):
    return run_group(DESCRIBE_CASES + PER_INPUT, world, max_memory=4 << 30)


@pytest.mark.parametrize("case", DESCRIBE_CASES, ids=lambda c: c.id)
def test_describe_bad_option_or_model_is_one_line_naming_it(describe_results, case):
    assert_one_line(describe_results[case.id], case)


@pytest.mark.parametrize("name", READ_ONE_BY_ONE)
def test_describe_names_each_unreadable_input_once(describe_results, world, name):
    result = describe_results["each_unreadable_input"]
    assert "Traceback" not in result.stderr and result.code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == f"chirploc describe: {len(READ_ONE_BY_ONE)} of {len(READ_ONE_BY_ONE) + 1} inputs could not be described"
    assert len(lines) == len(READ_ONE_BY_ONE) + 1, result.stderr
    mine = [line for line in lines if line.startswith(f"chirploc describe: {world}/in/{name} ")]
    assert len(mine) == 1, lines
    assert result.stdout.startswith(f"{world}/in/good.png: ")


@pytest.mark.parametrize(("case", "forbid"), [("bomb", None), ("no_columns", "NaN")])
def test_describe_a_hostile_file_is_named_and_the_others_described(describe_results, case, forbid):
    result = describe_results[case]
    name = next(c for c in PER_INPUT if c.id == case).args[-1].rsplit("/", 1)[-1]
    assert_input_error(result, name)
    if forbid:
        assert forbid not in result.stderr


def test_describe_a_loud_recording_like_any_other(describe_results, world):
    """Samples near 1e307 are finite: divided by their noise level they are described, without warnings."""
    result = describe_results["loud"]
    assert result.code == 0 and result.stderr == "", result.stderr
    assert f"{world}/in/loud.npy: " in result.stdout and "divided by its noise level" in result.stdout


# --- chirploc train, pretrain, evaluate, package (torch: one process, after a tiny training) ----------------


def _setup_runs(base):
    """In the driver: train a tiny dense run (16 records, 1 epoch) and make damaged copies of it."""
    from chirploc.config import load_train_config
    from chirploc.train import train

    base = Path(base)
    run = base / "runs" / "run"
    train(base / "data", run, load_train_config(None, TINY_RECIPE))

    def copy(name):
        shutil.copytree(run, base / name)
        return base / name

    (copy("run_config_garbage") / "config.json").write_text("garbage")
    (copy("run_config_list") / "config.json").write_text("[1, 2]")
    (copy("run_state_garbage") / "last" / "train_state.pt").write_text("garbage")
    _resha(base / "run_state_garbage" / "last", "train_state.pt")
    (copy("run_normalisation_bad") / "normalisation.json").write_text('{"targets": 5}')
    copy("run_to_resume")
    copy("run_for_other_frame")


def train_args(out, *args, data="data"):
    out = out if out.startswith("{base}") else f"{{base}}/out/{out}"
    return ["train", "--no-progress", "--data", f"{{base}}/{data}", "--out", out, *TINY_SETS, *args]


def resume_args(run, *args, data="data"):
    return ["train", "--no-progress", "--data", f"{{base}}/{data}", "--out", f"{{base}}/{run}", "--resume", *args]


RUN = "{base}/runs/run"
LOC_CASES = [
    Case("backbone_not_safetensors", "chirploc", train_args("t1", "--backbone", "{base}/text.safetensors"),
         ["text.safetensors"]),
    Case("backbone_folder_without_weights", "chirploc", train_args("t2", "--backbone", "{base}/emptydir"),
         ["emptydir", "backbone.safetensors"]),
    Case("train_out_a_file", "chirploc", train_args("{base}/a_file"), ["a_file"]),
    Case("train_no_val_split", "chirploc", train_args("t4", data="no_val"), ["'val'"]),
    Case("evaluate_another_frame", "chirploc", ["evaluate", RUN, "--data", "{base}/audio", "--out", "{base}/out/e1"],
         ["audio", "another frame"]),
    Case("evaluate_out_a_file", "chirploc", ["evaluate", RUN, "--data", "{base}/data", "--out", "{base}/a_file"],
         ["a_file"]),
    Case("arch_a_number", "chirploc", train_args("x1", "--set", "model.arch=5"), ["model.arch"]),
    Case("patch_size_zero", "chirploc",
         train_args("x2", "--set", "model.model_kwargs={embed_dim: 16, depth: 1, num_heads: 2, patch_size: 0}"),
         ["patch_size"]),
    Case("embed_dim_zero", "chirploc",
         train_args("x3", "--set", "model.model_kwargs={embed_dim: 0, depth: 1, num_heads: 2, patch_size: [128, 2]}"),
         ["embed_dim"]),
    Case("head_hidden_huge", "chirploc", train_args("x4", "--set", "model.head_hidden=1000000000"),
         ["model.head_hidden"]),
    Case("num_threads_huge", "chirploc", train_args("x5", "--set", "num_threads=1000000000000"), ["num_threads"]),
    Case("recipe_binary", "chirploc", train_args("x6", "--config", "{base}/binary.yaml"), ["binary.yaml"]),
    Case("backbone_unsafe_pickle", "chirploc", train_args("x7", "--backbone", "{base}/blocked.pth"), ["blocked.pth"]),
    Case("resume_config_not_json", "chirploc", resume_args("run_config_garbage"), ["config.json"]),
    Case("resume_config_a_list", "chirploc", resume_args("run_config_list"), ["config.json"]),
    Case("resume_another_frame", "chirploc", resume_args("run_for_other_frame", data="audio"), ["another frame"]),
    Case("resume_state_not_torch", "chirploc", resume_args("run_state_garbage"), ["train_state.pt"]),
    Case("resume_with_other_settings", "chirploc",
         resume_args("run_to_resume", "--set", "epochs=3", "--seed", "7"), ["--resume"]),
    Case("evaluate_normalisation_bad", "chirploc",
         ["evaluate", "{base}/run_normalisation_bad", "--data", "{base}/data", "--out", "{base}/out/e2"],
         ["normalisation.json"]),
    Case("evaluate_text_shard", "chirploc",
         ["evaluate", RUN, "--data", "{base}/text_shard", "--split", "val", "--out", "{base}/out/e3"], ["val-00000.h5"]),
    # the current folder is never replaced
    Case("package_out_dot", "chirploc", ["package", RUN, "--out", "."], ["--out"], cwd="{base}/cwd"),
    Case("package_out_a_data_set", "chirploc", ["package", RUN, "--out", "{base}/data_for_package"], ["--out"]),
    Case("package_out_the_runs_folder", "chirploc", ["package", RUN, "--out", "{base}/runs"], ["--out"]),
]


@pytest.fixture(scope="module")
def loc_results(world):
    return run_group(LOC_CASES, world, setup="_setup_runs", max_memory=8 << 30, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("case", LOC_CASES, ids=lambda c: c.id)
def test_chirploc_bad_input_is_one_line_naming_it(loc_results, case):
    assert_one_line(loc_results[case.id], case)


@pytest.mark.slow
def test_package_never_deletes_a_folder_it_did_not_write(loc_results, world):
    assert loc_results["package_out_a_data_set"].code != 0
    assert (world / "data_for_package" / "manifest.json").is_file()
    assert (world / "runs" / "run" / "config.json").is_file()


@pytest.mark.slow
def test_a_refused_train_leaves_no_half_written_run(loc_results, world):
    assert loc_results["train_no_val_split"].code != 0
    assert not (world / "out" / "t4" / "config.json").exists()
