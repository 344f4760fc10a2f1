"""Reply metrics: ROUGE-L and chrF against references, placeholder precision, numbers the caller never gave."""

from __future__ import annotations

import pytest

from microgpt.reply.metrics import chrf, placeholder_precision, rouge_l, unsupported_numbers


def test_rouge_l_and_chrf_reward_overlap():
    ref = ["Your order ships on Monday from our warehouse."]
    assert rouge_l(ref, ref) == [pytest.approx(1.0)]
    close, far = rouge_l(ref * 2, ["Your order ships Monday.", "Reset your password from the login page."])
    assert 0.5 < close < 1.0 and far < 0.3
    assert chrf(ref, ref) == pytest.approx(100.0)
    assert chrf(ref, ["Your order ships Monday."]) > chrf(ref, ["Reset your password."])


def test_placeholder_precision_counts_distinct_placeholders_per_draft():
    refs = ["Visit {{Website Name}} or call {{Phone}}.", "No placeholders here."]
    drafts = ["Visit {{website name}}, {{Website Name}} or {{Live Chat}}.", "Call {{Phone}}."]
    assert placeholder_precision(refs, drafts) == (pytest.approx(1 / 3), 3)
    assert placeholder_precision(refs, ["plain", "text"]) == (None, 0)


def test_numbers_the_caller_never_gave_are_flagged():
    assert unsupported_numbers("Order 12345 is late", "where is 12345?", None) == []
    assert unsupported_numbers("Order 12345 is late", "where is my order?", {"Order Number": "12345"}) == []
    assert unsupported_numbers("Order 370795561790 is late", "order 3707955617", None) == ["370795561790"]
    assert unsupported_numbers("Refunds take 7 to 10 days (since 2023)", "refund?", None) == []
