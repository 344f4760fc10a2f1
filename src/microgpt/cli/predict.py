"""`microgpt predict DIR [TEXT | -]`: one text, or JSON lines / plain lines on stdin → JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from microgpt.errors import DataError
from microgpt.tasks.base import Task, load


def predict_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    text: str = typer.Argument(None, help="A text to label; '-' or nothing reads lines from stdin."),
    batch_size: int = typer.Option(256, help="Texts per batch when reading stdin."),
) -> None:
    """Label texts with a trained module; prints one JSON object per text."""
    model = load(module)
    if text is not None and text != "-":
        _emit(model, [text], [None])
        return
    if sys.stdin.isatty():
        raise DataError("no text given and nothing piped on stdin", hint=f'microgpt predict {module} "your text"')
    texts: list[str] = []
    ids: list[object] = []
    for n, line in enumerate(sys.stdin, start=1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        value, ident = _parse_line(line, n)
        texts.append(value)
        ids.append(ident)
        if len(texts) >= batch_size:
            _emit(model, texts, ids)
            texts, ids = [], []
    if texts:
        _emit(model, texts, ids)


def _parse_line(line: str, n: int) -> tuple[str, object]:
    """A JSON object with "text" (and an optional "id" echoed back), or the plain line itself."""
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return line, None
        if not isinstance(obj.get("text"), str):
            raise DataError(f'stdin line {n} is a JSON object without a "text" string', hint='send {"text": "..."}')
        return obj["text"], obj.get("id")
    return line, None


def _emit(model: Task, texts: list[str], ids: list[object]) -> None:
    proba = model.predict_proba(texts)
    for row, text, ident in zip(proba, texts, ids, strict=True):
        if model.task == "tag":
            picked = [j for j in range(len(row)) if row[j] >= model.engine_.threshold_]
            out: dict[str, object] = {
                "labels": [model.labels_[j] for j in picked],
                "confidences": [round(float(row[j]), 4) for j in picked],
            }
        else:
            best = int(row.argmax())
            out = {"label": model.labels_[best], "confidence": round(float(row[best]), 4)}
        if ident is not None:
            out = {"id": ident, **out}
        out["text"] = text
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    sys.stdout.flush()
