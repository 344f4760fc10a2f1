"""Read CSV and JSONL exports into a validated `Dataset`, rejecting bad rows with the row number and the fix."""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from microgpt.data.records import Dataset, Example, Span, check_spans
from microgpt.errors import DataError

# Tried in order when the caller names no column, so common exports (Banking77's `category`) just work.
TEXT_COLUMNS = ("text", "message", "utterance", "query", "input")
LABEL_COLUMNS = ("label", "labels", "category", "intent", "intents", "class", "target")
# Kept in `Example.meta` when a row has them: where a label came from ("teacher", "review", "user") and which model.
META_COLUMNS = ("source", "teacher")
REPLY_COLUMNS = ("reply", "response", "answer", "output")

log = logging.getLogger(__name__)


def read_examples(
    path: str | Path,
    task: str = "classify",
    text_col: str | None = None,
    label_col: str | None = None,
    label_sep: str | None = None,
    min_per_label: int = 2,
    require_labels: bool = True,
    reply_col: str | None = None,
) -> Dataset:
    """Read a `.csv` or `.jsonl` file into a `Dataset` for `task` ('classify', 'tag', 'extract' or 'reply'), or
    directly in one of the data formats (`KINDS`: label, labels, spans, pairs) a task declares as `data_kind`.

    Reply data has a message (`text_col`) and the reply sent to it (`reply_col`, default `reply`, `response`, ...),
    optionally its intent (`label_col`, found if named `intent`, `label`, ...) and, in JSONL, a `fields` object.

    Extraction data is JSONL with `text` and either `spans` (``[{"start", "end", "label"}]``, character offsets,
    end-exclusive) or `fields` (``{name: value or [values]}``), and optionally `context` (e.g. the slot just asked for).

    Multi-label targets (task 'tag') may be a JSON list (`["a","b"]`, in a CSV cell or a JSONL array) or a string
    split on `label_sep`. With `min_per_label` > 0, a label with fewer examples is an error naming it.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file not found: {path}", hint="check the path; MicroGPT reads .csv and .jsonl files")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file", hint="pass a .csv or .jsonl file")
    raw = path.read_bytes()
    text = _decode(raw, path)
    if not text.strip():
        raise DataError(f"{path} is empty", hint="export at least a header and two examples per label")
    kind = data_kind(task)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = _jsonl_rows(text, path)
    elif suffix in (".csv", ".tsv", ".txt"):
        rows = _csv_rows(text, path, delimiter="\t" if suffix == ".tsv" else ",")
    else:
        raise DataError(f"unsupported file type {suffix!r} for {path}", hint="use a .csv or .jsonl file")

    examples: list[Example] = []
    columns: list[str] | None = None
    tcol = lcol = None
    if kind == "spans" and suffix not in (".jsonl", ".ndjson", ".json"):
        raise DataError(
            f"extraction data must be JSONL, got {path.name}",
            hint='one object per line: {"text": ..., "spans": [{"start": 0, "end": 4, "label": "date"}]} '
            'or {"text": ..., "fields": {"total": "9.00"}}',
        )
    for line_no, row in rows:
        if kind == "spans":
            examples.append(_extract_example(row, text_col or "text", f"{path.name}:{line_no}"))
            continue
        if kind == "pairs":
            if columns is None:
                columns = list(row)
                tcol = _pick_column(columns, text_col, (*TEXT_COLUMNS, "instruction", "question"), "text", path)
                rcol = _pick_column(columns, reply_col, REPLY_COLUMNS, "reply", path)
                # the intent is optional; named, it must exist
                lcol = _pick_column(columns, label_col, LABEL_COLUMNS, "label", path) if label_col else None
                lcol = lcol or _maybe_column(columns, None, ("intent", *LABEL_COLUMNS))
            examples.append(_reply_example(row, tcol or "", rcol, lcol, f"{path.name}:{line_no}"))
            continue
        if columns is None:
            columns = list(row)
            tcol = _pick_column(columns, text_col, TEXT_COLUMNS, "text", path)
            lcol = _pick_column(columns, label_col, LABEL_COLUMNS, "label", path) if require_labels else None
            if lcol is None and not require_labels:
                lcol = _maybe_column(columns, label_col, LABEL_COLUMNS)
        where = f"{path.name}:{line_no}"
        value = row.get(tcol)  # type: ignore[arg-type]
        if value is None and tcol not in row:
            raise DataError(f"row at {where} has no {tcol!r} field", hint=f"add {tcol!r} to every row")
        if not isinstance(value, str) or not value.strip():
            raise DataError(
                f"empty text at {where} (column {tcol!r})",
                hint="remove the row or fill in its text; whitespace-only texts cannot be learned from",
            )
        target = row.get(lcol) if lcol else None
        example = _make_example(value, target, kind, label_sep, where, require_labels, lcol)
        meta = {k: row[k].strip() for k in META_COLUMNS if k not in (tcol, lcol) and isinstance(row.get(k), str)}
        meta = {k: v for k, v in meta.items() if v}
        examples.append(replace(example, meta=meta) if meta else example)
    if not examples:
        raise DataError(f"{path} has a header but no data rows", hint="add examples below the header")
    data = Dataset(examples, name=path.stem)
    if require_labels and min_per_label > 0 and kind in ("label", "labels"):
        check_label_counts(data, min_per_label)
    return data


# The data format of each built-in task: one label a text, a set of labels, spans/fields (JSONL), message/reply pairs.
KINDS = ("label", "labels", "spans", "pairs")
TASK_KINDS = {"classify": "label", "tag": "labels", "extract": "spans", "reply": "pairs"}


def data_kind(task: str) -> str:
    """The data format to read for `task` (a built-in task's name, or a format from KINDS)."""
    kind = TASK_KINDS.get(task, task)
    if kind not in KINDS:
        raise DataError(
            f"no data format for {task!r}",
            hint=f"read with a task ({', '.join(TASK_KINDS)}) or a format ({', '.join(KINDS)})",
        )
    return kind


def check_label_counts(data: Dataset, min_per_label: int = 2) -> None:
    """Raise naming every label with fewer than `min_per_label` examples (and where the first one is)."""
    counts = data.label_counts()
    rare = sorted(label for label, n in counts.items() if n < min_per_label)
    if rare:
        first = next(e.source for e in data if e.label == rare[0] or (e.labels and rare[0] in e.labels))
        listing = ", ".join(f"{label!r} ({counts[label]})" for label in rare[:10])
        more = f" and {len(rare) - 10} more" if len(rare) > 10 else ""
        raise DataError(
            f"{len(rare)} label(s) have fewer than {min_per_label} examples: {listing}{more} (first at {first})",
            hint=f"add at least {min_per_label} examples for each, merge them into another label, or drop those rows",
        )


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8: byte 0x{raw[err.start]:02x} at offset {err.start} (line {line})",
            hint=f"re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}`",
        ) from None


def _csv_rows(text: str, path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(f"{path} has no header row", hint="the first line must name the columns, e.g. `text,label`")
    header = [str(c) for c in reader.fieldnames]
    seen: dict[str, int] = {}
    for i, column in enumerate(header, start=1):
        key = column.strip().lower()
        if key in seen:  # DictReader would keep only the last of them, silently
            raise DataError(
                f"{path.name}: the header names column {column!r} twice (columns {seen[key]} and {i}: {header})",
                hint="rename or delete one of them (e.g. `text,label,label_2`), or pass --text-col/--label-col",
            )
        seen[key] = i
    repeated = 0
    try:
        for row in reader:
            if [row.get(c) for c in header] == header:  # the header again, e.g. two exports concatenated
                repeated += 1
                if repeated == 1:
                    log.warning("%s:%d repeats the header row; skipping it", path.name, reader.line_num)
                continue
            if None in row:  # more cells than header columns
                raise DataError(
                    f"row at {path.name}:{reader.line_num} has more cells than the header's {len(reader.fieldnames)}",
                    hint='quote texts that contain commas, e.g. "hello, world"',
                )
            if all(v in (None, "") for v in row.values()):
                continue  # blank line
            yield reader.line_num, row
    except csv.Error as err:
        raise DataError(f"{path.name}:{reader.line_num}: malformed CSV ({err})", hint="check the quoting") from None


def _jsonl_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path.name}:{line_no} is not valid JSON ({err.msg})",
                hint="JSONL needs one JSON object per line",
            ) from None
        except RecursionError:
            raise DataError(
                f"{path.name}:{line_no} nests JSON too deeply to read",
                hint='each line should be a flat object like {"text": ..., "label": ...}',
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"{path.name}:{line_no} is a {type(row).__name__}, not an object", hint='use {"text": ...}')
        yield line_no, row


def _maybe_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...]) -> str | None:
    if wanted is not None:
        return wanted if wanted in columns else None
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def _pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, path: Path) -> str:
    found = _maybe_column(columns, wanted, candidates)
    if found is not None:
        return found
    flag = {"text": "--text-col", "reply": "--reply-col"}.get(role, "--label-col")
    shown = ", ".join(repr(c) for c in columns)
    if wanted is not None:
        lower = {c.lower(): c for c in columns}
        close = difflib.get_close_matches(wanted.lower(), list(lower), n=1, cutoff=0.6)
        guess = f"did you mean {lower[close[0]]!r}? " if close else ""
        raise DataError(
            f"{path.name} has no {role} column {wanted!r}; its columns are {shown}",
            hint=f"{guess}pass the right one with {flag} NAME",
        )
    hint = f"name it with {flag} NAME"
    if role == "label" and ("spans" in columns or "fields" in columns):
        hint = "these rows have spans/fields, which is extraction data: add --task extract (Python: task='extract')"
    raise DataError(
        f"{path.name} has no {role} column (looked for {', '.join(candidates[:4])}, ...); its columns are {shown}",
        hint=hint,
    )


def _make_example(
    text: str, target: Any, kind: str, label_sep: str | None, where: str, require: bool, lcol: str | None
) -> Example:
    if target is None or (isinstance(target, str) and not target.strip()):
        if require and kind == "label":
            raise DataError(f"missing label at {where} (column {lcol!r})", hint="give every row a label, or drop it")
        if kind == "labels" and target is not None:
            return Example(text=text, labels=(), source=where)  # an explicit empty cell: no labels apply
        return Example(text=text, source=where)
    if kind == "label":
        if not isinstance(target, (str, int)) or isinstance(target, bool):
            raise DataError(
                f"label at {where} is {type(target).__name__} {target!r}, expected one label",
                hint="for several labels per text use --task tag",
            )
        return Example(text=text, label=str(target).strip(), source=where)
    return Example(text=text, labels=_parse_label_list(target, label_sep, where), source=where)


def _parse_label_list(target: Any, label_sep: str | None, where: str) -> tuple[str, ...]:
    if isinstance(target, list):
        items = target
    elif isinstance(target, str) and target.strip().startswith("["):
        try:
            items = json.loads(target)
        except json.JSONDecodeError:
            raise DataError(
                f"labels at {where} look like a JSON list but do not parse: {target!r}",
                hint='write them as ["a", "b"] or as a|b with --label-sep "|"',
            ) from None
        if not isinstance(items, list):
            raise DataError(f"labels at {where} must be a list, got {target!r}", hint='use ["a", "b"]')
    elif isinstance(target, str):
        sep = label_sep or "|"
        items = target.split(sep)
    else:
        raise DataError(f"labels at {where} must be a list or a string, got {target!r}", hint='use ["a", "b"]')
    labels = []
    for item in items:
        if not isinstance(item, (str, int)) or not str(item).strip():
            raise DataError(f"bad label {item!r} at {where}", hint="labels must be non-empty strings")
        label = str(item).strip()
        if label not in labels:
            labels.append(label)
    return tuple(labels)


def _extract_example(row: dict[str, Any], text_col: str, where: str) -> Example:
    text = row.get(text_col)
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty or missing text at {where} (field {text_col!r})", hint="fill in its text or drop it")
    context = row.get("context")
    if context is not None and not isinstance(context, str):
        raise DataError(f"context at {where} must be a string, got {context!r}", hint='e.g. "context": "people"')
    if "spans" in row:
        raw = row["spans"]
        if not isinstance(raw, list):
            raise DataError(
                f"spans at {where} must be a list", hint='e.g. "spans": [{"start": 0, "end": 4, "label": "date"}]'
            )
        spans = []
        for item in raw:
            try:
                start, end, label = item["start"], item["end"], item["label"]
            except (TypeError, KeyError):
                raise DataError(
                    f"bad span {item!r} at {where}", hint='each span needs "start", "end" and "label"'
                ) from None
            if not isinstance(start, int) or not isinstance(end, int) or not isinstance(label, str) or not label:
                raise DataError(
                    f"bad span {item!r} at {where}", hint="start/end are integers, label a non-empty string"
                )
            spans.append(Span(start, end, label))
        check_spans(text, spans, None, where)
        return Example(text=text, spans=tuple(spans), context=context, source=where)
    if "fields" in row:
        fields = row["fields"]
        if not isinstance(fields, dict):
            raise DataError(f"fields at {where} must be an object", hint='e.g. "fields": {"total": "9.00"}')
        return Example(text=text, fields=fields, context=context, source=where)
    raise DataError(f"row at {where} has neither 'spans' nor 'fields'", hint="annotate it, or drop the row")


def _reply_example(row: dict[str, Any], tcol: str, rcol: str, lcol: str | None, where: str) -> Example:
    text, reply = row.get(tcol), row.get(rcol)
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty or missing message at {where} (column {tcol!r})", hint="fill in its text or drop it")
    if not isinstance(reply, str) or not reply.strip():
        raise DataError(
            f"empty or missing reply at {where} (column {rcol!r})",
            hint="every message needs the reply that was sent to it; drop rows without one",
        )
    label = row.get(lcol) if lcol else None
    label = str(label).strip() or None if isinstance(label, (str, int)) and not isinstance(label, bool) else None
    fields = row.get("fields")
    if isinstance(fields, str) and fields.strip().startswith("{"):
        try:
            fields = json.loads(fields)
        except json.JSONDecodeError:
            raise DataError(f"fields at {where} do not parse as JSON", hint='e.g. {"Order Number": "A-17"}') from None
    if fields is not None and not isinstance(fields, dict):
        raise DataError(f"fields at {where} must be an object", hint='e.g. "fields": {"Order Number": "A-17"}')
    return Example(text=text, reply=reply, label=label, fields=fields or None, source=where)
