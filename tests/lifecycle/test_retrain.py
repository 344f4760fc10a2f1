"""The retrain gate: corrections from the store make a new version that is promoted only when it is not worse on
the frozen evaluation set; a worse one is refused; rollback gives back the old answers exactly."""

from __future__ import annotations

import random

import pytest

import microgpt
from microgpt.data.records import Dataset
from microgpt.errors import DataError
from microgpt.lifecycle.retrain import retrain
from microgpt.store.db import Store
from microgpt.store.registry import Registry


def write_csv(path, data: Dataset) -> str:
    rows = "".join(f'"{e.text.replace(chr(34), chr(39))}",{e.label}\n' for e in data)
    path.write_text("text,label\n" + rows)
    return str(path)


@pytest.fixture()
def setup(tmp_path, helpdesk_split):
    train, test = helpdesk_split
    base, later = train[:120], train[120:]
    base_csv = write_csv(tmp_path / "base.csv", base)
    eval_csv = write_csv(tmp_path / "eval.csv", test)
    registry, store = Registry(tmp_path / "home"), Store(tmp_path / "home" / "microgpt.db")
    microgpt.Classifier("nano").fit(base).save(tmp_path / "v1")
    registry.add(tmp_path / "v1", "router")
    return registry, store, base_csv, eval_csv, later, test


def test_corrections_make_a_better_version_that_is_promoted_and_rollback_restores_the_old_answers(setup):
    registry, store, base_csv, eval_csv, later, test = setup
    before = registry.load("router").predict(test)
    for e in later:  # 180 corrections arrive as user feedback
        store.add_feedback("router", e.label, text=e.text)
    result = retrain("router", base_csv, eval_data=eval_csv, registry=registry, store=store)
    assert result.n_corrections == len(later) and result.n_train == 120 + len(later)
    assert result.new_score >= result.old_score and result.promoted
    assert registry.current("router") == result.new_version == 2
    assert "frozen evaluation set (100 texts)" in result.why
    registry.rollback("router")
    assert registry.current("router") == 1
    assert registry.load("router").predict(test) == before  # exactly the old answers


def test_a_worse_version_is_refused_and_the_live_one_keeps_answering(setup):
    registry, store, base_csv, eval_csv, later, _ = setup
    labels = sorted({e.label for e in later})
    rng = random.Random(0)
    for e in list(later) * 1:
        store.add_feedback("router", rng.choice([x for x in labels if x != e.label]), text=e.text)  # all wrong
    result = retrain("router", base_csv, eval_data=eval_csv, registry=registry, store=store, min_gain=0.0)
    assert not result.promoted and result.new_score < result.old_score
    assert registry.current("router") == 1 and [v.version for v in registry.versions("router")] == [1, 2]
    assert "<" in result.why


def test_the_evaluation_set_is_frozen(setup, tmp_path):
    registry, store, base_csv, eval_csv, _, test = setup
    with pytest.raises(DataError, match="no evaluation set is frozen"):
        retrain("router", base_csv, registry=registry, store=store)
    retrain("router", base_csv, eval_data=eval_csv, registry=registry, store=store)
    other = write_csv(tmp_path / "other.csv", test[:50])
    with pytest.raises(DataError, match="differs from the evaluation set frozen") as err:
        retrain("router", base_csv, eval_data=other, registry=registry, store=store)
    assert "--refreeze" in err.value.hint
    result = retrain("router", base_csv, registry=registry, store=store)  # the frozen set is reused
    assert result.n_eval == 100
