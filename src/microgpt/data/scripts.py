"""Writing systems the tokenisers treat apart: Chinese and Japanese are written without spaces between words."""

from __future__ import annotations

# Kana, CJK unified ideographs (with extension A and B) and compatibility ideographs: one character, one word.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
