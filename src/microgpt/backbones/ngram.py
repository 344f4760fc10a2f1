"""The nano backbone: word and character n-gram TF-IDF features, with a fast pure-numpy path for single texts.

scikit-learn's vectorizers cost milliseconds per call on one text; serving needs well under one. So the
features are computed by our own `analyze()` both at training time (to build the vocabulary and the sparse
matrix a scikit-learn linear model learns from) and at prediction time (a dict lookup per n-gram and one small
gather from the weight matrix) — one code path, so training and serving can never disagree.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from microgpt.data.scripts import CJK

if TYPE_CHECKING:
    import scipy.sparse as sp

_WORD = re.compile(r"\w+", re.UNICODE)
# Chinese and Japanese write without spaces: each Han character and kana is a word of its own, so word n-grams
# become character n-grams across the sentence (MASSIVE zh-CN nano: 82.2% with whole runs as words → 84.3%,
# jieba's segmentation 83.0%). Latin, Cyrillic, Hangul ... words stay whole.
_WORD_CJK = re.compile(rf"[{CJK}]|[^\W{CJK}]+", re.UNICODE)
SEGMENTATIONS = {"words": _WORD, "cjk-chars": _WORD_CJK}  # saved with the features; old modules say "words"


class NgramFeaturizer:
    """TF-IDF over word n-grams, character n-grams inside word boundaries, and skip-bigrams.

    Each feature family ("block") is L2-normalised on its own, like a scikit-learn FeatureUnion of vectorizers,
    so long texts with many character n-grams do not drown out the word features.
    """

    def __init__(
        self,
        word_ngrams: tuple[int, int] = (1, 3),
        char_ngrams: tuple[int, int] = (1, 5),
        skip_window: int = 0,
        min_df: int = 1,
        sublinear_tf: bool = True,
        segmentation: str = "cjk-chars",
    ) -> None:
        self.segmentation = segmentation
        self._word = SEGMENTATIONS[segmentation]
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.skip_window = skip_window
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.vocab_: dict[str, int] = {}
        self.idf_: np.ndarray = np.zeros(0, dtype=np.float32)
        self.block_: np.ndarray = np.zeros(0, dtype=np.int8)  # feature index -> block id (0 word, 1 char, 2 skip)
        self._char_ids: dict[str, list[int]] = {}  # word -> its character n-grams' feature indices (see `vector`)

    # ---- analysis ------------------------------------------------------------------------------------------
    def analyze(self, text: str) -> list[str]:
        """All n-gram keys of `text`; the first character of a key names its block ('w', 'c' or 's')."""
        norm = unicodedata.normalize("NFKC", text).lower()  # full-width forms and compatibility characters fold
        words = self._word.findall(norm)
        keys: list[str] = []
        lo, hi = self.word_ngrams
        if hi > 0:
            for n in range(lo, hi + 1):
                for i in range(len(words) - n + 1):
                    keys.append("w" + " ".join(words[i : i + n]))
        lo, hi = self.char_ngrams
        if hi > 0:
            for w in words:
                padded = f" {w} "
                for n in range(lo, min(hi, len(padded)) + 1):
                    for i in range(len(padded) - n + 1):
                        keys.append("c" + padded[i : i + n])
        if self.skip_window > 1:
            for i, w in enumerate(words):
                for j in range(i + 2, min(i + 1 + self.skip_window, len(words))):
                    keys.append(f"s{w} {words[j]}")
        return keys

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        analyzed = [Counter(self.analyze(t)) for t in texts]
        df: Counter[str] = Counter()
        for counts in analyzed:
            df.update(counts.keys())
        keys = sorted(k for k, n in df.items() if n >= self.min_df)
        self.vocab_ = {k: i for i, k in enumerate(keys)}
        self._char_ids = {}
        n_docs = len(texts)
        # Smooth idf as in scikit-learn: log((1 + n) / (1 + df)) + 1.
        self.idf_ = np.array([math.log((1 + n_docs) / (1 + df[k])) + 1.0 for k in keys], dtype=np.float32)
        self.block_ = np.array(["wcs".index(k[0]) for k in keys], dtype=np.int8)
        return self._matrix(analyzed)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._matrix([Counter(self.analyze(t)) for t in texts])

    def _matrix(self, analyzed: list[Counter[str]]) -> sp.csr_matrix:
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for counts in analyzed:
            idx, val = self._vector(counts)
            indices.extend(idx.tolist())
            data.extend(val.tolist())
            indptr.append(len(indices))
        import scipy.sparse as sp  # only batches need a sparse matrix; one text goes through `vector`

        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
            shape=(len(analyzed), len(self.vocab_)),
        )

    def _vector(self, counts: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        get = self.vocab_.get
        ids: Counter[int] = Counter()
        for k, c in counts.items():
            j = get(k)
            if j is not None:
                ids[j] = c
        return self._weigh(ids)

    def _weigh(self, ids: Counter[int]) -> tuple[np.ndarray, np.ndarray]:
        """TF-IDF values of (feature index -> count), each block L2-normalised (norms from one bincount)."""
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        idx = np.fromiter(ids.keys(), dtype=np.int64, count=len(ids))
        tf = np.fromiter(ids.values(), dtype=np.float32, count=len(ids))
        if self.sublinear_tf:
            tf = 1.0 + np.log(tf)
        val = tf * self.idf_[idx]
        blocks = self.block_[idx]
        norms = np.sqrt(np.bincount(blocks, weights=val * val, minlength=3)).astype(np.float32)
        norms[norms == 0] = 1.0
        val /= norms[blocks]
        return idx, val

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Sparse features of one text as (indices, values): the fast path used for single predictions.

        The same features as `transform` (a test holds them equal), found faster: a word's character n-grams never
        cross its boundaries, so their feature indices are looked up once per distinct word and kept
        (`_char_ids`), and only the word n-grams are built per text.
        """
        norm = unicodedata.normalize("NFKC", text).lower()
        words = self._word.findall(norm)
        get = self.vocab_.get
        found: list[int] = []
        lo, hi = self.word_ngrams
        if hi > 0:
            for n in range(lo, hi + 1):
                for i in range(len(words) - n + 1):
                    j = get("w" + " ".join(words[i : i + n]))
                    if j is not None:
                        found.append(j)
        if self.char_ngrams[1] > 0:
            cache = self._char_ids
            for w in words:
                ids = cache.get(w)
                if ids is None:
                    ids = self._word_char_ids(w)
                    if len(cache) >= 100_000:  # bounded: a stream of unseen words cannot grow it without end
                        cache.clear()
                    cache[w] = ids
                found.extend(ids)
        if self.skip_window > 1:
            for i, w in enumerate(words):
                for k in range(i + 2, min(i + 1 + self.skip_window, len(words))):
                    j = get(f"s{w} {words[k]}")
                    if j is not None:
                        found.append(j)
        return self._weigh(Counter(found))

    def _word_char_ids(self, word: str) -> list[int]:
        get = self.vocab_.get
        lo, hi = self.char_ngrams
        padded = f" {word} "
        ids = []
        for n in range(lo, min(hi, len(padded)) + 1):
            for i in range(len(padded) - n + 1):
                j = get("c" + padded[i : i + n])
                if j is not None:
                    ids.append(j)
        return ids

    # ---- persistence ---------------------------------------------------------------------------------------
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able settings and vocabulary, arrays) — saved as JSON + safetensors, never pickle."""
        meta = {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "skip_window": self.skip_window,
            "min_df": self.min_df,
            "sublinear_tf": self.sublinear_tf,
            "segmentation": self.segmentation,
            "vocab": sorted(self.vocab_, key=self.vocab_.__getitem__),
        }
        return meta, {"idf": self.idf_, "block": self.block_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> NgramFeaturizer:
        f = cls(
            word_ngrams=(int(meta["word_ngrams"][0]), int(meta["word_ngrams"][1])),
            char_ngrams=(int(meta["char_ngrams"][0]), int(meta["char_ngrams"][1])),
            skip_window=int(meta["skip_window"]),
            min_df=int(meta["min_df"]),
            sublinear_tf=bool(meta["sublinear_tf"]),
            segmentation=str(meta.get("segmentation", "words")),  # modules saved before CJK segmentation
        )
        f.vocab_ = {k: i for i, k in enumerate(meta["vocab"])}
        f.idf_ = np.asarray(arrays["idf"], dtype=np.float32)
        f.block_ = np.asarray(arrays["block"], dtype=np.int8)
        return f
