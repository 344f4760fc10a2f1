"""Confidence you can trust: fitting calibrators (temperature, Platt), and measuring them (ECE, reliability,
accuracy at a coverage, unknown-input thresholds).

    ece(confidence, correct)                    # expected calibration error, 15 equal-width bins
    selective_accuracy(confidence, correct, 0.9) # accuracy on the 90% of inputs the model is surest about
    threshold_for(confidence, correct, min_precision=0.98)   # the lowest threshold meeting a precision target

All functions take plain arrays: `confidence` is the probability of the predicted label, `correct` whether it was
right. They work for any task that gives one confidence per answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 15


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: the support-weighted gap between confidence and accuracy over equal-width bins."""
    table = reliability(confidence, correct, bins)
    n = max(1, len(confidence))
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in table if b["count"]))


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per bin of confidence: its range, mean confidence, accuracy and count (the reliability diagram's data)."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "confidence": float(conf[mask].mean()) if count else 0.0,
                "accuracy": float(ok[mask].mean()) if count else 0.0,
                "count": count,
            }
        )
    return out


def coverage_curve(confidence: np.ndarray, correct: np.ndarray, points: int = 101) -> dict[str, list[float]]:
    """Accuracy of the answered items when only the most confident fraction (coverage) is answered."""
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    ok = np.asarray(correct, dtype=float)[order]
    cum = np.cumsum(ok)
    coverages = np.linspace(0.01, 1.0, points - 1)
    accs = [float(cum[max(0, int(np.ceil(c * len(ok))) - 1)] / max(1, int(np.ceil(c * len(ok))))) for c in coverages]
    return {"coverage": [float(c) for c in coverages], "accuracy": accs}


def selective_accuracy(confidence: np.ndarray, correct: np.ndarray, coverage: float = 0.9) -> float:
    """Accuracy on the `coverage` fraction of items with the highest confidence."""
    if len(confidence) == 0:
        return 0.0
    k = max(1, int(np.ceil(coverage * len(confidence))))
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")[:k]
    return float(np.asarray(correct, dtype=float)[order].mean())


@dataclass(frozen=True)
class Threshold:
    """A confidence threshold and what it achieved on the data it was chosen on."""

    threshold: float
    coverage: float  # fraction answered (confidence >= threshold)
    precision: float  # accuracy of the answered items
    target: str  # e.g. "min_precision=0.95"
    met: bool  # False when no threshold reaches the target (then: the strictest one seen)


def threshold_for(
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    min_precision: float | None = None,
    max_escalation: float | None = None,
) -> Threshold:
    """The threshold answering the most items while meeting the target, chosen on held-out (confidence, correct).

    `min_precision`: accuracy of answered items must be at least this. `max_escalation`: at most this fraction of
    items may fall below the threshold (the most precise such threshold is returned).
    """
    if (min_precision is None) == (max_escalation is None):
        raise ValueError("give exactly one of min_precision or max_escalation")
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if len(conf) == 0:
        raise ValueError("no held-out items to choose a threshold on")
    order = np.argsort(-conf, kind="stable")
    conf_sorted, ok_sorted = conf[order], ok[order]
    answered = np.arange(1, len(conf) + 1)
    precision = np.cumsum(ok_sorted) / answered
    # only cut between distinct confidences: ties are answered (or not) together
    last_of_tie = np.r_[conf_sorted[1:] < conf_sorted[:-1], True]
    if min_precision is not None:
        good = np.flatnonzero(last_of_tie & (precision >= min_precision))
        target = f"min_precision={min_precision}"
        if len(good):
            k = int(good[-1])  # the largest answered set that still meets the precision
            return Threshold(float(conf_sorted[k]), (k + 1) / len(conf), float(precision[k]), target, True)
        k = 0
        return Threshold(float(np.nextafter(conf_sorted[0], 2.0)), 0.0, 1.0, target, False)
    assert max_escalation is not None
    target = f"max_escalation={max_escalation}"
    need = int(np.ceil((1 - max_escalation) * len(conf)))  # answer at least this many
    candidates = np.flatnonzero(last_of_tie & (answered >= need))
    k = int(candidates[0])
    return Threshold(float(conf_sorted[k]), (k + 1) / len(conf), float(precision[k]), target, True)


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve for telling unknown inputs (higher score) from known ones."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    return float(roc_auc_score(y, np.r_[in_scores, out_scores]))


def flagged_at(in_scores: np.ndarray, out_scores: np.ndarray, false_flags: float = 0.05) -> float:
    """Share of unknown inputs flagged when the threshold lets through all but `false_flags` of known ones."""
    cut = float(np.quantile(np.asarray(in_scores, dtype=float), 1 - false_flags))
    return float((np.asarray(out_scores) > cut).mean())


def calibration_summary(before: np.ndarray, after: np.ndarray, y: np.ndarray, temperature: float) -> dict[str, float]:
    """ECE of the raw and the calibrated probabilities (N, L) against gold indices `y` on held-out data."""
    y = np.asarray(y)

    def one(p: np.ndarray) -> float:
        return ece(p.max(1), p.argmax(1) == y)

    return {"temperature": float(temperature), "ece_before": one(before), "ece_after": one(after), "n": len(y)}


def unknown_threshold(scores: np.ndarray, false_flags: float = 0.05) -> float:
    """The unknown-input score above which an input is flagged, so that `false_flags` of known inputs are."""
    return float(np.quantile(np.asarray(scores, dtype=float), 1 - false_flags)) if len(scores) else float("inf")


# ---- fitting: softmax/sigmoid, temperature and Platt scaling, dev splits, thresholds ----


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 minimising the negative log-likelihood of softmax(logits / T) on held-out data."""

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    from scipy.optimize import minimize_scalar  # imported when fitting: keeps `import microgpt` fast

    res = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(res.x))


def fit_platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) so that sigmoid(a * score + b) is a calibrated probability, pooled over all labels' margins."""
    from sklearn.linear_model import LogisticRegression

    flat_y = (y > 0).ravel()
    if flat_y.all() or not flat_y.any():
        return 1.0, 0.0
    m = LogisticRegression(C=100.0).fit(scores.reshape(-1, 1), flat_y)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def micro_f1(pred: np.ndarray, gold: np.ndarray, extra_misses: int = 0) -> float:
    """Micro-averaged F1 of boolean (N, L) predictions against gold (N, L); `extra_misses` adds false negatives."""
    pred, gold = pred.astype(bool), gold > 0
    tp = float((pred & gold).sum())
    return 2 * tp / max(1.0, 2 * tp + float((pred ^ gold).sum()) + extra_misses)


def dev_split(targets: np.ndarray, fraction: float, seed: int, multilabel: bool) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, dev indices): stratified by label for single-label targets, random for multi-label."""
    if multilabel:
        order = np.random.default_rng(seed).permutation(len(targets))
        n_dev = max(1, int(len(targets) * fraction)) if len(targets) >= 10 else 0
        return np.sort(order[n_dev:]), np.sort(order[:n_dev])
    from microgpt.data.records import Dataset
    from microgpt.data.splits import train_test_split

    data = Dataset.from_lists([str(i) for i in range(len(targets))], [str(int(t)) for t in targets])
    train, dev = train_test_split(data, fraction, seed=seed)
    return np.array([int(e.text) for e in train], dtype=np.int64), np.array([int(e.text) for e in dev], dtype=np.int64)


def best_threshold(proba: np.ndarray, y: np.ndarray) -> float:
    """The decision threshold (one for all labels) that maximises micro-F1 on held-out multi-label data."""
    best_t, best_f1 = 0.5, -1.0
    for t in np.arange(0.05, 0.96, 0.05):
        f1 = micro_f1(proba >= t, y)
        if f1 > best_f1 + 1e-9:
            best_t, best_f1 = float(t), f1
    return best_t
