"""Rows in and out for the file commands and batch jobs: CSV, JSONL or Parquet, every input column kept.

An input may be one file, a directory or a glob of files of one format, on a local path or an fsspec URL
(`s3://bucket/day=2026-12-01/`); `sources` lists them in a stable order, the order rows are read and written in.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from microgpt.data.readers import _csv_rows, _decode, _jsonl_rows
from microgpt.errors import DataError, MissingExtraError

JSONL = (".jsonl", ".ndjson", ".json")
TABLES = (".csv", ".tsv", ".txt")
PARQUET = (".parquet", ".pq")


def kind(path: Path | str, parquet: bool = False) -> str:
    """'csv', 'jsonl' (or, with `parquet`, 'parquet') by the file's suffix; anything else is an error."""
    suffix = PurePosixPath(str(path)).suffix.lower()
    if suffix in JSONL:
        return "jsonl"
    if suffix in TABLES:
        return "csv"
    if parquet and suffix in PARQUET:
        return "parquet"
    allowed = ".csv, .jsonl or .parquet" if parquet else ".csv or .jsonl"
    raise DataError(f"unsupported file type {suffix!r} for {path}", hint=f"use a {allowed} file")


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and "://" in location and not location.startswith("file://")


def sources(location: str | Path) -> tuple[str, list[str]]:
    """(format, files) for a file, a directory or a glob (local, or an fsspec URL): files sorted by name, all of
    one format; a directory takes the data files in it (hidden ones and `_SUCCESS` markers left out)."""
    import fsspec

    text = str(location)
    fs, root = fsspec.core.url_to_fs(text.removeprefix("file://"))
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol

    def name(path: str) -> str:
        return path if protocol in ("file", "local") else f"{protocol}://{path}"

    if any(c in root for c in "*?["):
        found = sorted(p for p in fs.glob(root) if fs.isfile(p))
    elif fs.isdir(root):
        found = sorted(p for p in fs.find(root) if not PurePosixPath(p).name.startswith((".", "_")))
    elif fs.exists(root):
        found = [root]
    else:
        raise DataError(
            f"data not found: {text}", hint="check the path (a file, a directory or a glob like data/*.csv)"
        )
    kinds: dict[str, list[str]] = {}
    for path in found:
        if len(found) > 1 and PurePosixPath(path).suffix.lower() == ".txt":
            continue  # a README beside the data, not a table
        try:
            kinds.setdefault(kind(path, parquet=True), []).append(name(path))
        except DataError:
            continue  # a README or a checksum file beside the data
    if not kinds:
        raise DataError(f"no .csv, .jsonl or .parquet files in {text}", hint="point at the data files or a glob")
    if len(kinds) > 1:
        counts = ", ".join(f"{len(v)} {k}" for k, v in kinds.items())
        raise DataError(f"{text} mixes formats ({counts})", hint="give one format at a time, e.g. a glob: DIR/*.csv")
    ((fmt, files),) = kinds.items()
    return fmt, files


def read_table(location: str | Path) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(columns, [(where, row)]) of every file `sources` finds, in order; `where` is `file:line` for messages."""
    fmt, files = sources(location)
    columns: dict[str, None] = {}
    out: list[tuple[str, dict[str, Any]]] = []
    for file in files:
        if fmt == "parquet":
            pq = _pyarrow_parquet()
            with _open(file, "rb") as f:
                table = pq.read_table(f)
            rows = [(f"{PurePosixPath(file).name} row {i}", r) for i, r in enumerate(table.to_pylist(), start=1)]
            columns.update(dict.fromkeys(table.column_names))
        else:
            local = Path(file) if not is_url(file) else None
            cols, numbered = read_rows(local) if local is not None else _read_remote(file)
            columns.update(dict.fromkeys(cols))
            rows = [(f"{PurePosixPath(file).name}:{line}", r) for line, r in numbered]
        out += rows
    return list(columns), out


def _read_remote(url: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="microgpt-read-") as tmp:
        local = Path(tmp) / PurePosixPath(url).name
        with _open(url, "rb") as f:
            local.write_bytes(f.read())
        return read_rows(local)


def _open(location: str, mode: str) -> Any:
    import fsspec

    return fsspec.open(location, mode).open()


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError as err:
        raise MissingExtraError(
            "reading or writing Parquet needs pyarrow, which is not installed", hint="pip install 'microgpt[ray]'"
        ) from err
    return pq


class TableWriter:
    """Rows appended batch by batch to one CSV, JSONL or Parquet file (by suffix; a local path or an fsspec URL),
    streamed to a temporary file and made visible at `close()` in one step: a failed job leaves no half output.

    The columns are fixed by the first batch (`columns` at construction, extended by `add_columns` before it)."""

    def __init__(self, location: str | Path, columns: Iterable[str] = ()) -> None:
        import tempfile

        self.location = str(location).removeprefix("file://")
        self.fmt = kind(self.location, parquet=True)
        self.columns: list[str] = list(dict.fromkeys(columns))
        self.n = 0
        if is_url(self.location):
            self._tmpdir: Any = tempfile.TemporaryDirectory(prefix="microgpt-write-")
            self._tmp = Path(self._tmpdir.name) / PurePosixPath(self.location).name
        else:
            self._tmpdir = None
            final = Path(self.location)
            final.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = final.with_name(f".{final.name}.tmp")
        self._file: Any = None
        self._csv: Any = None
        self._parquet: Any = None

    def add_columns(self, names: Iterable[str]) -> None:
        if self.n:
            raise RuntimeError("columns are fixed once rows are written")
        self.columns += [c for c in names if c not in self.columns]

    def write(self, rows: list[dict[str, Any]]) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa

            if not rows:  # nothing to add (close() writes an empty file when no rows came at all)
                return
            table = pa.Table.from_pylist([{c: row.get(c) for c in self.columns} for row in rows])
            if self._parquet is None:
                self._parquet = _pyarrow_parquet().ParquetWriter(self._tmp, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        else:
            if self._file is None:
                self._file = self._tmp.open("w", encoding="utf-8", newline="")
                if self.fmt == "csv":
                    delimiter = "\t" if self.location.lower().endswith(".tsv") else ","
                    self._csv = csv.DictWriter(self._file, fieldnames=self.columns, delimiter=delimiter,
                                               lineterminator="\n", extrasaction="ignore")  # fmt: skip
                    self._csv.writeheader()
            for row in rows:
                if self._csv is not None:
                    self._csv.writerow({k: _cell(row.get(k)) for k in self.columns})
                else:
                    self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.n += len(rows)

    def close(self) -> int:
        """Finish the file and put it in place; returns the row count."""
        if self._parquet is not None:
            self._parquet.close()
        elif self._file is not None:
            self._file.close()
        elif self.fmt == "parquet":
            _write_parquet(self._tmp, self.columns, [])
        else:
            self.write([])  # no rows at all: the CSV header alone (an empty JSONL file)
            handle: Any = self._file
            handle.close()
        if self._tmpdir is None:
            self._tmp.replace(self.location)
        else:
            with _open(self.location, "wb") as f:  # an object store makes the whole object visible at once
                f.write(self._tmp.read_bytes())
            self._tmpdir.cleanup()
        return self.n

    def abort(self) -> None:
        for handle in (self._parquet, self._file):
            if handle is not None:
                handle.close()
        self._tmp.unlink(missing_ok=True)
        if self._tmpdir is not None:
            self._tmpdir.cleanup()


def _write_parquet(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    pq = _pyarrow_parquet()
    table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
    pq.write_table(table, path)


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
