"""The cascade: turn each prediction into a decision — answer it, escalate it to a large model, or queue it for a human.

    policy = choose_policy(confidence, correct, min_precision=0.98)   # on held-out data
    clf.policy_ = policy;  clf.decide(["where is my card?"])          # [Decision(label, confidence, "answer", ...)]
    Cascade(clf, teacher=LabelTeacher(...), store=Store()).run(texts) # escalations answered, failures queued

A policy is a confidence threshold chosen on held-out data to meet the target the user states (a minimum
precision of answered items, or a maximum escalation rate), plus what to do below it and with inputs flagged as
unlike anything in training. It is saved in the module's manifest (`microgpt policy DIR DATA --min-precision 0.98`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from microgpt.errors import ConfigError
from microgpt.routing.calibration import threshold_for

log = logging.getLogger(__name__)
ACTIONS = ("answer", "escalate", "queue")


@dataclass(frozen=True)
class Policy:
    """Answer at or above `threshold`; below it `below`; inputs flagged unknown get `unknown`."""

    threshold: float
    below: str = "escalate"
    unknown: str = "queue"
    target: str = ""
    coverage: float | None = None  # on the data it was chosen on
    precision: float | None = None
    met: bool = True
    chosen_on: str = ""

    def __post_init__(self) -> None:
        for name in ("below", "unknown"):
            if getattr(self, name) not in ACTIONS:
                raise ConfigError(f"policy {name}={getattr(self, name)!r}", hint=f"use one of: {', '.join(ACTIONS)}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> Policy | None:
        return cls(**value) if value else None


@dataclass
class Decision:
    """One prediction and what to do with it. `reason` says why it is not answered."""

    label: str
    confidence: float
    action: str
    reason: str | None = None
    unknown: bool = False
    answer: str | None = None  # the final answer after escalation (the teacher's label), or the model's own
    answered_by: str = "model"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "decision": self.action,
            "unknown": self.unknown,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.answered_by != "model":
            out.update(answer=self.answer, answered_by=self.answered_by)
        if "review_id" in self.extra:
            out["review_id"] = self.extra["review_id"]
        return out


def choose_policy(
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    min_precision: float | None = None,
    max_escalation: float | None = None,
    below: str = "escalate",
    unknown: str = "queue",
    chosen_on: str = "",
) -> Policy:
    """The threshold meeting the stated target on held-out (confidence, correct), as a policy."""
    if (min_precision is None) == (max_escalation is None):
        raise ConfigError(
            "state one target: a minimum precision of answered items or a maximum escalation rate",
            hint="e.g. --min-precision 0.98, or --max-escalation 0.1",
        )
    for name, value in (("min_precision", min_precision), ("max_escalation", max_escalation)):
        if value is not None and not 0 < value <= 1:
            raise ConfigError(f"{name} must be in (0, 1], got {value}", hint="e.g. 0.98 for 98%")
    t = threshold_for(confidence, correct, min_precision=min_precision, max_escalation=max_escalation)
    if not t.met:
        log.warning("no threshold reaches %s on this data; the policy escalates everything", t.target)
    return Policy(
        threshold=t.threshold,
        below=below,
        unknown=unknown,
        target=t.target,
        coverage=t.coverage,
        precision=t.precision,
        met=t.met,
        chosen_on=chosen_on,
    )


def decide(label: str, confidence: float, unknown: bool, policy: Policy | None) -> Decision:
    """Apply a policy to one prediction (without a policy everything is answered, unknown inputs still flagged)."""
    if policy is None:
        return Decision(label, confidence, "answer", None, unknown, answer=label)
    if unknown and policy.unknown != "answer":
        return Decision(label, confidence, policy.unknown, "unknown_input", True)
    if confidence < policy.threshold:
        return Decision(label, confidence, policy.below, "low_confidence", unknown)
    return Decision(label, confidence, "answer", None, unknown, answer=label)


class Cascade:
    """Runs the policy end to end: answers what the model is sure of, asks the fallback model for the escalated
    texts (its answers are logged as teacher labels), and queues for a person what the policy queues, what the
    fallback could not answer (timeout, error, budget) and what it called unknown — nothing is dropped.

        cascade = Cascade(clf, "ticket-router", teacher=LabelTeacher(LLMClient(FallbackConfig.from_env()), clf.labels_),
                          store=Store())
        for d in cascade.run(texts): print(d.answer, d.answered_by, d.action, d.reason)
    """

    def __init__(self, model: Any, module: str, *, teacher: Any = None, store: Any = None, version: int | None = None):
        self.model = model
        self.module = module
        self.teacher = teacher
        self.store = store
        self.version = version

    def run(self, texts: list[str]) -> list[Decision]:
        decisions = self.model.decide(texts)
        for text, d in zip(texts, decisions, strict=True):
            self.settle(text, d)
        return decisions

    def settle(self, text: str, d: Decision) -> Decision:
        """Carry out one decision: ask the fallback for an escalation, queue what is queued or failed."""
        from microgpt.routing.fallback import FallbackError

        if d.action == "escalate" and self.teacher is not None:
            try:
                answer = self.teacher.label(text)
            except FallbackError as err:
                self._queue(text, d, f"fallback_failed: {err.reason}")
                return d
            if self.store is not None:
                r = answer.result
                self.store.log_teacher(
                    self.module, text, answer.label, self.teacher.client.config.model, answer.raw,
                    r.prompt_tokens, r.completion_tokens, r.cost_usd,
                )  # fmt: skip
            if answer.label is None:
                self._queue(text, d, "teacher_unknown")
            else:
                d.answer, d.answered_by = answer.label, "fallback"
        elif d.action == "escalate":  # no fallback configured: a person decides
            self._queue(text, d, d.reason or "low_confidence")
        elif d.action == "queue":
            self._queue(text, d, d.reason or "queued")
        return d

    def _queue(self, text: str, d: Decision, reason: str) -> None:
        d.action, d.reason, d.answer = "queue", reason, None
        if self.store is not None:
            d.extra["review_id"] = self.store.enqueue_review(
                self.module, text, version=self.version, prediction={"label": d.label}, confidence=d.confidence,
                reason=reason,
            )  # fmt: skip
