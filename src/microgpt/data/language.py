"""Is this data English? A cheap check that lets `auto` pick a multilingual encoder for other languages.

English MiniLM reads English only (its WordPiece splits Chinese into [UNK] and Spanish into fragments); the share of
very common English function words tells English text from other languages in a few milliseconds, without a model.
Measured on the test sets: MASSIVE en-US 0.40 of tokens, de-DE 0.04, es-ES 0.01, zh-CN 0.00; Banking77 0.49,
Bitext 0.43 (so a threshold of 0.12).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from microgpt.data.scripts import CJK

# Frequent English words that are not also frequent words of Spanish, German, French, Italian or Portuguese
ENGLISH = frozenset(
    "the is are was were be been and or of to in on at for with from by this that these those it its my your our "
    "their his her what which who when where why how can could would should will do does did have has had not "
    "please you we they he she i am an there here about me up out if than then them him".split()
)
_TOKEN = re.compile(rf"[{CJK}]|[^\W\d_{CJK}]+", re.UNICODE)
THRESHOLD = 0.12


def english_share(texts: Sequence[str], sample: int = 2000) -> float:
    """The share of (up to `sample`) texts' tokens that are common English function words (CJK characters count)."""
    step = max(1, len(texts) // sample)
    tokens = [t for text in texts[::step][:sample] for t in _TOKEN.findall(text.lower())]
    return sum(t in ENGLISH for t in tokens) / len(tokens) if tokens else 1.0


def looks_english(texts: Sequence[str]) -> bool:
    return english_share(texts) >= THRESHOLD
