"""Metrics shared by the tasks: classifiers (accuracy, macro-F1, per label, confusions), taggers (micro-F1, exact
match), spans and fields (P/R/F1), and the markdown table every report starts with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_metrics(gold: Sequence[str], pred: Sequence[str], top_confusions: int = 10) -> dict[str, Any]:
    from sklearn.metrics import precision_recall_fscore_support  # imported when used: keeps `import microgpt` fast

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


def _prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _count_metrics(prefix: str, counts: dict[str, list[int]]) -> dict[str, Any]:
    """Micro P/R/F1 over all labels plus per-label figures, from {label: [tp, fp, fn]}."""
    tp, fp, fn = (sum(c[k] for c in counts.values()) for k in range(3))
    overall = _prf(tp, fp, fn)
    return {
        f"{prefix}_f1": overall["f1"],
        f"{prefix}_precision": overall["precision"],
        f"{prefix}_recall": overall["recall"],
        "per_label": {label: {**_prf(*c), "support": c[0] + c[2]} for label, c in sorted(counts.items())},
    }


def span_metrics(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Exact span match (same start, end and label) → micro P/R/F1 and per-label figures. Items are `Span`s."""
    counts: dict[str, list[int]] = {}
    for g_row, p_row in zip(gold, pred, strict=True):
        g = {(s.start, s.end, s.label) for s in g_row}
        p = {(s.start, s.end, s.label) for s in p_row}
        for key in g | p:
            c = counts.setdefault(key[2], [0, 0, 0])
            c[0 if key in g and key in p else 1 if key in p else 2] += 1
    return {"n": len(gold), **_count_metrics("span", counts)}


def field_metrics(
    gold: Sequence[dict[str, Any]], pred: Sequence[dict[str, Any]], same: Any = lambda name, a, b: a == b
) -> dict[str, Any]:
    """Field-level exact match after normalisation: a predicted value is right when `same(field, pred, gold)`.

    Values may be single or lists (each list item counts once). Missing gold and missing prediction are both fine
    (nothing to count); a wrong value counts as one false positive and one false negative.
    """
    counts: dict[str, list[int]] = {}
    exact = 0
    for g_row, p_row in zip(gold, pred, strict=True):
        row_ok = True
        for name in set(g_row) | set(p_row):
            g_vals = _as_list(g_row.get(name))
            p_vals = _as_list(p_row.get(name))
            c = counts.setdefault(name, [0, 0, 0])
            unmatched = list(g_vals)
            for v in p_vals:
                hit = next((i for i, g in enumerate(unmatched) if same(name, v, g)), None)
                if hit is None:
                    c[1] += 1
                    row_ok = False
                else:
                    c[0] += 1
                    unmatched.pop(hit)
            c[2] += len(unmatched)
            row_ok = row_ok and not unmatched
        exact += row_ok
    return {"n": len(gold), **_count_metrics("field", counts), "exact_match": exact / len(gold) if gold else 0.0}


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def metric_rows(metrics: dict[str, Any]) -> list[str]:
    """A markdown table of the plain numbers in `metrics` (lists and tables are shown elsewhere)."""
    lines = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, float):
            lines.append(f"| {key} | {value:.4f} |")
        elif isinstance(value, int):
            lines.append(f"| {key} | {value} |")
    return lines
