"""Word offsets, span checks, BIO tags and field-value alignment — the pieces every extractor span is built from."""

from __future__ import annotations

import pytest

from microgpt.data.records import Span, check_spans
from microgpt.errors import ConfigError, DataError
from microgpt.extract.schema import FieldSpec, infer_schema, parse_schema
from microgpt.extract.spans import align_value, bio_tags, snap, spans_from_fields, spans_from_tags, words

RECEIPT = (
    "BOOK TA .K(TAMAN DAYA) SDN BHD\nNO.53 55,57 & 59, JALAN SAGU 18,\nTAMAN DAYA,\nTOTAL:\n9.00\nCASH\n19.00\n9.00"
)


def test_words_keep_offsets_and_lines():
    toks = words(RECEIPT)
    assert all(RECEIPT[w.start : w.end] == w.text for w in toks)
    assert [w.text for w in toks[:4]] == ["BOOK", "TA", ".", "K"]
    total = next(w for w in toks if w.text == "TOTAL")
    assert total.line == 3 and total.line_start
    assert not toks[1].line_start and toks[0].line_start


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9.00", ["9.00", "9.00"]),  # both places, never inside "19.00"
        ("NO.53 55,57 & 59, JALAN SAGU 18, TAMAN DAYA,", ["NO.53 55,57 & 59, JALAN SAGU 18,\nTAMAN DAYA"]),
        ("book ta .k (taman daya) sdn bhd", ["BOOK TA .K(TAMAN DAYA) SDN BHD"]),
        ("9", []),  # not a whole word anywhere
        ("RM 12.00", []),
        ("", []),
    ],
)
def test_align_value_ignores_case_space_and_punctuation_on_word_boundaries(value, expected):
    assert [RECEIPT[a:b] for a, b in align_value(RECEIPT, value)] == expected


def test_align_value_finds_an_amount_glued_to_its_currency():
    assert align_value("TOTAL RM30.90\nCASH RM50.00", "30.90") == [(8, 13)]
    assert [w.text for w in words("RM30.90")] == ["RM", "30", ".", "90"]


def test_spans_from_fields_labels_every_occurrence_and_reports_the_missing():
    spans, missing = spans_from_fields(RECEIPT, {"total": "9.00", "company": "NOT THERE LTD", "date": None}, "r:1")
    assert [(s.label, RECEIPT[s.start : s.end]) for s in spans] == [("total", "9.00"), ("total", "9.00")]
    assert missing == ["company"]
    with pytest.raises(DataError, match="expected a string"):
        spans_from_fields(RECEIPT, {"total": {"amount": 9}}, "r:2")


def test_bio_round_trip():
    text = "Table for 4 next Friday at 7:30, name's Ana Ruiz"
    gold = [Span(10, 11, "people"), Span(12, 23, "date"), Span(27, 31, "time"), Span(40, 48, "name")]
    toks = words(text)
    tags = bio_tags(toks, gold)
    assert tags[toks.index(next(w for w in toks if w.text == "next"))] == "B-date"
    assert spans_from_tags(toks, tags) == gold


def test_spans_from_tags_repairs_a_dangling_inside_tag_and_scores_by_the_weakest_word():
    toks = words("from 7 to 9 pm")
    spans = spans_from_tags(toks, ["O", "I-time", "O", "B-time", "I-time"], [1, 0.9, 1, 0.8, 0.6])
    assert [(s.start, s.end, s.label, s.score) for s in spans] == [(5, 6, "time", 0.9), (10, 14, "time", 0.6)]


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ([Span(0, 99, "date")], "outside the text"),
        ([Span(-1, 3, "date")], "outside the text"),
        ([Span(3, 3, "date")], "outside the text"),
        ([Span(6, 7, "date")], "only whitespace"),
        ([Span(0, 5, "date"), Span(3, 8, "time")], "overlap"),
        ([Span(0, 5, "colour")], "not in the field schema"),
    ],
)
def test_check_spans_names_the_problem(spans, message):
    with pytest.raises(DataError, match=message) as err:
        check_spans("Friday 7pm", spans, {"date", "time"}, "data.jsonl:3")
    assert "data.jsonl:3" in str(err.value) and err.value.hint


def test_snap_trims_whitespace():
    assert snap(" 7pm ", Span(0, 5, "time")) == Span(1, 4, "time")


def test_schema_parsing_and_inference():
    schema = parse_schema("date:date, total:money, items:text[], name")
    assert schema == {
        "date": FieldSpec("date"),
        "total": FieldSpec("money"),
        "items": FieldSpec("text", multiple=True),
        "name": FieldSpec("text"),
    }
    assert parse_schema({"people": {"type": "count"}}) == {"people": FieldSpec("count")}
    assert infer_schema(["people", "date", "time", "total", "first_name"]) == {
        "date": FieldSpec("date"),
        "first_name": FieldSpec("text"),
        "people": FieldSpec("count"),
        "time": FieldSpec("time"),
        "total": FieldSpec("money"),
    }
    with pytest.raises(ConfigError, match="invalid type"):
        parse_schema("when:datetime")
    with pytest.raises(ConfigError, match="at least one field"):
        parse_schema("")


def test_viterbi_decoding_keeps_a_span_whole_through_one_unsure_word():
    import numpy as np

    from microgpt.extract.token import decode

    tags = ["O", "B-time", "I-time"]
    toks = words("at 4 a.m")  # at, 4, a, ., m
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.55, 0.0, 0.45], [0.2, 0.0, 0.8], [0.2, 0.0, 0.8]], dtype=np.float32
    )
    assert [(s.start, s.end, s.label) for s in decode(toks, probs, tags)] == [(3, 8, "time")]
    # per-word argmax would have cut it into "4" and ".m"; an I- tag can never start a span either
    assert decode(words("a.m"), np.array([[0.1, 0.0, 0.9]] * 3, dtype=np.float32), tags) == []


def test_chinese_is_split_per_character_with_offsets_kept():
    text = "下周五晚上7点，四位"
    toks = words(text)
    assert [w.text for w in toks] == ["下", "周", "五", "晚", "上", "7", "点", "，", "四", "位"]
    assert all(text[w.start : w.end] == w.text for w in toks)
    assert [w.text for w in words("RM30.90 at 7pm")] == ["RM", "30", ".", "90", "at", "7pm"]  # unchanged
