"""Loaders for the public benchmark sets in `../shared/data` (never copied into the project).

The data directory is `$MICROGPT_DATA_DIR` if set, else the first `shared/data` found walking up from the current
directory and from this package (the checkout sits beside `shared/`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset, Example
from microgpt.errors import DataError


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
