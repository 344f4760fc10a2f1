"""The few-shot path `auto` takes when labels have few examples each (a median of at most 20).

With a handful of texts per label, two things matter more than anything a tier competition can find:

- every example is spent on training: `auto`'s usual held-out split (15%) would take 1–2 of each label's 10 texts
  away from the winner, and nano trails micro by ~10 points there (Banking77, 10 an intent: 74.9% vs 84.7%), so micro
  is trained directly, on everything but its own small calibration split;
- the label names are data: `card_arrival` says "card arrival". Each label whose name reads as words is added once
  as a training text (Banking77 10-shot, seed 0: 83.9% → 85.3%; as a prototype to start the head from instead,
  83.9% → 84.0%, not kept). Codes such as `A12` or `L3` are left out.

Measured on Banking77 (BENCHMARKS.md, `bench/fewshot.py`); what was tried and not kept is listed there.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from typing import Any

import numpy as np

from microgpt.data.records import Dataset
from microgpt.progress import Progress

log = logging.getLogger(__name__)

FEW_SHOT_MEDIAN = 20  # at or below this many examples for the median label, auto takes the few-shot path

_SPLIT = re.compile(r"[_\-./:]+|(?<=[a-z])(?=[A-Z])")
_WORD = re.compile(r"[^\W\d_]{3,}")


def is_few_shot(data: Dataset) -> bool:
    counts = list(data.label_counts().values())
    return bool(counts) and statistics.median(counts) <= FEW_SHOT_MEDIAN


def label_name_text(label: str) -> str | None:
    """`card_arrival` → "card arrival", `lostOrStolenCard` → "lost or stolen card"; None for codes (`A12`, `L3`)."""
    words = [w for w in _SPLIT.split(label.strip()) if w]
    text = " ".join(words).lower()
    return text if _WORD.search(text) else None


def fit_few_shot(task: Any, data: Dataset, progress: Progress) -> tuple[Any, dict[str, Any]]:
    """micro on every example plus the label names; the report says so, in auto's format."""
    labels = task.labels_
    targets = task.encode_targets(data)
    texts = list(data.texts)
    named = [(text, i) for i, label in enumerate(labels) if (text := label_name_text(label)) is not None]
    texts += [text for text, _ in named]
    targets = np.concatenate([targets, np.array([i for _, i in named], dtype=targets.dtype)])
    start = time.perf_counter()
    engine = task.make_engine("micro").fit(texts, targets, task.multilabel, progress)
    seconds = time.perf_counter() - start
    fitted = getattr(engine, "fit_result_", {}) or {}
    dev = (fitted.get("frozen_head") or (fitted.get("members") or [{}])[0]).get("best_dev")
    median = statistics.median(data.label_counts().values())
    why = (
        f"few-shot data ({median:g} examples for the median label, at most {FEW_SHOT_MEDIAN}): micro trained on every "
        f"example plus {len(named)} label names, no tier competition (nano trails micro by ~10 points at 10 "
        "examples a label, and a held-out split would cost each label 1–2 of its examples)"
    )
    if not getattr(task, "english_", True):
        why += f"; the data is not English, so micro read it with the {engine.config.backbone} encoder"
    report = {
        "metric": "accuracy",
        "dev_size": 0,
        "strategy": "few-shot",
        "label_names_added": len(named),
        "candidates": [
            {
                "tier": "micro",
                "accuracy": round(float(dev), 4) if dev is not None else float("nan"),
                "p50_ms": None,  # auto measures it
                "train_seconds": round(seconds, 1),
                "within_budget": True,
            }
        ],
        "chosen": "micro",
        "why": why,
    }
    log.info("auto: %s", why)
    return engine, report
