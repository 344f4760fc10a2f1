"""Policy and Decision: a confidence (and an unknown-input flag) becomes answer, escalate or queue.

    policy = choose_policy(confidence, correct, min_precision=0.98)   # on held-out data
    decide("billing", 0.91, unknown=False, policy=policy)              # Decision(label, confidence, "answer", ...)

A policy is a confidence threshold chosen on held-out data to meet the target the user states (a minimum
precision of answered items, or a maximum escalation rate), plus what to do below it and with inputs flagged as
unlike anything in training. It is saved in the module's manifest (`microgpt policy DIR DATA --min-precision 0.98`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from microgpt.calibration import threshold_for
from microgpt.errors import ConfigError

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
    top: list[tuple[str, float]] = field(default_factory=list)  # the most probable labels, best first

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
        if self.top:
            out["top"] = [{"label": label, "confidence": round(p, 4)} for label, p in self.top]
        return out

    def columns(self) -> dict[str, Any]:
        """The answer as flat columns (a row of a CSV written by `microgpt predict --out`)."""
        return {"label": self.label, "confidence": round(self.confidence, 4), "decision": self.action,
                "unknown": self.unknown}  # fmt: skip


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


def decide(
    label: str, confidence: float, unknown: bool, policy: Policy | None, top: list[tuple[str, float]] | None = None
) -> Decision:
    """Apply a policy to one prediction (without a policy everything is answered, unknown inputs still flagged)."""
    top = top or []
    if policy is None:
        return Decision(label, confidence, "answer", None, unknown, answer=label, top=top)
    if unknown and policy.unknown != "answer":
        return Decision(label, confidence, policy.unknown, "unknown_input", True, top=top)
    if confidence < policy.threshold:
        return Decision(label, confidence, policy.below, "low_confidence", unknown, top=top)
    return Decision(label, confidence, "answer", None, unknown, answer=label, top=top)
