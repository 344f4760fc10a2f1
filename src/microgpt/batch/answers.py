"""What both batch engines share: the answer columns of a batch of texts, the job's summary, column finding."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from microgpt.data.readers import LABEL_COLUMNS, TEXT_COLUMNS
from microgpt.errors import ConfigError, DataError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class AnswerOptions:
    """What a task's answer may take besides the text: an extractor's slot and reference date, a replier's intent,
    placeholder values and generation settings."""

    context: str | None = None
    reference_date: datetime.date | None = None
    intent: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    gen: dict[str, Any] = field(default_factory=dict)

    def results(self, model: Any, texts: list[str]) -> list[Any]:
        if "stream" in model.options:  # a replier: the draft options apply
            return list(model.results(texts, intent=self.intent, fields=self.fields, **self.gen))
        options = {"context": self.context, "reference_date": self.reference_date}
        return list(model.results(texts, **{k: v for k, v in options.items() if v is not None}))

    def columns(self, model: Any, texts: list[str]) -> list[dict[str, Any]]:
        """One flat answer per text (classify: label, confidence, decision, unknown; tag: labels; ...)."""
        return [r.columns() for r in self.results(model, texts)]


@dataclass
class BatchSummary:
    """What a batch job did: rows written, the answer columns added, the engine and its workers, seconds taken."""

    rows: int
    added: list[str]
    engine: str
    workers: int
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    return engine


def text_column(columns: list[str], wanted: str | None, where: str) -> str:
    col = wanted or next((c for name in TEXT_COLUMNS for c in columns if c.lower() == name), None)
    if col is None or col not in columns:
        raise DataError(
            f"{where} has no {'column ' + repr(wanted) if wanted else 'text column'} (columns: {', '.join(columns)})",
            hint="name it with --text-col COLUMN",
        )
    return col


def label_column(columns: list[str], wanted: str | None, where: str) -> str:
    col = wanted or next((c for name in LABEL_COLUMNS for c in columns if c.lower() == name), None)
    if col is None or col not in columns:
        raise DataError(
            f"{where} has no {'column ' + repr(wanted) if wanted else 'label column'} (columns: {', '.join(columns)})",
            hint="name it with --label-col COLUMN",
        )
    return col


def merge(row: dict[str, Any], answer: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The input row plus the answer columns (one named like an input column is written `predicted_<name>`)."""
    return {**row, **{(f"predicted_{k}" if k in columns else k): v for k, v in answer.items()}}
