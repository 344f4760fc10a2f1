"""The nano tier: n-gram TF-IDF features and a linear model, with a sub-millisecond single-text path.

scikit-learn learns the weights; prediction is ours: the featurizer's sparse vector times the weight matrix.
Single-label probabilities are softmax(scores / T), with T fitted on a dev split (a raw SVM margin is no
probability); multi-label ones are per-label sigmoids with one threshold tuned on the dev split.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from microgpt.backbones.ngram import NgramFeaturizer
from microgpt.calibration import (
    best_threshold,
    calibration_summary,
    dev_split,
    fit_platt,
    fit_temperature,
    sigmoid,
    softmax,
    unknown_threshold,
)
from microgpt.config import NanoConfig
from microgpt.progress import Progress, no_progress


class NanoEngine:
    """Featurizer + linear weights `coef_` (F, L) and `intercept_` (L,)."""

    tier = "nano"

    def __init__(self, config: NanoConfig | None = None, seed: int = 0) -> None:
        self.config = config or NanoConfig()
        self.seed = seed
        self.multilabel = False
        self.featurizer = NgramFeaturizer()
        self.coef_ = np.zeros((0, 0), dtype=np.float32)
        self.intercept_ = np.zeros(0, dtype=np.float32)
        self.temperature_ = 1.0
        self.threshold_ = 0.5
        self.platt_ = (1.0, 0.0)  # multilabel: p = sigmoid(a * margin + b)
        self.calibration_: dict[str, float] = {}  # ECE before/after the temperature, on the dev split
        self.unknown_: dict[str, Any] = {}  # how unknown inputs are flagged: method and threshold (from dev)

    # ---- training ------------------------------------------------------------------------------------------
    def fit(
        self, texts: list[str], targets: np.ndarray, multilabel: bool, progress: Progress = no_progress
    ) -> NanoEngine:
        self.multilabel = multilabel
        progress("features", 0, 3)
        # Fit once on a train part to set the temperature / threshold on unseen dev texts, then refit on all.
        train_idx, dev_idx = dev_split(targets, self.config.dev_fraction, self.seed, multilabel)
        if len(dev_idx):
            self._fit_weights([texts[i] for i in train_idx], targets[train_idx])
            progress("calibrate", 1, 3)
            scores = self.decision([texts[i] for i in dev_idx])
            if multilabel:
                self.platt_ = fit_platt(scores, targets[dev_idx])
                self.threshold_ = best_threshold(sigmoid(self.platt_[0] * scores + self.platt_[1]), targets[dev_idx])
            else:
                self.temperature_ = fit_temperature(scores, targets[dev_idx])
                after = softmax(scores / self.temperature_)
                self.calibration_ = calibration_summary(softmax(scores), after, targets[dev_idx], self.temperature_)
                self.unknown_ = {"method": "msp", "threshold": unknown_threshold(1 - after.max(1))}
        progress("fit", 2, 3)
        self._fit_weights(texts, targets)
        progress("fit", 3, 3)
        return self

    def _fit_weights(self, texts: list[str], targets: np.ndarray) -> None:
        # scikit-learn only learns the weights: imported here, so loading a module to predict does not pay 1.4 s
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC

        cfg = self.config
        self.featurizer = NgramFeaturizer(cfg.word_ngrams, cfg.char_ngrams, cfg.skip_window, cfg.min_df)
        x = self.featurizer.fit_transform(texts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.multilabel:
                n_labels = targets.shape[1]
                coef = np.zeros((x.shape[1], n_labels), dtype=np.float32)
                intercept = np.full(n_labels, -10.0, dtype=np.float32)  # a label never seen is never predicted
                for j in range(n_labels):
                    y = targets[:, j] > 0
                    if 0 < y.sum() < len(y):
                        # One linear SVM per label (~10 ms each); margins become probabilities through one
                        # Platt scaling shared by all labels, fitted on the dev split.
                        m = LinearSVC(C=cfg.c, class_weight="balanced").fit(x, y)
                        coef[:, j] = m.coef_[0]
                        intercept[j] = m.intercept_[0]
                    elif y.all():
                        intercept[j] = 10.0
                self.coef_, self.intercept_ = coef, intercept
                return
            if cfg.model == "logreg":
                m = LogisticRegression(C=cfg.c, max_iter=cfg.max_iter, tol=1e-3)
            else:
                m = LinearSVC(C=cfg.c, class_weight="balanced" if cfg.balanced else None)
            m.fit(x, targets)
        coef = np.zeros((x.shape[1], int(targets.max()) + 1), dtype=np.float32)
        intercept = np.full(coef.shape[1], -1e4, dtype=np.float32)
        classes = m.classes_.astype(int)
        if len(classes) == 2 and m.coef_.shape[0] == 1:  # scikit-learn keeps one row for two classes
            coef[:, classes[1]], intercept[classes[1]] = m.coef_[0], m.intercept_[0]
            coef[:, classes[0]], intercept[classes[0]] = 0.0, 0.0
        else:
            coef[:, classes] = m.coef_.T
            intercept[classes] = m.intercept_
        self.coef_, self.intercept_ = coef, intercept

    # ---- prediction ----------------------------------------------------------------------------------------
    def decision(self, texts: list[str]) -> np.ndarray:
        """Raw linear scores (N, L)."""
        if len(texts) == 1:
            idx, val = self.featurizer.vector(texts[0])
            return (val @ self.coef_[idx] + self.intercept_)[None, :]  # (1, L)
        x = self.featurizer.transform(texts)
        return np.asarray(x @ self.coef_) + self.intercept_  # (N, L)

    def predict_proba(self, texts: list[str], calibrated: bool = True) -> np.ndarray:
        scores = self.decision(texts)
        if self.multilabel:
            return sigmoid(self.platt_[0] * scores + self.platt_[1])
        return softmax(scores / (self.temperature_ if calibrated else 1.0))

    def unknown_scores(self, texts: list[str]) -> np.ndarray:
        """Higher = less like anything in training: 1 - the top calibrated probability (measured best for nano)."""
        return np.asarray(1.0 - self.predict_proba(texts).max(1))

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        meta, arrays = self.featurizer.get_state()
        arrays = {**arrays, "coef": self.coef_, "intercept": self.intercept_}
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / "nano.safetensors"))
        meta = {**meta, **self.describe()}
        (directory / "nano.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> NanoEngine:
        meta = json.loads((directory / "nano.json").read_text())
        arrays = load_file(str(directory / "nano.safetensors"))
        engine = cls(NanoConfig(**meta["config"]))
        engine.featurizer = NgramFeaturizer.from_state(meta, arrays)
        engine.coef_ = arrays["coef"]
        engine.intercept_ = arrays["intercept"]
        engine.multilabel = bool(meta["multilabel"])
        engine.temperature_ = float(meta["temperature"])
        engine.threshold_ = float(meta["threshold"])
        engine.platt_ = (float(meta["platt"][0]), float(meta["platt"][1]))
        engine.calibration_ = meta.get("calibration", {})
        engine.unknown_ = meta.get("unknown", {})
        return engine

    def describe(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(mode="json"),
            "multilabel": self.multilabel,
            "temperature": self.temperature_,
            "threshold": self.threshold_,
            "platt": list(self.platt_),
            "n_features": int(self.coef_.shape[0]),
            "calibration": self.calibration_,
            "unknown": self.unknown_,
        }
