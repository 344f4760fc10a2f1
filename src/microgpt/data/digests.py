"""Digests of texts: `sha256_text` (what the store keeps in place of a text), and a module's training-text digests
(`train_texts.sha1` in the module), which `evaluate` and `policy` check held-out data against, so scoring on training
data is named, not silently flattering."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def sha256_text(text: str) -> str:
    """Hex sha256 of a text's UTF-8; a lone surrogate (valid JSON, not valid UTF-8) still hashes instead of raising."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


TRAIN_TEXTS = "train_texts.sha1"
DIGEST_BYTES = 8  # 64 bits: a chance collision among a million texts is ~1e-8


def text_digests(texts: Any) -> bytes:
    """Sorted, de-duplicated 8-byte sha1 digests of texts normalised for case and whitespace (~8 bytes a text)."""
    digests = {hashlib.sha1(" ".join(t.split()).casefold().encode()).digest()[:DIGEST_BYTES] for t in texts}
    return b"".join(sorted(digests))


def write_train_texts(directory: Path, digests: bytes | None, loaded_from: Path | None = None) -> None:
    """Write the digests of a fitted model, or carry over those of the module a loaded model came from."""
    if digests is None and loaded_from is not None and (Path(loaded_from) / TRAIN_TEXTS).is_file():
        digests = (Path(loaded_from) / TRAIN_TEXTS).read_bytes()
    if digests is not None:
        (Path(directory) / TRAIN_TEXTS).write_bytes(digests)


def count_train_overlap(path: str | Path, texts: Any) -> int | None:
    """How many of `texts` were training texts of the module at `path`; None when it predates the digest file."""
    f = Path(path) / TRAIN_TEXTS
    if not f.is_file():
        return None
    raw = f.read_bytes()
    known = {raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)}
    return sum(1 for t in texts if text_digests([t]) in known)
