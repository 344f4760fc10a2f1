"""The reply task's nano tier: the reply of the most similar training message (n-gram TF-IDF cosine similarity).

The simplest thing that could work, and the baseline `tinygpt` has to beat: no generation, so it never writes
anything that was not in a past reply — but it answers a new message with a reply written for another one.
Messages are vectorised by the same `NgramFeaturizer` as the nano classifier; the training vectors are kept
transposed, (features, messages), so one query costs a gather of its few hundred feature rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file

from microgpt.backbones.ngram import NgramFeaturizer
from microgpt.config import NanoConfig
from microgpt.progress import Progress, no_progress

_PIECES = re.compile(r"\s*\S+|\s+")  # what a retrieved reply streams as: words with their leading whitespace


class RetrievalEngine:
    """Featurizer + unit-length training vectors `index_` (F, N) + the training replies (and intents)."""

    tier = "nano"

    def __init__(self, config: NanoConfig | None = None, seed: int = 0) -> None:
        self.config = config or NanoConfig()
        self.seed = seed
        self.replies_: list[str] = []
        self.intents_: list[str | None] = []

    def fit(
        self,
        messages: Sequence[str],
        replies: Sequence[str],
        intents: Sequence[str | None] | None = None,
        progress: Progress = no_progress,
    ) -> RetrievalEngine:
        cfg = self.config
        progress("index", 0, 1)
        self.featurizer = NgramFeaturizer(cfg.word_ngrams, cfg.char_ngrams, cfg.skip_window, cfg.min_df)
        x = self.featurizer.fit_transform(list(messages)).astype(np.float32)  # (N, F)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())  # (N,)
        x = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ x
        self.index_ = sp.csr_matrix(x.T, dtype=np.float32)  # (F, N)
        self.replies_ = list(replies)
        self.intents_ = list(intents) if intents is not None else [None] * len(self.replies_)
        progress("index", 1, 1)
        return self

    def nearest(self, message: str, intent: str | None = None) -> tuple[int, float]:
        """(index of the most similar training message, cosine similarity); among those with `intent` if given."""
        idx, val = self.featurizer.vector(message)
        norm = float(np.sqrt(np.dot(val, val)))
        scores = np.asarray(self.index_[idx].T @ (val / max(norm, 1e-12))).ravel()  # (N,)
        if intent is not None:
            allowed = np.array([i == intent for i in self.intents_])
            if allowed.any():
                scores = np.where(allowed, scores, -1.0)
        best = int(np.argmax(scores))
        return best, float(scores[best])

    def generate(
        self, message: str, intent: str | None = None, max_new_tokens: int | None = None, **_: Any
    ) -> Iterator[str]:
        """The retrieved reply, one word (with its leading whitespace) at a time, like a generator would stream;
        `max_new_tokens` cuts it after that many words. Sampling settings do not apply."""
        best, _score = self.nearest(message, intent)
        yield from _PIECES.findall(self.replies_[best])[:max_new_tokens]

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        meta, arrays = self.featurizer.get_state()
        index = self.index_
        arrays = {
            **arrays,
            "index_data": index.data.astype(np.float32),
            "index_indices": index.indices.astype(np.int32),
            "index_indptr": index.indptr.astype(np.int64),
            "index_shape": np.array(index.shape, dtype=np.int64),
        }
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(directory / "retrieval.safetensors"))
        meta = {**meta, **self.describe(), "replies": self.replies_, "intents": self.intents_}
        (directory / "retrieval.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> RetrievalEngine:
        meta = json.loads((directory / "retrieval.json").read_text())
        arrays = load_file(str(directory / "retrieval.safetensors"))
        engine = cls(NanoConfig(**meta["config"]))
        engine.featurizer = NgramFeaturizer.from_state(meta, arrays)
        shape = tuple(int(n) for n in arrays["index_shape"])
        engine.index_ = sp.csr_matrix(
            (arrays["index_data"], arrays["index_indices"], arrays["index_indptr"]), shape=shape
        )
        engine.replies_ = list(meta["replies"])
        engine.intents_ = list(meta["intents"])
        return engine

    def describe(self) -> dict[str, Any]:
        return {"config": self.config.model_dump(mode="json"), "n_replies": len(self.replies_)}
