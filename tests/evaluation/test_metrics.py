"""Metrics match hand-computed values; evaluate() writes the report files into the module."""

from __future__ import annotations

import json

import pytest

import microgpt
from microgpt.evaluation.metrics import classification_metrics, tagging_metrics


def test_classification_metrics_by_hand():
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    m = classification_metrics(gold, pred)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # a: P 1/2 R 1/2 F 1/2; b: P 2/3 R 1 F 0.8; c: F 0
    assert m["per_label"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["top_confusions"][0]["count"] == 1 and len(m["top_confusions"]) == 2


def test_tagging_metrics_by_hand():
    gold = [["x", "y"], ["x"], []]
    pred = [["x"], ["x", "z"], []]
    m = tagging_metrics(gold, pred)
    # tp 2, fp 1 (z), fn 1 (y) → micro-F1 = 4 / 6
    assert m["micro_f1"] == pytest.approx(4 / 6)
    assert m["exact_match"] == pytest.approx(1 / 3)
    assert m["per_label"]["y"]["recall"] == 0.0


def test_evaluate_writes_report_into_module(helpdesk_split, tmp_path):
    train, test = helpdesk_split
    model = microgpt.train(train, tier="nano", out=tmp_path / "m")
    report = microgpt.evaluate(model, test)
    m = report["metrics"]
    assert 0.6 < m["accuracy"] <= 1 and 0 < m["macro_f1"] <= 1
    assert m["accuracy"] == pytest.approx(model.score(test))
    saved = json.loads((tmp_path / "m" / "report.json").read_text())
    assert saved["metrics"]["accuracy"] == m["accuracy"]
    md = (tmp_path / "m" / "REPORT.md").read_text()
    assert "| accuracy |" in md and "## Per label" in md and "## Top confusions" in md
    manifest = json.loads((tmp_path / "m" / "microgpt.json").read_text())
    assert manifest["metrics"]["accuracy"] == m["accuracy"]
    microgpt.load(tmp_path / "m")  # the manifest update keeps the module loadable (file hashes untouched)
