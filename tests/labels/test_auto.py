"""The auto tier: trains every candidate, keeps the best within the latency budget, and says why in the report."""

from __future__ import annotations

import pytest

import microgpt
from microgpt import Classifier
from microgpt.data.records import Dataset
from tests.conftest import TINY_MICRO

pytestmark = pytest.mark.slow


def test_auto_reports_every_candidate_and_its_choice(helpdesk_split, tmp_path):
    train, test = helpdesk_split
    model = Classifier("auto", micro=TINY_MICRO).fit(train)
    report = model.auto_report_
    assert {c["tier"] for c in report["candidates"]} == {"nano", "micro"}
    best = max(report["candidates"], key=lambda c: c["accuracy"])
    assert report["chosen"] == model.engine_.tier == best["tier"]
    assert "highest dev accuracy" in report["why"]
    model.save(tmp_path / "m")
    microgpt.evaluate(model, test)
    md = (tmp_path / "m" / "REPORT.md").read_text()
    assert "## Why this tier (auto)" in md and report["why"] in md
    assert microgpt.load(tmp_path / "m").auto_report_ == report


def test_latency_budget_excludes_slow_tiers(helpdesk_split):
    train, _ = helpdesk_split
    model = Classifier("auto", micro=TINY_MICRO, auto={"latency_budget_ms": 1.0}).fit(train)
    report = model.auto_report_
    micro = next(c for c in report["candidates"] if c["tier"] == "micro")
    assert not micro["within_budget"]  # a transformer forward pass takes milliseconds
    assert report["chosen"] == "nano" and "1.0 ms p50 budget" in report["why"]


def test_no_tier_within_budget_falls_back_to_the_fastest(helpdesk_split):
    model = Classifier("auto", auto={"latency_budget_ms": 1e-6, "candidates": ["nano"]}).fit(helpdesk_split[0])
    assert model.auto_report_["chosen"] == "nano" and "no tier met" in model.auto_report_["why"]


def test_issue_14_few_examples_a_label_take_the_few_shot_path(helpdesk, tmp_path):
    """5 examples a label: micro on every example plus the label names, said in the report; codes are not names."""
    from microgpt.labels.fewshot import label_name_text

    assert label_name_text("card_arrival") == "card arrival"
    assert label_name_text("lostOrStolenCard") == "lost or stolen card"
    assert label_name_text("A12") is None and label_name_text("L3") is None
    by_label: dict[str, list] = {}
    for e in helpdesk:
        by_label.setdefault(e.label, []).append(e)
    few = [e for examples in by_label.values() for e in examples[:5]]
    assert len(few) == 50
    model = Classifier("auto", micro=TINY_MICRO).fit(Dataset(few))
    report = model.auto_report_
    assert report["strategy"] == "few-shot" and report["chosen"] == "micro" == model.engine_.tier
    assert report["label_names_added"] == 10 and "few-shot data (5 examples for the median label" in report["why"]
    assert report["candidates"][0]["p50_ms"] > 0
    assert model.predict(["I was charged twice"])[0] in {e.label for e in few}
    model.save(tmp_path / "m")
    assert microgpt.load(tmp_path / "m").auto_report_ == report
