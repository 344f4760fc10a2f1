"""Rows in and out for the file commands (`predict --out`, `split`): CSV or JSONL, every input column kept."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from microgpt.data.readers import _csv_rows, _decode, _jsonl_rows
from microgpt.errors import DataError

JSONL = (".jsonl", ".ndjson", ".json")
TABLES = (".csv", ".tsv", ".txt")


def kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL:
        return "jsonl"
    if suffix in TABLES:
        return "csv"
    raise DataError(f"unsupported file type {suffix!r} for {path}", hint="use a .csv or .jsonl file")


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """(column names in first-seen order, [(line number, row)]) — CRLF-safe, UTF-8 with or without a BOM."""
    if not path.exists():
        raise DataError(f"data file not found: {path}", hint="check the path; MicroGPT reads .csv and .jsonl files")
    text = _decode(path.read_bytes(), path)
    if not text.strip():
        raise DataError(f"{path} is empty", hint="a CSV needs a header row; a JSONL file one object per line")
    if kind(path) == "jsonl":
        rows = list(_jsonl_rows(text, path))
    else:
        rows = list(_csv_rows(text, path, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    columns: dict[str, None] = {}
    for _, row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns), rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # lists and objects stay readable and machine-parsable


def write_rows(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as CSV (lists/objects as JSON cells) or JSONL, by `path`'s suffix; returns the row count."""
    fmt = kind(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    buf = io.StringIO()
    if fmt == "jsonl":
        for row in rows:
            buf.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        writer = csv.DictWriter(
            buf, fieldnames=columns, delimiter=delimiter, lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in columns})
            n += 1
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return n
