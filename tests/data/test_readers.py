"""Readers: good files parse; each kind of bad input gets one clear error naming the row and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microgpt import DataError, read_examples


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


GOOD_CSV = (
    'text,label\n"hello, I was charged twice",billing\nrefund please,refund\ncharged again,billing\nmoney back,refund\n'
)


def test_csv_with_quoted_commas_and_default_columns(tmp_path):
    data = read_examples(write(tmp_path, "d.csv", GOOD_CSV))
    assert data.texts[0] == "hello, I was charged twice"
    assert data.labels == ["billing", "refund", "billing", "refund"]
    assert data[0].source == "d.csv:2"


def test_column_map_and_common_label_names(tmp_path):
    path = write(tmp_path, "d.csv", "msg,category\na b,x\nc d,x\ne f,y\ng h,y\n")
    data = read_examples(path, text_col="msg")
    assert data.labels == ["x", "x", "y", "y"]


def test_missing_column_names_columns_and_flag(tmp_path):
    path = write(tmp_path, "d.csv", "body,label\na,x\nb,x\n")
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert "'body'" in str(err.value) and "--text-col" in str(err.value)
    with pytest.raises(DataError, match="did you mean 'label'"):
        read_examples(write(tmp_path, "e.csv", "text,label\na,x\nb,x\n"), label_col="Labels")


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_empty_text_names_the_row(tmp_path, blank):
    path = write(tmp_path, "d.csv", f'text,label\nfine,x\n"{blank}",x\nok,x\n')
    with pytest.raises(DataError, match=r"empty text at d\.csv:3"):
        read_examples(path)


def test_label_with_single_example_is_rejected(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\nb,x\nc,lonely\n")
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert "'lonely' (1)" in str(err.value) and "d.csv:4" in str(err.value)
    assert "add at least 2 examples" in err.value.hint


def test_non_utf8_bytes_give_offset_and_fix(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError) as err:
        read_examples(path)
    assert "not UTF-8" in str(err.value) and "line 2" in str(err.value) and "iconv" in err.value.hint


@pytest.mark.parametrize("content", ["", "\n\n", "text,label\n"])
def test_empty_file(tmp_path, content):
    with pytest.raises(DataError, match="empty|no data rows"):
        read_examples(write(tmp_path, "d.csv", content))


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_examples(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unsupported file type"):
        read_examples(write(tmp_path, "d.xlsx", "x"))


def test_extra_cells_suggest_quoting(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nhello, world,x\nb,x\n")
    with pytest.raises(DataError, match="more cells"):
        read_examples(path)


def test_jsonl_classify_and_bad_line(tmp_path):
    rows = [
        {"text": "a", "label": "x"},
        {"text": "b", "label": "x"},
        {"text": "c", "label": "y"},
        {"text": "d", "label": "y"},
    ]
    path = write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    assert read_examples(path).labels == ["x", "x", "y", "y"]
    bad = write(tmp_path, "b.jsonl", json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"b\.jsonl:2 is not valid JSON"):
        read_examples(bad)


def test_multilabel_json_list_delimiter_and_jsonl_array(tmp_path):
    csv_path = write(tmp_path, "t.csv", 'text,labels\na,"[""x"", ""y""]"\nb,x|y\nc,\nd,y\n')
    data = read_examples(csv_path, task="tag")
    assert [e.labels for e in data] == [("x", "y"), ("x", "y"), (), ("y",)]
    semi = write(tmp_path, "s.csv", "text,labels\na,x;y\nb,x\nc,y\n")
    assert read_examples(semi, task="tag", label_sep=";")[0].labels == ("x", "y")
    jl = write(tmp_path, "t.jsonl", '{"text": "a", "labels": ["x", "y"]}\n{"text": "b", "labels": ["x", "y"]}\n')
    assert read_examples(jl, task="tag").label_sets == [("x", "y"), ("x", "y")]


def test_list_label_for_classify_points_to_tag(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "a", "label": ["x", "y"]}\n')
    with pytest.raises(DataError, match="expected one label") as err:
        read_examples(path)
    assert "--task tag" in err.value.hint


def test_missing_label_names_row(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\na,x\nb,\nc,x\n")
    with pytest.raises(DataError, match=r"missing label at d\.csv:3"):
        read_examples(path)


def test_extract_jsonl_with_spans_fields_and_context(tmp_path):
    path = write(
        tmp_path,
        "ex.jsonl",
        '{"text": "table for 4", "spans": [{"start": 10, "end": 11, "label": "people"}], "context": "people"}\n'
        '{"text": "TOTAL 9.00", "fields": {"total": "9.00"}}\n',
    )
    data = read_examples(path, task="extract")
    assert data[0].spans[0].label == "people" and data[0].context == "people"
    assert data[1].fields == {"total": "9.00"} and data[1].spans is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"text": "for 4", "spans": [{"start": 4, "end": 9, "label": "people"}]}', "outside the text"),
        (
            '{"text": "for 4", "spans": [{"start": 0, "end": 3, "label": "a"}, {"start": 2, "end": 5, "label": "b"}]}',
            "overlap",
        ),
        ('{"text": "for 4", "spans": [{"start": 4, "label": "people"}]}', "bad span"),
        ('{"text": "for 4", "spans": [{"start": "4", "end": 5, "label": "people"}]}', "bad span"),
        ('{"text": "for 4", "spans": {"start": 4}}', "must be a list"),
        ('{"text": "for 4", "fields": ["4"]}', "must be an object"),
        ('{"text": "for 4", "label": "x"}', "neither 'spans' nor 'fields'"),
        ('{"text": "  ", "spans": []}', "empty or missing text"),
        ('{"text": "for 4", "spans": [], "context": 3}', "context"),
    ],
)
def test_extract_rows_with_bad_spans_name_the_line(tmp_path, row, message):
    path = write(tmp_path, "ex.jsonl", '{"text": "ok", "spans": []}\n' + row + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_examples(path, task="extract")
    assert "ex.jsonl:2" in str(err.value) and err.value.hint


def test_extract_needs_jsonl(tmp_path):
    with pytest.raises(DataError, match="must be JSONL"):
        read_examples(write(tmp_path, "ex.csv", "text,label\na,b\n"), task="extract")


def test_issue_17_a_duplicate_header_column_is_an_error_naming_the_fix(tmp_path):
    path = write(tmp_path, "dup.csv", "text,label,label\nhi,a,b\nyo,a,b\nhey,b,a\nho,b,a\n")
    with pytest.raises(DataError, match="names column 'label' twice") as err:
        read_examples(path)
    assert "rename" in err.value.hint


def test_issue_17_a_repeated_header_line_is_skipped_not_learned(tmp_path, caplog):
    path = write(tmp_path, "twice.csv", GOOD_CSV + GOOD_CSV)  # two exports concatenated
    data = read_examples(path)
    assert "label" not in data.labels and len(data) == 8
    assert "repeats the header" in caplog.text


def test_issue_17_deeply_nested_jsonl_is_a_data_error(tmp_path):
    path = write(tmp_path, "deep.jsonl", '{"text": "hi", "label": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(DataError, match="nests JSON too deeply"):
        read_examples(path)
