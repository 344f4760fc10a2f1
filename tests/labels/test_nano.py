"""The nano tier: the fast single-text path agrees with the batch path; n-gram features behave as documented."""

from __future__ import annotations

import numpy as np
import pytest

from microgpt.backbones.ngram import NgramFeaturizer
from microgpt.calibration import fit_temperature, softmax
from microgpt.labels.nano import NanoEngine


def test_analyze_emits_word_char_and_skip_blocks():
    f = NgramFeaturizer(word_ngrams=(1, 2), char_ngrams=(2, 3), skip_window=3)
    keys = f.analyze("Card NOT arrived")
    assert "wcard" in keys and "wcard not" in keys and "wnot arrived" in keys
    assert "c c" in keys and "c ca" in keys and "ccar" in keys  # char n-grams see the word padded with spaces
    assert "ccard" not in keys  # 4-grams are outside char_ngrams=(2, 3)
    assert "scard arrived" in keys  # a skip-bigram over one word
    assert f.analyze("ＣＡＲＤ") == NgramFeaturizer(word_ngrams=(1, 2), char_ngrams=(2, 3), skip_window=3).analyze(
        "card"
    )


def test_blocks_are_l2_normalised_separately():
    f = NgramFeaturizer()
    x = f.fit_transform(["where is my card", "card arrived broken", "refund please"])
    row = x[0].toarray()[0]
    for block in (0, 1):
        part = row[f.block_ == block]
        assert np.linalg.norm(part) == pytest.approx(1.0, abs=1e-5)


def test_single_text_fast_path_equals_batch_path(helpdesk_split):
    train, test = helpdesk_split
    labels = sorted(set(train.labels))
    y = np.array([labels.index(label) for label in train.labels])
    engine = NanoEngine().fit(train.texts, y, multilabel=False)
    batch = engine.predict_proba(test.texts[:20])
    single = np.vstack([engine.predict_proba([t]) for t in test.texts[:20]])
    np.testing.assert_allclose(single, batch, rtol=1e-5, atol=1e-6)
    unseen = engine.predict_proba(["zzzz qqqq"])  # no known n-gram: falls back to the intercepts, still a distribution
    assert unseen.sum() == pytest.approx(1.0)


def test_temperature_scaling_lowers_overconfidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    logits = rng.normal(size=(500, 3))
    logits[np.arange(500), y] += 1.0
    logits *= 8  # grossly overconfident scores
    t = fit_temperature(logits, y)
    assert t > 2

    def nll(p: np.ndarray) -> float:
        return float(-np.log(p[np.arange(500), y]).mean())

    assert nll(softmax(logits / t)) < nll(softmax(logits))
