"""`Classifier`: one label per text (ticket routing, intent detection, sentiment)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microgpt.data.readers import check_label_counts
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.policy import Decision, Policy, choose_policy, decide
from microgpt.task import Task


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

    # ---- knowing when it doesn't know ----------------------------------------------------------------------
    @property
    def calibration_(self) -> dict[str, float]:
        """Temperature and ECE before/after calibration, measured on the held-out dev split at fit time."""
        self._check_fitted()
        return dict(getattr(self.engine_, "calibration_", {}) or {})

    def unknown_scores(self, X: Sequence[str] | Dataset) -> np.ndarray:
        """Per text, how unlike the training data it is (higher = less like anything seen)."""
        self._check_fitted()
        return np.asarray(self.engine_.unknown_scores(self._texts(X)))

    @property
    def unknown_threshold_(self) -> float:
        """Unknown scores above this are flagged (chosen so ~5% of held-out known inputs are)."""
        self._check_fitted()
        return float((getattr(self.engine_, "unknown_", {}) or {}).get("threshold", float("inf")))

    def decide(self, X: Sequence[str] | Dataset) -> list[Decision]:
        """Each text's label, confidence, whether it looks unknown, and the policy's decision (answer / escalate /
        queue). Without a policy (`set_policy`) every text is answered."""
        proba = self.predict_proba(X)
        unknown = 1.0 - proba.max(1)  # "msp": the method measured best on Banking77 for both tiers
        cut = self.unknown_threshold_
        policy = getattr(self, "policy_", None)
        return [
            decide(self.labels_[int(row.argmax())], float(row.max()), bool(u > cut), policy)
            for row, u in zip(proba, unknown, strict=True)
        ]

    def set_policy(
        self,
        X: Sequence[str] | Dataset,
        y: Sequence[str] | None = None,
        *,
        min_precision: float | None = None,
        max_escalation: float | None = None,
        below: str = "escalate",
        unknown: str = "queue",
    ) -> Policy:
        """Choose the confidence threshold on held-out labelled data to meet the target; returns and keeps it."""
        data = self._as_dataset(X, y)
        proba = self.predict_proba(data)
        correct = np.array([self.labels_[int(i)] for i in proba.argmax(1)]) == np.array(data.labels)
        self.policy_ = choose_policy(
            proba.max(1),
            correct,
            min_precision=min_precision,
            max_escalation=max_escalation,
            below=below,
            unknown=unknown,
            chosen_on=f"{data.name or 'held-out data'} ({len(data)} texts)",
        )
        return self.policy_

    def score(self, X: Sequence[str] | Dataset, y: Sequence[str] | None = None) -> float:
        """Accuracy on (texts, labels) or on a labelled Dataset."""
        data = self._as_dataset(X, y)
        return float(np.mean(np.array(self.predict(data)) == np.array(data.labels)))
