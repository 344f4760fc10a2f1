"""`Tagger`: any number of labels per text (multi-intent messages, topic tags)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from microgpt.calibration import micro_f1
from microgpt.data.readers import check_label_counts
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.evaluation.metrics import tagging_metrics
from microgpt.labels.base import LabelTask
from microgpt.progress import Progress


@dataclass(frozen=True)
class Tags:
    """The labels predicted for one text (at or above the tuned threshold), each with its probability."""

    labels: list[str]
    confidences: list[float]

    def to_json(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "confidences": [round(c, 4) for c in self.confidences]}

    def columns(self) -> dict[str, Any]:
        return {"labels": list(self.labels)}


class Tagger(LabelTask):
    """Multi-label tagger on any tier.

    tagger = Tagger(tier="nano").fit(texts, [["pin", "new"], ["card"], []])
    tagger.predict(["how long for a new pin?"])   # -> [["new", "pin"]]
    tagger.predict_proba(texts)                    # independent probabilities, columns follow labels_
    """

    task = "tag"
    data_kind = "labels"
    multilabel = True
    metric = "micro_f1"

    def _validate(self, data: Dataset) -> None:
        counts = data.label_counts()
        if len(counts) < 1:
            raise DataError("no labels anywhere in the data", hint="give at least some examples a list of labels")
        check_label_counts(data, 2)

    def _label_space(self, data: Dataset) -> list[str]:
        return sorted({label for labels in data.label_sets for label in labels})

    def encode_targets(self, data: Dataset) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        y = np.zeros((len(data), len(self.labels_)), dtype=np.float32)
        for row, labels in enumerate(data.label_sets):
            for label in labels:
                y[row, index[label]] = 1.0
        return y

    @property
    def threshold_(self) -> float:
        """Probability at or above which a label is predicted (tuned on a dev split at fit time)."""
        self._check_fitted()
        return float(self.engine_.threshold_)

    def results_from_proba(self, proba: np.ndarray) -> list[Tags]:
        t = self.threshold_
        out = []
        for row in proba:
            idx = np.flatnonzero(row >= t)
            out.append(Tags([self.labels_[j] for j in idx], [float(row[j]) for j in idx]))
        return out

    def predict(self, X: Sequence[str] | Dataset) -> list[list[str]]:
        return [tags.labels for tags in self.results(X)]

    def predict_one(self, text: str) -> tuple[list[str], list[float]]:
        tags = self.results([text])[0]
        return tags.labels, tags.confidences

    def score(self, X: Sequence[str] | Dataset, y: Sequence[Sequence[str]] | None = None) -> float:
        """Micro-averaged F1 over labels (more telling than exact match for multi-label data)."""
        data = self._as_dataset(X, y)
        pred = self._encode_pred(self.predict(data))
        gold = self._encode_targets_known(data)
        unseen = sum(1 for labels in data.label_sets for label in labels if label not in set(self.labels_))
        return micro_f1(pred, gold, extra_misses=unseen)

    def evaluation(self, data: Dataset, progress: Progress) -> dict[str, Any]:
        pred: list[list[str]] = []
        for start in range(0, len(data), 256):
            pred.extend(self.predict(data[start : start + 256]))
            progress("evaluate", min(start + 256, len(data)), len(data))
        return tagging_metrics([list(x) for x in data.label_sets], pred)

    def _encode_pred(self, labels: list[list[str]]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        y = np.zeros((len(labels), len(self.labels_)), dtype=bool)
        for row, items in enumerate(labels):
            for label in items:
                y[row, index[label]] = True
        return y

    def _encode_targets_known(self, data: Dataset) -> np.ndarray:
        """Gold labels as a boolean matrix over `labels_` (labels the model never saw are left out here)."""
        known = set(self.labels_)
        return self._encode_pred([[label for label in labels if label in known] for labels in data.label_sets])
