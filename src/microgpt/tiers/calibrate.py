"""Numeric helpers shared by the tiers: softmax/sigmoid, temperature and Platt fitting, dev splits, micro-F1."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


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
