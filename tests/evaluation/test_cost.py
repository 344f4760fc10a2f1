"""Cost per 1,000 requests from the fallback's real prompts: arithmetic, ordering and the tokens counted."""

from __future__ import annotations

import pytest

from microgpt.evaluation.cost import SECONDS_PER_MONTH, cost_table, prompt_tokens


def test_prompt_tokens_grow_with_labels_examples_and_text_and_are_not_padded():
    labels = ["billing", "refund"]
    short = prompt_tokens(["hi"], labels)[0]
    assert 10 < short < 128  # counted, not padded to the encoder's 128
    assert prompt_tokens(["hi"], [*labels, "shipping", "login"])[0] > short
    assert prompt_tokens(["hi"], labels, {"billing": ["charged twice for one order"]})[0] > short
    assert prompt_tokens(["word " * 300], labels)[0] > short + 250  # never truncated


def test_cost_table_arithmetic():
    prices = {"big": (10.0, 30.0)}
    table = cost_table(["where is my refund"] * 4, ["billing", "refund"], 1000.0, 0.25, prices=prices)
    rows = {r["system"]: r["usd_per_1k"] for r in table["rows"]}
    small = 5.0 / SECONDS_PER_MONTH  # 1,000 texts take one second of a $5/month server
    assert rows["small model alone"] == pytest.approx(small)
    llm = 1000 * (table["prompt_tokens_mean"] * 10.0 + table["completion_tokens_mean"] * 30.0) / 1e6
    assert rows["big for everything"] == pytest.approx(llm)
    assert rows["cascade → big"] == pytest.approx(small + 0.25 * llm)
    assert small < rows["cascade → big"] < llm
    assert any("$5/month" in a for a in table["assumptions"])
    no_policy = cost_table(["x"], ["a", "b"], 10.0, None, prices=prices)
    assert [r["system"] for r in no_policy["rows"]] == ["small model alone", "big for everything"]
