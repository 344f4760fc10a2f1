"""`microgpt predict DIR [TEXT | - | DATA --out FILE]`: one text, lines on stdin, or a CSV/JSONL file in → out."""

from __future__ import annotations

import csv
import datetime
import difflib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from microgpt.cli.choices import Engine
from microgpt.errors import ConfigError, DataError

TEXT_COLUMNS = ("text", "message", "utterance", "query", "input")  # as microgpt.data.readers finds them


def predict_cmd(
    module: Path = typer.Argument(..., help="A trained module directory."),
    text: str = typer.Argument(
        None, help="A text to label; '-' or nothing reads stdin; a .csv/.jsonl file with --out labels every row."
    ),
    out: str = typer.Option(
        None,
        "--out",
        "-o",
        help="Write TEXT's rows, every column kept plus the answers, to this .csv, .jsonl or .parquet (path or URL).",
    ),
    text_col: str = typer.Option(None, "--text-col", help="With --out: the text column (default: text, message, ...)."),
    whole: bool = typer.Option(
        False, "--whole", help="extract: one document per file (TEXT a file) or all of stdin, not one per line."
    ),
    batch_size: int = typer.Option(256, help="Texts per batch when reading stdin or a file."),
    context: str = typer.Option(None, "--context", help="extract: the slot just asked for, e.g. people."),
    reference_date: str = typer.Option(
        None, "--reference-date", help="extract: resolve 'next Friday' against this ISO date (default: today)."
    ),
    field: list[str] = typer.Option(None, "--field", help="reply: fill a placeholder: 'Order Number=A17'."),
    intent: str = typer.Option(None, "--intent", help="reply: the message's intent, if known."),
    max_new_tokens: int = typer.Option(
        None, "--max-new-tokens", help="reply: stop the draft after this many tokens (REST: max_new_tokens)."
    ),
    max_tokens: int = typer.Option(None, "--max-tokens", hidden=True, help="Old name of --max-new-tokens."),
    temperature: float = typer.Option(0.0, "--temperature", help="reply: 0 = greedy; > 0 samples."),
    top_p: float = typer.Option(1.0, "--top-p", help="reply: nucleus sampling mass (with --temperature)."),
    seed: int = typer.Option(None, "--seed", help="reply: seed for sampling."),
    guidance: float = typer.Option(None, "--guidance", help="reply (micro): guidance on the intent; 1 = off."),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="With --out: local (this process) or ray (Ray Data workers: pip install 'microgpt\\[ray]').",
    ),
    workers: int = typer.Option(None, "--workers", min=1, help="--engine ray: workers (default: one per CPU)."),
    address: str = typer.Option(
        None, "--address", help="--engine ray: the cluster ('auto' after `ray start --head`; default: a local one)."
    ),
) -> None:
    """Label texts with a trained module; prints one JSON object per text (extract: fields and spans).

    With --out, labels a .csv/.jsonl/.parquet file, a directory or a glob of them (a path or an fsspec URL): every
    input column is kept and the answer columns are added (classify: label, confidence, decision, unknown; tag:
    labels; extract: one column per field; reply: draft), in input order; `--engine ray` spreads the work over Ray
    workers. A reply module streams its draft for one TEXT to stdout as it is written (stdin: one JSON line each)."""
    from microgpt.task import load

    is_file = text not in (None, "-") and _is_file(text)
    if out is not None and text not in (None, "-") and _is_data(text):
        _predict_file(module, str(text), out, text_col, batch_size, context, reference_date, field, intent,
                      gen_options(max_new_tokens, max_tokens, temperature, top_p, seed, guidance), engine, workers,
                      address)  # fmt: skip
        return
    if engine is not Engine.local:
        raise ConfigError("--engine ray runs file jobs", hint=f"give a data file and --out: microgpt predict {module} "
                          "data.csv --out labelled.csv --engine ray")  # fmt: skip
    if out is None and is_file and not whole:
        raise DataError(
            f"{text!r} is a file: without --out it would be labelled as the text {text!r}",
            hint=f"did you mean to predict the file? add --out: microgpt predict {module} {text} --out labelled"
            f"{Path(text).suffix if Path(text).suffix in ('.csv', '.jsonl') else '.csv'}",
        )
    if out is not None:
        raise DataError(
            f"--out needs TEXT to be a .csv/.jsonl/.parquet file, a directory or a glob of them, got {text!r}",
            hint=f"microgpt predict {module} data.csv --out labelled.csv (stdin answers on stdout, as JSON lines)",
        )
    model = load(module)
    reference = _reference(reference_date)
    if context is not None:
        _check_context(model, context)
    if whole and not model.documents:
        raise ConfigError("--whole reads whole documents for extractors", hint=f"{module} is a {model.task} module")
    gen = gen_options(max_new_tokens, max_tokens, temperature, top_p, seed, guidance)
    fields = _fields(field or [])
    if "stream" in model.options:  # a replier: the draft is streamed as it is written
        _reply(model, module, text, fields, intent, gen)
        return
    if whole:
        doc = Path(str(text)).read_text(encoding="utf-8-sig") if is_file else _stdin_all(module)
        doc = doc.replace("\r\n", "\n")  # span offsets index the text printed beside them
        _print(answers(model, [doc], context, reference), [{"text": doc}])
        return
    if text is not None and text != "-":
        _print(answers(model, [text], context, reference), [{"text": text}])
        return
    if sys.stdin.isatty():
        raise DataError("no text given and nothing piped on stdin", hint=f'microgpt predict {module} "your text"')
    for batch in _batches(_stdin_rows(text_col), batch_size):
        _print(answers(model, [r["text"] for r in batch], context, reference), batch)


def gen_options(
    max_new_tokens: int | None,
    max_tokens: int | None,
    temperature: float,
    top_p: float,
    seed: int | None,
    guidance: float | None,
) -> dict[str, Any]:
    gen: dict[str, Any] = {"max_new_tokens": max_new_tokens if max_new_tokens is not None else max_tokens}
    gen |= {"temperature": temperature, "top_p": top_p, "seed": seed}
    return gen | ({"guidance": guidance} if guidance is not None else {})


def _is_data(value: str) -> bool:
    """A data file, a directory or glob of them, or a URL (s3://...): what `--out` labels row by row."""
    if "://" in value or any(c in value for c in "*?["):
        return len(value) < 4096 and "\n" not in value
    try:
        return _is_file(value) or (len(value) < 4096 and Path(value).is_dir())
    except OSError:
        return False


def _is_file(value: str) -> bool:
    try:
        return len(value) < 4096 and "\n" not in value and Path(value).is_file()
    except OSError:
        return False


def _stdin_all(module: Path) -> str:
    if sys.stdin.isatty():
        raise DataError("--whole reads a document from stdin, but nothing is piped", hint=f"microgpt predict {module} "
                        "--whole - < receipt.txt")  # fmt: skip
    return sys.stdin.read()


def _stdin_rows(text_col: str | None) -> Iterator[dict[str, Any]]:
    """Plain lines, {"text", "id"} JSON lines, or a CSV with a header naming a text column (the header is not a
    text). Line endings may be CRLF."""
    lines = (line.rstrip("\r\n") for line in sys.stdin)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        return
    column = _csv_text_column(first, text_col)
    if column is not None:
        rest = (line for line in lines)
        for n, row in enumerate(csv.DictReader(_chain(first, rest)), start=2):
            value = row.get(column)
            if value and value.strip():
                yield {"text": value}
            elif any(row.values()):
                raise DataError(f"stdin CSV row {n} has an empty {column!r}", hint="fill in or remove the row")
        return
    for n, line in enumerate(_chain(first, lines), start=1):
        if line.strip():
            yield _parse_line(line, n)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _csv_text_column(line: str, text_col: str | None) -> str | None:
    """The text column when `line` is a CSV header (`text,label`, `message,route`, or naming --text-col)."""
    if "," not in line or line.lstrip().startswith("{"):
        return None
    cells = [c.strip() for c in next(csv.reader(io.StringIO(line)))]
    if text_col is not None:
        return text_col if text_col in cells else None
    lowered = {c.lower(): c for c in cells}
    return next((lowered[name] for name in TEXT_COLUMNS if name in lowered), None)


def _parse_line(line: str, n: int) -> dict[str, Any]:
    """A JSON object with "text" (and an optional "id" echoed back), or the plain line itself."""
    if line.lstrip().startswith("{"):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return {"text": line}
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError(f'stdin line {n} is a JSON object without a "text" string', hint='send {"text": "..."}')
        return {"id": obj["id"], "text": obj["text"]} if obj.get("id") is not None else {"text": obj["text"]}
    return {"text": line}


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _reference(value: str | None) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--reference-date {value!r} is not an ISO date", hint="e.g. --reference-date 2026-11-29"
        ) from None


def _check_context(model: Any, context: str) -> None:
    """An extractor's --context must be one of its slots (its schema's fields); anything else would do nothing."""
    if "context" not in model.options:
        raise ConfigError(f"--context is for extractors; this is a {model.task} module", hint="drop --context")
    slots = list(model.labels_)
    if context not in slots:
        close = difflib.get_close_matches(context, slots, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown --context slot {context!r}", hint=f"{guess}the module's slots: {', '.join(slots)}")


def answers(
    model: Any, texts: list[str], context: str | None = None, reference: datetime.date | None = None
) -> list[dict[str, Any]]:
    """One JSON-able answer per text: the task's typed results (`to_json`)."""
    return [r.to_json() for r in _results(model, texts, context, reference)]


def _results(model: Any, texts: list[str], context: str | None, reference: datetime.date | None) -> list[Any]:
    options = {"context": context, "reference_date": reference}
    return list(model.results(texts, **{k: v for k, v in options.items() if v is not None}))


def _print(found: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    for answer, row in zip(found, rows, strict=True):
        head = {"id": row["id"]} if "id" in row else {}
        sys.stdout.write(json.dumps({**head, **answer, "text": row["text"]}, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _predict_file(
    module: Path,
    src: str,
    out: str,
    text_col: str | None,
    batch_size: int,
    context: str | None,
    reference_date: str | None,
    field: list[str] | None,
    intent: str | None,
    gen: dict[str, Any],
    engine: Engine,
    workers: int | None,
    address: str | None,
) -> None:
    from microgpt.batch import AnswerOptions, predict_table
    from microgpt.cli.progress import progress_bar
    from microgpt.task import load

    if engine is Engine.local and (workers is not None or address is not None):
        raise ConfigError("--workers and --address are for --engine ray", hint="add --engine ray, or drop them")
    if context is not None:
        _check_context(load(module), context)
    options = AnswerOptions(context=context, reference_date=_reference(reference_date), intent=intent,
                            fields=_fields(field or []), gen=gen)  # fmt: skip
    console = Console(stderr=True)
    with progress_bar(console) as progress:
        done = predict_table(module, src, out, text_col=text_col, batch_size=batch_size, options=options,
                             engine=engine.value, workers=workers, address=address, progress=progress)  # fmt: skip
    how = (
        f" · {done.engine}, {done.workers} worker{'s' if done.workers != 1 else ''}, {done.rows_per_second:,.0f} rows/s"
        if done.engine != "local"
        else ""
    )
    console.print(
        f"{done.rows} rows → [green]{out}[/] (added: {', '.join(done.added)}){how}", highlight=False, soft_wrap=True
    )


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
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            obj = json.loads(line) if line.lstrip().startswith("{") else {"text": line}
        except json.JSONDecodeError:
            obj = {"text": line}
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError(f'stdin line {n} is a JSON object without a "text" string', hint='send {"text": "..."}')
        draft = model.predict_one(
            obj["text"], intent=obj.get("intent", intent), fields={**fields, **(obj.get("fields") or {})}, **gen
        )
        out = {"id": obj["id"]} if obj.get("id") is not None else {}
        out.update({"reply": draft.text, "unfilled": draft.unfilled, "text": obj["text"]})
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()
