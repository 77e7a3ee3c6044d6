"""Data sets on disk: determinism, resume, refusal to mix, and the data contract."""

import json
import shutil

import h5py
import numpy as np
import pytest

from chirpgen.config import NO_CHIRP_KIND, load_config
from chirpgen.dataset import make_dataset, split_counts
from chirpgen.export import dataset_info
from chirpgen.sample import make_sample
from chirpgen.shards import DatasetError, read_manifest, read_split, sha256_file

CONFIG = load_config("default")
N = 60


def _hashes(manifest):
    return [(s["file"], s["sha256"]) for s in manifest["shards"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    return out, make_dataset(out, N, CONFIG, seed=5, workers=1, shard_size=16)


def test_shards_follow_the_data_contract(reference):
    out, manifest = reference
    assert manifest["complete"] and manifest["split_counts"] == {"train": 48, "val": 6, "test": 6}
    assert [s["file"] for s in manifest["shards"]] == [
        "train-00000.h5", "train-00001.h5", "train-00002.h5", "val-00000.h5", "test-00000.h5"
    ]
    with h5py.File(out / "train-00001.h5", "r") as f:
        assert f["image"].dtype == np.uint8 and f["image"].shape == (16, 128, 128)
        assert f["image"].chunks == (1, 128, 128) and f["image"].compression is None
        for name in ("t_start_s", "f_start_hz", "f_end_hz", "duration_s", "snr_db"):
            assert f[name].dtype == np.float64 and f[name].shape == (16,)
        assert f["kind"].dtype == np.uint8 and f["index"].dtype == np.int64
        assert f["index"][:].tolist() == list(range(16, 32))
        assert f["freqs_hz"].shape == (128,) and f["times_s"].shape == (128,)
        assert json.loads(f.attrs["kind_names"]) == ["linear", "quadratic", "exponential"]
        assert f.attrs["split"] == "train" and f.attrs["seed"] == 5 and f.attrs["schema_version"] == 1
        assert json.loads(f.attrs["config"]) == CONFIG.to_dict()
        assert "snr_db = 10*log10" in f.attrs["snr_definition"]


def test_any_sample_regenerates_alone(reference):
    out, _ = reference
    data = read_split(out, "train")
    for i in (0, 17, 47):
        s = make_sample(CONFIG, 5, "train", i)
        assert np.array_equal(data["image"][i], s.image)
        assert data["t_start_s"][i] == s.params.t_start_s and data["kind"][i] == s.params.kind


def test_same_seed_same_bytes_other_seed_other_bytes(reference, tmp_path):
    _, ref = reference
    again = make_dataset(tmp_path / "a", N, CONFIG, seed=5, workers=1, shard_size=16)
    other = make_dataset(tmp_path / "b", N, CONFIG, seed=6, workers=1, shard_size=16)
    assert _hashes(again) == _hashes(ref)
    assert all(a[1] != b[1] for a, b in zip(_hashes(other), _hashes(ref), strict=False))


def test_workers_do_not_change_a_byte(reference, tmp_path):
    _, ref = reference
    assert _hashes(make_dataset(tmp_path, N, CONFIG, seed=5, workers=2, shard_size=16)) == _hashes(ref)


def test_shard_size_does_not_change_the_samples(reference, tmp_path):
    out, _ = reference
    make_dataset(tmp_path, N, CONFIG, seed=5, workers=2, shard_size=7)
    for split in ("train", "val", "test"):
        a, b = read_split(out, split), read_split(tmp_path, split)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_splits_never_overlap(reference):
    out, _ = reference
    images = {s: read_split(out, s)["image"].reshape(-1, 128 * 128) for s in ("train", "val", "test")}
    seen = {}
    for split, rows in images.items():
        for row in rows:
            key = row.tobytes()
            assert key not in seen, f"a {split} image repeats one of {seen.get(key)}"
            seen[key] = split


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_run_resumes_to_the_same_bytes(reference, tmp_path, workers):
    _, ref = reference
    done = [0]

    def stop_midway(k):
        done[0] += k
        if done[0] > 20:  # inside the second shard: one complete, one .partial
            raise Interrupt

    with pytest.raises(Interrupt):
        make_dataset(tmp_path, N, CONFIG, seed=5, workers=workers, shard_size=16, progress=stop_midway)
    assert (tmp_path / "train-00000.h5").exists() and not (tmp_path / "train-00001.h5").exists()
    assert not read_manifest(tmp_path)["complete"]
    assert _hashes(make_dataset(tmp_path, N, CONFIG, seed=5, workers=workers, shard_size=16)) == _hashes(ref)
    assert not list(tmp_path.glob("*.partial"))


def test_a_shard_renamed_but_not_recorded_is_verified_and_kept(reference, tmp_path):
    _, ref = reference
    make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    manifest = read_manifest(tmp_path)
    manifest["shards"][1]["sha256"] = None
    manifest["complete"] = False
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert _hashes(make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)) == _hashes(ref)


def test_a_corrupted_shard_is_reported_and_nothing_is_lost(tmp_path):
    make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    victim = tmp_path / "train-00001.h5"
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.h5")}
    with pytest.raises(DatasetError, match=r"train-00001.h5 is corrupt.*delete that file"):
        make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.h5")} == before
    victim.unlink()
    make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    assert read_manifest(tmp_path)["complete"]


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(config=load_config("default", overrides=["signal.noise=pink"])), "another config"),
        (dict(seed=6), "another seed 5"),
        (dict(n=N + 10), "another n"),
        (dict(shard_size=8), "another shard_size"),
    ],
)
def test_refuses_to_mix_another_config_into_a_directory(tmp_path, change, match):
    make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    args = dict(n=N, config=CONFIG, seed=5, shard_size=16) | change
    with pytest.raises(DatasetError, match=match):
        make_dataset(tmp_path, **args)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_data_set_made_before_sample_format_2_is_not_resumed_or_mixed(tmp_path):
    """A manifest without sample_format is format 1 (gzip images, numpy's FFT): make refuses to add to it."""
    make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    manifest = read_manifest(tmp_path)
    del manifest["sample_format"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(DatasetError, match=r"another chirpgen \(sample format 1, this one makes 2\).*new --out"):
        make_dataset(tmp_path, N, CONFIG, seed=5, shard_size=16)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert read_split(tmp_path, "val")["index"].tolist() == list(range(6))  # still readable


@pytest.mark.parametrize("kwargs, match", [(dict(n=0), "n=0"), (dict(n=-3), "n=-3"), (dict(shard_size=0), "shard_size=0")])
def test_rejects_non_positive_sizes(tmp_path, kwargs, match):
    args = dict(n=10, config=CONFIG, shard_size=4) | kwargs
    with pytest.raises(ValueError, match=match):
        make_dataset(tmp_path, **args)
    assert not any(tmp_path.iterdir())


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match="cannot write to output directory .*a-file/data"):
        make_dataset(blocker / "data", 10, CONFIG)


def test_split_counts_add_up():
    for n in (1, 2, 9, 10, 11, 99, 100_000):
        counts = split_counts(n, CONFIG.splits)
        assert sum(counts.values()) == n and min(counts.values()) >= 0
    assert split_counts(100_000, CONFIG.splits) == {"train": 80_000, "val": 10_000, "test": 10_000}


# The config fingerprints were made before signal.p_no_chirp existed and must not change. The shards
# were made by chirpgen 0.2.0 (sample format 2: uncompressed images, scipy's FFT; numpy 2 / h5py 3.16
# as pinned in constraints.txt): default data must not change by a byte unless SAMPLE_FORMAT is raised.
# Another HDF5 may change these too; then regenerate them from that release, not from the code under test.
OLD_CONFIG_SHA256 = {
    "default": "d146d9c4d0ce7b46a3f6880a9dea4fe100de58d2aa3e2e5575b75068204fe099",
    "audio": "bc13e26f0309c7f1356a49079552898e9d7e6ec329c3ccc7267778fa69f757c7",
}
OLD_SHARDS_SHA256 = {  # the reference set: default preset, N = 60, seed 5, shard_size 16
    "train-00000.h5": "859dcbe447ff23cd970cf8165dd8469ce08e6b04768b514a61581c14c69f9593",
    "train-00001.h5": "2c2438c4a999241e97e2ef2c727e6c1b8c46601edc5f3e70cdd113fc5cd617b8",
    "train-00002.h5": "e249e0a8938b0c7286ae76c12f61e533117ed8b5453291aec26fbf3378ad3ba8",
    "val-00000.h5": "12b31a944667e1354c806071475a4bb9e0d7fc8c2ce2d9abbfa202e28460ff84",
    "test-00000.h5": "91819a53dfd0cdc8cfcc808d4d285f2d56466a6eda85f2eb9608af0ec319a6d7",
}
LABELS = ("t_start_s", "f_start_hz", "f_end_hz", "duration_s", "snr_db")


def test_default_data_are_byte_identical_to_the_recorded_ones(reference):
    _, manifest = reference
    assert dict(_hashes(manifest)) == OLD_SHARDS_SHA256
    for preset, sha in OLD_CONFIG_SHA256.items():
        config = load_config(preset)
        assert config.fingerprint() == sha and "p_no_chirp" not in config.to_dict()["signal"]
        assert load_config(preset, overrides=["signal.p_no_chirp=0"]).fingerprint() == sha


def test_schema_1_shards_read_as_having_no_record_without_a_chirp(reference):
    out, manifest = reference
    assert manifest["schema_version"] == 1 and "no_chirp_kind" not in manifest
    with h5py.File(out / "val-00000.h5", "r") as f:
        assert f.attrs["schema_version"] == 1 and "no_chirp_kind" not in f.attrs
    assert all(np.all(read_split(out, split)["kind"] < 3) for split in ("train", "val", "test"))
    assert all(s["kinds"]["none"] == 0 for s in dataset_info(out)["splits"].values())


def test_a_shard_of_a_newer_schema_is_refused_in_one_line(reference, tmp_path):
    out, _ = reference
    shutil.copytree(out, tmp_path / "d")
    with h5py.File(tmp_path / "d" / "test-00000.h5", "a") as f:
        f.attrs["schema_version"] = 3
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())  # as a newer chirpgen would record it
    for s in manifest["shards"]:
        if s["file"] == "test-00000.h5":
            s["sha256"] = sha256_file(tmp_path / "d" / "test-00000.h5")
    (tmp_path / "d" / "manifest.json").write_text(json.dumps(manifest))
    for read in (lambda: read_split(tmp_path / "d", "test"), lambda: dataset_info(tmp_path / "d")):
        with pytest.raises(DatasetError, match=r"test-00000.h5 has schema_version 3, .* reads 1 to 2; upgrade"):
            read()


@pytest.fixture(scope="module")
def no_chirp(tmp_path_factory):
    out = tmp_path_factory.mktemp("no_chirp")
    config = load_config("default", overrides=["signal.p_no_chirp=0.4"])
    return out, config, make_dataset(out, N, config, seed=5, workers=1, shard_size=16)


def test_records_without_a_chirp_have_kind_255_and_nan_labels(no_chirp, reference):
    out, config, manifest = no_chirp
    assert manifest["schema_version"] == 2 and manifest["no_chirp_kind"] == NO_CHIRP_KIND
    assert manifest["config"]["signal"]["p_no_chirp"] == 0.4 and config.fingerprint() != CONFIG.fingerprint()
    with h5py.File(out / "train-00000.h5", "r") as f:
        assert f.attrs["schema_version"] == 2 and f.attrs["no_chirp_kind"] == NO_CHIRP_KIND
        assert json.loads(f.attrs["kind_names"]) == ["linear", "quadratic", "exponential"]
    seen = 0
    for split in ("train", "val", "test"):
        data, ref = read_split(out, split), read_split(reference[0], split)
        none = data["kind"] == NO_CHIRP_KIND
        seen += none.sum()
        for name in LABELS:
            assert np.all(np.isnan(data[name][none])) and np.all(np.isfinite(data[name][~none])), name
        for name in ("image", "kind", *LABELS):  # the records that keep their chirp are the p = 0 ones
            assert np.array_equal(data[name][~none], ref[name][~none]), name
        assert not any(np.array_equal(a, b) for a, b in zip(data["image"][none], ref["image"][none], strict=True))
    assert 0 < seen < N


def test_records_without_a_chirp_do_not_depend_on_workers(no_chirp, tmp_path):
    _, config, manifest = no_chirp
    assert _hashes(make_dataset(tmp_path, N, config, seed=5, workers=2, shard_size=16)) == _hashes(manifest)


@pytest.mark.parametrize(
    "value, shown", [("-0.1", "-0.1"), ("1", "1"), ("1.5", "1.5"), (".nan", "nan"), ("lots", "'lots'")]
)
def test_bad_p_no_chirp_is_rejected_naming_the_value(value, shown):
    with pytest.raises(ValueError, match=rf"^signal.p_no_chirp={shown} must .*in \[0, 1\)"):
        load_config("default", overrides=[f"signal.p_no_chirp={value}"])
