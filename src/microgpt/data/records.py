"""`Example` (one record) and `Dataset` (a validated list of them) — the unit every task trains on."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from microgpt.errors import DataError


@dataclass(frozen=True)
class Span:
    """A labelled stretch of text: ``text[start:end]`` (end-exclusive), with a confidence when predicted."""

    start: int
    end: int
    label: str
    score: float | None = field(default=None, compare=False)

    def to_json(self, text: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "start": self.start, "end": self.end}
        if text is not None:
            out["text"] = text[self.start : self.end]
        if self.score is not None:
            out["confidence"] = round(self.score, 4)
        return out


@dataclass(frozen=True)
class Example:
    """One record: `text` plus its target — `label` (classify), `labels` (tag), `spans` or `fields` (extract), `reply`.

    `context` is optional extra input for extraction, e.g. the slot a dialogue system just asked for ("people"), which
    is what makes a bare "13" readable. `source` says where the row came from (e.g. ``"data.csv:17"``) so errors can
    point at it.
    """

    text: str
    label: str | None = None
    labels: tuple[str, ...] | None = None
    spans: tuple[Span, ...] | None = None
    fields: dict[str, Any] | None = field(default=None, compare=False)
    context: str | None = None
    reply: str | None = None  # the reply sent to `text` (task reply; `label` may carry its intent, `fields` its values)
    source: str = ""
    meta: dict[str, str] = field(default_factory=dict, compare=False)


class Dataset(Sequence[Example]):
    """An immutable list of examples with the helpers tasks need (texts, targets, label counts, fingerprint)."""

    def __init__(self, examples: Iterable[Example], name: str = "") -> None:
        self.examples: tuple[Example, ...] = tuple(examples)
        self.name = name

    @classmethod
    def from_lists(
        cls,
        texts: Sequence[str],
        targets: Sequence[str] | Sequence[Sequence[str]] | None = None,
        name: str = "",
    ) -> Dataset:
        """Build from parallel lists: `targets` holds a label per text, or a list of labels per text."""
        if isinstance(texts, str):
            raise DataError("texts must be a list of strings, got a single string", hint="wrap it: [text]")
        if targets is not None and len(targets) != len(texts):
            raise DataError(
                f"got {len(texts)} texts but {len(targets)} targets",
                hint="pass exactly one label (or list of labels) per text",
            )
        examples = []
        for i, text in enumerate(texts):
            target = None if targets is None else targets[i]
            if target is None or isinstance(target, str):
                examples.append(Example(text=text, label=target, source=f"item {i}"))
            else:
                examples.append(Example(text=text, labels=tuple(target), source=f"item {i}"))
        return cls(examples, name=name)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return Dataset(self.examples[index], name=self.name)
        return self.examples[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __repr__(self) -> str:
        return f"Dataset({self.name or 'unnamed'!r}, {len(self)} examples)"

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.examples]

    @property
    def is_multilabel(self) -> bool:
        return any(e.labels is not None for e in self.examples)

    @property
    def labels(self) -> list[str]:
        """Single-label targets, one per example (raises if some example has none)."""
        missing = [e.source for e in self.examples if e.label is None]
        if missing:
            raise DataError(
                f"{len(missing)} examples have no label (first: {missing[0]})",
                hint="give every example a label, or use the multi-label `labels` field with task 'tag'",
            )
        return [e.label for e in self.examples]  # type: ignore[misc]

    @property
    def label_sets(self) -> list[tuple[str, ...]]:
        """Multi-label targets, one tuple per example (a single `label` counts as a one-item set)."""
        out = []
        for e in self.examples:
            if e.labels is not None:
                out.append(e.labels)
            elif e.label is not None:
                out.append((e.label,))
            else:
                raise DataError(f"example {e.source} has no labels", hint="add a `labels` list to every example")
        return out

    def label_counts(self) -> Counter[str]:
        if self.is_multilabel:
            return Counter(label for labels in self.label_sets for label in labels)
        return Counter(self.labels)

    def fingerprint(self) -> str:
        """sha256 over texts and targets: two datasets with the same content share it."""
        h = hashlib.sha256()
        for e in self.examples:
            target: Any = e.label if e.labels is None else list(e.labels)
            if e.spans is not None or e.fields is not None:
                target = [[(s.start, s.end, s.label) for s in e.spans or ()], e.fields, e.context]
            if e.reply is not None:
                target = [target, e.reply, e.fields]
            h.update(json.dumps([e.text, target], ensure_ascii=False).encode())
            h.update(b"\n")
        return h.hexdigest()


def check_spans(text: str, spans: Sequence[Span], labels: set[str] | None, where: str) -> None:
    """Raise a DataError naming the fix for spans out of range, empty, overlapping or with an unknown label."""
    for s in spans:
        if not (0 <= s.start < s.end <= len(text)):
            raise DataError(
                f"span {s.label!r} [{s.start}, {s.end}) at {where} is outside the text (length {len(text)})",
                hint="offsets are 0-based character positions, end-exclusive: text[start:end] is the span",
            )
        if not text[s.start : s.end].strip():
            raise DataError(f"span {s.label!r} at {where} covers only whitespace", hint="fix or drop the span")
        if labels is not None and s.label not in labels:
            raise DataError(
                f"span label {s.label!r} at {where} is not in the field schema ({', '.join(sorted(labels))})",
                hint="add it to the schema, or fix the label",
            )
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise DataError(
                f"spans {a.label!r} [{a.start}, {a.end}) and {b.label!r} [{b.start}, {b.end}) overlap at {where}",
                hint="spans may not overlap; keep the one that is right",
            )
