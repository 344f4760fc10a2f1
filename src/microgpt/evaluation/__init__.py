"""Honest evaluation: metrics on held-out data, written as report.json + REPORT.md + report.html into the module.

`microgpt.evaluate(model, data)` (evaluation.report) runs it; evaluation.metrics holds the metrics the tasks share.
"""
