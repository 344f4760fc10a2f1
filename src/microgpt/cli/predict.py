"""`microgpt predict DIR [TEXT | -]`: one text, or JSON lines / plain lines on stdin → JSON lines."""

from __future__ import annotations

import datetime
import functools
import json
import sys
from pathlib import Path
from typing import Any

import typer

from microgpt.errors import ConfigError, DataError
from microgpt.policy import decide
from microgpt.task import Task, load


def predict_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    text: str = typer.Argument(None, help="A text to label; '-' or nothing reads lines from stdin."),
    batch_size: int = typer.Option(256, help="Texts per batch when reading stdin."),
    context: str = typer.Option(None, "--context", help="extract: the slot just asked for, e.g. people."),
    reference_date: str = typer.Option(
        None, "--reference-date", help="extract: resolve 'next Friday' against this ISO date (default: today)."
    ),
    field: list[str] = typer.Option(None, "--field", help="reply: fill a placeholder: 'Order Number=A17'."),
    intent: str = typer.Option(None, "--intent", help="reply: the message's intent, if known."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="reply: stop the draft after this many tokens."),
    temperature: float = typer.Option(0.0, "--temperature", help="reply: 0 = greedy; > 0 samples."),
    top_p: float = typer.Option(1.0, "--top-p", help="reply: nucleus sampling mass (with --temperature)."),
    seed: int = typer.Option(None, "--seed", help="reply: seed for sampling."),
    guidance: float = typer.Option(None, "--guidance", help="reply (micro): guidance on the intent; 1 = off."),
) -> None:
    """Label texts with a trained module; prints one JSON object per text (extract: fields and spans).

    A reply module streams its draft for one TEXT to stdout as it is written (stdin: one JSON line per message)."""
    model = load(module)
    if model.task == "reply":
        gen = {"max_new_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        gen |= {"guidance": guidance} if guidance is not None else {}
        _reply(model, module, text, _fields(field or []), intent, gen)
        return
    emit = functools.partial(_emit, model, context=context, reference=_reference(reference_date))
    if text is not None and text != "-":
        emit([text], [None])
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
            emit(texts, ids)
            texts, ids = [], []
    if texts:
        emit(texts, ids)


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


def _reference(value: str | None) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--reference-date {value!r} is not an ISO date", hint="e.g. --reference-date 2026-11-29"
        ) from None


def _emit(
    model: Task,
    texts: list[str],
    ids: list[object],
    context: str | None = None,
    reference: datetime.date | None = None,
) -> None:
    if model.task == "extract":
        extractor: Any = model
        for ex, text, ident in zip(extractor.predict(texts, context, reference), texts, ids, strict=True):
            head: dict[str, object] = {"id": ident} if ident is not None else {}
            sys.stdout.write(json.dumps({**head, **ex.to_json(), "text": text}, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
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
            confidence = float(row[best])
            out = {"label": model.labels_[best], "confidence": round(confidence, 4)}
            threshold = getattr(model, "unknown_threshold_", float("inf"))
            out.update(decide(model.labels_[best], confidence, 1 - confidence > threshold, model.policy_).to_json())
        if ident is not None:
            out = {"id": ident, **out}
        out["text"] = text
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fields(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--field {pair!r} is not NAME=VALUE", hint="e.g. --field 'Order Number=A-17'")
        out[name.strip()] = value.strip()
    return out


def _reply(
    model: Any, module: Path, text: str | None, fields: dict[str, str], intent: str | None, gen: dict[str, Any]
) -> None:
    """One message: the draft streamed as plain text. Stdin: {"id", "reply", "unfilled"} JSON lines."""
    if text is not None and text != "-":
        stream = model.stream(text, intent=intent, fields=fields, **gen)
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()  # token by token, as it is written
        sys.stdout.write("\n")
        sys.stdout.flush()
        if stream.draft.unfilled:  # on stderr: stdout stays the draft alone
            names = ", ".join(dict.fromkeys(stream.draft.unfilled))
            sys.stderr.write(f"placeholders left open: {names} (fill them with --field 'NAME=VALUE')\n")
        return
    if sys.stdin.isatty():
        raise DataError("no message given and nothing piped on stdin", hint=f'microgpt predict {module} "message"')
    for n, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line) if line.lstrip().startswith("{") else {"text": line.rstrip("\n")}
        except json.JSONDecodeError:
            obj = {"text": line.rstrip("\n")}
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError(f'stdin line {n} is a JSON object without a "text" string', hint='send {"text": "..."}')
        draft = model.predict_one(
            obj["text"], intent=obj.get("intent", intent), fields={**fields, **(obj.get("fields") or {})}, **gen
        )
        out = {"id": obj["id"]} if obj.get("id") is not None else {}
        out.update({"reply": draft.text, "unfilled": draft.unfilled, "text": obj["text"]})
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
