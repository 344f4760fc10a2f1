"""MicroGPT: small task models trained on your own data — train, evaluate, predict, on a laptop CPU.

import microgpt
data = microgpt.read_examples("tickets.csv")                  # text,label columns
model = microgpt.train(data, task="classify", tier="nano", out="router/")
microgpt.evaluate(model, microgpt.read_examples("test.csv"))  # accuracy, macro-F1, per label, confusions
microgpt.load("router/").predict(["I was charged twice"])

Names are imported on first use (PEP 562), so `import microgpt` stays fast: scikit-learn, SciPy and PyTorch load
only when a model that needs them does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from microgpt.errors import (
    BackboneError,
    ConfigError,
    DataError,
    MicroGPTError,
    ModuleFormatError,
    NotFittedError,
)

if TYPE_CHECKING:
    from microgpt.api import load, train
    from microgpt.config import AutoConfig, CrfConfig, MicroConfig, NanoConfig, TinyGPTConfig
    from microgpt.data.readers import read_examples
    from microgpt.data.records import Dataset, Example, Span
    from microgpt.data.splits import train_test_split
    from microgpt.evaluation.report import evaluate
    from microgpt.extract.task import Extraction, Extractor
    from microgpt.labels.classify import Classifier
    from microgpt.labels.tag import Tagger
    from microgpt.lifecycle.label import label
    from microgpt.reply.task import Draft, Replier

__version__ = "0.1.0"

_LAZY = {
    "AutoConfig": "microgpt.config",
    "CrfConfig": "microgpt.config",
    "MicroConfig": "microgpt.config",
    "NanoConfig": "microgpt.config",
    "TinyGPTConfig": "microgpt.config",
    "Dataset": "microgpt.data.records",
    "Example": "microgpt.data.records",
    "Span": "microgpt.data.records",
    "read_examples": "microgpt.data.readers",
    "train_test_split": "microgpt.data.splits",
    "train": "microgpt.api",
    "load": "microgpt.api",
    "evaluate": "microgpt.evaluation.report",
    "label": "microgpt.lifecycle.label",
    "Classifier": "microgpt.labels.classify",
    "Tagger": "microgpt.labels.tag",
    "Extractor": "microgpt.extract.task",
    "Extraction": "microgpt.extract.task",
    "Replier": "microgpt.reply.task",
    "Draft": "microgpt.reply.task",
}

__all__ = [
    "AutoConfig",
    "BackboneError",
    "Classifier",
    "ConfigError",
    "CrfConfig",
    "DataError",
    "Dataset",
    "Draft",
    "Example",
    "Extraction",
    "Extractor",
    "MicroConfig",
    "MicroGPTError",
    "ModuleFormatError",
    "NanoConfig",
    "NotFittedError",
    "Replier",
    "Span",
    "Tagger",
    "TinyGPTConfig",
    "__version__",
    "evaluate",
    "label",
    "load",
    "read_examples",
    "train",
    "train_test_split",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'microgpt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
