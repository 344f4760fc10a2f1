"""MicroGPT: small task models trained on your own data — train, evaluate, predict, on a laptop CPU.

import microgpt
data = microgpt.read_examples("tickets.csv")                  # text,label columns
model = microgpt.train(data, task="classify", tier="nano", out="router/")
microgpt.evaluate(model, microgpt.read_examples("test.csv"))  # accuracy, macro-F1, per label, confusions
microgpt.load("router/").predict(["I was charged twice"])
"""

from __future__ import annotations

from microgpt.api import train
from microgpt.config import AutoConfig, MicroConfig, NanoConfig, TinyGPTConfig, TrainConfig
from microgpt.data.readers import read_examples
from microgpt.data.records import Dataset, Example, Span
from microgpt.data.splits import train_test_split
from microgpt.errors import (
    BackboneError,
    ConfigError,
    DataError,
    MicroGPTError,
    ModuleFormatError,
    NotFittedError,
)
from microgpt.evaluation.report import evaluate
from microgpt.extract.task import Extraction, Extractor
from microgpt.labels.classify import Classifier
from microgpt.labels.tag import Tagger
from microgpt.reply.task import Draft, Replier
from microgpt.task import load

__version__ = "0.1.0"

__all__ = [
    "AutoConfig",
    "BackboneError",
    "Classifier",
    "ConfigError",
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
    "TrainConfig",
    "__version__",
    "evaluate",
    "load",
    "read_examples",
    "train",
    "train_test_split",
]
