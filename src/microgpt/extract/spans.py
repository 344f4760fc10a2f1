"""Spans on text: word tokens with character offsets, span checks, BIO tags, and field values aligned to spans.

    words("Table for 4, Fri 7pm")      # -> [Word(0, 5, 'Table', line 0), Word(6, 9, 'for', ...), ...]
    align_value(text, "9.00")          # every place the value occurs, whitespace- and punctuation-tolerant

Every span the extractor returns is built from word offsets into the original text, so ``text[start:end]`` is always
exactly the span's text (tested as a round trip).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from microgpt.data.records import Span
from microgpt.data.scripts import CJK
from microgpt.errors import DataError

# Digits with the letters after them ("7pm", "2nd"), letters, or one mark; a currency glued to its amount splits off:
# "RM30.90" → RM 30 . 90, while "7pm" stays one word (Restaurant-8k: splitting it costs the CRF 1 point of span F1).
# A Han character or kana is a word of its own (Chinese and Japanese have no spaces): "7点四位" → 7 点 四 位.
_WORD = re.compile(rf"[{CJK}]|\d+[^\W\d_{CJK}]*|[^\W\d_{CJK}]+|_|[^\w\s]")
_CJK_CHAR = re.compile(rf"[{CJK}]")
_ZH_NUMERALS = frozenset("零〇一二两三四五六七八九十百千万亿")  # "四" is not found inside "四十" (40)
OUTSIDE = "O"


@dataclass(frozen=True)
class Word:
    """A word or punctuation mark: ``text[start:end]``, on line `line` (0-based) of the text."""

    start: int
    end: int
    text: str
    line: int
    line_start: bool  # first word on its line


def words(text: str) -> list[Word]:
    """Split into words and single marks, keeping character offsets and line numbers."""
    out: list[Word] = []
    line = 0
    last = 0
    for m in _WORD.finditer(text):
        breaks = text.count("\n", last, m.start())
        line += breaks
        out.append(Word(m.start(), m.end(), m.group(), line, breaks > 0 or not out))
        last = m.end()
    return out


def snap(text: str, span: Span) -> Span:
    """Trim surrounding whitespace from a span (annotations often include a trailing space)."""
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end, span.label, span.score)


def bio_tags(tokens: Sequence[Word], spans: Sequence[Span]) -> list[str]:
    """B-/I-/O tag per word. A word counts as inside a span when its first character is; the span's first word is B."""
    tags = [OUTSIDE] * len(tokens)
    for span in spans:
        first = True
        for i, w in enumerate(tokens):
            if span.start <= w.start < span.end:
                tags[i] = ("B-" if first else "I-") + span.label
                first = False
    return tags


def spans_from_tags(tokens: Sequence[Word], tags: Sequence[str], scores: Sequence[float] | None = None) -> list[Span]:
    """Spans from BIO tags (an I- that does not continue a span of its label starts one); score = min word score."""
    out: list[Span] = []
    current: list[int] = []
    label = ""

    def close() -> None:
        if current:
            score = min(scores[i] for i in current) if scores is not None else None
            out.append(Span(tokens[current[0]].start, tokens[current[-1]].end, label, score))

    for i, tag in enumerate(tags):
        if tag == OUTSIDE:
            close()
            current = []
            continue
        prefix, _, name = tag.partition("-")
        if prefix == "B" or name != label or not current:
            close()
            current, label = [i], name
        else:
            current.append(i)
    close()
    return out


def _folded(text: str) -> tuple[str, list[int]]:
    """Letters and digits of `text`, NFKC-normalised (full-width "７" is "7") and casefolded, and the index in `text`
    of each kept character."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if ch.isalnum():
            low = unicodedata.normalize("NFKC", ch).casefold() if not ch.isascii() else ch.casefold()
            chars.append(low)
            where.extend([i] * len(low))
    return "".join(chars), where


def _boundary(text: str, left: int, right: int) -> bool:
    """True when a match may start or end between text[left] and text[right]: not inside a word or a number
    ("9" does not match the 9 of "9.00" or "19")."""
    if left < 0 or right >= len(text):
        return True
    if text[left].isalnum() and text[right].isalnum():
        if text[left].isdigit() != text[right].isdigit():
            return True  # "RM|30.90" is a boundary, "9|0" and "a|b" are not
        # Chinese and Japanese have no spaces: any two Han characters or kana may be a boundary ("四|位")
        if text[left] in _ZH_NUMERALS and text[right] in _ZH_NUMERALS:
            return False
        return bool(_CJK_CHAR.match(text[left]) or _CJK_CHAR.match(text[right]))
    if text[right] in ".,:" and right + 1 < len(text):  # "9|.00"
        return not (text[left].isdigit() and text[right + 1].isdigit())
    if text[left] in ".,:" and left > 0:  # "9.|00" seen from the other side
        return not (text[left - 1].isdigit() and text[right].isdigit())
    return True


def align_value(text: str, value: str) -> list[tuple[int, int]]:
    """Every (start, end) where `value` occurs in `text`, ignoring case, whitespace and punctuation.

    A match must start and end on word and number boundaries ("9.00" is not found inside "19.00", nor "9" inside
    "9.00"). Returns [] when absent.
    """
    key, _ = _folded(value)
    if not key:
        return []
    folded, where = _folded(text)
    out: list[tuple[int, int]] = []
    pos = folded.find(key)
    while pos >= 0:
        start, end = where[pos], where[pos + len(key) - 1] + 1
        if _boundary(text, start - 1, start) and _boundary(text, end - 1, end):
            out.append((start, end))
        pos = folded.find(key, pos + 1)
    return out


def spans_from_fields(text: str, fields: dict[str, object], where: str) -> tuple[list[Span], list[str]]:
    """Spans for field values found in `text`, and the names of those that could not be found.

    Each value is labelled at every place it occurs (a receipt's total is printed two or three times; all of them
    are the total). Longer values win where two fields' occurrences would overlap.
    """
    wanted: list[tuple[str, str]] = []
    for name, value in fields.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            if not isinstance(v, (str, int, float)):
                raise DataError(
                    f"field {name!r} at {where} is {type(v).__name__}, expected a string or a list of strings",
                    hint='write field values as text, e.g. "total": "9.00"',
                )
            wanted.append((name, str(v)))
    found: list[Span] = []
    missing: list[str] = []
    for name, value in sorted(wanted, key=lambda item: -len(item[1])):
        places = align_value(text, value)
        placed = False
        for start, end in places:
            if all(end <= s.start or start >= s.end for s in found):
                found.append(Span(start, end, name))
                placed = True
        if not placed:
            missing.append(name)
    return sorted(found, key=lambda s: s.start), missing
