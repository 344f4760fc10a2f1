"""The auto tier: trains every candidate, keeps the best within the latency budget, and says why in the report."""

from __future__ import annotations

import pytest

import microgpt
from microgpt import Classifier
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
