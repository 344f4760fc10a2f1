"""The estimator contract, run over every task × tier: fit returns self, probabilities are well-formed,
save → load gives identical predictions, and predicting before fit raises a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import microgpt
from microgpt import Classifier, NotFittedError, Tagger
from tests.conftest import TINY_MICRO

TIERS = [
    "nano",
    pytest.param("micro", marks=pytest.mark.slow),
    pytest.param("auto", marks=pytest.mark.slow),
]


def make(task: str, tier: str):
    cls = Classifier if task == "classify" else Tagger
    return cls(tier, micro=TINY_MICRO)


@pytest.fixture(scope="module")
def fitted(request, helpdesk_split, small_tags):
    """Train each (task, tier) once per module; the tests below share the trained models."""
    cache = {}

    def get(task: str, tier: str):
        if (task, tier) not in cache:
            data = helpdesk_split[0] if task == "classify" else small_tags
            model = make(task, tier)
            cache[(task, tier)] = (model, model.fit(data))
        return cache[(task, tier)]

    return get


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("task", ["classify", "tag"])
def test_fit_returns_self_and_sets_learned_state(fitted, task, tier):
    model, returned = fitted(task, tier)
    assert returned is model
    assert model.labels_ == sorted(model.labels_) and len(model.labels_) >= 4
    assert model.engine_.tier in ("nano", "micro")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("task", ["classify", "tag"])
def test_probabilities_follow_labels(fitted, task, tier, helpdesk_split, small_tags):
    model, _ = fitted(task, tier)
    texts = helpdesk_split[1].texts[:7] if task == "classify" else small_tags.texts[:7]
    proba = model.predict_proba(texts)
    assert proba.shape == (7, len(model.labels_))
    assert np.all(proba >= 0) and np.all(proba <= 1)
    if task == "classify":
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
        assert model.predict(texts) == [model.labels_[i] for i in proba.argmax(axis=1)]
    else:
        t = model.threshold_
        assert model.predict(texts) == [[model.labels_[j] for j in np.flatnonzero(r >= t)] for r in proba]


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("task", ["classify", "tag"])
def test_save_load_gives_identical_predictions(fitted, task, tier, tmp_path, helpdesk_split, small_tags):
    model, _ = fitted(task, tier)
    texts = helpdesk_split[1].texts if task == "classify" else small_tags.texts
    model.save(tmp_path / "m")
    loaded = microgpt.load(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.labels_ == model.labels_
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
    assert loaded.predict(texts) == model.predict(texts)


@pytest.mark.parametrize("tier", ["nano", "micro", "auto"])
@pytest.mark.parametrize("task", ["classify", "tag"])
def test_predict_before_fit_raises_clear_error(task, tier):
    model = make(task, tier)
    for call in (model.predict, model.predict_proba):
        with pytest.raises(NotFittedError, match="not fitted") as err:
            call(["hello"])
        assert ".fit(" in err.value.hint
    with pytest.raises(NotFittedError):
        model.save("/tmp/never-written")


def test_nano_learns_the_helpdesk_routes(helpdesk_split):
    """A regression floor, not a benchmark: nano must clearly beat chance (10%) on held-out tickets."""
    train, test = helpdesk_split
    model = Classifier("nano").fit(train)
    assert model.score(test) > 0.6
    label, confidence = model.predict_one("I forgot my password and can't sign in")
    assert label == "login" and 0 < confidence <= 1


def test_tagger_score_is_micro_f1_and_counts_unseen_labels(small_tags):
    model = Tagger("nano").fit(small_tags)
    assert model.score(small_tags) > 0.8
    texts = small_tags.texts[:2]
    gold = [[*list(small_tags[0].labels), "never_seen"], list(small_tags[1].labels)]
    assert model.score(texts, gold) < model.score(texts, [list(small_tags[0].labels), list(small_tags[1].labels)])


def test_predict_rejects_a_bare_string_and_empty_text(helpdesk_split):
    model = Classifier("nano").fit(helpdesk_split[0])
    with pytest.raises(microgpt.DataError, match="single string") as err:
        model.predict("where is my parcel")
    assert "predict([" in err.value.hint
    with pytest.raises(microgpt.DataError, match="empty text at item 1"):
        model.predict(["ok", "  "])
    with pytest.raises(microgpt.DataError, match="over the 100,000 limit"):
        model.predict(["x" * 100_001])
    assert model.predict_proba([]).shape == (0, len(model.labels_))


def test_classifier_rejects_bad_training_data():
    with pytest.raises(microgpt.DataError, match="only one label"):
        Classifier("nano").fit(["a", "b"], ["x", "x"])
    with pytest.raises(microgpt.DataError, match="fewer than 2 examples"):
        Classifier("nano").fit(["a", "b", "c"], ["x", "x", "y"])
    with pytest.raises(microgpt.DataError, match="3 texts but 2 targets"):
        Classifier("nano").fit(["a", "b", "c"], ["x", "y"])
    with pytest.raises(microgpt.DataError, match="Tagger"):
        Classifier("nano").fit(microgpt.Dataset.from_lists(["a", "b"], [["x"], ["x"]]))


def test_unknown_tier_and_config_typo_suggest_the_fix(helpdesk_split):
    with pytest.raises(microgpt.ConfigError, match="unknown tier 'large'"):
        Classifier("large").fit(helpdesk_split[0])
    with pytest.raises(microgpt.ConfigError, match="did you mean 'epochs'"):
        Classifier("micro", micro={"epoch": 3}).fit(helpdesk_split[0])
