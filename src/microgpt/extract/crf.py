"""The nano tier for extraction: a linear-chain CRF (CRFsuite) over hand-made word features.

Features per word: the word, its shape and affixes, its neighbours (±2), where it sits on its line and in the document
(receipts put the total near the end, the company on the first lines), the words opening its line and the line
before ("TOTAL:" above "9.00"), and the slot the dialogue just asked for, when the caller passes it. The model is a
CRFsuite file (not a pickle); span confidence is the smallest marginal probability of its words' tags.
"""

from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microgpt.config import CrfConfig
from microgpt.data.records import Span
from microgpt.extract.spans import OUTSIDE, Word, bio_tags, spans_from_tags, words
from microgpt.progress import Progress, no_progress

MODEL_FILE = "crf.crfsuite"
_DIGIT = re.compile(r"\d")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
_ZH_NUMERAL = re.compile("[零〇一二两三四五六七八九十百千万]")
_AMOUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:[,.]?\d{3})*[.,]\d{2}(?![\w]|[.,]\d)")  # 9.00, 1,299.00, 1.299,00


def shape(word: str) -> str:
    """Collapsed word shape: "Friday" → "Xx", "7:30" is three words, "RM30" → "Xd", "2018" → "d", "四" → "d"."""
    s = _LOWER.sub("x", _UPPER.sub("X", _DIGIT.sub("d", _ZH_NUMERAL.sub("d", word))))
    return re.sub(r"(.)\1+", r"\1", s)


def _nfkc(word: str) -> str:
    """Full-width "７" and "ＲＭ" are 7 and RM to the model (ASCII words are left as they are, at no cost)."""
    return word if word.isascii() else unicodedata.normalize("NFKC", word)


def _word_features(w: str) -> dict[str, float]:
    low = w.lower()
    f = {"w=" + low: 1.0, "shape=" + shape(w): 1.0, "p2=" + low[:2]: 1.0, "s2=" + low[-2:]: 1.0}
    if len(w) > 3:
        f["p3=" + low[:3]] = 1.0
        f["s3=" + low[-3:]] = 1.0
    if w.isdigit():
        f["ndigits=" + str(min(len(w), 5))] = 1.0
    return f


def _amount_features(text: str, tokens: Sequence[Word]) -> dict[int, list[str]]:
    """For words inside a money-like number: its rank by value in the document and how often it is printed.

    A receipt's total is usually the largest amount, or printed two or three times (total, rounded, paid).
    """
    found = []
    for m in _AMOUNT.finditer(text):
        raw = m.group()
        digits = re.sub(r"[.,]", "", raw[:-3]) + "." + raw[-2:]
        found.append((m.start(), m.end(), float(digits), raw))
    if not found:
        return {}
    values = sorted({v for _, _, v, _ in found}, reverse=True)
    counts: dict[str, int] = {}
    for *_, raw in found:
        counts[raw] = counts.get(raw, 0) + 1
    out: dict[int, list[str]] = {}
    i = 0
    for start, end, value, raw in found:
        while i < len(tokens) and tokens[i].end <= start:
            i += 1
        j = i
        while j < len(tokens) and tokens[j].start < end:
            out[j] = [f"amount_rank={min(values.index(value), 3)}", f"amount_count={min(counts[raw], 3)}"]
            j += 1
    return out


def features(tokens: Sequence[Word], context: str | None = None, text: str | None = None) -> list[dict[str, float]]:
    """One feature dict per word (CRFsuite's attribute format); `text` adds document features (amounts)."""
    n = len(tokens)
    texts = [_nfkc(t.text) for t in tokens]
    base = [_word_features(w) for w in texts]
    lows = [w.lower() for w in texts]
    shapes = [shape(w) for w in texts]
    n_lines = tokens[-1].line + 1 if tokens else 1
    line_first: dict[int, str] = {}
    for t in tokens:
        line_first.setdefault(t.line, t.text.lower())
    amounts = _amount_features(text, tokens) if text is not None and n_lines > 1 else {}
    out = []
    for i, t in enumerate(tokens):
        f = {"bias": 1.0, **base[i]}
        for name in amounts.get(i, ()):
            f[name] = 1.0
        for d in (-2, -1, 1, 2):
            j = i + d
            f[f"w{d:+d}=" + (lows[j] if 0 <= j < n else "<edge>")] = 1.0
        f["sh-1|sh=" + (shapes[i - 1] if i else "<s>") + "|" + shapes[i]] = 1.0
        f["sh|sh+1=" + shapes[i] + "|" + (shapes[i + 1] if i + 1 < n else "</s>")] = 1.0
        f["w-1|w=" + (lows[i - 1] if i else "<s>") + "|" + lows[i]] = 1.0
        if n_lines > 1:  # document layout
            f["line=" + str(min(t.line, 6))] = 1.0
            f["line_from_end=" + str(min(n_lines - 1 - t.line, 6))] = 1.0
            f["pos_tenth=" + str(10 * t.line // n_lines)] = 1.0
            f["line_start"] = float(t.line_start)
            f["line_first=" + line_first[t.line]] = 1.0
            f["prev_line_first=" + line_first.get(t.line - 1, "<none>")] = 1.0
        if context:
            f["ctx=" + context] = 1.0
            f["ctx|sh=" + context + "|" + shapes[i]] = 1.0
            f["ctx|w=" + context + "|" + lows[i]] = 1.0
        out.append(f)
    return out


class CrfEngine:
    """Extraction on the nano tier; `fit(texts, spans, contexts)` → `predict(texts, contexts)` → spans per text."""

    tier = "nano"

    def __init__(self, config: CrfConfig | None = None, seed: int = 0) -> None:
        self.config = config or CrfConfig()
        self.seed = seed
        self._tagger: Any = None
        self._model_bytes: bytes = b""
        self.fit_info_: dict[str, Any] = {}

    def fit(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        contexts: Sequence[str | None],
        progress: Progress = no_progress,
    ) -> CrfEngine:
        import pycrfsuite

        cfg = self.config
        trainer = pycrfsuite.Trainer(verbose=False)
        for i, (text, gold, ctx) in enumerate(zip(texts, spans, contexts, strict=True)):
            toks = words(text)
            if toks:
                trainer.append(features(toks, ctx, text), bio_tags(toks, gold))
            if i % 200 == 0:
                progress("features", i, len(texts))
        progress("features", len(texts), len(texts))
        trainer.set_params(
            {
                "c1": cfg.c1,
                "c2": cfg.c2,
                "max_iterations": cfg.iterations,
                "feature.possible_transitions": True,
            }
        )
        seen = {"n": 0}

        def message(log: str) -> None:  # CRFsuite reports each lbfgs iteration as "***** Iteration #k *****"
            trainer.logparser.feed(log)
            if "Iteration #" in log:
                seen["n"] += 1
                progress("train", min(seen["n"], cfg.iterations), cfg.iterations)

        trainer.message = message
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL_FILE
            trainer.train(str(path))
            self._model_bytes = path.read_bytes()
            last = trainer.logparser.last_iteration or {}
            self.fit_info_ = {
                "iterations": seen["n"],
                "loss": last.get("loss"),
                "features": last.get("active_features"),
            }
        progress("train", cfg.iterations, cfg.iterations)
        self._open()
        return self

    def _open(self) -> None:
        import pycrfsuite

        tagger = pycrfsuite.Tagger()
        with tempfile.NamedTemporaryFile(suffix=".crfsuite") as f:  # CRFsuite reads the model into memory on open
            f.write(self._model_bytes)
            f.flush()
            tagger.open(f.name)
        self._tagger = tagger

    @property
    def labels(self) -> list[str]:
        return sorted({t.partition("-")[2] for t in self._tagger.labels() if t != OUTSIDE})

    def predict(self, texts: Sequence[str], contexts: Sequence[str | None]) -> list[list[Span]]:
        out: list[list[Span]] = []
        for text, ctx in zip(texts, contexts, strict=True):
            toks = words(text)
            if not toks:
                out.append([])
                continue
            tags = self._tagger.tag(features(toks, ctx, text))
            scores = [self._tagger.marginal(tag, i) for i, tag in enumerate(tags)]
            out.append(spans_from_tags(toks, tags, scores))
        return out

    def tag_probs(self, texts: Sequence[str], contexts: Sequence[str | None], tags: Sequence[str]) -> list[np.ndarray]:
        """Per text, the marginal probability of each of `tags` at each word: (n_words, len(tags)) arrays."""
        known = set(self._tagger.labels())
        out = []
        for text, ctx in zip(texts, contexts, strict=True):
            toks = words(text)
            probs = np.zeros((len(toks), len(tags)), dtype=np.float32)
            if toks:
                self._tagger.set(features(toks, ctx, text))
                for k, tag in enumerate(tags):
                    if tag in known:
                        probs[:, k] = [self._tagger.marginal(tag, i) for i in range(len(toks))]
            out.append(probs)
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": "crf", "model_bytes": len(self._model_bytes), **self.fit_info_}

    def save(self, directory: Path) -> None:
        (directory / MODEL_FILE).write_bytes(self._model_bytes)
        (directory / "crf.json").write_text(json.dumps({"config": self.config.model_dump(mode="json")}))

    @classmethod
    def load(cls, directory: Path) -> CrfEngine:
        meta = json.loads((directory / "crf.json").read_text())
        engine = cls(CrfConfig(**CrfConfig.upgrade(meta["config"])))
        engine._model_bytes = (directory / MODEL_FILE).read_bytes()
        engine._open()
        return engine
