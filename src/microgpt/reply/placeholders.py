"""Template placeholders in replies (`{{Order Number}}`): find them, fill them from the caller's fields, never invent.

    fill("Your order {{Order Number}} ships via {{Carrier}}.", {"order_number": "A-17"})
    # Filled(text='Your order A-17 ships via {{Carrier}}.', filled=['Order Number'], unfilled=['Carrier'])

A placeholder is filled only when the caller passed a field with the same name, compared ignoring case, spaces,
punctuation and a trailing "Anonymized" (Bitext's `{{Order Number Anonymized}}` is `order_number`). Anything else stays
exactly as written, so a reader sees what still has to be filled in. `templatize` goes the other way at training
time: a training reply that quotes its own message's field value ("order 00123842") learns `{{Order Number}}` instead,
so no model ever learns to write another customer's order number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PLACEHOLDER = re.compile(r"\{\{ {0,3}([^{}\n]{1,80}?) {0,3}\}\}")
_SUFFIXES = ("anonymized", "anonymised")
MAX_OPEN = 90  # the longest placeholder PLACEHOLDER matches: after that many characters an open "{{" is just text


def field_key(name: str) -> str:
    """The name two placeholders/fields are compared by: lower case, letters and digits only, no 'Anonymized'."""
    key = re.sub(r"[\W_]+", "", name.lower())
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
    return key


def placeholders(text: str) -> list[str]:
    """The placeholder names in `text`, in order, repeats included."""
    return [m.group(1) for m in PLACEHOLDER.finditer(text)]


@dataclass
class Filled:
    """A reply after filling: `filled` and `unfilled` name the placeholders found (repeats included)."""

    text: str
    filled: list[str] = field(default_factory=list)
    unfilled: list[str] = field(default_factory=list)


def _lookup(fields: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (fields or {}).items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # an empty field fills nothing: the placeholder stays visible
        key = field_key(str(name))
        if key:
            out[key] = str(value)
    return out


def fill(text: str, fields: Mapping[str, Any] | None) -> Filled:
    """Replace each placeholder that names a given field by the field's value; leave every other one as it is."""
    values = _lookup(fields)
    result = Filled(text)

    def replace(m: re.Match[str]) -> str:
        value = values.get(field_key(m.group(1)))
        if value is None:
            result.unfilled.append(m.group(1))
            return m.group(0)
        result.filled.append(m.group(1))
        return value

    result.text = PLACEHOLDER.sub(replace, text)
    return result


def templatize(reply: str, fields: Mapping[str, Any] | None) -> str:
    """Replace the verbatim field values a training reply quotes by `{{name}}` placeholders (longest values first).

    A value is replaced only where it stands as a whole token ("123" inside "41234" stays), and only when it has at
    least 2 characters, so a field like `{"count": "1"}` cannot rewrite every "1" in the reply.
    """
    pairs = sorted(
        ((str(v).strip(), str(k)) for k, v in (fields or {}).items() if v is not None and len(str(v).strip()) >= 2),
        key=lambda p: -len(p[0]),
    )
    for value, name in pairs:
        pattern = re.compile(r"(?<![\w{])" + re.escape(value) + r"(?![\w}])")
        reply = pattern.sub(("{{" + name + "}}").replace("\\", "\\\\"), reply)
    return reply


class StreamFiller:
    """Fill placeholders in text that arrives in pieces (tokens), holding back only an unfinished `{{...`.

    The concatenated output equals `fill(whole_text, fields).text`: a placeholder split across tokens is filled
    once it closes, and text that only looked like one (no `}}` within MAX_OPEN characters) is released as it is.
    """

    def __init__(self, fields: Mapping[str, Any] | None) -> None:
        self.fields = dict(fields or {})
        self.pending = ""
        self.result = Filled("")

    def feed(self, piece: str) -> str:
        self.pending += piece
        out: list[str] = []
        while True:
            start = self.pending.find("{{")
            if start < 0:
                # a lone trailing "{" may be the start of "{{": keep it back
                cut = len(self.pending) - 1 if self.pending.endswith("{") else len(self.pending)
                out.append(self._emit(self.pending[:cut]))
                self.pending = self.pending[cut:]
                break
            m = PLACEHOLDER.match(self.pending, start)
            if m is not None:
                out.append(self._emit(self.pending[: m.end()]))
                self.pending = self.pending[m.end() :]
                continue
            if "}}" in self.pending[start:] or "\n" in self.pending[start:] or len(self.pending) - start > MAX_OPEN:
                # not a placeholder after all: release up to and including the first brace
                out.append(self._emit(self.pending[: start + 1]))
                self.pending = self.pending[start + 1 :]
                continue
            out.append(self._emit(self.pending[:start]))
            self.pending = self.pending[start:]
            break
        return "".join(out)

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return self._emit(rest)

    def _emit(self, text: str) -> str:
        if not text:
            return ""
        done = fill(text, self.fields)
        self.result.text += done.text
        self.result.filled += done.filled
        self.result.unfilled += done.unfilled
        return done.text


def fill_stream(
    pieces: Iterable[str], fields: Mapping[str, Any] | None, filler: StreamFiller | None = None
) -> Iterator[str]:
    """`StreamFiller` over an iterator of text pieces; yields filled text as soon as it is safe to show.

    Pass your own `filler` (made with the fields) to read its `result` afterwards."""
    filler = filler or StreamFiller(fields)
    for piece in pieces:
        out = filler.feed(piece)
        if out:
            yield out
    rest = filler.flush()
    if rest:
        yield rest
