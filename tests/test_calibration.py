"""Calibration and the cascade policy: temperature scaling lowers ECE, thresholds meet their targets on held-out
data, decisions follow the policy, and a policy survives save → load."""

from __future__ import annotations

import numpy as np
import pytest

import microgpt
from microgpt.calibration import (
    auroc,
    coverage_curve,
    ece,
    fit_temperature,
    flagged_at,
    reliability,
    selective_accuracy,
    softmax,
    threshold_for,
)
from microgpt.errors import ConfigError
from microgpt.policy import Policy, choose_policy, decide


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a 5-class model whose true probabilities are softmax(z), reported as softmax(3z): overconfident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.2, size=(n, 5))
    truth = softmax(z)
    y = np.array([rng.choice(5, p=p) for p in truth])
    return 3.0 * z, y


def test_temperature_scaling_lowers_ece_on_held_out_data():
    fit_logits, fit_y = overconfident(4000, 0)
    test_logits, test_y = overconfident(4000, 1)
    t = fit_temperature(fit_logits, fit_y)
    assert t == pytest.approx(3.0, rel=0.15)  # recovers the distortion
    before, after = softmax(test_logits), softmax(test_logits / t)
    ece_before = ece(before.max(1), before.argmax(1) == test_y)
    ece_after = ece(after.max(1), after.argmax(1) == test_y)
    assert ece_before > 0.15 and ece_after < 0.03


def test_ece_and_reliability_by_hand():
    conf = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, True, True, False])
    # bin (0.933, 1]: conf .95, acc 1 → gap .05 × 2/4; bin containing .55: conf .55, acc .5 → gap .05 × 2/4
    assert ece(conf, correct) == pytest.approx(0.05)
    bins = reliability(conf, correct)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert [b for b in bins if b["count"]][-1]["accuracy"] == 1.0


def test_selective_accuracy_and_coverage_curve():
    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    correct = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)
    assert selective_accuracy(conf, correct, 0.8) == 1.0
    assert selective_accuracy(conf, correct, 1.0) == 0.8
    curve = coverage_curve(conf, correct)
    assert curve["accuracy"][-1] == pytest.approx(0.8) and max(curve["accuracy"]) == 1.0


@pytest.mark.parametrize("target", [0.9, 0.95, 0.98])
def test_threshold_meets_a_precision_target_on_held_out_data(target):
    rng = np.random.default_rng(3)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:  # a calibrated model: P(correct) = confidence
        conf = rng.beta(5, 1.5, size=n)
        return conf, rng.random(n) < conf

    conf, correct = sample(20_000)
    t = threshold_for(conf, correct, min_precision=target)
    assert t.met and t.precision >= target
    held_conf, held_correct = sample(20_000)
    answered = held_conf >= t.threshold
    assert held_correct[answered].mean() >= target - 0.01  # holds on data it was not chosen on
    assert abs(answered.mean() - t.coverage) < 0.02


def test_threshold_for_a_maximum_escalation_rate_and_ties():
    conf = np.array([0.9, 0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    correct = np.ones(10, dtype=bool)
    t = threshold_for(conf, correct, max_escalation=0.3)
    assert t.threshold == 0.5 and t.coverage == 0.7  # exactly 30% escalated: the strictest allowed
    t = threshold_for(conf, correct, max_escalation=0.8)
    assert t.threshold == 0.9 and t.coverage == 0.3  # the three tied at 0.9 are answered together
    impossible = threshold_for(np.array([0.9, 0.8]), np.array([False, False]), min_precision=0.99)
    assert not impossible.met and impossible.threshold > 0.9  # escalate everything rather than fail silently


def test_unknown_detection_scores():
    rng = np.random.default_rng(0)
    known, unknown = rng.normal(0, 1, 1000), rng.normal(3, 1, 1000)
    assert auroc(known, unknown) > 0.95
    assert 0.8 < flagged_at(known, unknown, 0.05) < 0.95  # a 1.64 cut flags ~91% of N(3, 1)


def test_decisions_follow_the_policy():
    policy = Policy(threshold=0.8, below="escalate", unknown="queue")
    assert decide("refund", 0.9, False, policy).action == "answer"
    low = decide("refund", 0.5, False, policy)
    assert (low.action, low.reason) == ("escalate", "low_confidence")
    odd = decide("refund", 0.95, True, policy)
    assert (odd.action, odd.reason) == ("queue", "unknown_input")
    assert decide("refund", 0.1, True, None).action == "answer"  # no policy: answer, but still flagged
    with pytest.raises(ConfigError, match="one target"):
        choose_policy(np.array([0.5]), np.array([True]))
    with pytest.raises(ConfigError, match="below"):
        Policy(threshold=0.5, below="ignore")


def test_classifier_policy_round_trips_through_the_module(tmp_path, helpdesk_split):
    train, test = helpdesk_split
    model = microgpt.Classifier("nano").fit(train)
    assert set(model.calibration_) >= {"temperature", "ece_before", "ece_after", "n"}
    policy = model.set_policy(test, min_precision=0.9, below="queue")
    assert policy.met and policy.precision >= 0.9 and policy.below == "queue"
    model.save(tmp_path / "m")
    loaded = microgpt.load(tmp_path / "m")
    assert loaded.policy_ == policy
    decisions = loaded.decide(test)
    answered = [d for d, e in zip(decisions, test, strict=True) if d.action == "answer"]
    right = [d for d, e in zip(decisions, test, strict=True) if d.action == "answer" and d.label == e.label]
    assert len(right) / len(answered) >= 0.9  # the precision it was chosen for, on the same data
    report = microgpt.evaluate(loaded, test, write=False)["metrics"]
    assert {"ece", "ece_uncalibrated", "selective_accuracy_at_90_coverage", "reliability", "policy"} <= set(report)
    assert report["ece"] < report["ece_uncalibrated"]
    assert report["policy"]["precision_answered"] >= 0.9
