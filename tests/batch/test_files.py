"""Batch inputs and outputs without Ray: directories and globs of one format, Parquet written batch by batch."""

from __future__ import annotations

import pytest

from microgpt.batch.files import TableWriter, read_table, sources
from microgpt.errors import DataError


def test_a_writer_takes_empty_batches_between_full_ones(tmp_path):
    pytest.importorskip("pyarrow")
    for name in ("out.parquet", "out.csv", "out.jsonl"):
        writer = TableWriter(tmp_path / name, ["text"])
        writer.add_columns(["label"])
        writer.write([])
        writer.write([{"text": "a", "label": "x"}, {"text": "b", "label": "y"}])
        writer.write([])  # what a job's last flush can be
        assert writer.close() == 2
        columns, rows = read_table(tmp_path / name)
        assert columns == ["text", "label"] and [r["label"] for _, r in rows] == ["x", "y"]


def test_sources_list_one_format_in_name_order_and_name_the_fix(tmp_path):
    (tmp_path / "b.csv").write_text("text\nhello\n")
    (tmp_path / "a.csv").write_text("text\nhi\n")
    (tmp_path / "README.txt").write_text("notes")
    fmt, files = sources(tmp_path)
    assert fmt == "csv" and [f.rsplit("/", 1)[1] for f in files] == ["a.csv", "b.csv"]
    assert [r["text"] for _, r in read_table(str(tmp_path / "*.csv"))[1]] == ["hi", "hello"]
    (tmp_path / "c.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(DataError, match="mixes formats") as err:
        sources(tmp_path)
    assert "glob" in err.value.hint
    with pytest.raises(DataError, match="data not found"):
        sources(tmp_path / "missing")
