"""Honest evaluation: metrics on held-out data, written as report.json + REPORT.md into the module."""

from __future__ import annotations

from microgpt.evaluation.report import evaluate

__all__ = ["evaluate"]
