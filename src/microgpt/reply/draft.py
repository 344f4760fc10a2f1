"""A reply draft, and the stream that writes it.

stream = DraftStream(engine.generate(message, intent), fields, intent)
for piece in stream: print(piece, end="")    # placeholders filled from `fields` as soon as they close
stream.draft                                 # the finished Draft: text, placeholders filled and left, timing
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from microgpt.reply.placeholders import StreamFiller, fill_stream


@dataclass
class Draft:
    """One reply draft: its `text` (placeholders filled where the caller gave the field), and how it was made."""

    text: str
    filled: list[str] = field(default_factory=list)  # placeholders filled from the caller's fields
    unfilled: list[str] = field(default_factory=list)  # placeholders left visible: no field was given for them
    intent: str | None = None  # the intent the draft was conditioned on: the caller's, or the router's
    tokens: int = 0  # pieces generated (micro: BPE tokens; nano: words)
    first_token_ms: float = 0.0
    ms: float = 0.0

    def columns(self) -> dict[str, Any]:
        return {"draft": self.text, "unfilled": list(self.unfilled)}

    def to_json(self) -> dict[str, Any]:
        """The draft as the CLI and REST print it (timings are in `ms` / `first_token_ms`)."""
        return {
            "reply": self.text,
            "intent": self.intent,
            "filled": list(self.filled),
            "unfilled": list(self.unfilled),
            "tokens": self.tokens,
            "first_token_ms": round(self.first_token_ms, 3),
            "ms": round(self.ms, 3),
        }


class DraftStream:
    """Iterate for the draft's text as it is written (placeholders filled once they close); after the last piece,
    `draft` holds the finished `Draft`. Timing starts at the first `next()`, so it is the reader's wait."""

    def __init__(self, pieces: Iterable[str], fields: Mapping[str, Any] | None, intent: str | None) -> None:
        self._pieces, self._fields, self.intent = pieces, fields, intent
        self._first: float | None = None
        self._tokens = 0
        self.draft: Draft | None = None

    def __iter__(self) -> Iterator[str]:
        filler = StreamFiller(self._fields)
        start = time.perf_counter()
        yield from fill_stream(self._timed(), None, filler)
        end = time.perf_counter()
        done = filler.result
        self.draft = Draft(
            text=done.text,
            filled=done.filled,
            unfilled=done.unfilled,
            intent=self.intent,
            tokens=self._tokens,
            first_token_ms=((self._first or end) - start) * 1000,
            ms=(end - start) * 1000,
        )

    def _timed(self) -> Iterator[str]:
        """The engine's pieces, noting when the first arrives and how many there are."""
        for piece in self._pieces:
            if self._first is None:
                self._first = time.perf_counter()
            self._tokens += 1
            yield piece

    def finish(self) -> Draft:
        """Read the rest of the stream and return the `Draft`."""
        for _ in self:
            pass
        assert self.draft is not None
        return self.draft
