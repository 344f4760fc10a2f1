"""The server carries out its modules' policies: escalations go to the fallback LLM (a local OpenAI-compatible stub
here), and what it cannot answer — or what the policy queues — lands in the review queue with an id."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import microgpt
from microgpt.policy import Policy
from microgpt.store.registry import Registry
from tests.routing.stub_llm import StubLLM
from tests.serving.test_server import Server


@pytest.fixture(scope="module")
def stub() -> Iterator[StubLLM]:
    server = StubLLM(slow_s=1.0)
    yield server
    server.stop()


def test_escalations_are_answered_by_the_fallback_and_failures_queued(tmp_path, helpdesk_split, stub, monkeypatch):
    train, _ = helpdesk_split
    model = microgpt.Classifier("nano").fit(train)
    model.policy_ = Policy(threshold=1.01, below="escalate", unknown="escalate")  # every text goes to the LLM
    model.save(tmp_path / "m")
    Registry(tmp_path / "home").add(tmp_path / "m", "router")
    monkeypatch.setenv("MICROGPT_LLM_BASE_URL", stub.base_url)
    monkeypatch.setenv("MICROGPT_LLM_MODEL", "stub-1")
    server = Server(tmp_path / "home")
    try:
        url = f"{server.url}/v1/modules/router/predict"
        got = httpx.post(url, json={"text": "I was charged twice on my card"}, timeout=30).json()["prediction"]
        assert (got["decision"], got["answer"], got["answered_by"]) == ("escalate", "billing", "fallback")
        failed = httpx.post(url, json={"text": "please answer [400]"}, timeout=30).json()["prediction"]
        assert failed["decision"] == "queue" and failed["reason"] == "fallback_failed: http 400"
        unsure = httpx.post(url, json={"text": "tell me a joke"}, timeout=30).json()["prediction"]
        assert unsure["decision"] == "queue" and unsure["reason"] == "teacher_unknown"
        queue = httpx.get(f"{server.url}/v1/review", params={"module": "router"}).json()
        assert {i["id"] for i in queue} == {failed["review_id"], unsure["review_id"]}
    finally:
        server.stop()
