"""The fallback client against a real local chat-completions server: answers, retries, timeouts, budget, parsing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from microgpt.errors import ConfigError
from microgpt.routing import llm as fallback
from microgpt.routing.llm import (
    BudgetExceeded,
    FallbackConfig,
    FallbackError,
    FallbackHTTPError,
    FallbackMalformed,
    FallbackTimeout,
    FallbackUnreachable,
    LLMClient,
    estimate_tokens,
)
from microgpt.routing.teacher import LabelTeacher, TeacherAnswer, parse_label
from tests.routing.stub_llm import USAGE, StubLLM, free_port

LABELS = ["billing", "refund", "shipping", "login", "card_arrival"]


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLM]:
    server = StubLLM(slow_s=1.0)
    yield server
    server.stop()


def client_for(stub: StubLLM, **settings: object) -> LLMClient:
    values = {"base_url": stub.base_url, "model": "stub-1", "timeout_s": 2.0, "retries": 2, "backoff_s": 0.01}
    return LLMClient(FallbackConfig(**{**values, **settings}))  # type: ignore[arg-type]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_public_api_is_explicit():
    assert set(fallback.__all__) >= {"FallbackConfig", "LLMClient", "ChatResult", "BudgetExceeded"}
    assert all(issubclass(getattr(fallback, n), FallbackError) for n in fallback.__all__ if n.startswith("Fallback")
               and n not in ("FallbackConfig",))  # fmt: skip


def test_config_from_env_overrides_and_errors(monkeypatch):
    for var in fallback.ENV.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="MICROGPT_LLM_BASE_URL, MICROGPT_LLM_MODEL") as err:
        FallbackConfig.from_env()
    assert "MICROGPT_LLM_BASE_URL" in err.value.hint and "MICROGPT_LLM_MODEL" in err.value.hint
    monkeypatch.setenv("MICROGPT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MICROGPT_LLM_MODEL", "gpt-x")
    monkeypatch.setenv("MICROGPT_LLM_API_KEY", "sk-secret")
    monkeypatch.setenv("MICROGPT_LLM_BUDGET_USD", "1.5")
    monkeypatch.setenv("MICROGPT_LLM_PRICE_IN", "0.5")
    monkeypatch.setenv("MICROGPT_LLM_PRICE_OUT", "1.5")
    config = FallbackConfig.from_env(model="gpt-y", budget_usd=None)  # None: keep the environment's value
    assert (config.model, config.budget_usd, config.price_in_per_1k, config.price_out_per_1k) == (
        "gpt-y",
        1.5,
        0.5,
        1.5,
    )
    assert config.api_key is not None and "sk-secret" not in repr(config)  # a SecretStr never prints
    monkeypatch.setenv("MICROGPT_LLM_BUDGET_USD", "lots")
    with pytest.raises(ConfigError, match="MICROGPT_LLM_BUDGET_USD"):
        FallbackConfig.from_env()
    with pytest.raises(ConfigError, match="unknown fallback setting") as err:
        FallbackConfig.validated({"base_url": "http://x/v1", "model": "m", "timeout": 3})
    assert "timeout_s" in err.value.hint
    with pytest.raises(ConfigError, match="not an http"):
        FallbackConfig.validated({"base_url": "127.0.0.1:8080/v1", "model": "m"})


def test_chat_answers_sends_the_key_and_counts_spend(stub):
    client = client_for(stub, api_key="sk-test", price_in_per_1k=1.0, price_out_per_1k=10.0, max_tokens=5)
    result = client.chat(ask("I was charged twice [auth]"))
    assert result.text == "billing" and not result.estimated and result.attempts == 1
    assert (result.prompt_tokens, result.completion_tokens) == (100, 2)
    assert result.cost_usd == pytest.approx(100 / 1000 * 1.0 + 2 / 1000 * 10.0)
    assert result.latency_ms > 0 and result.model == "stub-1"
    sent = next(r for r in stub.requests if "[auth]" in r["body"]["messages"][-1]["content"])
    assert sent["authorization"] == "Bearer sk-test"
    assert sent["body"]["model"] == "stub-1" and sent["body"]["max_tokens"] == 5 and sent["body"]["temperature"] == 0
    client.chat(ask("where is my parcel [auth]"))
    assert client.calls == 2 and client.tokens_in == 200 and client.tokens_out == 4
    assert client.spent_usd == pytest.approx(2 * 0.12)


def test_missing_usage_is_estimated_and_said_so(stub):
    client = client_for(stub, price_in_per_1k=1.0)
    text = "x" * 400 + " refund [nousage]"
    result = client.chat(ask(text))
    assert result.estimated and result.text == "refund"
    assert result.prompt_tokens == estimate_tokens(text) == 105 and result.completion_tokens >= 1
    assert client.spent_usd == pytest.approx(result.prompt_tokens / 1000)


def test_a_slow_server_times_out_after_every_retry(stub):
    client = client_for(stub, timeout_s=0.2, retries=1, backoff_s=0.01)
    start = time.perf_counter()
    with pytest.raises(FallbackTimeout, match="did not answer within 0.2s") as err:
        client.chat(ask("[slow] one"))
    assert time.perf_counter() - start < 0.9  # two attempts of 0.2 s, not the server's 1 s
    assert len(stub.bodies("[slow] one")) == 2 and err.value.reason == "timeout" and err.value.hint
    assert client.failures == 1 and client.calls == 0 and client.spent_usd == 0


def test_a_500_then_an_answer_is_retried(stub):
    client = client_for(stub)
    result = client.chat(ask("[flaky] refund my order"))
    assert result.text == "refund" and result.attempts == 2 and len(stub.bodies("[flaky] refund my order")) == 2


def test_a_429_is_retried(stub):
    assert client_for(stub).chat(ask("[429] parcel")).attempts == 2


def test_always_500_gives_up_after_the_retries(stub):
    with pytest.raises(FallbackHTTPError, match="HTTP 500 after 3 attempt") as err:
        client_for(stub, retries=2).chat(ask("[500] a"))
    assert err.value.status == 500 and err.value.reason == "http 500" and len(stub.bodies("[500] a")) == 3


@pytest.mark.parametrize(
    "marker, error, words",
    [
        ("[400]", FallbackHTTPError, "HTTP 400"),
        ("[malformed]", FallbackMalformed, "not JSON"),
        ("[nochoices]", FallbackMalformed, "without choices"),
    ],
)
def test_refusals_and_malformed_answers_are_not_retried(stub, marker, error, words):
    with pytest.raises(error, match=words) as err:
        client_for(stub, retries=3).chat(ask(f"{marker} once"))
    assert len(stub.bodies(f"{marker} once")) == 1 and err.value.hint


def test_an_unreachable_server_is_its_own_error():
    config = FallbackConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", retries=1, backoff_s=0.01)
    with pytest.raises(FallbackUnreachable, match="cannot reach") as err:
        LLMClient(config).chat(ask("hello"))
    assert "MICROGPT_LLM_BASE_URL" in err.value.hint and err.value.reason == "unreachable"


def test_the_budget_is_checked_before_sending(stub):
    client = client_for(stub, price_in_per_1k=1.0, price_out_per_1k=10.0, max_tokens=10)
    messages = ask("charged [budget]")  # estimate: 4 tokens in, 10 out = $0.104; actual 100 in, 2 out = $0.12
    assert client.estimate_cost(messages) == pytest.approx(0.004 + 0.1)
    budgeted = client_for(stub, price_in_per_1k=1.0, price_out_per_1k=10.0, max_tokens=10, budget_usd=0.2)
    budgeted.chat(messages)  # 0 + 0.104 ≤ 0.2: sent; spends 0.12
    with pytest.raises(BudgetExceeded, match=r"\$0.2000 would be passed") as err:
        budgeted.chat(messages)  # 0.12 + 0.104 > 0.2: refused without a request
    assert len(stub.bodies("charged [budget]")) == 1 and err.value.reason == "budget"
    assert budgeted.spent_usd == pytest.approx(0.12) and budgeted.calls == 1 and budgeted.failures == 1
    free = client_for(stub, budget_usd=0.0)  # a local model with no prices never runs out
    assert free.chat(ask("parcel")).cost_usd == 0


def test_spend_accounting_is_thread_safe_and_never_overshoots(stub):
    client = client_for(stub, price_in_per_1k=1.0)
    threads = [threading.Thread(target=lambda: [client.chat(ask("refund")) for _ in range(5)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.calls == 40 and client.tokens_in == 40 * USAGE["prompt_tokens"]
    assert client.spent_usd == pytest.approx(40 * 0.1)
    capped = client_for(stub, price_in_per_1k=1.0, budget_usd=0.35)
    text = "refund " + "x" * 393  # estimated at 100 tokens, as many as the server bills: 3 calls of $0.10 fit
    outcomes: list[str] = []

    def worker() -> None:
        for _ in range(3):
            try:
                capped.chat(ask(text))
                outcomes.append("ok")
            except BudgetExceeded:
                outcomes.append("refused")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == capped.calls == 3 and capped.spent_usd <= 0.35
    assert outcomes.count("refused") == 18 - capped.calls


def test_the_prompt_lists_the_labels_and_a_few_short_examples(stub):
    examples = {
        "billing": ["I was charged twice", "my invoice is wrong", "third billing example"],
        "refund": ["money back please " + "very long " * 40],
    }
    teacher = LabelTeacher(client_for(stub), LABELS, examples=examples, per_label=2)
    system, user = teacher.messages("my parcel never came")
    assert system["role"] == "system" and user["role"] == "user" and "my parcel never came" in user["content"]
    for label in LABELS:
        assert f"- {label}" in system["content"]
    assert "I was charged twice" in system["content"] and "my invoice is wrong" in system["content"]
    assert "third billing example" not in system["content"]  # per_label=2
    assert "money back please" in system["content"] and "very long " * 30 not in system["content"]  # kept short
    assert '"unknown"' in system["content"]
    answer = teacher.label("my parcel never came")
    assert answer == TeacherAnswer("shipping", "shipping", answer.result)
    sent = stub.bodies("my parcel never came")[-1]["messages"]
    assert sent == teacher.messages("my parcel never came")


@pytest.mark.parametrize(
    "raw, label",
    [
        ("billing", "billing"),
        ("Billing", "billing"),
        ("  billing.\n", "billing"),
        ('"refund"', "refund"),
        ("'Refund'!", "refund"),
        ("**shipping**", "shipping"),
        ("Label: login", "login"),
        ("label = login", "login"),
        ("The label is: Shipping.", "shipping"),
        ("Answer:\nrefund", "refund"),
        ("card arrival", "card_arrival"),
        ("Card-Arrival", "card_arrival"),
        ("biling", "billing"),  # a typo: difflib ratio 0.92
        ("shiping.", "shipping"),
        ("I think this is about a refund.", "refund"),
        ("unknown", None),
        ("Unknown.", None),
        ("none of the above", None),
        ("None", None),
        ("N/A", None),
        ("", None),
        ("banana", None),
        ("billing or refund", None),  # names two labels: not an answer
        ("bill", None),  # too far from any label
    ],
)
def test_parse_label_is_robust(raw, label):
    assert parse_label(raw, LABELS) == label


def test_a_label_called_unknown_is_still_a_label():
    assert parse_label("Unknown", ["known", "unknown"]) == "unknown"


def test_label_many_keeps_each_failure_in_its_place(stub):
    teacher = LabelTeacher(client_for(stub, retries=0), LABELS)
    texts = ["I was charged twice", "[500] refund", "[malformed] parcel", "what is the weather", "[sloppy] parcel"]
    seen: list[tuple[int, int]] = []
    answers = teacher.label_many(texts, on_progress=lambda stage, done, total: seen.append((done, total)))
    assert [type(a).__name__ for a in answers] == [
        "TeacherAnswer", "FallbackHTTPError", "FallbackMalformed", "TeacherAnswer", "TeacherAnswer",
    ]  # fmt: skip
    assert [a.label for a in answers if isinstance(a, TeacherAnswer)] == ["billing", None, "shipping"]
    assert seen[-1] == (5, 5)
    parallel = teacher.label_many(texts, workers=3)
    assert [type(a) for a in parallel] == [type(a) for a in answers]
