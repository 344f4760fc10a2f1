"""Knowledge distillation: a student learns from a teacher's softened probabilities as well as from the gold labels.

    soft = soften(teacher_proba, temperature=2.0)                         # (N, L), computed once, no grad
    loss = distillation_loss(logits, soft[batch], gold[batch], weight=0.5, temperature=2.0)

The loss is `weight * T² * KL(soft ‖ softmax(logits / T)) + (1 - weight) * CE(logits, gold)` (Hinton et al., 2015):
the temperature spreads the teacher's mass over the labels it finds similar ("dark knowledge"), T² keeps the soft
term's gradients on the scale of the hard one, and the gold term keeps the student right where the teacher is wrong.
The teacher gives probabilities (calibrated ones, from a saved module), not logits: log-probabilities are logits up
to a per-row constant, which softmax ignores, so `softmax(log p / T)` is exactly the teacher's softened output.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def soften(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Rows of probabilities (N, L) raised to 1/T and renormalised: softmax(log p / T)."""
    logp = np.log(np.clip(proba.astype(np.float64), 1e-12, None)) / temperature  # (N, L)
    logp -= logp.max(axis=1, keepdims=True)
    q = np.exp(logp)
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


def distillation_loss(
    logits: torch.Tensor,
    soft: torch.Tensor,
    gold: torch.Tensor,
    *,
    weight: float,
    temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Blend of the soft (KL to the softened teacher) and hard (cross-entropy on gold) losses; logits (B, L)."""
    log_student = F.log_softmax(logits / temperature, dim=-1)  # (B, L)
    soft_loss = F.kl_div(log_student, soft, reduction="batchmean") * temperature**2
    if weight >= 1.0:
        return soft_loss
    hard_loss = F.cross_entropy(logits, gold, label_smoothing=label_smoothing)
    return weight * soft_loss + (1.0 - weight) * hard_loss
