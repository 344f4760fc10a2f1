"""The contract every task follows (scikit-learn style), the tiers each task declares, and the task registry.

    model = Classifier(tier="nano").fit(texts, labels)     # or .fit(dataset)
    model.results(["where is my card?"])                    # typed results: .to_json() is what CLI and REST print
    model.save("router/");  microgpt.load("router/")        # the registry finds the class from the manifest

`__init__` only stores settings; `fit` validates, learns and returns self; learned state ends in `_`. A task
declares its tiers once (`tiers`: name -> engine class + config class); validation, fitting, loading and the
error hints all read that one table. A new task is a subclass plus one `register_task` call.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from microgpt.config import make_config
from microgpt.data.digests import text_digests, write_train_texts
from microgpt.data.records import Dataset
from microgpt.errors import ConfigError, DataError, NotFittedError, requires_extra
from microgpt.module import library_versions, load_errors, read_manifest, write_module
from microgpt.progress import Progress, no_progress

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000  # one text; longer input is a mistake (a whole file?) rather than a message


class Engine(Protocol):
    """What every tier engine provides; each task family adds its own `fit`/`predict` shape (label, span, reply)."""

    tier: str

    def save(self, directory: Path) -> None: ...
    def describe(self) -> dict[str, Any]: ...


class Result(Protocol):
    """A typed prediction (a label decision, tags, an extraction, a draft): adapters only serialise it."""

    def to_json(self) -> dict[str, Any]: ...
    def columns(self) -> dict[str, Any]: ...  # flat, for a row of an output CSV


@dataclass(frozen=True)
class Tier:
    """One tier of a task: its engine ("package.module:Class", imported only when used) and its settings class."""

    engine: str
    config: type[BaseModel]

    def engine_class(self) -> Any:
        module, _, name = self.engine.partition(":")
        with requires_extra(f"the {name} engine"):  # a tier whose extra is not installed says which pip install
            return getattr(importlib.import_module(module), name)


class Task:
    """Base of all tasks. Subclasses set `task` and `tiers` and implement the hooks below `fit`."""

    task: ClassVar[str] = ""
    tiers: ClassVar[dict[str, Tier]] = {}
    data_kind: ClassVar[str] = "label"  # the file format `read_examples` reads for it (data.readers.KINDS)
    options: ClassVar[tuple[str, ...]] = ()  # keyword options `results` takes (REST/CLI refuse the others)
    multilabel: ClassVar[bool] = False  # targets are sets of labels (a Tagger)
    teacher_labels: ClassVar[bool] = False  # whether an LLM teacher can label its data (one label a text)
    documents: ClassVar[bool] = False  # reads whole documents (e.g. receipts), not only one-line messages
    slow: ClassVar[bool] = False  # results take tens of ms or more: servers compute them off the event loop
    metric: ClassVar[str] = ""  # the headline metric of `evaluation` (what `score` returns, what retraining compares)

    def __init__(self, tier: str = "nano", *, nano: Any = None, micro: Any = None, seed: int = 0) -> None:
        self.tier = tier
        self.nano = nano
        self.micro = micro
        self.seed = seed

    # ---- settings (scikit-learn's get_params/set_params, so clone, Pipeline and GridSearchCV work) ----------
    @classmethod
    def tier_names(cls) -> tuple[str, ...]:
        """Every tier this task can be asked for (the trained ones, plus strategies such as `auto`)."""
        return tuple(cls.tiers)

    def _check_tier(self) -> None:
        if self.tier not in self.tier_names():
            raise ConfigError(
                f"unknown tier {self.tier!r} for {type(self).__name__}",
                hint=f"use one of: {', '.join(self.tier_names())}",
            )

    def config(self, tier: str) -> Any:
        """The validated settings of `tier` (from the `nano=` / `micro=` / ... argument of the same name)."""
        spec = self.tiers[tier]
        value = getattr(self, tier, None)
        return value if isinstance(value, spec.config) else make_config(spec.config, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's settings as given (scikit-learn contract)."""
        return {name: getattr(self, name) for name in _init_params(type(self))}

    def set_params(self, **params: Any) -> Task:
        valid = _init_params(type(self))
        for name, value in params.items():
            if name not in valid:
                raise ConfigError(f"unknown parameter {name!r} for {type(self).__name__}", hint=f"use {valid}")
            setattr(self, name, value)
        return self

    def settings(self) -> dict[str, Any]:
        """The resolved settings saved in the manifest (every tier's config in full): `cls(**settings)` rebuilds."""
        out: dict[str, Any] = {"tier": self.tier, "seed": self.seed}
        for tier in self.tiers:
            out[tier] = self.config(tier).model_dump(mode="json")
        return out

    # ---- fitting: one template for every task --------------------------------------------------------------
    def fit(
        self,
        X: Dataset | Sequence[Any],
        y: Sequence[Any] | None = None,
        *,
        progress: Progress = no_progress,
        **extra: Any,
    ) -> Task:
        """Learn from a Dataset, or texts `X` with targets `y` (and task-specific per-text `extra`). Returns self."""
        self._check_tier()
        self._check_settings()
        data = self._as_dataset(X, y, **extra)
        for i, e in enumerate(data):
            check_text(e.text, e.source or f"example {i}")
        self._validate(data)
        start = time.perf_counter()
        self.auto_report_: dict[str, Any] | None = None
        self.engine_ = self._fit_engine(data, progress)
        self.train_seconds_ = time.perf_counter() - start
        self.metrics_: dict[str, Any] = {}
        self.train_texts_: bytes | None = text_digests(data.texts)  # what `evaluate` checks held-out data against
        self.data_info_ = {"fingerprint": data.fingerprint(), "n_examples": len(data), **self._data_info(data)}
        self.path_: Path | None = None
        return self

    def _check_settings(self) -> None:
        """Validate task-level settings before any data is read (hook)."""

    def _as_dataset(self, X: Dataset | Sequence[Any], y: Sequence[Any] | None, **extra: Any) -> Dataset:
        if isinstance(X, Dataset):
            if y is not None or any(v is not None for v in extra.values()):
                raise DataError("got a Dataset and separate targets", hint="pass either a Dataset or (texts, targets)")
            return X
        if isinstance(X, str):
            raise DataError("fit takes a list of texts, got a single string", hint="wrap it in a list")
        return self._from_lists(list(X), y, **extra)

    def _from_lists(self, texts: list[str], targets: Sequence[Any] | None, **extra: Any) -> Dataset:
        """The Dataset for texts and their targets (hook: tasks with other targets or per-text extras)."""
        if targets is None:
            raise DataError(
                "fit needs targets", hint=f"call fit(texts, targets) or fit(dataset) for {type(self).__name__}"
            )
        if any(v is not None for v in extra.values()):
            raise DataError(f"unexpected fit arguments: {', '.join(extra)}", hint="see help(type(model).fit)")
        return Dataset.from_lists(texts, list(targets))

    def _validate(self, data: Dataset) -> None:
        """Task-specific checks of the training data (hook); texts are checked already."""

    def _fit_engine(self, data: Dataset, progress: Progress) -> Any:
        raise NotImplementedError

    def _data_info(self, data: Dataset) -> dict[str, Any]:
        """Task-specific data summary for the manifest (hook)."""
        return {}

    def data_summary(self, data: Dataset) -> str:
        """One line about training data, for people (the CLI prints it before training)."""
        return f"[bold]{len(data)}[/] examples"

    def fit_notes(self) -> list[str]:
        """What a person should know about the fit just done (rich markup), e.g. values that could not be found."""
        return []

    def make_engine(self, tier: str) -> Any:
        """A fresh, unfitted engine of `tier` with this task's settings for it."""
        return self.tiers[tier].engine_class()(self.config(tier), seed=self.seed)

    # ---- prediction ----------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "engine_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet",
                hint="call .fit(texts, targets) first, or load a trained module with microgpt.load(path)",
            )

    def _texts(self, X: str | Sequence[str] | Dataset) -> list[str]:
        if isinstance(X, str):
            raise DataError(
                "predict takes a list of texts, got a single string", hint=f"wrap it in a list: predict([{X[:30]!r}])"
            )
        texts = X.texts if isinstance(X, Dataset) else list(X)
        for i, text in enumerate(texts):
            check_text(text, f"item {i}")
        return texts

    def results(self, X: Sequence[str] | Dataset, **options: Any) -> list[Any]:
        """One typed result per text, with `to_json()`: what the CLI, the REST API and the cascade consume."""
        raise NotImplementedError

    def check_options(self, options: dict[str, Any]) -> None:
        """Refuse options this task does not take, naming them (so a typo'd module name does not pass silently)."""
        for option, value in options.items():
            if value not in (None, False) and option not in self.options:
                takes = f"; it takes {', '.join(self.options)}" if self.options else ""
                raise DataError(
                    f'"{option}" is not an option of {self.task} modules{takes}', hint=f'leave "{option}" out'
                )

    def correction(self, label: str | None, labels: list[str] | None) -> str | list[str]:
        """A person's correction as this task's training target, checked (feedback and review use it)."""
        raise DataError(
            f"a {self.task} module takes corrections as training examples, not as a label",
            hint="add corrected examples to the training JSONL and retrain",
        )

    # ---- evaluation: per-task metrics and report sections ---------------------------------------------------
    def evaluation(self, data: Dataset, progress: Progress) -> dict[str, Any]:
        """Metrics on labelled `data` (for report.json); may include "_confusion": (gold, pred) for the figures."""
        raise NotImplementedError

    def report_markdown(self, report: dict[str, Any]) -> str | None:
        """This task's REPORT.md, or None for the standard one (metrics, per label, confusions)."""
        return None

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write the module directory atomically; returns its path."""
        self._check_fitted()
        path = Path(path)
        manifest = {
            "task": self.task,
            "tier": self.engine_.tier,
            "requested_tier": self.tier,
            "labels": list(getattr(self, "labels_", [])),
            "config": self.settings(),
            "engine": self.engine_.describe(),
            "data": self.data_info_,
            "train_seconds": round(self.train_seconds_, 2),
            "metrics": metrics or getattr(self, "metrics_", {}),
            "auto": getattr(self, "auto_report_", None),
            "versions": library_versions(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self._manifest_extra(),
        }

        def write_parts(directory: Path) -> None:
            self._write_parts(directory)
            write_train_texts(directory, getattr(self, "train_texts_", None), getattr(self, "path_", None))

        write_module(path, manifest, write_parts)
        self.path_ = path
        return path

    def _write_parts(self, directory: Path) -> None:
        """Write the model's files into the (temporary) module directory; the engine's alone by default."""
        self.engine_.save(directory)

    def _manifest_extra(self) -> dict[str, Any]:
        """Task-specific manifest entries (an extractor's schema, a classifier's policy); none by default."""
        return {}

    @classmethod
    def _from_manifest(cls, path: Path, manifest: dict[str, Any]) -> Task:
        params = cls._upgrade_settings(dict(manifest["config"]))
        accepted = _init_params(cls)
        model = cls(**{k: v for k, v in params.items() if k in accepted})
        model.labels_ = list(manifest.get("labels", []))
        tier = manifest["tier"]
        if tier not in cls.tiers:
            raise ConfigError(
                f"module at {path} has unknown tier {tier!r}", hint="upgrade microgpt or retrain the module"
            )
        with requires_extra(f"the {tier} module at {path}"):
            model.engine_ = cls.tiers[tier].engine_class().load(path)
        model._restore_state(path, manifest)
        return model

    @classmethod
    def _upgrade_settings(cls, params: dict[str, Any]) -> dict[str, Any]:
        """Settings as an older microgpt saved them, in today's shape (hook; old modules keep loading)."""
        return params

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        """The learned bookkeeping every task keeps in its manifest (data, timing, metrics)."""
        self.data_info_ = manifest.get("data", {})
        self.train_seconds_ = float(manifest.get("train_seconds", 0.0))
        self.auto_report_ = manifest.get("auto")
        self.metrics_ = manifest.get("metrics", {})
        self.path_ = path

    def __repr__(self) -> str:
        fitted = f", {len(self.labels_)} labels" if hasattr(self, "labels_") else ", not fitted"
        return f"{type(self).__name__}(tier={self.tier!r}{fitted})"


def _init_params(cls: type) -> list[str]:
    sig = inspect.signature(cls.__init__)
    return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind is not p.VAR_KEYWORD]


def check_text(text: Any, where: str) -> None:
    if not isinstance(text, str):
        raise DataError(f"text at {where} is {type(text).__name__}, not a string", hint="pass texts as str")
    if not text.strip():
        raise DataError(f"empty text at {where}", hint="remove it or fill in its text")
    if len(text) > MAX_TEXT_CHARS:
        raise DataError(
            f"text at {where} has {len(text):,} characters, over the {MAX_TEXT_CHARS:,} limit",
            hint="split long documents into messages or paragraphs before classifying",
        )


# ---- the task registry: name -> class, imported only when used --------------------------------------------
TASKS: dict[str, str | type[Task]] = {
    "classify": "microgpt.labels.classify:Classifier",
    "tag": "microgpt.labels.tag:Tagger",
    "extract": "microgpt.extract.task:Extractor",
    "reply": "microgpt.reply.task:Replier",
}


def register_task(cls: type[Task]) -> type[Task]:
    """Make a task loadable by `microgpt.load`/`microgpt.train` under `cls.task` (usable as a class decorator)."""
    if not cls.task:
        raise ConfigError(f"{cls.__name__} has no task name", hint='set task = "..." on the class')
    TASKS[cls.task] = cls
    return cls


def task_class(name: str) -> type[Task]:
    """The Task subclass registered under `name`."""
    entry = TASKS.get(name)
    if entry is None:
        raise ConfigError(f"unknown task {name!r}", hint=f"use one of: {', '.join(TASKS)}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = TASKS[name] = getattr(importlib.import_module(module), attr)
    return entry


def load(path: str | Path) -> Task:
    """Load a trained module directory; returns a `Classifier`, `Tagger`, `Extractor` or `Replier` ready to use."""
    path = Path(path)
    manifest = read_manifest(path, verify=True)
    name = manifest.get("task", "")
    if name not in TASKS:
        raise ConfigError(
            f"module at {path} is for task {name!r}, which this microgpt cannot load", hint="upgrade microgpt"
        )
    with load_errors(path):  # a corrupt file raises our error, not SafetensorError/KeyError
        return task_class(name)._from_manifest(path, manifest)
