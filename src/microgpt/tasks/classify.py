"""`Classifier`: one label per text (ticket routing, intent detection, sentiment)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microgpt.data.readers import check_label_counts
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.tasks.base import Task


class Classifier(Task):
    """Single-label text classifier on any tier.

    clf = Classifier(tier="nano").fit(texts, labels)
    clf.predict(["I was charged twice"])        # -> ["billing"]
    clf.predict_proba(texts)                    # rows sum to 1, columns follow clf.labels_
    clf.save("router/")
    """

    task = "classify"
    multilabel = False

    def _validate_training_data(self, data: Dataset) -> None:
        super()._validate_training_data(data)
        if data.is_multilabel:
            raise DataError("some examples have several labels", hint="use Tagger (--task tag) for multi-label data")
        counts = data.label_counts()
        if len(counts) < 2:
            raise DataError(
                f"only one label in the data ({next(iter(counts), None)!r})",
                hint="a classifier needs at least two labels, each with at least 2 examples",
            )
        check_label_counts(data, 2)

    def _label_space(self, data: Dataset) -> list[str]:
        return sorted(set(data.labels))

    def _encode_targets(self, data: Dataset) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        return np.array([index[label] for label in data.labels], dtype=np.int64)

    def predict(self, X: Sequence[str] | Dataset) -> list[str]:
        """The most probable label for each text."""
        proba = self.predict_proba(X)
        return [self.labels_[i] for i in proba.argmax(axis=1)]

    def predict_one(self, text: str) -> tuple[str, float]:
        """(label, confidence) for one text — the low-latency path used by the CLI and servers."""
        proba = self.predict_proba([text])[0]
        best = int(proba.argmax())
        return self.labels_[best], float(proba[best])

    def score(self, X: Sequence[str] | Dataset, y: Sequence[str] | None = None) -> float:
        """Accuracy on (texts, labels) or on a labelled Dataset."""
        data = self._as_dataset(X, y)
        return float(np.mean(np.array(self.predict(data)) == np.array(data.labels)))
