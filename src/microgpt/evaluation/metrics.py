"""Metrics: classifiers (accuracy, macro-F1, per-label P/R/F1, confusions), taggers (micro-F1, exact match)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


def classification_metrics(gold: Sequence[str], pred: Sequence[str], top_confusions: int = 10) -> dict[str, Any]:
    labels = sorted(set(gold) | set(pred))
    p, r, f, support = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    gold_labels = set(gold)
    # Macro-F1 over the labels present in the gold data, so a spurious prediction cannot inflate the label count.
    macro = float(np.mean([f[i] for i, label in enumerate(labels) if label in gold_labels]))
    confusions = Counter((g, q) for g, q in zip(gold, pred, strict=True) if g != q)
    return {
        "n": len(gold),
        "accuracy": float(np.mean(np.array(gold) == np.array(pred))),
        "macro_f1": macro,
        "per_label": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "top_confusions": [
            {"gold": g, "predicted": q, "count": n} for (g, q), n in confusions.most_common(top_confusions)
        ],
    }


def tagging_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    labels = sorted({x for row in gold for x in row} | {x for row in pred for x in row})
    index = {label: i for i, label in enumerate(labels)}

    def matrix(rows: Sequence[Sequence[str]]) -> np.ndarray:
        m = np.zeros((len(rows), len(labels)), dtype=bool)
        for i, row in enumerate(rows):
            for label in row:
                m[i, index[label]] = True
        return m

    g, q = matrix(gold), matrix(pred)
    tp = (g & q).sum(0).astype(float)
    fp = (~g & q).sum(0).astype(float)
    fn = (g & ~q).sum(0).astype(float)
    prec = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    rec = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(tp), where=(prec + rec) > 0)
    support = g.sum(0)
    present = support > 0
    micro_p = tp.sum() / max(1.0, tp.sum() + fp.sum())
    micro_r = tp.sum() / max(1.0, tp.sum() + fn.sum())
    return {
        "n": len(gold),
        "micro_f1": float(2 * tp.sum() / max(1.0, 2 * tp.sum() + fp.sum() + fn.sum())),
        "micro_precision": float(micro_p),
        "micro_recall": float(micro_r),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "exact_match": float((g == q).all(1).mean()) if len(gold) else 0.0,
        "per_label": {
            label: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
    }
