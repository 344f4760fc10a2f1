"""The micro tier for extraction: the pretrained encoder fine-tuned for token classification (BIO tags per word).

A text is split into our words (`extract.spans.words`), and the encoder's word pieces are mapped back onto them by
character offset: the first piece of each word carries the word's tag, the rest are ignored by the loss. Line
breaks, which the encoder's tokenizer drops, are kept as a marker piece so receipts keep their layout.

Texts longer than the window (`max_length` pieces) are cut into windows that overlap by `stride` pieces (at most half
a window); every word
takes its tag from the window where it sits furthest from an edge. Nothing is truncated, and memory stays bounded
because windows are run in batches. When the caller passes a context (the slot just asked for), it is encoded as the
first segment of every window: ``[CLS] people [SEP] 13 [SEP]``.
"""

from __future__ import annotations

import json
import logging
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from microgpt.backbones.encoder import encoder_from_config, load_pretrained
from microgpt.config import CrfConfig, MicroConfig
from microgpt.data.records import Span
from microgpt.extract.crf import CrfEngine
from microgpt.extract.spans import OUTSIDE, Word, bio_tags, spans_from_tags, words
from microgpt.progress import Progress, no_progress
from microgpt.training.loop import TrainArgs, cpu_has_bf16, fine_tune, pad_batch

log = logging.getLogger(__name__)
IGNORE = -100


class TokenHead(nn.Module):
    """Encoder → dropout → linear layer: `n_tags` logits per word piece."""

    def __init__(self, encoder: nn.Module, n_tags: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(getattr(encoder, "config").hidden_size)  # noqa: B009 — a transformers PreTrainedModel
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        return self.head(self.dropout(out))  # (B, T, n_tags)


@dataclass
class Window:
    """One encoder input: piece ids (specials included) and, per position, the word it starts (-1: none)."""

    doc: int
    ids: list[int]
    word_at: list[int]


class Pieces:
    """Turns texts into windows of word pieces aligned to `words()`; holds the tokenizer's special ids."""

    def __init__(self, tokenizer: Any, max_length: int, stride: int) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.stride = stride
        self.cls = int(tokenizer.cls_token_id)
        self.sep = int(tokenizer.sep_token_id)
        self.pad = int(tokenizer.pad_token_id or 0)
        newline = tokenizer.convert_tokens_to_ids("|")
        self.newline = int(newline if newline is not None and newline != tokenizer.unk_token_id else self.sep)

    def pieces(self, text: str, toks: Sequence[Word]) -> tuple[list[int], list[int]]:
        """Piece ids of the whole text with line-break markers, and per piece the index of the word it starts."""
        enc = self.tokenizer(_width_folded(text), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids: list[int] = []
        word_at: list[int] = []
        w = 0
        prev_end = 0
        for piece, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
            if end <= start:
                continue
            if ids and "\n" in text[prev_end:start]:
                ids.append(self.newline)
                word_at.append(-1)
            while w < len(toks) and toks[w].end <= start:
                w += 1
            starts_word = w < len(toks) and toks[w].start == start
            ids.append(int(piece))
            word_at.append(w if starts_word else -1)
            prev_end = end
        return ids, word_at

    def windows(self, doc: int, text: str, toks: Sequence[Word], context: str | None) -> list[Window]:
        ids, word_at = self.pieces(text, toks)
        head = [self.cls]
        if context:
            head += [*self.tokenizer(context, add_special_tokens=False)["input_ids"][:16], self.sep]
        room = self.max_length - len(head) - 1
        step = max(room // 2, room - self.stride)  # overlap at most half a window, whatever `stride` says
        out = []
        start = 0
        while True:
            chunk = slice(start, start + room)
            out.append(Window(doc, head + ids[chunk] + [self.sep], [-1] * len(head) + word_at[chunk] + [-1]))
            if start + room >= len(ids):
                return out
            start += step


def _width_folded(text: str) -> str:
    """Full-width forms as their ASCII twins, one character for one, so offsets still point into `text`: the
    tokenizer reads "ＲＭ３０" as one unknown piece, which leaves our word "３０" without a piece (and a tag)."""
    if text.isascii():
        return text
    return "".join(n if len(n := unicodedata.normalize("NFKC", ch)) == 1 else ch for ch in text)


def allowed_transitions(tags: Sequence[str]) -> np.ndarray:
    """(prev, next) → whether BIO allows it: I-X only continues B-X or I-X."""
    ok = np.ones((len(tags), len(tags)), dtype=bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            ok[:, j] = [prev in ("B-" + tag[2:], tag) for prev in tags]
    return ok


def decode(toks: Sequence[Word], probs: np.ndarray, tags: Sequence[str]) -> list[Span]:
    """Spans from per-word tag probabilities: the likeliest tag sequence that is valid BIO (Viterbi), so a span is
    never cut into pieces by one unsure word. Span score = the probability of its weakest word's tag."""
    n = len(toks)
    if n == 0:
        return []
    logp = np.log(np.clip(probs, 1e-9, 1.0))  # (n, T)
    bad = ~allowed_transitions(tags)
    first_ok = np.array([not t.startswith("I-") for t in tags])
    score = np.where(first_ok, logp[0], -np.inf)
    back = np.zeros((n, len(tags)), dtype=int)
    for i in range(1, n):
        cand = score[:, None] + np.where(bad, -np.inf, 0.0)  # (prev, next)
        back[i] = cand.argmax(0)
        score = cand.max(0) + logp[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    path.reverse()
    return spans_from_tags(toks, [tags[k] for k in path], [float(probs[i, k]) for i, k in enumerate(path)])


class TokenMicroEngine:
    """Extraction on the micro tier: `fit(texts, spans, contexts)` → `predict(texts, contexts)` → spans per text."""

    tier = "micro"

    def __init__(self, config: MicroConfig | None = None, seed: int = 0) -> None:
        self.config = config or MicroConfig()
        self.seed = seed
        self.tags: list[str] = [OUTSIDE]
        self.model: TokenHead | None = None
        self.tokenizer: Any = None
        self.nano: CrfEngine | None = None  # blended in with weight `blend_` where that helped on dev
        self.blend_ = 0.0
        self.fit_result_: dict[str, Any] = {}
        self.blend_scores_: dict[float, float] = {}

    def _pieces(self) -> Pieces:
        return Pieces(self.tokenizer, self.config.max_length, self.config.stride)

    # ---- training ------------------------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        contexts: Sequence[str | None],
        progress: Progress = no_progress,
    ) -> TokenMicroEngine:
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        labels = sorted({s.label for doc in spans for s in doc})
        self.tags = [OUTSIDE] + [f"{p}-{label}" for label in labels for p in ("B", "I")]
        tag_index = {t: i for i, t in enumerate(self.tags)}
        order = list(range(len(texts)))
        random.Random(self.seed).shuffle(order)
        n_dev = int(len(texts) * cfg.dev_fraction) if len(texts) >= 20 else 0
        dev_docs, train_docs = sorted(order[:n_dev]), sorted(order[n_dev:])

        encoder, self.tokenizer = load_pretrained(cfg.backbone)
        model = TokenHead(encoder, len(self.tags), cfg.dropout)
        if cfg.freeze_embeddings:
            model.encoder.get_input_embeddings().weight.requires_grad_(False)  # type: ignore[operator]
        pieces = self._pieces()
        windows: list[Window] = []
        targets: list[list[int]] = []
        for n, d in enumerate(train_docs):
            toks = words(texts[d])
            word_tags = [tag_index[t] for t in bio_tags(toks, spans[d])]
            for win in pieces.windows(d, texts[d], toks, contexts[d]):
                windows.append(win)
                targets.append([word_tags[w] if w >= 0 else IGNORE for w in win.word_at])
            if n % 200 == 0:
                progress("tokenize", n, len(train_docs))
        progress("tokenize", len(train_docs), len(train_docs))
        log.info("%d training windows from %d texts", len(windows), len(train_docs))

        def loss(logits: torch.Tensor, batch: list[int]) -> torch.Tensor:
            width = logits.shape[1]
            gold = torch.full((len(batch), width), IGNORE, dtype=torch.long)
            for row, i in enumerate(batch):
                gold[row, : len(targets[i])] = torch.tensor(targets[i])
            return nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                gold.reshape(-1),
                ignore_index=IGNORE,
                label_smoothing=cfg.label_smoothing,
            )

        def dev_eval() -> float:
            from microgpt.evaluation.metrics import span_metrics

            self.model = model
            pred = self.predict([texts[d] for d in dev_docs], [contexts[d] for d in dev_docs])
            return float(span_metrics([list(spans[d]) for d in dev_docs], pred)["span_f1"])

        args = TrainArgs(
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr or 1e-4,
            head_lr=cfg.head_lr or 2e-3,
            weight_decay=cfg.weight_decay,
            warmup_ratio=cfg.warmup_ratio,
            patience=cfg.patience,
            max_steps=cfg.max_steps,
            min_steps=cfg.min_steps,
            max_minutes=cfg.max_minutes,
            seed=self.seed,
            bf16=cpu_has_bf16() if cfg.bf16 is None else cfg.bf16,
        )
        result = fine_tune(
            model, [w.ids for w in windows], np.zeros(len(windows)), None, None, args, pad_id=pieces.pad,
            progress=progress, loss=loss, dev_eval=dev_eval if dev_docs else None,
        )  # fmt: skip
        self.model = model
        if cfg.ensemble_nano and dev_docs:
            self._fit_blend(texts, spans, contexts, train_docs, dev_docs, progress)
        self.fit_result_ = {
            "windows": len(windows),
            "dev_texts": len(dev_docs),
            "best_epoch": result.best_epoch,
            "best_dev_span_f1": result.best_dev,
            "steps": result.steps,
            "train_seconds": round(result.seconds, 1),
            "stopped_because": result.stopped_because,
            "history": result.history,
            "nano_blend": self.blend_,
            "blend_dev_span_f1": self.blend_scores_,
        }
        return self

    def _fit_blend(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        contexts: Sequence[str | None],
        train_docs: list[int],
        dev_docs: list[int],
        progress: Progress,
    ) -> None:
        """Train a CRF on the same training texts; blend its word marginals in with the weight best on dev (or 0)."""
        from microgpt.evaluation.metrics import span_metrics

        nano = CrfEngine(CrfConfig(), seed=self.seed).fit(
            [texts[d] for d in train_docs],
            [spans[d] for d in train_docs],
            [contexts[d] for d in train_docs],
            lambda stage, done, total: progress(f"nano {stage}", done, total),
        )
        dev_texts, dev_ctx = [texts[d] for d in dev_docs], [contexts[d] for d in dev_docs]
        gold = [list(spans[d]) for d in dev_docs]
        micro_p = self.word_probs(dev_texts, dev_ctx)
        nano_p = nano.tag_probs(dev_texts, dev_ctx, self.tags)
        self.blend_scores_ = {}
        for w in (0.0, 0.25, 0.5, 0.75):
            pred = [
                decode(words(t), (1 - w) * p + w * q, self.tags)
                for t, p, q in zip(dev_texts, micro_p, nano_p, strict=True)
            ]
            self.blend_scores_[w] = float(span_metrics(gold, pred)["span_f1"])
        self.blend_ = max(self.blend_scores_, key=lambda w: (self.blend_scores_[w], -w))
        self.nano = nano if self.blend_ > 0 else None
        log.info("nano blend on dev: %s → weight %.2f", self.blend_scores_, self.blend_)

    # ---- prediction ----------------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str], contexts: Sequence[str | None]) -> list[list[Span]]:
        probs = self.word_probs(texts, contexts)
        if self.nano is not None and self.blend_ > 0:
            nano = self.nano.tag_probs(texts, contexts, self.tags)
            probs = [(1 - self.blend_) * p + self.blend_ * q for p, q in zip(probs, nano, strict=True)]
        return [decode(words(t), p, self.tags) for t, p in zip(texts, probs, strict=True)]

    @torch.no_grad()
    def word_probs(
        self, texts: Sequence[str], contexts: Sequence[str | None], batch_size: int = 32
    ) -> list[np.ndarray]:
        """Per text, tag probabilities per word (n_words, n_tags), each word read from its most central window."""
        assert self.model is not None
        self.model.eval()
        pieces = self._pieces()
        docs = [words(t) for t in texts]
        windows = [
            w for d, (t, c) in enumerate(zip(texts, contexts, strict=True)) for w in pieces.windows(d, t, docs[d], c)
        ]
        out = [np.zeros((len(toks), len(self.tags)), dtype=np.float32) for toks in docs]
        for p in out:
            p[:, 0] = 1.0  # a word the tokenizer gives no piece (a control character) stays outside any span
        centrality = [np.full(len(toks), -1) for toks in docs]
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = [windows[i] for i in order[start : start + batch_size]]
            input_ids, mask = pad_batch([w.ids for w in chunk], pieces.pad)
            probs = torch.softmax(self.model(input_ids, mask).float(), dim=-1).numpy()  # (B, T, n_tags)
            for row, win in enumerate(chunk):
                last = len(win.ids) - 1
                for pos, w in enumerate(win.word_at):
                    if w >= 0 and min(pos, last - pos) > centrality[win.doc][w]:
                        centrality[win.doc][w] = min(pos, last - pos)
                        out[win.doc][w] = probs[row, pos]
        return out

    # ---- persistence ---------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"kind": "token-classification", "tags": self.tags, "fit": self.fit_result_}

    def save(self, directory: Path) -> None:
        assert self.model is not None
        encoder_dir = directory / "encoder"
        self.model.encoder.config.save_pretrained(encoder_dir)  # type: ignore[union-attr,operator]
        self.tokenizer.save_pretrained(encoder_dir)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(directory / "token-micro.safetensors"))
        if self.nano is not None:
            self.nano.save(directory)
        meta = {
            "config": self.config.model_dump(mode="json"),
            "tags": self.tags,
            "fit": self.fit_result_,
            "nano_blend": self.blend_ if self.nano is not None else 0.0,
        }
        (directory / "token-micro.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: Path) -> TokenMicroEngine:
        meta = json.loads((directory / "token-micro.json").read_text())
        engine = cls(MicroConfig(**meta["config"]))
        engine.tags = list(meta["tags"])
        engine.fit_result_ = meta.get("fit", {})
        engine.blend_ = float(meta.get("nano_blend", 0.0))
        engine.nano = CrfEngine.load(directory) if engine.blend_ > 0 else None
        encoder, engine.tokenizer = encoder_from_config(directory / "encoder")
        model = TokenHead(encoder, len(engine.tags), engine.config.dropout)
        model.load_state_dict(load_file(str(directory / "token-micro.safetensors")))
        model.eval()
        engine.model = model
        if engine.config.threads:
            torch.set_num_threads(engine.config.threads)
        return engine
