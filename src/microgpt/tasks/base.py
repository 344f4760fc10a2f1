"""The contract every task follows (scikit-learn style), and the tier dispatch behind it.

    model = Classifier(tier="nano").fit(texts, labels)     # or .fit(dataset)
    model.predict(["where is my card?"])                    # -> ["card_arrival"]
    model.predict_proba(texts)                              # (N, len(model.labels_)), columns follow labels_
    model.save("router/");  microgpt.load("router/")

`__init__` only stores settings; `fit` validates, learns and returns self; learned state ends in `_`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from microgpt.config import TIERS, AutoConfig, MicroConfig, NanoConfig, make_config
from microgpt.data.records import Dataset
from microgpt.errors import ConfigError, DataError, NotFittedError, requires_extra
from microgpt.module import library_versions, read_manifest, text_digests, write_module, write_train_texts
from microgpt.progress import Progress, no_progress
from microgpt.routing.cascade import Policy

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000  # one text; longer input is a mistake (a whole file?) rather than a message


class Task:
    """Base of all tasks. Subclasses set `task` and implement target encoding and decoding."""

    task: ClassVar[str] = ""
    # the engine class of each trained tier, loaded by name so a module loads only the libraries its tier needs
    engines: ClassVar[dict[str, str]] = {
        "nano": "microgpt.tiers.nano:NanoEngine",
        "micro": "microgpt.tiers.micro:MicroEngine",
    }
    multilabel: ClassVar[bool] = False
    auto_report_: dict[str, Any] | None  # learned: why the auto tier chose its tier (None for nano/micro)

    def __init__(
        self,
        tier: str = "nano",
        *,
        nano: NanoConfig | dict[str, Any] | None = None,
        micro: MicroConfig | dict[str, Any] | None = None,
        auto: AutoConfig | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.tier = tier
        self.nano = nano
        self.micro = micro
        self.auto = auto
        self.seed = seed

    # ---- settings ------------------------------------------------------------------------------------------
    def _configs(self) -> tuple[NanoConfig, MicroConfig, AutoConfig]:
        if self.tier not in TIERS:
            raise ConfigError(f"unknown tier {self.tier!r}", hint=f"use one of: {', '.join(TIERS)}")

        def resolve(value: Any, model: type) -> Any:
            return value if isinstance(value, model) else make_config(model, value)

        return resolve(self.nano, NanoConfig), resolve(self.micro, MicroConfig), resolve(self.auto, AutoConfig)

    def get_params(self) -> dict[str, Any]:
        nano, micro, auto = self._configs()
        return {
            "tier": self.tier,
            "seed": self.seed,
            "nano": nano.model_dump(mode="json"),
            "micro": micro.model_dump(mode="json"),
            "auto": auto.model_dump(mode="json"),
        }

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit(
        self,
        X: Dataset | Sequence[str],
        y: Sequence[Any] | None = None,
        *,
        progress: Progress = no_progress,
    ) -> Task:
        """Learn from a Dataset, or from texts `X` with targets `y`. Returns self."""
        data = self._as_dataset(X, y)
        self._validate_training_data(data)
        nano_cfg, micro_cfg, auto_cfg = self._configs()
        self.labels_ = self._label_space(data)
        targets = self._encode_targets(data)
        texts = data.texts
        start = time.perf_counter()
        if self.tier == "auto":
            from microgpt.tiers.auto import fit_auto

            self.engine_, self.auto_report_ = fit_auto(self, data, nano_cfg, micro_cfg, auto_cfg, progress)
        else:
            self.engine_ = self._make_engine(self.tier, nano_cfg, micro_cfg).fit(
                texts, targets, self.multilabel, progress
            )
            self.auto_report_ = None
        self.train_seconds_ = time.perf_counter() - start
        self.metrics_: dict[str, Any] = {}
        self.policy_: Policy | None = None  # set on held-out data with set_policy / `microgpt policy`
        self.train_texts_ = text_digests(data.texts)
        self.data_info_ = {
            "fingerprint": data.fingerprint(),
            "n_examples": len(data),
            "label_counts": dict(sorted(data.label_counts().items())),
        }
        self.path_: Path | None = None
        return self

    def _make_engine(self, tier: str, nano_cfg: NanoConfig, micro_cfg: MicroConfig) -> Any:
        if tier == "nano":
            from microgpt.tiers.nano import NanoEngine

            return NanoEngine(nano_cfg, seed=self.seed)
        if tier == "micro":
            with requires_extra("the micro tier"):
                from microgpt.tiers.micro import MicroEngine

            return MicroEngine(micro_cfg, seed=self.seed)
        raise ConfigError(f"unknown tier {tier!r}", hint=f"use one of: {', '.join(TIERS)}")

    def _as_dataset(self, X: Dataset | Sequence[str], y: Sequence[Any] | None) -> Dataset:
        if isinstance(X, Dataset):
            if y is not None:
                raise DataError("got a Dataset and separate targets", hint="pass either a Dataset or (texts, targets)")
            return X
        if y is None:
            raise DataError(
                "fit needs targets", hint=f"call fit(texts, targets) or fit(dataset) for {type(self).__name__}"
            )
        return Dataset.from_lists(list(X), list(y))

    def _validate_training_data(self, data: Dataset) -> None:
        for e in data:
            check_text(e.text, e.source)

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

    def predict_proba(self, X: Sequence[str] | Dataset) -> np.ndarray:
        """Probabilities (N, len(labels_)); columns follow `labels_`."""
        self._check_fitted()
        texts = self._texts(X)
        if not texts:
            return np.zeros((0, len(self.labels_)), dtype=np.float32)
        return np.asarray(self.engine_.predict_proba(texts), dtype=np.float32)

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
        """Write the module directory atomically; returns its path."""
        self._check_fitted()
        path = Path(path)
        policy: Policy | None = getattr(self, "policy_", None)
        manifest = {
            "task": self.task,
            "tier": self.engine_.tier,
            "requested_tier": self.tier,
            "labels": list(self.labels_),
            "config": self.get_params(),
            "engine": self.engine_.describe(),
            "data": self.data_info_,
            "train_seconds": round(self.train_seconds_, 2),
            "metrics": metrics or getattr(self, "metrics_", {}),
            "auto": self.auto_report_,
            "calibration": getattr(self.engine_, "calibration_", None) or None,
            "policy": policy.to_json() if policy else None,
            "versions": library_versions(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self._manifest_extra(),
        }

        def write_parts(directory: Path) -> None:
            self._write_parts(directory)
            # for evaluate's overlap warning; a loaded model carries its module's over
            write_train_texts(directory, getattr(self, "train_texts_", None), getattr(self, "path_", None))

        write_module(path, manifest, write_parts)
        self.path_ = path
        return path

    def _write_parts(self, directory: Path) -> None:
        """Write the model's files into the (temporary) module directory; the engine's alone by default."""
        self.engine_.save(directory)

    @classmethod
    def _from_manifest(cls, path: Path, manifest: dict[str, Any]) -> Task:
        params = manifest["config"]
        model = cls(
            params["tier"], nano=params["nano"], micro=params["micro"], auto=params["auto"], seed=params["seed"]
        )
        model.labels_ = list(manifest["labels"])
        model.engine_ = load_engine(manifest["tier"], path, cls.engines)
        model._restore_state(path, manifest)
        return model

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        """The learned bookkeeping every task keeps in its manifest (data, timing, metrics, policy)."""
        self.data_info_ = manifest.get("data", {})
        self.train_seconds_ = float(manifest.get("train_seconds", 0.0))
        self.auto_report_ = manifest.get("auto")
        self.metrics_ = manifest.get("metrics", {})
        self.policy_ = Policy.from_json(manifest.get("policy"))
        self.path_ = path

    def _manifest_extra(self) -> dict[str, Any]:
        """Task-specific manifest entries (an extractor's schema); none by default."""
        return {}

    def __repr__(self) -> str:
        fitted = f", {len(self.labels_)} labels" if hasattr(self, "labels_") else ", not fitted"
        return f"{type(self).__name__}(tier={self.tier!r}{fitted})"

    # ---- subclass hooks ------------------------------------------------------------------------------------
    def _label_space(self, data: Dataset) -> list[str]:
        raise NotImplementedError

    def _encode_targets(self, data: Dataset) -> np.ndarray:
        raise NotImplementedError


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


def load_engine(tier: str, path: Path, engines: dict[str, str]) -> Any:
    """Load a module's engine: `engines` maps each tier to "package.module:Class" (imported only when used)."""
    import importlib

    if tier not in engines:
        raise ConfigError(f"module at {path} has unknown tier {tier!r}", hint="upgrade microgpt or retrain the module")
    module, _, name = engines[tier].partition(":")
    with requires_extra(f"the {tier} module at {path}"):
        return getattr(importlib.import_module(module), name).load(path)


def load(path: str | Path) -> Task:
    """Load a trained module directory; returns a `Classifier`, `Tagger`, `Extractor` or `Replier` ready to use."""
    from microgpt.tasks.classify import Classifier
    from microgpt.tasks.extract import Extractor
    from microgpt.tasks.reply import Replier
    from microgpt.tasks.tag import Tagger

    path = Path(path)
    manifest = read_manifest(path, verify=True)
    classes: dict[str, type[Task]] = {"classify": Classifier, "tag": Tagger, "extract": Extractor, "reply": Replier}
    cls = classes.get(manifest.get("task", ""))
    if cls is None:
        raise ConfigError(
            f"module at {path} is for task {manifest.get('task')!r}, which this microgpt cannot load",
            hint="upgrade microgpt",
        )
    return cls._from_manifest(path, manifest)
