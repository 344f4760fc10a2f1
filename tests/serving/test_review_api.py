"""The review-queue routes on a real uvicorn server: list, resolve, skip, and their 401/404/409/422 answers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import microgpt
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.serving.test_server import Server

TEXTS = ["charged twice", "invoice wrong", "parcel late", "where is my parcel", "money back", "refund me"]
LABELS = ["billing", "billing", "shipping", "shipping", "refund", "refund"]


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Server, Path, dict[str, str]]]:
    home = tmp_path_factory.mktemp("review-home")
    microgpt.Classifier("nano").fit(TEXTS, LABELS).save(home / "router-dir")
    microgpt.Tagger("nano").fit(TEXTS, [[x] for x in LABELS]).save(home / "tags-dir")
    Registry(home).add(home / "router-dir", "router")
    Registry(home).add(home / "tags-dir", "tags")
    key = Store(home / "microgpt.db").create_key("reviewer")
    server = Server(home)
    yield server, home, {"Authorization": f"Bearer {key}"}
    server.stop()


def enqueue(home: Path, module: str, text: str, **kw: Any) -> str:
    return Store(home / "microgpt.db").enqueue_review(module, text, **{"reason": "low_confidence", **kw})


def test_list_resolve_and_skip_round_trip_into_training_data(served):
    server, home, auth = served
    a = enqueue(home, "router", "I paid two times", version=1, prediction={"label": "refund"}, confidence=0.4)
    b = enqueue(home, "router", "zzzz", reason="unknown_input")
    t = enqueue(home, "tags", "card and parcel", prediction={"labels": ["shipping"]})
    listed = httpx.get(f"{server.url}/v1/review", params={"module": "router"}, headers=auth)
    assert listed.status_code == 200, listed.text
    assert [(i["id"], i["status"], i["reason"]) for i in listed.json()] == [
        (a, "pending", "low_confidence"),
        (b, "pending", "unknown_input"),
    ]
    assert listed.json()[0]["prediction"] == {"label": "refund"} and listed.json()[0]["confidence"] == 0.4
    assert len(httpx.get(f"{server.url}/v1/review", params={"limit": 1}, headers=auth).json()) == 1

    done = httpx.post(f"{server.url}/v1/review/{a}/resolve", json={"label": "billing"}, headers=auth)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["answer"], done.json()["resolved_by"]) == ("resolved", "billing", "api")
    tagged = httpx.post(f"{server.url}/v1/review/{t}/resolve", json={"labels": ["billing", "shipping"]}, headers=auth)
    assert tagged.status_code == 200 and tagged.json()["answer"] == ["billing", "shipping"]
    skipped = httpx.post(f"{server.url}/v1/review/{b}/skip", headers=auth)
    assert skipped.status_code == 200 and skipped.json()["status"] == "skipped"

    resolved = httpx.get(f"{server.url}/v1/review", params={"status": "resolved"}, headers=auth).json()
    assert {i["id"] for i in resolved} == {a, t}
    rows = Store(home / "microgpt.db")
    assert {"text": "I paid two times", "label": "billing", "source": "review"}.items() <= _exported(rows, "router")[
        0
    ].items()
    assert _exported(rows, "tags")[0]["labels"] == ["billing", "shipping"]


def _exported(store: Store, module: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    store.export_jsonl(module, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_review_error_is_a_clear_json_answer(served):
    server, home, auth = served
    item = enqueue(home, "router", "which one?", prediction={"label": "refund"})
    httpx.post(f"{server.url}/v1/review/{item}/resolve", json={"label": "refund"}, headers=auth).raise_for_status()
    fresh = enqueue(home, "router", "another", prediction={"label": "refund"})
    cases = [
        ("get", "/v1/review?status=done", None, 422, "unknown review status"),
        ("get", "/v1/review?limit=0", None, 422, "out of range"),
        ("post", "/v1/review/nope/resolve", {"label": "billing"}, 404, "no review item with id 'nope'"),
        ("post", "/v1/review/nope/skip", None, 404, "no review item"),
        ("post", f"/v1/review/{item}/resolve", {"label": "billing"}, 409, "already resolved"),
        ("post", f"/v1/review/{item}/skip", None, 409, "already resolved"),
        ("post", f"/v1/review/{fresh}/resolve", {"label": "nonsense"}, 422, "unknown label(s) ['nonsense']"),
        ("post", f"/v1/review/{fresh}/resolve", {"label": "a", "labels": ["b"]}, 422, '"label" (classifier)'),
        ("post", f"/v1/review/{fresh}/resolve", {"labels": ["billing", "refund"]}, 422, "single-label"),
    ]
    for method, path, body, status, words in cases:
        r = httpx.request(method, f"{server.url}{path}", json=body, headers=auth)
        assert r.status_code == status, (path, r.text)
        assert words in r.json()["error"] and r.json()["hint"], (path, r.json())
    assert httpx.get(f"{server.url}/v1/review").status_code == 401  # the same API keys guard these routes
    assert httpx.get(f"{server.url}/v1/review", headers=auth).json()[-1]["id"] == fresh  # still pending
