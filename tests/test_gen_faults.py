"""chirpgen under faults: a second writer, a killed writer and its pool workers, parts made apart and
joined, damaged shards and manifests, and bad input refused in one line before any work."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_gen_cli import assert_one_line_error, run

from chirpgen.config import load_config
from chirpgen.dataset import LOCK_FILE, Part, make_dataset, plan_shards
from chirpgen.shards import DatasetError, read_manifest, read_split, sha256_file
from chirpgen.spectrogram import render_image

CONFIG = load_config("default")
N, SHARD, SEED = 60, 10, 7  # 7 shards: train 0-4, val 0, test 0
ARGS = ("--n", N, "--shard-size", SHARD, "--seed", SEED, "--workers", 1, "--quiet")
FILES = [p.file for p in plan_shards(N, CONFIG.splits, SHARD)]
MAKE = [sys.executable, "-m", "chirpgen.cli", "make", "--quiet"]


def _bytes(root, pattern="*"):
    return {p.name: p.read_bytes() for p in Path(root).glob(pattern) if p.is_file()}


def flip_image_byte(path, chunk=3):
    """Damage the pixels of one image, leaving the labels and the HDF5 structure readable."""
    with h5py.File(path, "r") as f:
        info = f["image"].id.get_chunk_info(chunk)
    raw = bytearray(path.read_bytes())
    raw[info.byte_offset + info.size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def _wait_for(condition, timeout_s=30.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def _locked(path, mode=fcntl.LOCK_EX, pid="424242"):
    """Hold ``path`` as another chirpgen make would: flocked, with its pid written in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, mode | fcntl.LOCK_NB)
        fh.seek(0)
        fh.truncate()
        fh.write(pid)
        fh.flush()
        yield


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The data set ARGS make on one machine in one run."""
    out = tmp_path_factory.mktemp("gen-faults") / "ref"
    assert run("make", *ARGS, "--out", out).exit_code == 0
    return out


# --- one writer per directory ------------------------------------------------------------------------


def test_a_second_make_is_refused_at_once_naming_the_holder_and_touches_nothing(reference, tmp_path):
    out = tmp_path / "d"
    make_dataset(out, N, CONFIG, seed=SEED, shard_size=SHARD)
    (out / "train-00002.h5").unlink()
    (out / "train-00002.h5.partial").write_bytes(b"being written by the holder")
    before = _bytes(out)
    with _locked(out / LOCK_FILE):
        for extra in ((), ("--seed", SEED + 1), ("--part", "1/2")):  # the lock is checked before anything else
            start = time.perf_counter()
            result = run("make", *ARGS, "--out", out, *extra)
            assert time.perf_counter() - start < 2.0
            assert_one_line_error(result, "another chirpgen make (pid 424242)", f"writing to '{out}'", "choose another --out")
        with pytest.raises(DatasetError, match="pid 424242"):
            make_dataset(out, N, CONFIG, seed=SEED, shard_size=SHARD)
        assert _bytes(out) == {**before, LOCK_FILE: b"424242"}
    # the holder is gone: the same command completes, its stale .partial replaced by the real shard
    assert run("make", *ARGS, "--out", out).exit_code == 0
    assert not list(out.glob("*.partial")) and _bytes(out, "*.h5") == _bytes(reference, "*.h5")


def test_a_running_make_holds_the_lock_and_a_kill_frees_it(tmp_path):
    out = tmp_path / "d"
    proc = subprocess.Popen([*MAKE, "--n", "40000", "--workers", "1", "--shard-size", "2000", "--out", str(out)])
    try:
        _wait_for(lambda: (out / "train-00000.h5.partial").exists(), what="the first .partial")
        assert (out / LOCK_FILE).read_text() == str(proc.pid)
        start = time.perf_counter()
        result = run("make", "--n", 40000, "--shard-size", 2000, "--seed", 1, "--out", out, "--quiet")
        assert time.perf_counter() - start < 2.0
        assert_one_line_error(result, f"another chirpgen make (pid {proc.pid})", "wait for it to finish")

        def no_work(k):
            raise AssertionError("a second writer got to work")

        with pytest.raises(DatasetError, match=f"pid {proc.pid}"):  # the same arguments: refused too
            make_dataset(out, 40000, CONFIG, shard_size=2000, progress=no_work)
        assert proc.poll() is None and (out / "train-00000.h5.partial").exists()  # the writer went on untouched
    finally:
        proc.kill()
        proc.wait()
    with open(out / LOCK_FILE) as fh:  # the kernel released the flock with the process: no stale lock
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fh, fcntl.LOCK_UN)
    # a new make gets past the lock to the data set check (a rerun completes: the slow tests)
    assert_one_line_error(run("make", "--n", 40000, "--shard-size", 2000, "--seed", 1, "--out", out, "--quiet"), "another seed 0")


def test_startup_removes_only_the_partial_files_of_its_own_shards(reference, tmp_path):
    foreign = {"train-00009.h5.partial": b"not planned", "notes.txt.partial": b"not a shard"}
    for name, data in {**foreign, "train-00002.h5.partial": b"stale, ours"}.items():
        (tmp_path / name).write_bytes(data)
    make_dataset(tmp_path, N, CONFIG, seed=SEED, shard_size=SHARD)
    assert _bytes(tmp_path, "*.partial") == foreign
    assert _bytes(tmp_path, "*.h5") == _bytes(reference, "*.h5")


def test_a_part_removes_only_its_own_partial_files(tmp_path):
    theirs = {"train-00001.h5.partial": b"part 2 of 2 is writing this", "val-00000.h5.partial": b"and this"}
    for name, data in {**theirs, "train-00002.h5.partial": b"stale, part 1's"}.items():
        (tmp_path / name).write_bytes(data)
    manifest = make_dataset(tmp_path, N, CONFIG, seed=SEED, shard_size=SHARD, part=Part(1, 2))
    assert [s["file"] for s in manifest["shards"]] == FILES[0::2]
    assert _bytes(tmp_path, "*.partial") == theirs


def test_parts_share_a_directory_with_each_other_but_not_with_a_whole_run(tmp_path):
    with _locked(tmp_path / LOCK_FILE, fcntl.LOCK_SH, pid="1111"), \
            _locked(tmp_path / ".chirpgen-make.part-1-of-3.lock", pid="2222"):  # part 1/3 is running
        assert_one_line_error(run("make", *ARGS, "--out", tmp_path), "pid 1111")
        assert_one_line_error(run("make", *ARGS, "--out", tmp_path, "--part", "1/3"), "pid 2222")
        assert run("make", *ARGS, "--out", tmp_path, "--part", "2/3").exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("*.h5")) == sorted(FILES[1::3])


# --- pool workers die with the main process (slow: real processes, real data) ------------------------


def _children(pid):
    kids = set()
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        kids.update(int(x) for x in path.read_text().split())
    if not kids:  # kernels without /proc/PID/task/TID/children
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        kids.update(int(x) for x in out.stdout.split())
    return kids


def _alive(pid):
    """Running (a zombie waiting for a reaper that never comes counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _kill_when(cmd, ready, what):
    """Start ``cmd``, wait for ``ready()``, SIGKILL the main process; assert its pool workers follow
    within 3 s. Returns the workers' pids."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = set()
    try:
        _wait_for(lambda: ready() or proc.poll() is not None, timeout_s=120, what=what)
        # the first .partial is opened before the first task starts the pool's workers
        _wait_for(lambda: len(_children(proc.pid)) >= 2 or proc.poll() is not None, what="two pool workers")
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read()}"
        workers = _children(proc.pid)
        assert len(workers) >= 2 and all(_alive(w) for w in workers), workers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 3.0
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "pool workers outlived the SIGKILLed main process"
    finally:
        proc.kill()
        proc.wait()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
    return workers


@pytest.mark.slow
def test_sigkill_of_make_takes_its_pool_workers_along(tmp_path):
    out = tmp_path / "d"
    cmd = [*MAKE, "--n", "40000", "--workers", "2", "--shard-size", "2000", "--out", str(out)]
    workers = _kill_when(cmd, lambda: any(out.glob("*.h5*")), "a shard or .partial")
    assert len(workers) >= 2 and not [w for w in workers if _alive(w)]
    with open(out / LOCK_FILE) as fh:  # raises if any process still holds the directory's lock
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.slow
def test_sigkill_early_and_after_a_shard_then_rerun_gives_the_bytes_of_an_uninterrupted_run(tmp_path):
    out = tmp_path / "d"
    args = ["--n", "6000", "--shard-size", "1000"]
    cmd = [*MAKE, *args, "--workers", "2", "--out", str(out)]
    _kill_when(cmd, lambda: (out / "train-00000.h5.partial").exists(), "the first .partial")
    assert not (out / "train-00000.h5").exists()
    _kill_when(cmd, lambda: (out / "train-00000.h5").exists(), "the first shard")
    assert not read_manifest(out)["complete"]
    subprocess.run(cmd, check=True, capture_output=True)
    assert not list(out.glob("*.partial")) and read_manifest(out)["complete"]
    subprocess.run([*MAKE, *args, "--workers", "1", "--out", str(tmp_path / "ref")], check=True, capture_output=True)
    sha = [[s["sha256"] for s in read_manifest(d)["shards"]] for d in (out, tmp_path / "ref")]
    assert sha[0] == sha[1] and None not in sha[0] and len(sha[0]) == 7
    assert _bytes(out, "*.h5") == _bytes(tmp_path / "ref", "*.h5")


# --- parts: make --part K/N, then join -------------------------------------------------------------------


def _make_part(out, k, n_parts=3, seed=SEED):
    result = run("make", *ARGS[:4], "--seed", seed, "--workers", 1, "--quiet", "--out", out, "--part", f"{k}/{n_parts}")
    assert result.exit_code == 0 and f"wrote part {k}/{n_parts}" in result.output, result.output


def _make_parts(dirs):
    """Part k of len(dirs) into dirs[k - 1]."""
    for k, d in enumerate(dirs, 1):
        _make_part(d, k, len(dirs))


def _assert_same_data_set(out, reference):
    assert _bytes(out, "*.h5") == _bytes(reference, "*.h5")
    assert (out / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()
    assert not list(out.glob("manifest.part-*")) and not list(out.glob(".chirpgen-make.part-*"))


def test_parts_in_one_directory_write_their_own_shards_and_join_to_the_bytes_of_one_run(reference, tmp_path):
    _make_parts([tmp_path] * 3)
    for k in (1, 2, 3):
        part = read_manifest(tmp_path, f"manifest.part-{k}-of-3.json")
        assert [s["file"] for s in part["shards"]] == FILES[k - 1 :: 3] and part["complete"] and part["part"] == [k, 3]
    assert not (tmp_path / "manifest.json").exists()
    result = run("join", tmp_path)
    assert result.exit_code == 0 and f"joined {N} samples in 7 shards" in result.output, result.output
    _assert_same_data_set(tmp_path, reference)
    assert run("info", tmp_path).exit_code == 0


def test_parts_in_separate_directories_join_into_an_empty_one(reference, tmp_path):
    parts = [tmp_path / f"p{k}" for k in (1, 2, 3)]
    _make_parts(parts)
    assert sorted(p.name for p in parts[1].glob("*.h5")) == sorted(FILES[1::3])  # only its own shards
    (tmp_path / "joined").mkdir()
    result = run("join", tmp_path / "joined", parts[2], parts[0], parts[1])
    assert result.exit_code == 0, result.output
    _assert_same_data_set(tmp_path / "joined", reference)
    assert read_split(tmp_path / "joined", "train")["index"].tolist() == list(range(48))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Complete parts 1-3 of 3 of the reference data set, part 3 of another seed, and an incomplete part 3."""
    base = tmp_path_factory.mktemp("parts")
    _make_parts([base / "p1", base / "p2", base / "p3"])
    _make_part(base / "other-seed", 3, seed=SEED + 1)
    seen = [0]

    def stop_after_the_first_shard(k):
        seen[0] += k
        if seen[0] > SHARD:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_dataset(base / "incomplete", N, CONFIG, seed=SEED, shard_size=SHARD, part=Part(3, 3),
                     progress=stop_after_the_first_shard)
    return base


@pytest.mark.parametrize(
    "dirs, fragments",
    [
        (["p1", "p2"], ["parts [3] of 3 are missing", "--part K/3"]),
        (["p1", "p2", "other-seed"], ["part 3 of 3", "other-seed", "another data set"]),
        (["p1", "p2", "incomplete"], ["part 3 of 3", "incomplete", "--part 3/3 again"]),
    ],
)
def test_join_refuses_a_missing_foreign_or_incomplete_part(parts, tmp_path, dirs, fragments):
    out = tmp_path / "out"
    out.mkdir()
    assert_one_line_error(run("join", out, *(parts / d for d in dirs)), *fragments)
    assert not any(out.iterdir())


def test_join_refuses_a_corrupt_shard_of_a_part(parts, tmp_path):
    for d in ("p1", "p2", "p3"):
        shutil.copytree(parts / d, tmp_path / d)
    flip_image_byte(tmp_path / "p2" / FILES[1])
    assert_one_line_error(run("join", tmp_path / "p1", tmp_path / "p2", tmp_path / "p3"), FILES[1], "corrupt")
    assert not (tmp_path / "p1" / "manifest.json").exists() and (tmp_path / "p1" / "manifest.part-1-of-3.json").exists()


def test_a_part_does_not_adopt_the_shards_of_another_seed(reference, tmp_path):
    make_dataset(tmp_path, N, CONFIG, seed=SEED + 1, shard_size=SHARD)
    result = run("make", *ARGS, "--out", tmp_path, "--part", "1/3")  # ARGS has --seed SEED
    if result.exit_code == 0:
        assert {f: (tmp_path / f).read_bytes() for f in FILES[0::3]} == {f: (reference / f).read_bytes() for f in FILES[0::3]}
    else:
        assert_one_line_error(result, "another seed")


def test_join_does_not_overwrite_another_data_set(parts, tmp_path):
    make_dataset(tmp_path, N, CONFIG, seed=SEED + 1, shard_size=SHARD)
    before = _bytes(tmp_path)
    result = run("join", tmp_path, parts / "p1", parts / "p2", parts / "p3")
    assert result.exit_code != 0 and _bytes(tmp_path) == before, result.output


def test_join_without_parts_and_join_into_a_missing_directory(parts, tmp_path):
    assert_one_line_error(run("join", tmp_path), "no part manifests", "--part K/N")
    # a new OUT is made for the parts, and refused while parts are missing
    assert_one_line_error(run("join", tmp_path / "new", parts / "p1"), "parts [2, 3] of 3 are missing", "--part K/3")


# --- every reader verifies the shards ----------------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path):
    """A fresh data set (never verified in this process) with a flipped byte in train-00001.h5."""
    out = tmp_path / "d"
    make_dataset(out, 30, CONFIG, seed=SEED, shard_size=10)
    intact = (out / "train-00001.h5").read_bytes()
    flip_image_byte(out / "train-00001.h5")
    return out, intact


def test_a_flipped_byte_is_named_corrupt_by_read_split_export_and_info(damaged, tmp_path):
    out, intact = damaged
    with pytest.raises(DatasetError, match=r"train-00001\.h5 is corrupt"):
        read_split(out, "train")
    assert read_split(out, "val")["index"].tolist() == [0, 1, 2]  # the damage is named, the rest still reads
    for args in (("export", out, "--split", "train", "--n", 30, "--out", tmp_path / "png"), ("info", out)):
        assert_one_line_error(run(*args), "train-00001.h5 is corrupt", "delete that file")
    assert not (tmp_path / "png" / "labels.csv").exists()
    unverified = run("info", out, "--no-verify")
    assert unverified.exit_code == 0 and "train        24" in unverified.output, unverified.output
    assert "sha256-verified" not in unverified.output
    # the fix the message gives works: delete the file, make again, same bytes
    (out / "train-00001.h5").unlink()
    assert run("make", "--n", 30, "--shard-size", 10, "--seed", SEED, "--workers", 1, "--quiet", "--out", out).exit_code == 0
    assert (out / "train-00001.h5").read_bytes() == intact
    assert "every shard sha256-verified" in run("info", out).output


def test_reading_the_first_samples_reads_no_further_shard(damaged):
    out, _ = damaged
    assert read_split(out, "train", n=5)["index"].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("manifest", ["[]", '{"seed": 0, "split_counts": {}, "shards": []}'])
@pytest.mark.parametrize("command", ["info", "export", "make"])
def test_a_manifest_that_is_not_one_is_one_line(tmp_path, manifest, command):
    (tmp_path / "manifest.json").write_text(manifest)
    args = {
        "info": ("info", tmp_path),
        "export": ("export", tmp_path, "--out", tmp_path / "png"),
        "make": ("make", *ARGS, "--out", tmp_path),
    }[command]
    assert_one_line_error(run(*args), "manifest.json", "lacks config", "not a chirpgen manifest")
    assert (tmp_path / "manifest.json").read_text() == manifest and not list(tmp_path.glob("*.h5"))


@pytest.mark.parametrize(
    "manifest",
    [
        {"config": {}, "seed": 0, "split_counts": {}, "shards": []},
        {"config": {}, "seed": 0, "split_counts": {"train": 1, "val": 0, "test": 0}, "shards": [{}]},
        {"config": {}, "seed": 0, "split_counts": {"train": 1, "val": 0, "test": 0}, "shards": [5]},
    ],
)
def test_a_manifest_with_malformed_entries_is_one_line(tmp_path, manifest):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(run("info", tmp_path), "manifest.json")
    assert_one_line_error(run("export", tmp_path, "--split", "train", "--out", tmp_path / "png"), "manifest.json")


# --- bad input: one line naming the key, before any work ----------------------------------------------------


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--set", "stft.hop=true"], ["stft.hop=True", "integer"]),
        (["--set", "stft.db_range=[.nan,.nan]"], ["stft.db_range", "finite"]),
        (["--set", "signal.sample_rate_hz=.inf"], ["signal.sample_rate_hz=inf", "finite"]),
        (["--set", "signal.sample_rate_hz=abc"], ["signal.sample_rate_hz='abc'"]),
        (["--set", "splits=5"], ["splits"]),
        (["--set", "signal.sample_rate_hz=1e9"], ["signal.sample_rate_hz=1e+09", "samples"]),
        (["--set", "signal=5"], ["'signal'", "section"]),
        (["--seed", 99999999999999999999999], ["seed=99999999999999999999999"]),
        (["--seed", -1], ["seed=-1"]),
        (["--n", 0], ["n=0"]),
        (["--workers", 0], ["workers=0"]),
        (["--part", "4/3"], ["--part '4/3'", "K <= N"]),
        (["--part", "0/3"], ["--part '0/3'"]),
        (["--part", "x"], ["--part 'x'", "K/N"]),
    ],
)
def test_bad_input_is_one_line_naming_the_key_before_any_work(tmp_path, args, fragments):
    out = tmp_path / "d"
    n = [] if "--n" in args else ["--n", 10]
    start = time.perf_counter()
    result = run("make", *n, *args, "--out", out, "--quiet")
    assert time.perf_counter() - start < 2.0
    assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_too_many_shards_are_refused_at_once(tmp_path):
    """In a subprocess with a timeout: planning 10^8 shards would take minutes and gigabytes."""
    out = tmp_path / "d"
    result = subprocess.run([*MAKE, "--n", "100000000", "--shard-size", "1", "--out", str(out)],
                            capture_output=True, text=True, timeout=5)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Error: --n 100000000 with --shard-size 1 would make 100,000,000 shards")
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


# --- a refusal leaves nothing behind ------------------------------------------------------------------------


def test_an_unknown_window_is_refused_by_make_before_out_is_made_and_by_render(tmp_path):
    config = load_config("default", overrides=["stft.window=nonsense"])  # loading a config never imports scipy.signal
    with pytest.raises(ValueError, match=r"stft.window='nonsense' is not a window"):
        make_dataset(tmp_path / "d", 4, config)
    assert not (tmp_path / "d").exists()
    with pytest.raises(ValueError, match=r"stft.window='nonsense' is not a window"):
        render_image(np.zeros(config.signal.n_samples), config)


def test_a_refused_join_makes_no_directory(parts, tmp_path):
    assert_one_line_error(run("join", tmp_path / "new", parts / "p1"), "parts [2, 3] of 3 are missing")
    assert_one_line_error(run("join", tmp_path / "new2", parts / "p1", parts / "p2", parts / "incomplete"),
                          "incomplete")
    assert not (tmp_path / "new").exists() and not (tmp_path / "new2").exists()


def test_a_part_manifest_without_its_part_entry_is_named(parts, tmp_path):
    shutil.copytree(parts / "p2", tmp_path / "p2")
    path = tmp_path / "p2" / "manifest.part-2-of-3.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "part": [1, 3]}))  # not the part its name says
    assert_one_line_error(run("join", tmp_path / "out", parts / "p1", tmp_path / "p2", parts / "p3"),
                          "manifest.part-2-of-3.json", "part entry")


def test_export_of_a_structurally_damaged_shard_names_it_and_writes_no_png(tmp_path):
    out = tmp_path / "d"
    make_dataset(out, 30, CONFIG, seed=SEED, shard_size=10)
    with h5py.File(out / "train-00002.h5", "r+") as f:
        del f["kind"]
    manifest = json.loads((out / "manifest.json").read_text())  # recorded as it is: only its structure is wrong
    manifest["shards"][2]["sha256"] = sha256_file(out / "train-00002.h5")
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = run("export", out, "--split", "train", "--n", 30, "--out", tmp_path / "png")
    assert_one_line_error(result, "train-00002.h5 lacks the dataset 'kind'", "chirpgen make")
    assert not (tmp_path / "png").exists()
    assert_one_line_error(run("info", out), "train-00002.h5 lacks the dataset 'kind'")


def test_a_manifest_whose_sha256_is_not_one_is_refused(tmp_path):
    make_dataset(tmp_path, 4, CONFIG, seed=SEED)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["shards"][0]["sha256"] = "not a sha256"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match=r"manifest.json has a malformed .* shard entry"):
        read_manifest(tmp_path)
