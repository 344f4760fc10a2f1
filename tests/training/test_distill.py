"""The distillation loss: softened teacher targets, the soft/hard blend, and a student pulled onto its teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from microgpt.training.distill import distillation_loss, soften


def test_soften_keeps_the_ranking_and_flattens_with_temperature():
    p = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]], dtype=np.float32)
    np.testing.assert_allclose(soften(p, 1.0), p, atol=1e-6)
    hot = soften(p, 4.0)
    np.testing.assert_allclose(hot.sum(1), 1.0, atol=1e-6)
    assert (hot.argmax(1) == p.argmax(1)).all()
    assert (hot.max(1) < p.max(1)).all()  # mass moves to the near-miss labels
    assert np.isfinite(soften(np.array([[1.0, 0.0]]), 2.0)).all()  # a hard 0 does not become -inf


def test_the_weight_blends_gold_cross_entropy_and_teacher_kl():
    torch.manual_seed(0)
    logits, gold = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    soft = torch.softmax(torch.randn(4, 3), -1)
    hard = distillation_loss(logits, soft, gold, weight=0.0, temperature=2.0)
    torch.testing.assert_close(hard, F.cross_entropy(logits, gold))
    kl = distillation_loss(logits, soft, gold, weight=1.0, temperature=2.0)
    expected = F.kl_div(F.log_softmax(logits / 2, -1), soft, reduction="batchmean") * 4
    torch.testing.assert_close(kl, expected)
    torch.testing.assert_close(distillation_loss(logits, soft, gold, weight=0.25, temperature=2.0),
                               0.25 * kl + 0.75 * hard)  # fmt: skip


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_a_student_trained_on_soft_labels_alone_matches_its_teacher(temperature):
    teacher = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], dtype=np.float32)
    soft = torch.from_numpy(soften(teacher, temperature))
    logits = torch.zeros(2, 3, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.1)
    losses = []
    for _ in range(300):
        loss = distillation_loss(logits, soft, torch.tensor([0, 2]), weight=1.0, temperature=temperature)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 20
    np.testing.assert_allclose(torch.softmax(logits / temperature, -1).detach().numpy(), soft.numpy(), atol=1e-2)
