"""The cascade end to end against a local OpenAI-compatible stub: sure answers stay local, escalations are answered
by the fallback (and logged as teacher labels), and every failure lands in the review queue — nothing is lost."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

import microgpt
from microgpt.policy import Policy
from microgpt.routing.cascade import Cascade
from microgpt.routing.llm import FallbackConfig, LLMClient
from microgpt.routing.teacher import LabelTeacher
from microgpt.store.db import Store
from tests.routing.stub_llm import StubLLM


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLM]:
    server = StubLLM(slow_s=1.0)
    yield server
    server.stop()


def test_cascade_answers_escalates_and_queues_without_losing_anything(stub, tmp_path, helpdesk_split):
    train, _ = helpdesk_split
    model = microgpt.Classifier("nano").fit(train)
    model.policy_ = Policy(threshold=1.01, below="escalate", unknown="escalate")  # escalate everything
    client = LLMClient(FallbackConfig(base_url=stub.base_url, model="stub-1", timeout_s=0.5, retries=1, backoff_s=0))
    teacher = LabelTeacher(client, model.labels_)
    store = Store(tmp_path / "microgpt.db")
    texts = [
        "I was charged twice on my card",  # the stub answers billing
        "my parcel never came",  # shipping
        "tell me a joke",  # the stub says unknown → queued
        "please answer [500]",  # the fallback fails → queued
        "please answer [slow]",  # times out → queued
    ]
    decisions = Cascade(model, "router", teacher=teacher, store=store).run(texts)
    by_text = dict(zip(texts, decisions, strict=True))
    assert by_text["I was charged twice on my card"].answer == "billing"
    assert by_text["I was charged twice on my card"].answered_by == "fallback"
    assert by_text["my parcel never came"].answer == "shipping"
    queued = {t: d.reason for t, d in by_text.items() if d.action == "queue"}
    assert queued == {
        "tell me a joke": "teacher_unknown",
        "please answer [500]": "fallback_failed: http 500",
        "please answer [slow]": "fallback_failed: timeout",
    }
    items = store.review_items("router")
    assert sorted(i["text"] for i in items) == sorted(queued)  # every unanswered text is waiting for a person
    assert all(d.answer or d.extra.get("review_id") for d in decisions)  # answered or queued, never dropped
    buf = io.StringIO()
    store.export_jsonl("router", buf, review=False)
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert {(r["text"], r["label"], r["source"]) for r in rows} == {
        ("I was charged twice on my card", "billing", "teacher"),
        ("my parcel never came", "shipping", "teacher"),
    }  # the fallback's answers are teacher labels for the next version


def test_without_a_fallback_escalations_go_to_people(tmp_path, helpdesk_split):
    train, test = helpdesk_split
    model = microgpt.Classifier("nano").fit(train)
    model.set_policy(test, min_precision=0.95)
    store = Store(tmp_path / "microgpt.db")
    decisions = Cascade(model, "router", store=store).run(test.texts)
    queued = [d for d in decisions if d.action == "queue"]
    answered = [d for d in decisions if d.action == "answer"]
    assert queued and answered and len(queued) + len(answered) == len(test)
    assert len(store.review_items("router", limit=None)) == len(queued)
