"""The fine-tuning loop on a tiny randomly initialised BERT: batching, padding, learning, budgets, early stop."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from microgpt.backbones.encoder import EncoderHead
from microgpt.training.loop import (
    TrainArgs,
    fine_tune,
    length_grouped_batches,
    lr_factor,
    pad_batch,
    predict_logits,
    train_loop,
)


def test_length_grouped_batches_cover_every_index_once():
    lengths = [random.Random(i).randint(3, 60) for i in range(1000)]
    batches = length_grouped_batches(lengths, 32, random.Random(0))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    # inside a batch lengths are close: far less padding than random batches
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 10


def test_pad_batch_pads_to_the_longest_and_masks():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def tiny_model(n_out: int) -> EncoderHead:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    return EncoderHead(BertModel(config), n_out, dropout=0.0)


def toy_data(n: int = 64) -> tuple[list[list[int]], np.ndarray]:
    """Class 0 texts use tokens 10–19, class 1 texts tokens 20–29: trivially separable."""
    rng = random.Random(0)
    ids, y = [], []
    for i in range(n):
        label = i % 2
        ids.append([1] + [rng.randint(10, 19) + 10 * label for _ in range(rng.randint(2, 8))] + [2])
        y.append(label)
    return ids, np.array(y)


def args(**overrides) -> TrainArgs:
    settings = dict(epochs=6, batch_size=8, lr=3e-3, head_lr=3e-3, weight_decay=0.0, warmup_ratio=0.1, patience=6)
    return TrainArgs(**{**settings, **overrides})


def run(model, ids, y, **overrides):
    dev_ids, dev_y = ids[:16], y[:16]
    score = lambda logits: float((logits.argmax(1) == dev_y).mean())  # noqa: E731
    return fine_tune(model, ids, y, dev_ids, score, args(**overrides), pad_id=0)


def test_fine_tune_learns_a_separable_task_and_keeps_the_best_epoch():
    ids, y = toy_data()
    model = tiny_model(2)
    result = run(model, ids, y)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.best_dev == 1.0
    assert (predict_logits(model, ids, 0).argmax(1) == y).mean() == 1.0


def test_step_budget_and_time_budget_stop_training():
    ids, y = toy_data()
    result = run(tiny_model(2), ids, y, max_steps=3)
    assert result.steps == 3 and result.stopped_because == "step budget reached"
    result = run(tiny_model(2), ids, y, epochs=1000, max_minutes=0.002)
    assert result.steps < 1000 * 8 and "time budget" in result.stopped_because


def test_early_stopping_after_patience_epochs_without_gain():
    ids, y = toy_data()
    result = fine_tune(
        tiny_model(2),
        ids,
        y,
        ids[:8],
        lambda logits: 0.5,  # a dev score that never improves
        args(epochs=20, lr=1e-3, head_lr=1e-3, warmup_ratio=0.0, patience=2),
        pad_id=0,
    )
    # 20 epochs planned: no early stop in the first half (epoch 10), then stop after 2 epochs without gain
    assert len(result.history) == 10 and result.best_epoch == 1
    assert "no dev improvement for 2" in result.stopped_because


@pytest.mark.parametrize("multilabel", [False, True])
def test_single_and_multilabel_targets_both_learn(multilabel):
    """Class indices train with cross-entropy, multi-hot rows with BCE; both fit the toy data."""
    ids, y = toy_data()
    onehot = np.stack([y == 0, y == 1], axis=1).astype(np.float32)
    targets = onehot if multilabel else y
    model = tiny_model(2)
    fine_tune(model, ids, targets, None, None, args(patience=1), pad_id=0, multilabel=multilabel)
    logits = predict_logits(model, ids, 0)
    if multilabel:
        assert ((logits > 0) == (onehot > 0)).mean() > 0.95
    else:
        assert (logits.argmax(1) == y).mean() > 0.95


def test_schedules_warm_up_then_decay_to_their_floor():
    linear = TrainArgs(epochs=1, batch_size=1, lr=1.0, warmup_steps=10)
    assert lr_factor(linear, 0, 0.0, 100) == pytest.approx(0.1) and lr_factor(linear, 9, 0.09, 100) == 1.0
    assert lr_factor(linear, 55, 0.55, 100) == pytest.approx(0.5) and lr_factor(linear, 99, 1.0, 100) == 0.0
    cosine = TrainArgs(epochs=1, batch_size=1, lr=1.0, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    assert lr_factor(cosine, 10, 0.1, 100) == pytest.approx(1.0) and lr_factor(cosine, 99, 1.0, 100) == pytest.approx(
        0.1
    )
    # the time-budget rule: half the time spent at step 20 of 100 means the schedule is half way, not a fifth
    assert lr_factor(linear, 20, 0.5 * 100 / 100 + 0.05, 100) < lr_factor(linear, 20, 0.2, 100)


def test_one_loop_trains_any_model_through_batch_loss():
    """The generic loop (what tinygpt uses): a linear model learns y = 2x, lr decays to zero, no dev, last epoch."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)

    def batch_loss(batch, rng):
        return torch.nn.functional.mse_loss(model(x[batch]), 2 * x[batch])

    result = train_loop(model, [1] * 64, batch_loss, TrainArgs(epochs=40, batch_size=8, lr=0.1, weight_decay=0.0))
    assert result.history[-1]["lr"] < 0.01 and result.stopped_because == "all epochs done"
    assert abs(float(model.weight.detach()) - 2.0) < 0.05
