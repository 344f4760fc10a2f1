"""The predict fast path (serving/fast.py) answers exactly as the full app does: same status, same body, same error
counts — for plain requests it answers itself, and for every other kind it hands over with the body intact."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import microgpt
from microgpt.serving import fast as fast_module
from microgpt.serving.app import create_app
from microgpt.serving.schemas import ServeSettings
from microgpt.store.registry import Registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LIMITS = {"max_batch": 8, "max_text_chars": 500, "max_body_bytes": 20_000, "host": "127.0.0.1"}

# (what it checks, module, body: a dict sent as JSON, or raw bytes, headers)
CASES = [
    ("one text", "router", {"text": "I was charged twice for my order"}, {}),
    ("a batch", "router", {"texts": ["where is my parcel", "reset my password please"]}, {}),
    ("extraction with a reference date", "bookings", {"text": "table for 4 on Friday at 7", "reference_date": "2026-12-01"}, {}),  # noqa: E501
    ("an empty batch", "router", {"texts": []}, {}),
    ("a batch over the limit", "router", {"texts": ["hi"] * 9}, {}),
    ("a text over the limit", "router", {"text": "x" * 501}, {}),
    ("an unknown module", "nosuch", {"text": "hello"}, {}),
    ("an option the task does not take", "router", {"text": "hello", "reference_date": "2026-12-01"}, {}),
    ("a stream from a classifier", "router", {"text": "hello", "stream": True}, {}),
    ("both text and texts", "router", {"text": "a", "texts": ["b"]}, {}),
    ("an unknown field", "router", {"text": "a", "colour": "red"}, {}),
    ("not JSON", "router", b"text=hello", {"content-type": "application/x-www-form-urlencoded"}),
    ("JSON sent as a form (curl -d)", "router", b'{"text": "refund please"}', {"content-type": "application/x-www-form-urlencoded"}),  # noqa: E501
    ("a JSON list", "router", b'["hello"]', {"content-type": "application/json"}),
    ("a body over the limit", "router", {"texts": ["y" * 400] * 60}, {}),
    ("a Host that is not this server", "router", {"text": "hello"}, {"host": "evil.example"}),
]  # fmt: skip


def _answer(response) -> tuple[int, object, str]:
    body = response.json()
    for p in [body.get("prediction"), *(body.get("predictions") or [])]:
        if isinstance(p, dict):
            assert p.pop("request_id"), "every logged prediction has a request id"
    return response.status_code, body, response.headers["content-type"]


def _post(client: TestClient, module: str, body: object, headers: dict[str, str]):
    url = f"/v1/modules/{module}/predict"
    if isinstance(body, bytes):
        return client.post(url, content=body, headers=headers)
    return client.post(url, json=body, headers=headers)


def _errors(client: TestClient) -> list[str]:
    return sorted(re.findall(r"^microgpt_errors_total\{.*$", client.get("/metrics").text, re.M))


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("fast-home")
    microgpt.train(EXAMPLES / "helpdesk.csv", tier="nano", out=home / "router-module")
    microgpt.train(EXAMPLES / "bookings.jsonl", task="extract", tier="nano", out=home / "bookings-module")
    registry = Registry(home)
    registry.add(home / "router-module", "router")
    registry.add(home / "bookings-module", "bookings")
    fast = create_app(ServeSettings(home=str(home), **LIMITS))
    full = create_app(ServeSettings(home=str(home), fast_path=False, **LIMITS))
    with TestClient(fast, base_url="http://127.0.0.1") as a, TestClient(full, base_url="http://127.0.0.1") as b:
        yield a, b, fast


# the requests the fast path answers itself (valid requests, errors while predicting included); the rest it hands on
ANSWERED = {"one text", "a batch", "extraction with a reference date", "an empty batch", "a batch over the limit",
            "a text over the limit", "an unknown module", "an option the task does not take",
            "JSON sent as a form (curl -d)"}  # fmt: skip


@pytest.mark.parametrize(("what", "module", "body", "headers"), CASES, ids=[c[0] for c in CASES])
def test_issue_18_the_fast_path_answers_as_the_app_does(clients, monkeypatch, what, module, body, headers):
    fast, full, _ = clients
    calls = []
    real = fast_module.answer

    async def counted(*args, **kwargs):
        calls.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fast_module, "answer", counted)
    assert _answer(_post(fast, module, body, headers)) == _answer(_post(full, module, body, headers)), what
    assert len(calls) == (what in ANSWERED), "answered by the fast path" if what in ANSWERED else "handed on"


def test_issue_18_errors_are_counted_alike_on_both_paths(clients):
    fast, full, _ = clients
    for _, module, body, headers in CASES:
        _post(fast, module, body, headers)
        _post(full, module, body, headers)
    assert _errors(fast) == _errors(full) != []


def test_issue_18_the_fast_path_keeps_keys_and_scopes(clients):
    fast, full, app = clients
    store = app.state.services.store
    good = store.create_key("predictor", scopes=["predict"])
    reviewer = store.create_key("reviewer", scopes=["review"])
    time.sleep(1.1)  # servers re-read the recorded auth setting (and cached keys) once a second
    try:
        for key in (None, "mgpt_not_a_key", good, reviewer):
            headers = {"authorization": f"Bearer {key}"} if key else {}
            a = _answer(_post(fast, "router", {"text": "refund please"}, headers))
            b = _answer(_post(full, "router", {"text": "refund please"}, headers))
            assert a == b
            assert a[0] == {None: 401, "mgpt_not_a_key": 401, good: 200, reviewer: 403}[key]
    finally:
        store.set_auth(False)
