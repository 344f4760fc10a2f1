"""Rows in and out for the file commands: the readers and writers live in `microgpt.batch.files`."""

from __future__ import annotations

from microgpt.batch.files import JSONL, TABLES, kind, read_rows, write_rows

__all__ = ["JSONL", "TABLES", "kind", "read_rows", "write_rows"]
