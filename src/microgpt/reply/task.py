"""`Replier`: a message (+ optional intent and fields) → a reply draft in the business's own voice.

    rep = Replier(tier="micro").fit(messages, replies)                 # or .fit(dataset) with `reply` on each Example
    rep.predict_one("where is order 1234?", fields={"Order Number": "1234"}).text
    for piece in rep.stream("I want my money back"): print(piece, end="", flush=True)    # .draft afterwards
    rep.save("replies/");  microgpt.load("replies/")

Tiers: `nano` retrieves the reply of the most similar training message; `micro` generates with `tinygpt`, a small
decoder trained from scratch on the pairs. Placeholders in the business's templates (`{{Order Number}}`) are filled
only from the `fields` the caller passes; one that cannot be filled stays visibly as it is. Training replies that
quote their own message's field values get those values turned into placeholders first (`reply.placeholders`), so no
tier ever repeats another customer's order number. With intents on the training data (`label`), a nano classifier
is trained on the replies too: `judge_intents` tells which intent a draft answers (the intent-consistency metric).
On the micro tier a second one, trained on the messages, routes: when the caller gives no intent, the generator is
conditioned on the intent it predicts (`route_intents` in `TinyGPTConfig`; `Draft.intent` says which was used), and
decoding leans on that intent with classifier-free guidance (`guidance`, 1.5 by default; 1 = off, twice as fast).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from microgpt.config import NanoConfig, TinyGPTConfig
from microgpt.data.records import Dataset, Example
from microgpt.errors import DataError
from microgpt.progress import Progress, no_progress
from microgpt.reply.draft import Draft, DraftStream
from microgpt.reply.placeholders import templatize
from microgpt.task import Task, Tier, check_text

log = logging.getLogger(__name__)
# The intent judge reads whole replies: word uni/bigrams seen twice are plenty (and keep the module small). It reads
# the steps too, not only the opening: a draft that says "download your invoice" and then walks through viewing one
# answers the neighbouring intent, and is counted so.
JUDGE = NanoConfig(word_ngrams=(1, 2), char_ngrams=(0, 0), min_df=2)
Fields = Mapping[str, Any]


class Replier(Task):
    """Reply drafting on the nano (retrieval) or micro (tinygpt) tier."""

    task = "reply"
    data_kind = "pairs"
    metric = "rouge_l"
    slow = True  # a draft takes tens of ms to seconds
    tiers: ClassVar[dict[str, Tier]] = {
        "nano": Tier("microgpt.reply.retrieval:RetrievalEngine", NanoConfig),
        "micro": Tier("microgpt.reply.generator:TinyGPTEngine", TinyGPTConfig),
    }
    options: ClassVar[tuple[str, ...]] = (
        "intent", "fields", "max_new_tokens", "temperature", "top_p", "seed", "guidance", "stream",
    )  # fmt: skip

    def __init__(
        self,
        tier: str = "nano",
        *,
        nano: NanoConfig | dict[str, Any] | None = None,
        micro: TinyGPTConfig | dict[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(tier, nano=nano, micro=micro, seed=seed)

    # ---- fitting -------------------------------------------------------------------------------------------
    def fit(  # type: ignore[override]
        self,
        X: Dataset | Sequence[str],
        y: Sequence[str] | None = None,
        *,
        intents: Sequence[str | None] | None = None,
        fields: Sequence[Fields | None] | None = None,
        progress: Progress = no_progress,
    ) -> Replier:
        """Learn from a Dataset of (message, reply) examples, or from messages `X` and the replies `y` sent to them."""
        super().fit(X, y, progress=progress, intents=intents, fields=fields)
        return self

    def _fit_engine(self, data: Dataset, progress: Progress) -> Any:
        messages, replies, labels = self._training_pairs(data)
        has_intents = all(label is not None for label in labels)
        engine = self.make_engine(self.tier)
        engine.fit(messages, replies, labels if has_intents else None, progress)
        self._intent_counts = Counter(label for label in labels if label is not None)
        self.labels_ = sorted(self._intent_counts) if has_intents else []
        self.judge_: Any = self._fit_intents(replies, labels, JUDGE) if has_intents else None
        route = has_intents and self.tier == "micro" and self.config("micro").route_intents
        self.router_: Any = self._fit_intents(messages, labels, self.config("nano")) if route else None
        self._templatized = sum(1 for e, r in zip(data, replies, strict=True) if _newlines(e.reply or "") != r)
        return engine

    def data_summary(self, data: Dataset) -> str:
        intents = len({e.label for e in data if e.label is not None})
        return f"[bold]{len(data)}[/] message/reply pairs ({intents} intents)"

    def _data_info(self, data: Dataset) -> dict[str, Any]:
        return {"label_counts": dict(sorted(self._intent_counts.items())), "templatized": self._templatized}

    def _from_lists(
        self,
        X: list[str],
        y: Sequence[str] | None,
        intents: Sequence[str | None] | None = None,
        fields: Sequence[Fields | None] | None = None,
    ) -> Dataset:
        if y is None or isinstance(y, str) or len(y) != len(X):
            raise DataError(
                "fit needs one reply per message",
                hint="call fit(messages, replies), or fit(dataset) with a `reply` on every example",
            )
        for name, extra in (("intents", intents), ("fields", fields)):
            if extra is not None and len(extra) != len(X):
                raise DataError(
                    f"got {len(X)} messages but {len(extra)} {name}", hint=f"pass one of {name} per message"
                )
        return Dataset(
            Example(
                text=text,
                reply=reply,
                label=intents[i] if intents is not None else None,
                fields=dict(fields[i] or {}) if fields is not None else None,
                source=f"item {i}",
            )
            for i, (text, reply) in enumerate(zip(X, y, strict=True))
        )

    def _training_pairs(self, data: Dataset) -> tuple[list[str], list[str], list[str | None]]:
        if len(data) < 2:
            raise DataError(
                f"only {len(data)} message/reply pair(s) to learn from",
                hint="give at least 2 (hundreds for useful drafts: the replies you have already sent)",
            )
        messages, replies, labels = [], [], []
        for i, e in enumerate(data):
            where = e.source or f"example {i}"
            check_text(e.text, where)
            if not isinstance(e.reply, str) or not e.reply.strip():
                raise DataError(
                    f"empty or missing reply at {where}",
                    hint="every training message needs the reply that was sent to it (--reply-col names its column)",
                )
            messages.append(e.text)
            replies.append(templatize(_newlines(e.reply), e.fields))
            labels.append(e.label)
        return messages, replies, labels

    def _fit_intents(self, texts: list[str], labels: list[str | None], config: NanoConfig) -> Any:
        """A nano classifier from text (reply: the judge; message: the router) to intent, or None where some intent
        has too few examples to learn."""
        import numpy as np

        from microgpt.labels.nano import NanoEngine

        counts = Counter(labels)
        if len(counts) < 2 or min(counts.values()) < 2:
            log.info("no intent classifier: needs at least 2 intents with 2 examples each")
            return None
        index = {label: i for i, label in enumerate(self.labels_)}
        targets = np.array([index[label] for label in labels if label is not None], dtype=np.int64)
        return NanoEngine(config, seed=self.seed).fit(texts, targets, False)

    # ---- prediction ----------------------------------------------------------------------------------------
    def _check_request(self, message: Any, intent: str | None) -> None:
        self._check_fitted()
        if isinstance(message, str) and not message.strip():
            raise DataError("empty message: there is nothing to reply to", hint="pass the customer's message text")
        check_text(message, "message")
        if intent is not None:
            if not self.labels_:
                raise DataError(
                    f"intent {intent!r} given, but this model was trained without intents",
                    hint="leave the intent out, or retrain with an intent column (--label-col)",
                )
            if intent not in self.labels_:
                import difflib

                close = difflib.get_close_matches(intent, self.labels_, n=1)
                guess = f"did you mean {close[0]!r}? " if close else ""
                raise DataError(
                    f"unknown intent {intent!r}", hint=f"{guess}known intents: {', '.join(self.labels_[:30])}"
                )

    def stream(
        self,
        message: str,
        *,
        intent: str | None = None,
        fields: Fields | None = None,
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        guidance: float | None = None,
    ) -> DraftStream:
        """The draft as it is written: iterate for text pieces, placeholders filled from `fields` as soon as they
        close; the stream's `draft` is the finished `Draft` afterwards.

        Greedy by default (the same draft every time); `temperature` > 0 samples, from the `top_p` nucleus.
        `guidance` (micro) overrides the module's classifier-free guidance on the intent: 1 = off, twice as fast.
        """
        self._check_request(message, intent)
        intent = self._route(message, intent)
        sampling = {"temperature": temperature, "top_p": top_p, "seed": seed}
        if guidance is not None:
            sampling["guidance"] = guidance
        pieces = self.engine_.generate(message, intent, max_new_tokens=max_new_tokens, **sampling)
        return DraftStream(pieces, fields, intent)

    def predict_one(self, message: str, **generation: Any) -> Draft:
        """One `Draft` for `message`, with its timing (first token, total) and the placeholders left open.

        Takes `stream`'s keywords: intent, fields, max_new_tokens, temperature, top_p, seed, guidance."""
        return self.stream(message, **generation).finish()

    def predict(
        self,
        X: Sequence[str] | Dataset,
        *,
        intents: Sequence[str | None] | None = None,
        fields: Sequence[Fields | None] | None = None,
        **generation: Any,
    ) -> list[str]:
        """One draft per message; for a Dataset, each example's `fields` fill its placeholders (intents: if given)."""
        return [d.text for d in self.drafts(X, intents=intents, fields=fields, **generation)]

    def drafts(
        self,
        X: Sequence[str] | Dataset,
        *,
        intents: Sequence[str | None] | None = None,
        fields: Sequence[Fields | None] | None = None,
        **generation: Any,
    ) -> list[Draft]:
        """Like `predict`, with each draft's timing and placeholders (`Draft`)."""
        self._check_fitted()
        texts = self._texts(X)
        if fields is None and isinstance(X, Dataset):
            fields = [e.fields for e in X]
        for name, extra in (("intents", intents), ("fields", fields)):
            if extra is not None and len(extra) != len(texts):
                raise DataError(f"got {len(texts)} messages but {len(extra)} {name}", hint="pass one per message")
        return [
            self.predict_one(
                text,
                intent=intents[i] if intents is not None else None,
                fields=fields[i] if fields is not None else None,
                **generation,
            )
            for i, text in enumerate(texts)
        ]

    def _route(self, message: str, intent: str | None) -> str | None:
        """The caller's intent, else the router's prediction for the message (micro tier, trained with intents)."""
        if intent is not None or getattr(self, "router_", None) is None:
            return intent
        proba = self.router_.predict_proba([message])
        return str(self.labels_[int(proba[0].argmax())])

    def results(self, X: Sequence[str] | Dataset, **options: Any) -> list[Draft]:
        """One `Draft` per message; `intent`, `fields` and the decoding options apply to every message."""
        self.check_options(options)
        generation = {k: v for k, v in options.items() if k != "stream" and v is not None}
        if isinstance(X, str):
            raise DataError("results takes a list of messages, got a single string", hint="wrap it in a list")
        return [self.predict_one(text, **generation) for text in (X.texts if isinstance(X, Dataset) else X)]

    def judge_intents(self, replies: Sequence[str]) -> list[str] | None:
        """The intent each reply answers, by the nano classifier trained on the training replies (None: no intents)."""
        self._check_fitted()
        if self.judge_ is None or not replies:
            return None if self.judge_ is None else []
        proba = self.judge_.predict_proba(list(replies))
        return [self.labels_[i] for i in proba.argmax(axis=1)]

    def score(self, X: Sequence[str] | Dataset, y: Sequence[str] | None = None) -> float:
        """Mean ROUGE-L F1 of the drafts against the reference replies."""
        from microgpt.reply.metrics import rouge_l

        data = self._as_dataset(X, y)
        references = [e.reply or "" for e in data]
        return float(sum(rouge_l(references, self.predict(data))) / max(1, len(data)))

    def correction(self, label: str | None, labels: list[str] | None) -> str | list[str]:
        raise DataError(
            "a replier's feedback is the reply you sent, not a label",
            hint="add corrected examples to the training JSONL (message + the reply you sent) and retrain",
        )

    def evaluation(self, data: Dataset, progress: Progress) -> dict[str, Any]:
        from microgpt.reply.metrics import generation_metrics

        return generation_metrics(self, data, progress)

    def report_markdown(self, report: dict[str, Any]) -> str | None:
        from microgpt.reply.metrics import markdown

        return markdown(report)

    # ---- persistence ---------------------------------------------------------------------------------------
    def _manifest_extra(self) -> dict[str, Any]:
        return {"judge": self.judge_ is not None, "router": self.router_ is not None}

    def _write_parts(self, directory: Path) -> None:
        self.engine_.save(directory)
        for name, part in (("judge", self.judge_), ("router", self.router_)):
            if part is not None:
                (directory / name).mkdir()
                part.save(directory / name)

    def _restore_state(self, path: Path, manifest: dict[str, Any]) -> None:
        from microgpt.labels.nano import NanoEngine

        super()._restore_state(path, manifest)
        self.judge_ = NanoEngine.load(path / "judge") if manifest.get("judge") else None
        self.router_ = NanoEngine.load(path / "router") if manifest.get("router") else None


def _newlines(text: str) -> str:
    """Windows line ends become "\\n": the same reply, fewer tokens to learn and to generate."""
    return text.replace("\r\n", "\n")
