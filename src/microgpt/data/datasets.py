"""Loaders for the public benchmark sets in `../shared/data` (never copied into the project).

The data directory is `$MICROGPT_DATA_DIR` if set, else the first `shared/data` found walking up from the current
directory and from this package (the checkout sits beside `shared/`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset, Example, Span
from microgpt.errors import DataError

log = logging.getLogger(__name__)


def data_dir() -> Path:
    env = os.environ.get("MICROGPT_DATA_DIR")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(f"MICROGPT_DATA_DIR={env} is not a directory", hint="point it at the shared/data folder")
        return path
    for start in (Path.cwd(), Path(__file__).resolve()):
        for parent in [start, *start.parents]:
            for candidate in (parent / "shared" / "data", parent / "data"):
                if (candidate / "banking77").is_dir():
                    return candidate
    raise DataError(
        "the shared benchmark data was not found (looked for shared/data beside the checkout)",
        hint="set MICROGPT_DATA_DIR=/path/to/shared/data",
    )


def _split_file(name: str, split: str, files: dict[str, str]) -> Path:
    if split not in files:
        raise DataError(f"{name} has no split {split!r}", hint=f"use one of: {', '.join(files)}")
    path = data_dir() / name / files[split]
    if not path.exists():
        raise DataError(f"{path} is missing", hint="check MICROGPT_DATA_DIR points at a complete shared/data")
    return path


def banking77(split: str = "train") -> Dataset:
    """Banking77 intents (77 labels): 10,003 train / 3,080 test."""
    path = _split_file("banking77", split, {"train": "train.csv", "test": "test.csv"})
    data = read_examples(path, label_col="category", min_per_label=0)
    return Dataset(data, name=f"banking77-{split}")


MASSIVE_LOCALES = ("en-US", "zh-CN", "es-ES", "de-DE")


def massive(locale: str = "en-US", split: str = "train") -> Dataset:
    """MASSIVE 1.1 intents (60 labels) in one locale: 11,514 train / 2,033 dev / 2,974 test, parallel across locales
    (row i of every locale's split is the same utterance, translated)."""
    if locale not in MASSIVE_LOCALES:
        raise DataError(f"MASSIVE has no locale {locale!r} here", hint=f"use one of: {', '.join(MASSIVE_LOCALES)}")
    path = _split_file(f"massive/{locale}", split, {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"})
    return Dataset(read_examples(path, min_per_label=0), name=f"massive-{locale}-{split}")


def cfpb(split: str = "train") -> Dataset:
    """CFPB complaint narratives routed to 5 product classes: 700 train / 300 test."""
    path = _split_file("cfpb_complaints", split, {"train": "train.csv", "test": "test.csv"})
    return Dataset(read_examples(path, min_per_label=0), name=f"cfpb-{split}")


def nlupp(domain: str = "banking", folds: range | list[int] = range(10)) -> Dataset:
    """NLU++ multi-label intents for `domain` ('banking' or 'hotels') over the given folds (0–19)."""
    if domain not in ("banking", "hotels"):
        raise DataError(f"NLU++ has no domain {domain!r}", hint="use 'banking' or 'hotels'")
    examples = []
    for fold in folds:
        path = data_dir() / "nlupp" / domain / f"fold{fold}.json"
        if not path.exists():
            raise DataError(f"{path} is missing", hint="NLU++ folds are numbered 0–19")
        for i, row in enumerate(json.loads(path.read_text())):
            examples.append(Example(text=row["text"], labels=tuple(row.get("intents", [])), source=f"{path.name}:{i}"))
    name = f"nlupp-{domain}-folds{min(folds)}-{max(folds)}"
    return Dataset(examples, name=name)


def restaurant8k(split: str = "train") -> Dataset:
    """Restaurant-8k booking slots (people, date, time, first_name, last_name) as span examples.

    Splits: `train` (= train_0, 8,198 utterances), `train_1/2/3` (nested 1/2, 1/4, 1/8 subsets), `test` (3,731).
    The slot the system had just asked for (`context.requestedSlots`) becomes the example's `context`. About 1% of
    utterances label one stretch twice ("8pm tonight" as time and date); training splits keep the first, longer span
    of such a pair (the count is logged), the test split keeps both gold spans.
    """
    files = {"train": "train_0.json", "test": "test.json", **{f"train_{k}": f"train_{k}.json" for k in range(4)}}
    path = _split_file("restaurant8k", split, files)
    examples = []
    overlaps = 0
    for i, row in enumerate(json.loads(path.read_text())):
        text = row["userInput"]["text"]
        spans = []
        for label in row.get("labels", []):  # protobuf JSON: zero values are left out, so a missing start is 0
            span = label["valueSpan"]
            spans.append(Span(int(span.get("startIndex", 0)), int(span.get("endIndex", len(text))), label["slot"]))
        spans.sort(key=lambda s: (s.start, -s.end))
        if split != "test":  # training spans may not overlap: keep the first (longer) of an overlapping pair
            kept: list[Span] = []
            for span in spans:
                if kept and span.start < kept[-1].end:
                    overlaps += 1
                    continue
                kept.append(span)
            spans = kept
        asked = row.get("context", {}).get("requestedSlots") or [None]
        examples.append(Example(text=text, spans=tuple(spans), context=asked[0], source=f"{path.name}:{i}"))
    if overlaps:
        log.info("restaurant8k %s: dropped %d overlapping training spans", split, overlaps)
    return Dataset(examples, name=f"restaurant8k-{split}")


def sroie(split: str = "train") -> Dataset:
    """SROIE 2019 receipts (OCR lines joined by newlines) with gold `company`, `date`, `address`, `total` fields."""
    path = _split_file("sroie2019", split, {"train": "train.jsonl", "test": "test.jsonl"})
    examples = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        fields = {k: v for k, v in row["fields"].items() if isinstance(v, str) and v.strip()}
        examples.append(Example(text=row["text"], fields=fields, source=f"{path.name}:{row['id']}"))
    return Dataset(examples, name=f"sroie-{split}")


# Bitext entity types whose values are open-ended (any order number, name, city, amount) become fields, named like the
# placeholders of the reply templates. Account types (free, gold, pro, ...) are a small closed set the replies name
# verbatim; they stay plain text for a model to learn.
BITEXT_FIELDS = {
    "order_id": "Order Number",
    "invoice_id": "Invoice Number",
    "person_name": "Person Name",
    "delivery_city": "Delivery City",
    "delivery_country": "Delivery Country",
    "refund_amount": "Refund Amount",
}


def bitext(split: str = "train") -> Dataset:
    """Bitext customer support: message (`instruction`) → agent `reply` (`response`), `label` = intent (27 intents),
    4,090 train / 424 test. The message's entity, where it is an open value (`BITEXT_FIELDS`), is the example's
    field: what a caller (or an extractor) would pass to fill the reply's placeholders."""
    path = _split_file("bitext_customer_support", split, {"train": "train.jsonl", "test": "test.jsonl"})
    examples = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        entity = row.get("entity") or {}
        name = BITEXT_FIELDS.get(entity.get("type", ""))
        fields = None
        if name is not None:  # the value as written in the message ("00123842", where `value` says "123842")
            fields = {name: row["instruction"][entity["start"] : entity["end"]]}
        examples.append(
            Example(
                text=row["instruction"],
                reply=row["response"],
                label=row["intent"],
                fields=fields,
                source=f"{path.name}:{row['id']}",
            )
        )
    return Dataset(examples, name=f"bitext-{split}")
