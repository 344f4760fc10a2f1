"""report.html: a self-contained page with the figures, written beside REPORT.md by evaluate."""

from __future__ import annotations

import microgpt


def test_evaluate_writes_a_self_contained_html_report(tmp_path, helpdesk_split):
    train, test = helpdesk_split
    model = microgpt.Classifier("nano").fit(train)
    model.set_policy(test, min_precision=0.9)
    model.save(tmp_path / "m")
    microgpt.evaluate(microgpt.load(tmp_path / "m"), test)
    page = (tmp_path / "m" / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3  # confusion, reliability, coverage
    assert "accuracy" in page and "<table>" in page
    md = (tmp_path / "m" / "REPORT.md").read_text()
    assert "Cascade policy on this data" in md and "report.html" in md
    assert microgpt.load(tmp_path / "m").predict(["refund please"])  # the extra files leave the module loadable
