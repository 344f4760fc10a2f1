"""The module format: atomic saves that never lose the last good model, and loud failures on bad directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import microgpt
from microgpt import Classifier, ModuleFormatError


@pytest.fixture(scope="module")
def nano_model(helpdesk_split):
    return Classifier("nano").fit(helpdesk_split[0])


def test_manifest_records_what_a_user_needs(nano_model, tmp_path):
    nano_model.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "microgpt.json").read_text())
    assert manifest["format"] == "microgpt-module" and manifest["format_version"] == 1
    assert manifest["task"] == "classify" and manifest["tier"] == "nano"
    assert manifest["labels"] == nano_model.labels_
    assert len(manifest["data"]["fingerprint"]) == 64 and manifest["data"]["n_examples"] == 300
    assert manifest["config"]["nano"]["c"] == 1.0
    assert {"python", "numpy", "scikit-learn"} <= set(manifest["versions"])
    assert set(manifest["files"]) == {"nano.json", "nano.safetensors", "train_texts.sha1"}  # digests: issue 12
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in (tmp_path / "m").rglob("*"))


def test_failed_save_keeps_the_last_good_module(nano_model, tmp_path, monkeypatch):
    path = tmp_path / "m"
    nano_model.save(path)
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def crash(directory):
        (directory / "nano.json").write_text("{half")
        raise OSError("disk full")

    monkeypatch.setattr(nano_model.engine_, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        nano_model.save(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary directories left behind
    microgpt.load(path)


def test_overwrite_replaces_module(nano_model, helpdesk_split, tmp_path):
    path = tmp_path / "m"
    nano_model.save(path)
    other = Classifier("nano", nano={"c": 2.0}).fit(helpdesk_split[0])
    other.save(path)
    assert microgpt.load(path).get_params()["nano"]["c"] == 2.0


def test_refuses_to_overwrite_a_foreign_directory(nano_model, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(ModuleFormatError, match="not a MicroGPT module; refusing"):
        nano_model.save(tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"meow"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "microgpt.json").unlink(), "not a MicroGPT module"),
        (lambda p: (p / "microgpt.json").write_text("{not json"), "corrupt"),
        (lambda p: (p / "nano.safetensors").write_bytes(b"truncated"), "checksum"),
        (lambda p: (p / "nano.json").unlink(), "missing nano.json"),
    ],
)
def test_corrupt_module_fails_with_a_message(nano_model, tmp_path, damage, message):
    nano_model.save(tmp_path / "m")
    damage(tmp_path / "m")
    with pytest.raises(ModuleFormatError, match=message) as err:
        microgpt.load(tmp_path / "m")
    assert err.value.hint


def test_newer_format_names_the_writer_version(nano_model, tmp_path):
    nano_model.save(tmp_path / "m")
    manifest_path = tmp_path / "m" / "microgpt.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest["versions"]["microgpt"] = "9.0.0"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModuleFormatError, match="written by microgpt 9.0.0") as err:
        microgpt.load(tmp_path / "m")
    assert "upgrade" in err.value.hint


def test_missing_path_and_file_path(tmp_path):
    with pytest.raises(ModuleFormatError, match="no module at"):
        microgpt.load(tmp_path / "nothing")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModuleFormatError, match="is a file"):
        microgpt.load(tmp_path / "f")


def test_predictions_survive_round_trip_exactly(nano_model, helpdesk_split, tmp_path):
    nano_model.save(tmp_path / "m")
    loaded = microgpt.load(tmp_path / "m")
    texts = helpdesk_split[1].texts
    assert np.array_equal(loaded.predict_proba(texts), nano_model.predict_proba(texts))


def test_issue_17_a_module_left_aside_by_a_crash_between_the_renames_is_restored(nano_model, tmp_path, caplog):
    path = tmp_path / "m"
    nano_model.save(path)
    os.rename(path, tmp_path / ".m.old-1a2b3c4d")  # what a kill between the two renames of a save leaves
    model = microgpt.load(path)
    assert model.labels_ == nano_model.labels_ and path.is_dir()
    assert "restored" in caplog.text and not list(tmp_path.glob(".m.old-*"))


def test_issue_17_a_resave_swaps_atomically_and_cleans_stale_temporary_dirs(nano_model, tmp_path):
    path = tmp_path / "m"
    nano_model.save(path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".m.tmp-{dead.pid}-deadbeef"  # a save killed mid-way
    (stale / "encoder").mkdir(parents=True)
    (stale / "encoder" / "big.bin").write_bytes(b"0" * 1000)
    nano_model.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    microgpt.load(path)


def test_issue_17_a_resave_keeps_the_users_own_files(nano_model, tmp_path):
    path = tmp_path / "m"
    nano_model.save(path)
    (path / "NOTES.md").write_text("trained on the March export")
    (path / "data").mkdir()
    (path / "data" / "train.csv").write_text("text,label\n")
    nano_model.save(path)
    assert (path / "NOTES.md").read_text() == "trained on the March export"
    assert (path / "data" / "train.csv").exists()
    microgpt.load(path)


def test_issue_17_an_unwritable_out_fails_before_training(helpdesk, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(Classifier, "fit", never)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModuleFormatError, match="is a file"):
        microgpt.train(helpdesk, out=tmp_path / "file")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("x")
    with pytest.raises(ModuleFormatError, match="not a MicroGPT module"):
        microgpt.train(helpdesk, out=tmp_path / "foreign")
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(ModuleFormatError, match="not writable"):
            microgpt.train(helpdesk, out=ro / "m")
