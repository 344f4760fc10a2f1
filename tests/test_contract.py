"""One contract over all four tasks (nano): fit → results → save → load gives identical output; typed results
round-trip through JSON; a not-fitted model and a bad tier raise errors naming the fix; settings clone the
scikit-learn way; and a new toy task needs one class and one registry entry, nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import microgpt
from microgpt.config import NanoConfig
from microgpt.data.records import Dataset
from microgpt.task import TASKS, Task, Tier, register_task, task_class

ROOT = Path(__file__).resolve().parents[1] / "examples"
TASK_NAMES = ["classify", "tag", "extract", "reply"]


def _data(task: str, helpdesk: Dataset, small_tags: Dataset) -> Dataset:
    if task == "classify":
        return helpdesk
    if task == "tag":
        return small_tags
    if task == "extract":
        return microgpt.read_examples(ROOT / "bookings.jsonl", task="extract")
    return microgpt.read_examples(ROOT / "replies.jsonl", task="reply")


@pytest.fixture(scope="module")
def fitted(helpdesk: Dataset, small_tags: Dataset) -> dict[str, tuple[Task, Dataset]]:
    out = {}
    for name in TASK_NAMES:
        data = _data(name, helpdesk, small_tags)
        model = task_class(name)("nano")
        assert model.fit(data) is model  # fit returns self
        out[name] = (model, data)
    return out


@pytest.mark.parametrize("task", TASK_NAMES)
def test_save_load_gives_identical_results(fitted, task, tmp_path):
    model, data = fitted[task]
    texts = data.texts[:12]
    model.save(tmp_path / "m")
    loaded = microgpt.load(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.task == task
    assert loaded.get_params() == {**model.get_params(), **loaded.get_params()}  # same settings, resolved
    before = [r.to_json() for r in model.results(texts)]
    after = [r.to_json() for r in loaded.results(texts)]
    for b, a in zip(before, after, strict=True):  # timings differ between two drafts; everything else is equal
        for key in ("ms", "first_token_ms"):
            b.pop(key, None), a.pop(key, None)
        assert a == b


@pytest.mark.parametrize("task", TASK_NAMES)
def test_typed_results_round_trip_through_json(fitted, task):
    model, data = fitted[task]
    for result in model.results(data.texts[:5]):
        doc = result.to_json()
        assert json.loads(json.dumps(doc)) == doc  # plain JSON, nothing a client cannot parse
    key = {"classify": "label", "tag": "labels", "extract": "fields", "reply": "reply"}[task]
    assert key in model.results(data.texts[:1])[0].to_json()


@pytest.mark.parametrize("task", TASK_NAMES)
def test_not_fitted_and_bad_tier_name_the_fix(task, helpdesk, small_tags):
    cls = task_class(task)
    with pytest.raises(microgpt.NotFittedError, match="not fitted") as err:
        cls("nano").results(["hello"])
    assert "fit" in err.value.hint
    with pytest.raises(microgpt.ConfigError, match="unknown tier 'large'") as bad:
        cls("large").fit(_data(task, helpdesk, small_tags))
    assert all(t in bad.value.hint for t in cls.tier_names())


@pytest.mark.parametrize("task", TASK_NAMES)
def test_options_a_task_does_not_take_are_refused(fitted, task):
    model, data = fitted[task]
    other = "intent" if task != "reply" else "context"
    with pytest.raises(microgpt.DataError, match=f'"{other}" is not an option'):
        model.results(data.texts[:1], **{other: "x"})


def test_label_tasks_follow_the_scikit_learn_estimator_contract(helpdesk_split):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    train, test = helpdesk_split
    model = microgpt.Classifier("nano", nano={"c": 0.5})
    assert model.get_params(deep=True) == {"tier": "nano", "nano": {"c": 0.5}, "micro": None, "auto": None,
                                           "teacher": None, "seed": 0}  # fmt: skip
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert model.set_params(seed=3) is model and model.seed == 3
    with pytest.raises(microgpt.ConfigError, match="unknown parameter 'sed'"):
        model.set_params(sed=1)
    pipe = Pipeline([("lower", FunctionTransformer(lambda xs: [x.lower() for x in xs])), ("clf", copy)])
    pipe.fit(train.texts, train.labels)
    assert pipe.score(test.texts, test.labels) > 0.6
    search = GridSearchCV(microgpt.Classifier("nano"), {"nano": [{"c": 0.3}, {"c": 1.0}]}, cv=2)
    search.fit(np.array(train.texts, dtype=object), np.array(train.labels, dtype=object))
    assert search.best_params_["nano"] in ({"c": 0.3}, {"c": 1.0})


@register_task
class Shout(Task):
    """A toy task: is the text shouted (mostly capitals)? One class + one registry entry, nothing else."""

    task = "shout"
    metric = "accuracy"
    tiers: ClassVar[dict[str, Tier]] = {"nano": Tier("tests.test_contract:ShoutEngine", NanoConfig)}

    def _fit_engine(self, data: Dataset, progress: Any) -> Any:
        self.labels_ = ["no", "yes"]
        return self.make_engine("nano").fit(data.texts, data.labels)

    def results(self, X: Any, **options: Any) -> list[Any]:
        self._check_fitted()
        self.check_options(options)
        return [Shouted(self.engine_.shouted(t)) for t in self._texts(X)]

    def evaluation(self, data: Dataset, progress: Any) -> dict[str, Any]:
        pred = [r.label for r in self.results(data)]
        return {"n": len(data), "accuracy": float(np.mean([p == g for p, g in zip(pred, data.labels, strict=True)]))}


class Shouted:
    def __init__(self, label: str) -> None:
        self.label = label

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label}


class ShoutEngine:
    tier = "nano"

    def __init__(self, config: NanoConfig, seed: int = 0) -> None:
        self.cut = 0.5

    def fit(self, texts: list[str], labels: list[str]) -> ShoutEngine:
        return self

    def shouted(self, text: str) -> str:
        letters = [c for c in text if c.isalpha()]
        return "yes" if letters and sum(c.isupper() for c in letters) / len(letters) > self.cut else "no"

    def save(self, directory: Path) -> None:
        (directory / "shout.json").write_text(json.dumps({"cut": self.cut}))

    @classmethod
    def load(cls, directory: Path) -> ShoutEngine:
        engine = cls(NanoConfig())
        engine.cut = json.loads((directory / "shout.json").read_text())["cut"]
        return engine

    def describe(self) -> dict[str, Any]:
        return {"cut": self.cut}


def test_a_new_task_needs_one_class_and_one_registry_entry(tmp_path):
    texts, labels = ["WHERE IS MY ORDER", "where is my order", "REFUND NOW", "thanks a lot"], ["yes", "no", "yes", "no"]
    model = microgpt.train(Dataset.from_lists(texts, labels), task="shout", out=tmp_path / "shout")
    assert TASKS["shout"] is Shout
    loaded = microgpt.load(tmp_path / "shout")
    assert [r.to_json() for r in loaded.results(["STOP CALLING ME"])] == [{"label": "yes"}]
    report = microgpt.evaluate(loaded, Dataset.from_lists(texts, labels))
    assert report["metrics"]["accuracy"] == 1.0 and (tmp_path / "shout" / "REPORT.md").exists()
    assert model.results(["fine"])[0].label == "no"
