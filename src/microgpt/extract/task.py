"""`Extractor`: labelled spans with character offsets → typed fields (dates, times, money, counts, text).

    ex = Extractor(tier="nano", schema="date:date, time:time, people:count, first_name").fit(dataset)
    ex.predict_one("table for four next Friday at 7, name's Ana", reference=date(2026, 11, 29))
    # Extraction(fields={'date': '2026-12-04', 'time': '19:00', 'people': 4, 'first_name': 'Ana'}, spans=[...])

Training data is span-annotated (`text` + `spans: [{start, end, label}]`) or field-annotated (`text` + `fields:
{name: value}`); field values are located in their text (ignoring case, whitespace and punctuation) and every place
they occur becomes a span. How many could not be found is reported (`alignment_`, the manifest and the CLI), not
fatal. `predict` returns `Extraction`s; `score` is span F1 on span data and field F1 on field data.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from microgpt.config import CrfConfig, MicroConfig
from microgpt.data.records import Dataset, Example, Span, check_spans
from microgpt.errors import ConfigError, DataError
from microgpt.evaluation.metrics import field_metrics, span_metrics
from microgpt.extract.languages import LANGUAGES, detect_language
from microgpt.extract.normalize import Money, fold, normalize, to_json
from microgpt.extract.schema import Schema, infer_schema, parse_schema, schema_to_json
from microgpt.extract.spans import snap, spans_from_fields
from microgpt.progress import Progress, no_progress
from microgpt.task import Task, Tier, check_text

log = logging.getLogger(__name__)
DATE_ORDERS = ("DMY", "MDY", "YMD")


@dataclass
class Extraction:
    """What was found in one text: `fields` (normalised values; None or [] where absent) and the `spans` behind them.

    `values[i]` is the normalised value of `spans[i]` (None where it cannot be read as its field's type), and
    `chosen[name]` lists the indices of the spans a field's value came from.
    """

    text: str
    fields: dict[str, Any]
    spans: list[Span]
    values: list[Any] = field(default_factory=list, repr=False)
    chosen: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def field_texts(self) -> dict[str, Any]:
        """The verbatim text behind each field (a list for list fields) — what field-level scoring compares."""
        out: dict[str, Any] = {}
        for name, idx in self.chosen.items():
            texts = [self.text[self.spans[i].start : self.spans[i].end] for i in idx]
            out[name] = texts if isinstance(self.fields.get(name), list) else (texts[0] if texts else None)
        return out

    @property
    def confidence(self) -> float | None:
        """The weakest span's confidence: what a reviewer checks first (None when nothing was found)."""
        scores = [s.score for s in self.spans if s.score is not None]
        return min(scores) if scores else None

    def to_json(self) -> dict[str, Any]:
        confidence = self.confidence
        return {
            "fields": {name: to_json(value) for name, value in self.fields.items()},
            "spans": [
                {**s.to_json(self.text), "value": to_json(v)} for s, v in zip(self.spans, self.values, strict=True)
            ],
            "confidence": round(confidence, 4) if confidence is not None else None,
        }

    def columns(self) -> dict[str, Any]:
        """One column per field (list fields as JSON lists)."""
        return {name: to_json(value) for name, value in self.fields.items()}


class Extractor(Task):
    """Span and field extraction on the nano (CRF) or micro (token classification) tier."""

    task = "extract"
    data_kind = "spans"
    metric = "span_f1"
    tiers: ClassVar[dict[str, Tier]] = {
        "nano": Tier("microgpt.extract.crf:CrfEngine", CrfConfig),
        "micro": Tier("microgpt.extract.token:TokenMicroEngine", MicroConfig),
    }
    options: ClassVar[tuple[str, ...]] = ("context", "reference_date")
    documents: ClassVar[bool] = True  # reads whole documents (a receipt), not only one-line messages

    def __init__(
        self,
        tier: str = "nano",
        *,
        schema: str | Path | dict[str, Any] | None = None,
        date_order: str = "DMY",
        language: str = "auto",
        nano: CrfConfig | dict[str, Any] | None = None,
        micro: MicroConfig | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(tier, nano=nano, micro=micro, seed=seed)
        self.schema = schema
        self.date_order = date_order
        self.language = language  # how to read values' words: "auto" = each message's own (en, zh, es, de)

    def settings(self) -> dict[str, Any]:
        schema = getattr(self, "schema_", None) or parse_schema(self.schema)  # the fitted (maybe inferred) one first
        return {**super().settings(), "schema": schema_to_json(schema) if schema else None,
                "date_order": self.date_order, "language": self.language}  # fmt: skip

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit(  # type: ignore[override]
        self,
        X: Dataset | Sequence[str],
        y: Sequence[Any] | None = None,
        *,
        contexts: Sequence[str | None] | None = None,
        progress: Progress = no_progress,
    ) -> Extractor:
        """Learn from a Dataset of span- or field-annotated examples, or texts `X` with `y` = spans or field dicts."""
        super().fit(X, y, progress=progress, contexts=contexts)
        return self

    @classmethod
    def _upgrade_settings(cls, params: dict[str, Any]) -> dict[str, Any]:
        if isinstance(params.get("nano"), dict):
            params["nano"] = CrfConfig.upgrade(params["nano"])
        return params

    def _check_settings(self) -> None:
        if self.date_order not in DATE_ORDERS:
            raise ConfigError(f"unknown date order {self.date_order!r}", hint=f"use one of: {', '.join(DATE_ORDERS)}")
        if self.language not in ("auto", *LANGUAGES):
            raise ConfigError(
                f"unknown language {self.language!r}",
                hint=f"use auto (each message's own) or one of: {', '.join(LANGUAGES)}",
            )

    def _fit_engine(self, data: Dataset, progress: Progress) -> Any:
        texts, gold, self.alignment_ = self._training_spans(data)
        explicit = parse_schema(self.schema) if self.schema is not None else None
        seen = sorted({s.label for spans in gold for s in spans})
        self._check_labels(data, gold, explicit, seen)
        self.schema_: Schema = explicit or infer_schema(seen)
        self.labels_ = list(self.schema_)
        self._gold_counts = Counter(s.label for spans in gold for s in spans)
        return self.make_engine(self.tier).fit(texts, gold, [e.context for e in data], progress)

    def fit_notes(self) -> list[str]:
        fields = ", ".join(
            f"{name} ({spec.type}{'[]' if spec.multiple else ''})" for name, spec in self.schema_.items()
        )
        notes = [f"fields: {fields}"]
        align = self.alignment_
        if align.get("not_found"):
            by = ", ".join(f"{k} {v}" for k, v in sorted(align["by_field"].items(), key=lambda kv: -kv[1]))
            notes.append(
                f"[yellow]warning:[/] {align['not_found']} of {align['field_values']} field values were not found "
                f"in their text ({by}); those stay unlabelled in training"
            )
        return notes

    def _data_info(self, data: Dataset) -> dict[str, Any]:
        return {"label_counts": dict(sorted(self._gold_counts.items())), "alignment": self.alignment_}

    def _from_lists(
        self, X: list[str], y: Sequence[Any] | None, contexts: Sequence[str | None] | None = None
    ) -> Dataset:
        if y is None or len(y) != len(X):
            raise DataError(
                "fit needs one target per text: a list of spans or a dict of field values",
                hint="call fit(texts, [[Span(0, 4, 'date')], ...]) or fit(texts, [{'total': '9.00'}, ...])",
            )
        ctx = list(contexts) if contexts is not None else [None] * len(X)
        examples = []
        for i, (text, target) in enumerate(zip(X, y, strict=True)):
            if isinstance(target, dict):
                examples.append(Example(text=text, fields=target, context=ctx[i], source=f"item {i}"))
            else:
                spans = tuple(s if isinstance(s, Span) else Span(**s) for s in target)
                examples.append(Example(text=text, spans=spans, context=ctx[i], source=f"item {i}"))
        return Dataset(examples)

    def _training_spans(self, data: Dataset) -> tuple[list[str], list[list[Span]], dict[str, Any]]:
        texts: list[str] = []
        gold: list[list[Span]] = []
        n_values = 0
        missing: Counter[str] = Counter()
        for i, e in enumerate(data):
            where = e.source or f"example {i}"
            check_text(e.text, where)
            if e.spans is not None:
                check_spans(e.text, e.spans, None, where)
                spans = [snap(e.text, s) for s in e.spans]
            elif e.fields is not None:
                spans, lost = spans_from_fields(e.text, e.fields, where)
                n_values += sum(1 for v in e.fields.values() if v not in (None, "", []))
                missing.update(lost)
            else:
                raise DataError(
                    f"example {where} has neither spans nor fields",
                    hint='give each row "spans": [{"start", "end", "label"}] or "fields": {name: value}',
                )
            texts.append(e.text)
            gold.append(spans)
        alignment: dict[str, Any] = {}
        if n_values:
            alignment = {"field_values": n_values, "not_found": sum(missing.values()), "by_field": dict(missing)}
            if missing:
                log.warning(
                    "%d of %d field values could not be found in their text (%s); they stay unlabelled",
                    sum(missing.values()),
                    n_values,
                    ", ".join(f"{k} {v}" for k, v in missing.most_common()),
                )
        return texts, gold, alignment

    def _check_labels(self, data: Dataset, gold: list[list[Span]], schema: Schema | None, seen: list[str]) -> None:
        if not seen:
            raise DataError(
                "no spans anywhere in the data (nothing to learn to extract)",
                hint="annotate at least a few examples per field, or check that field values occur in their texts",
            )
        if schema is not None:
            unknown = sorted({name for e in data for name in (e.fields or {})} - set(schema))
            if unknown:
                raise DataError(
                    f"field(s) {', '.join(map(repr, unknown))} in the data are not in the schema",
                    hint=f"add them to the schema or drop them; schema fields: {', '.join(schema)}",
                )
            for i, (e, spans) in enumerate(zip(data, gold, strict=True)):
                check_spans(e.text, spans, set(schema), e.source or f"example {i}")
        counts = Counter(s.label for spans in gold for s in spans)
        rare = sorted(label for label in seen if counts[label] < 2)
        if rare:
            raise DataError(
                f"field(s) with fewer than 2 examples: {', '.join(f'{r!r} ({counts[r]})' for r in rare)}",
                hint="annotate at least 2 examples of each field (20+ for useful accuracy), or drop it",
            )

    # ---- prediction ----------------------------------------------------------------------------------------
    def predict_spans(
        self, X: Sequence[str] | Dataset, context: str | Sequence[str | None] | None = None
    ) -> list[list[Span]]:
        self._check_fitted()
        texts = self._texts(X)
        contexts = self._contexts(X, context, len(texts))
        return self.engine_.predict(texts, contexts)

    def predict(
        self,
        X: Sequence[str] | Dataset,
        context: str | Sequence[str | None] | None = None,
        reference: datetime.date | None = None,
    ) -> list[Extraction]:
        """One `Extraction` per text. `reference` resolves relative dates ("next Friday"; default: today)."""
        texts = X.texts if isinstance(X, Dataset) else X
        spans = self.predict_spans(X, context)
        return [self._assemble(t, s, reference) for t, s in zip(texts, spans, strict=True)]

    def predict_one(self, text: str, context: str | None = None, reference: datetime.date | None = None) -> Extraction:
        return self.predict([text], [context], reference)[0]

    def results(self, X: Sequence[str] | Dataset, **options: Any) -> list[Extraction]:
        """`predict` with the REST/CLI option names (`context`, `reference_date`)."""
        self.check_options(options)
        return self.predict(X, options.get("context"), options.get("reference_date"))

    def _contexts(self, X: Any, context: str | Sequence[str | None] | None, n: int) -> list[str | None]:
        if context is None:
            return [e.context for e in X] if isinstance(X, Dataset) else [None] * n
        if isinstance(context, str):
            return [context] * n
        if len(context) != n:
            raise DataError(f"got {n} texts but {len(context)} contexts", hint="pass one context per text, or none")
        return list(context)

    def _assemble(self, text: str, spans: list[Span], reference: datetime.date | None) -> Extraction:
        spans = [s for s in spans if s.label in self.schema_]
        # A span ("8", "¥128") rarely tells its language; the whole message does ("um 8 Uhr", "¥128，两位")
        language = detect_language(text) if self.language == "auto" else self.language
        values = [
            normalize(
                text[s.start : s.end],
                self.schema_[s.label].type,
                reference=reference,
                date_order=self.date_order,
                language=language,
            )
            for s in spans
        ]
        fields: dict[str, Any] = {}
        chosen: dict[str, list[int]] = {}
        for name, spec in self.schema_.items():
            mine = [i for i, s in enumerate(spans) if s.label == name]
            if spec.multiple:
                keep: list[int] = []
                keys: set[str] = set()
                for i in mine:  # the same value printed twice is one item
                    key = fold(text[spans[i].start : spans[i].end])
                    if key not in keys:
                        keys.add(key)
                        keep.append(i)
                chosen[name] = keep
                fields[name] = [values[i] for i in keep]
            else:
                best = max(mine, key=lambda i: spans[i].score or 0.0, default=None)
                chosen[name] = [best] if best is not None else []
                fields[name] = values[best] if best is not None else None
        return Extraction(text, fields, spans, values, chosen)

    # ---- scoring -------------------------------------------------------------------------------------------
    def field_same(self, name: str, predicted: Any, gold: Any) -> bool:
        """Field-level match: equal after folding case, whitespace and punctuation, or equal as typed values."""
        if predicted is None or gold is None:
            return False
        if fold(str(predicted)) == fold(str(gold)):
            return True
        kind = self.schema_[name].type if name in self.schema_ else "text"
        if kind == "text":
            return False
        a, b = (
            normalize(
                str(v),
                kind,
                reference=datetime.date(2000, 1, 1),
                date_order=self.date_order,
                language=None if self.language == "auto" else self.language,
            )
            if not isinstance(v, dict)
            else _money_from_json(v)
            for v in (predicted, gold)
        )
        if isinstance(a, Money) and isinstance(b, Money):  # "RM 9.00" is right for a gold "9.00"
            return a.amount == b.amount and (a.currency == b.currency or None in (a.currency, b.currency))
        return a is not None and a == b

    def score(self, X: Sequence[str] | Dataset, y: Sequence[Any] | None = None) -> float:
        """Span F1 (exact start, end and label) on span data; field F1 after normalisation on field data."""
        data = self._as_dataset(X, y)
        if all(e.spans is not None for e in data):
            return float(span_metrics([list(e.spans or ()) for e in data], self.predict_spans(data))["span_f1"])
        pred = [ex.field_texts() for ex in self.predict(data)]
        gold = [e.fields or {} for e in data]
        return float(field_metrics(gold, pred, self.field_same)["field_f1"])

    def correction(self, label: str | None, labels: list[str] | None) -> str | list[str]:
        raise DataError(
            "an extractor's feedback is a corrected example, not a label",
            hint="add corrected examples to the training JSONL (text + spans or fields) and retrain",
        )

    def evaluation(self, data: Dataset, progress: Progress) -> dict[str, Any]:
        """Span data: exact-span P/R/F1 per label. Field data: field exact match after normalisation, per field."""
        if any(e.spans is None and e.fields is None for e in data):
            raise DataError("extraction evaluation needs spans or fields on every example", hint="annotate every row")
        pred: list[Extraction] = []
        for start in range(0, len(data), 256):
            pred.extend(self.predict(data[start : start + 256]))
            progress("evaluate", min(start + 256, len(data)), len(data))
        if all(e.spans is not None for e in data):
            metrics = span_metrics([list(e.spans or ()) for e in data], [x.spans for x in pred])
            # also how often each field's final value is right (the span with the best score, normalised)
            gold_fields = [_fields_from_spans(e.text, list(e.spans or ())) for e in data]
            fields = field_metrics(gold_fields, [x.field_texts() for x in pred], self.field_same)
            metrics.update({k: v for k, v in fields.items() if k.startswith("field_") or k == "exact_match"})
            return metrics
        return field_metrics([e.fields or {} for e in data], [x.field_texts() for x in pred], self.field_same)

    # ---- persistence ---------------------------------------------------------------------------------------
    def _manifest_extra(self) -> dict[str, Any]:
        return {"schema": schema_to_json(self.schema_)}

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        super()._restore_state(path, manifest)
        self.schema_ = parse_schema(manifest["schema"]) or {}
        self.labels_ = list(self.schema_)
        self.alignment_ = dict(manifest.get("data", {}).get("alignment", {}))


def _fields_from_spans(text: str, spans: list[Span]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in spans:
        out.setdefault(s.label, []).append(text[s.start : s.end])
    return out


def _money_from_json(value: dict[str, Any]) -> Money | None:
    """A gold money value written as {"amount": "9.00", "currency": "MYR"} (the form `to_json` produces)."""
    try:
        return Money(Decimal(str(value["amount"])), value.get("currency"))
    except (KeyError, ArithmeticError, ValueError):
        return None
