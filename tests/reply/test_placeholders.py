"""Placeholders: filled only from the caller's fields, left visible otherwise, the same when streamed in pieces."""

from __future__ import annotations

import random

import pytest

from microgpt.reply.placeholders import StreamFiller, field_key, fill, fill_stream, placeholders, templatize

TEMPLATE = "Order {{Order Number}} ships to {{ Delivery City }}. Questions? {{Customer Support Phone Number}}."


def test_fills_only_the_fields_given_and_leaves_the_rest_visible():
    done = fill(TEMPLATE, {"order_number": "A-17", "delivery city": "Lyon"})
    assert done.text == "Order A-17 ships to Lyon. Questions? {{Customer Support Phone Number}}."
    assert done.filled == ["Order Number", "Delivery City"]
    assert done.unfilled == ["Customer Support Phone Number"]


def test_nothing_is_ever_invented():
    assert fill(TEMPLATE, None).text == TEMPLATE
    assert fill(TEMPLATE, {}).text == TEMPLATE
    # an empty or missing value fills nothing; a field no placeholder names changes nothing
    done = fill(TEMPLATE, {"Order Number": "", "Delivery City": None, "Coupon": "SAVE10"})
    assert done.text == TEMPLATE and done.filled == [] and len(done.unfilled) == 3
    assert "SAVE10" not in done.text


def test_names_match_ignoring_case_punctuation_and_anonymized():
    assert field_key("Order Number Anonymized") == field_key("order_number") == field_key("ORDER-NUMBER")
    assert fill("#{{Order Number Anonymized}}", {"Order Number": "9"}).text == "#9"
    assert field_key("Anonymized") == "anonymized"  # the suffix alone is a name, not an empty key


def test_text_that_only_looks_like_a_placeholder_is_left_alone():
    for text in ("{{", "a {{ b", "{{}}", "{ {x} }", "{{line\nbreak}}", "{{" + "x" * 100 + "}}", "{{{Name}}}"):
        assert fill(text, {"x": "X", "name": "N", "line break": "L"}).text == ("{N}" if text == "{{{Name}}}" else text)
    assert placeholders("{{a}} and {{ b }} and {{a}}") == ["a", "b", "a"]


def test_templatize_turns_quoted_field_values_into_placeholders():
    reply = "Order 00123842 is late; 00123842 ships Monday. Ref 1001238420 is another order."
    assert templatize(reply, {"Order Number": "00123842"}) == (
        "Order {{Order Number}} is late; {{Order Number}} ships Monday. Ref 1001238420 is another order."
    )
    assert templatize("Hello Mr. Jones, about your bill", {"Person Name": "Mr. Jones"}) == (
        "Hello {{Person Name}}, about your bill"
    )
    assert templatize("1 item, 1 box", {"count": "1"}) == "1 item, 1 box"  # too short to be safe
    assert templatize("no fields", None) == "no fields"


@pytest.mark.parametrize("seed", range(25))
def test_streamed_pieces_fill_exactly_like_the_whole_text(seed):
    rng = random.Random(seed)
    text = rng.choice([TEMPLATE, "{{{Order Number}} {{", "{{a}}{{b}}{ {c}} {{Order Number", "x{{" + "y" * 95])
    text = text * rng.randint(1, 3)
    cuts = sorted(rng.sample(range(1, len(text)), k=min(len(text) - 1, rng.randint(1, 12))))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    fields = {"Order Number": "A-17", "a": "1"}
    assert "".join(fill_stream(pieces, fields)) == fill(text, fields).text
    filler = StreamFiller(fields)
    out = "".join(filler.feed(p) for p in pieces) + filler.flush()
    assert out == filler.result.text == fill(text, fields).text
    assert filler.result.unfilled == fill(text, fields).unfilled


def test_stream_holds_back_only_an_unfinished_placeholder():
    filler = StreamFiller({"Order Number": "A-17"})
    assert filler.feed("Your order {") == "Your order "
    assert filler.feed("{Order Num") == ""
    assert filler.feed("ber}} is") == "A-17 is"
    assert filler.flush() == ""
