"""`Classifier`: one label per text (ticket routing, intent detection, sentiment)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from microgpt.calibration import coverage_curve, ece, reliability, selective_accuracy
from microgpt.data.readers import check_label_counts
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.evaluation.metrics import classification_metrics
from microgpt.labels.base import LabelTask
from microgpt.policy import Decision, Policy, choose_policy, decide
from microgpt.progress import Progress

TOP_K = 3  # alternatives each answer carries (what a reviewer picks from)


class Classifier(LabelTask):
    """Single-label text classifier on any tier.

    clf = Classifier(tier="nano").fit(texts, labels)
    clf.predict(["I was charged twice"])        # -> ["billing"]
    clf.predict_proba(texts)                    # rows sum to 1, columns follow clf.labels_
    clf.results(texts)                          # Decision per text: label, confidence, decision, unknown, top 3
    """

    task = "classify"
    multilabel = False
    costed: ClassVar[bool] = True
    teacher_labels: ClassVar[bool] = True
    metric = "accuracy"  # its report compares the cost per 1,000 requests with an LLM's

    def _validate(self, data: Dataset) -> None:
        if data.is_multilabel:
            raise DataError("some examples have several labels", hint="use Tagger (--task tag) for multi-label data")
        counts = data.label_counts()
        if len(counts) < 2:
            raise DataError(
                f"only one label in the data ({next(iter(counts), None)!r})",
                hint="a classifier needs at least two labels, each with at least 2 examples",
            )
        check_label_counts(data, 2)

    def _fit_engine(self, data: Dataset, progress: Progress) -> Any:
        self.policy_: Policy | None = None  # set on held-out data with set_policy / `microgpt policy`
        return super()._fit_engine(data, progress)

    def _label_space(self, data: Dataset) -> list[str]:
        return sorted(set(data.labels))

    def encode_targets(self, data: Dataset) -> np.ndarray:
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
    def unknown_scores(self, X: Sequence[str] | Dataset) -> np.ndarray:
        """Per text, how unlike the training data it is (higher = less like anything seen)."""
        self._check_fitted()
        return np.asarray(self.engine_.unknown_scores(self._texts(X)))

    @property
    def unknown_threshold_(self) -> float:
        """Unknown scores above this are flagged (chosen so ~5% of held-out known inputs are)."""
        self._check_fitted()
        return float((getattr(self.engine_, "unknown_", {}) or {}).get("threshold", float("inf")))

    def results_from_proba(self, proba: np.ndarray) -> list[Decision]:
        """Each row's label, confidence, top alternatives, whether it looks unknown, and the policy's decision."""
        cut = self.unknown_threshold_
        policy = getattr(self, "policy_", None)
        out = []
        k = min(TOP_K, len(self.labels_))
        for row in proba:
            order = np.argsort(-row, kind="stable")[:k]
            best = int(order[0])
            confidence = float(row[best])
            top = [(self.labels_[int(j)], float(row[j])) for j in order]
            # unknown = 1 - max probability ("msp"): the method measured best on Banking77 for both tiers
            out.append(decide(self.labels_[best], confidence, bool(1.0 - confidence > cut), policy, top))
        return out

    def decide(self, X: Sequence[str] | Dataset) -> list[Decision]:
        """Each text's label, confidence, whether it looks unknown, and the policy's decision (answer / escalate /
        queue). Without a policy (`set_policy`) every text is answered."""
        return self.results(X)

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

    # ---- evaluation ----------------------------------------------------------------------------------------
    def evaluation(self, data: Dataset, progress: Progress) -> dict[str, Any]:
        gold = data.labels
        t0 = time.perf_counter()
        proba = _chunked(lambda part: self.predict_proba(part), data, progress)
        throughput = len(data) / max(time.perf_counter() - t0, 1e-9)
        pred = [self.labels_[int(i)] for i in proba.argmax(1)]
        metrics = classification_metrics(gold, pred)
        metrics.update(self.trust_metrics(data, proba))
        unknown = sorted(set(gold) - set(self.labels_))
        if unknown:
            metrics["unknown_labels"] = unknown  # gold labels the model was never trained on: always wrong
        conf = proba.max(1)
        wrong = [i for i in np.argsort(-conf, kind="stable") if pred[i] != gold[i]]
        metrics["misclassified"] = [  # the surest mistakes first: what hurts a business most
            {"text": data[int(i)].text, "gold": gold[i], "predicted": pred[i], "confidence": round(float(conf[i]), 4)}
            for i in wrong[:10]
        ]
        metrics["_confusion"] = (gold, pred)
        metrics["_throughput"] = throughput
        return metrics

    def trust_metrics(self, data: Dataset, proba: np.ndarray) -> dict[str, Any]:
        """How far the confidences can be trusted: ECE (calibrated and raw), accuracy at 90% coverage, the
        reliability diagram and accuracy-coverage curve, unknown inputs flagged, and the policy on this data."""
        conf = proba.max(1)
        correct = np.array([self.labels_[int(i)] for i in proba.argmax(1)]) == np.array(data.labels)
        raw = self.engine_.predict_proba(data.texts, calibrated=False)
        index = {label: i for i, label in enumerate(self.labels_)}
        gold_index = np.array([index.get(label, -1) for label in data.labels])
        out: dict[str, Any] = {
            "ece": ece(conf, correct),
            "ece_uncalibrated": ece(raw.max(1), raw.argmax(1) == gold_index),
            "selective_accuracy_at_90_coverage": selective_accuracy(conf, correct, 0.9),
            "flagged_unknown": float(np.mean(1.0 - conf > self.unknown_threshold_)),
            "reliability": reliability(conf, correct),
            "coverage_curve": coverage_curve(conf, correct),
        }
        policy = getattr(self, "policy_", None)
        if policy is not None:
            decisions = [d.action for d in self.results_from_proba(proba)]
            answered = np.array([a == "answer" for a in decisions])
            out["policy"] = {
                **policy.to_json(),
                "answered": float(answered.mean()),
                "precision_answered": float(correct[answered].mean()) if answered.any() else None,
                "escalated": decisions.count("escalate") / len(decisions),
                "queued": decisions.count("queue") / len(decisions),
            }
        return out

    # ---- persistence ---------------------------------------------------------------------------------------
    def _manifest_extra(self) -> dict[str, Any]:
        policy: Policy | None = getattr(self, "policy_", None)
        return {**super()._manifest_extra(), "policy": policy.to_json() if policy else None}

    def _restore_state(self, path: Any, manifest: dict[str, Any]) -> None:
        super()._restore_state(path, manifest)
        self.policy_ = Policy.from_json(manifest.get("policy"))


def _chunked(predict: Any, data: Dataset, progress: Progress, chunk: int = 256) -> np.ndarray:
    """`predict` over `data` in chunks, so a long evaluation can show progress."""
    parts = []
    for start in range(0, len(data), chunk):
        parts.append(predict(data[start : start + chunk]))
        progress("evaluate", min(start + chunk, len(data)), len(data))
    return np.concatenate(parts) if parts else np.zeros((0, len(data)))
