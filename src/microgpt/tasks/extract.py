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
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from microgpt.config import MicroConfig, NanoConfig
from microgpt.data.records import Dataset, Example, Span
from microgpt.errors import ConfigError, DataError, requires_extra
from microgpt.extract.normalize import Money, fold, normalize, to_json
from microgpt.extract.schema import Schema, infer_schema, parse_schema, schema_to_json
from microgpt.extract.spans import check_spans, snap, spans_from_fields
from microgpt.module import text_digests
from microgpt.progress import Progress, no_progress
from microgpt.tasks.base import Task, check_text, load_engine

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

    def to_json(self) -> dict[str, Any]:
        return {
            "fields": {name: to_json(value) for name, value in self.fields.items()},
            "spans": [
                {**s.to_json(self.text), "value": to_json(v)} for s, v in zip(self.spans, self.values, strict=True)
            ],
        }


class Extractor(Task):
    """Span and field extraction on the nano (CRF) or micro (token classification) tier."""

    task = "extract"
    engines: ClassVar[dict[str, str]] = {
        "nano": "microgpt.tiers.crf:CrfEngine",
        "micro": "microgpt.tiers.token_micro:TokenMicroEngine",
    }

    def __init__(
        self,
        tier: str = "nano",
        *,
        schema: str | Path | dict[str, Any] | None = None,
        date_order: str = "DMY",
        nano: NanoConfig | dict[str, Any] | None = None,
        micro: MicroConfig | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(tier, nano=nano, micro=micro, seed=seed)
        self.schema = schema
        self.date_order = date_order

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        schema = getattr(self, "schema_", None) or parse_schema(self.schema)  # the fitted (maybe inferred) one first
        params["schema"] = schema_to_json(schema) if schema else None
        params["date_order"] = self.date_order
        return params

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit(
        self,
        X: Dataset | Sequence[str],
        y: Sequence[Any] | None = None,
        *,
        contexts: Sequence[str | None] | None = None,
        progress: Progress = no_progress,
    ) -> Extractor:
        """Learn from a Dataset of span- or field-annotated examples, or texts `X` with `y` = spans or field dicts."""
        if self.tier not in ("nano", "micro"):
            raise ConfigError(
                f"tier {self.tier!r} is not available for extraction yet", hint="use --tier nano or --tier micro"
            )
        if self.date_order not in DATE_ORDERS:
            raise ConfigError(f"unknown date order {self.date_order!r}", hint=f"use one of: {', '.join(DATE_ORDERS)}")
        data = self._as_extract_dataset(X, y, contexts)
        nano_cfg, micro_cfg, _ = self._configs()
        texts, gold, self.alignment_ = self._training_spans(data)
        explicit = parse_schema(self.schema) if self.schema is not None else None
        seen = sorted({s.label for spans in gold for s in spans})
        self._check_labels(data, gold, explicit, seen)
        self.schema_: Schema = explicit or infer_schema(seen)
        self.labels_ = list(self.schema_)
        contexts_ = [e.context for e in data]
        start = time.perf_counter()
        if self.tier == "nano":
            from microgpt.tiers.crf import CrfEngine

            self.engine_: Any = CrfEngine(nano_cfg, seed=self.seed).fit(texts, gold, contexts_, progress)
        else:
            with requires_extra("micro extraction"):
                from microgpt.tiers.token_micro import TokenMicroEngine

            self.engine_ = TokenMicroEngine(micro_cfg, seed=self.seed).fit(texts, gold, contexts_, progress)
        self.auto_report_ = None
        self.train_seconds_ = time.perf_counter() - start
        self.metrics_: dict[str, Any] = {}
        counts = Counter(s.label for spans in gold for s in spans)
        self.train_texts_ = text_digests(data.texts)  # microgpt.module: for evaluate's overlap warning
        self.data_info_ = {
            "fingerprint": data.fingerprint(),
            "n_examples": len(data),
            "label_counts": dict(sorted(counts.items())),
            "alignment": self.alignment_,
        }
        self.path_: Path | None = None
        return self

    def _as_extract_dataset(
        self, X: Dataset | Sequence[str], y: Sequence[Any] | None, contexts: Sequence[str | None] | None
    ) -> Dataset:
        if isinstance(X, Dataset):
            if y is not None:
                raise DataError("got a Dataset and separate targets", hint="pass either a Dataset or (texts, targets)")
            return X
        if isinstance(X, str):
            raise DataError("fit takes a list of texts, got a single string", hint="wrap it in a list")
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

    def predict_proba(self, X: Sequence[str] | Dataset) -> Any:
        raise NotImplementedError("an Extractor gives a confidence per span: see predict()[i].spans[j].score")

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
        values = [
            normalize(
                text[s.start : s.end], self.schema_[s.label].type, reference=reference, date_order=self.date_order
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
            normalize(str(v), kind, reference=datetime.date(2000, 1, 1), date_order=self.date_order)
            if not isinstance(v, dict)
            else _money_from_json(v)
            for v in (predicted, gold)
        )
        if isinstance(a, Money) and isinstance(b, Money):  # "RM 9.00" is right for a gold "9.00"
            return a.amount == b.amount and (a.currency == b.currency or None in (a.currency, b.currency))
        return a is not None and a == b

    def score(self, X: Sequence[str] | Dataset, y: Sequence[Any] | None = None) -> float:
        """Span F1 (exact start, end and label) on span data; field F1 after normalisation on field data."""
        from microgpt.evaluation.metrics import field_metrics, span_metrics

        data = self._as_extract_dataset(X, y, None)
        if all(e.spans is not None for e in data):
            return float(span_metrics([list(e.spans or ()) for e in data], self.predict_spans(data))["span_f1"])
        pred = [ex.field_texts() for ex in self.predict(data)]
        gold = [e.fields or {} for e in data]
        return float(field_metrics(gold, pred, self.field_same)["field_f1"])

    # ---- persistence ---------------------------------------------------------------------------------------
    def _manifest_extra(self) -> dict[str, Any]:
        return {"schema": schema_to_json(self.schema_)}

    @classmethod
    def _from_manifest(cls, path: Path, manifest: dict[str, Any]) -> Extractor:
        params = manifest["config"]
        model = cls(
            params["tier"],
            schema=params["schema"],
            date_order=params.get("date_order", "DMY"),
            nano=params["nano"],
            micro=params["micro"],
            seed=params["seed"],
        )
        model.schema_ = parse_schema(manifest["schema"]) or {}
        model.labels_ = list(model.schema_)
        model.engine_ = load_engine(manifest["tier"], path, cls.engines)
        model._restore_state(path, manifest)
        model.alignment_ = dict(manifest.get("data", {}).get("alignment", {}))
        return model


def _money_from_json(value: dict[str, Any]) -> Money | None:
    """A gold money value written as {"amount": "9.00", "currency": "MYR"} (the form `to_json` produces)."""
    try:
        return Money(Decimal(str(value["amount"])), value.get("currency"))
    except (KeyError, ArithmeticError, ValueError):
        return None
