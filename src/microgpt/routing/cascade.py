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
from typing import Any

from microgpt.policy import Decision

log = logging.getLogger(__name__)


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
        from microgpt.routing.llm import FallbackError

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
