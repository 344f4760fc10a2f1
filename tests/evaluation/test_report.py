"""The report a business reads: a plain-language headline first, the surest mistakes, then the tables; the cost
table counts a person's time for what the policy queues."""

from __future__ import annotations

import re

import microgpt


def test_report_opens_with_a_headline_and_lists_the_surest_mistakes(helpdesk_split, tmp_path):
    train, test = helpdesk_split
    model = microgpt.Classifier("nano").fit(train)
    model.set_policy(test, min_precision=0.97)
    model.save(tmp_path / "router")
    report = microgpt.evaluate(model, test, review_minutes=3, hourly_rate=30)
    m = report["metrics"]
    right = round(m["accuracy"] * len(test))
    assert report["headline"].startswith(f"{right:,} of {len(test):,} texts routed right")
    assert re.search(
        r"at your policy \d+% are answered automatically at [\d.]+% precision, \d+% go to the LLM", report["headline"]
    )
    wrong = m["misclassified"]
    assert wrong and all(x["gold"] != x["predicted"] for x in wrong)
    assert [x["confidence"] for x in wrong] == sorted((x["confidence"] for x in wrong), reverse=True)
    people = {r["system"]: r["usd_per_1k"] for r in report["cost"]["rows"]}
    assert people["a person for everything"] == 1000 * 3 / 60 * 30  # $1,500 per 1,000 by hand
    assert people["people for the queued share"] == 1000 * m["policy"]["queued"] * 3 / 60 * 30
    md = (tmp_path / "router" / "REPORT.md").read_text()
    assert md.splitlines()[2] == f"**{report['headline']}**" and "## Misclassified examples" in md
    html = (tmp_path / "router" / "report.html").read_text()
    assert report["headline"].split(";")[0] in html and "when the model says 90%" in html
