"""The REST API against a real uvicorn server on a free loopback port, as a client app would use it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from microgpt import Classifier, Extractor, Tagger, read_examples
from microgpt.store.db import Store
from microgpt.store.registry import Registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, home: Path, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MICROGPT_HOME": str(home)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "microgpt", "serve", "--port", str(self.port), *flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.proc.stdout.read().decode()[-2000:]}")  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def modules_dir(tmp_path_factory, helpdesk_split, small_tags) -> Path:
    root = tmp_path_factory.mktemp("trained")
    train, _ = helpdesk_split
    Classifier("nano").fit(train).save(root / "router-a")
    Classifier("nano", nano={"c": 0.05}).fit(train).save(root / "router-b")
    Tagger("nano").fit(small_tags).save(root / "tags")
    bookings = read_examples(Path(__file__).resolve().parents[2] / "examples" / "bookings.jsonl", task="extract")
    Extractor("nano").fit(bookings).save(root / "bookings")
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory, modules_dir) -> Path:
    home = tmp_path_factory.mktemp("home")
    registry = Registry(home)
    registry.add(modules_dir / "router-a", "router")
    registry.add(modules_dir / "tags", "tags")
    registry.add(modules_dir / "bookings", "bookings")
    return home


@pytest.fixture(scope="module")
def server(home) -> Iterator[Server]:
    s = Server(home, "--max-batch", "8", "--max-text-chars", "500", "--max-body-bytes", "20000")
    yield s
    s.stop()


def test_health_and_module_listing(server):
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    listed = httpx.get(f"{server.url}/v1/modules").json()
    assert {(m["name"], m["version"], m["task"]) for m in listed} == {
        ("router", 1, "classify"),
        ("tags", 1, "tag"),
        ("bookings", 1, "extract"),
    }
    one = httpx.get(f"{server.url}/v1/modules/router").json()
    assert one["versions"] == [1] and "billing" in one["labels"]


def test_predict_one_and_a_batch(server):
    r = httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "I forgot my password, can't log in"})
    assert r.status_code == 200
    body = r.json()
    assert body["module"] == "router" and body["version"] == 1
    assert body["prediction"]["label"] == "login" and 0 < body["prediction"]["confidence"] <= 1
    assert len(body["prediction"]["request_id"]) == 32
    r = httpx.post(f"{server.url}/v1/modules/router/predict", json={"texts": ["refund my order", "where is my parcel"]})
    labels = [p["label"] for p in r.json()["predictions"]]
    assert labels == ["refund", "shipping"]
    r = httpx.post(f"{server.url}/v1/modules/tags/predict", json={"text": "charged twice and also parcel is late"})
    assert "billing" in r.json()["prediction"]["labels"]


def test_an_extractor_answers_with_fields_and_spans(server):
    text = "Hi, could I book a table for four next Friday at 7? Name's Ana Ruiz"
    r = httpx.post(f"{server.url}/v1/modules/bookings/predict", json={"text": text, "reference_date": "2026-11-29"})
    assert r.status_code == 200, r.text
    pred = r.json()["prediction"]
    assert pred["fields"] == {"date": "2026-12-04", "name": "Ana Ruiz", "people": 4, "phone": None, "time": "19:00"}
    assert all(text[s["start"] : s["end"]] == s["text"] for s in pred["spans"])
    assert pred["confidence"] == min(s["confidence"] for s in pred["spans"]) and len(pred["request_id"]) == 32
    r = httpx.post(f"{server.url}/v1/modules/bookings/feedback", json={"text": text, "label": "date"})
    assert r.status_code == 422 and "retrain" in r.json()["hint"]


def test_feedback_lands_in_the_store(server, home):
    r = httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "money back please"})
    rid = r.json()["prediction"]["request_id"]
    ok = httpx.post(f"{server.url}/v1/modules/router/feedback", json={"prediction_id": rid, "label": "refund"})
    assert ok.status_code == 200
    new = httpx.post(
        f"{server.url}/v1/modules/router/feedback", json={"text": "app freezes", "label": "technical_issue"}
    )
    assert new.status_code == 200
    rows = list(Store(home / "microgpt.db").feedback("router"))
    assert [(r["text"], r["target"]) for r in rows][-2:] == [
        ("money back please", "refund"),
        ("app freezes", "technical_issue"),
    ]
    env = {**os.environ, "MICROGPT_HOME": str(home)}
    exported = subprocess.run(
        [sys.executable, "-m", "microgpt", "modules", "feedback", "router"], capture_output=True, text=True, env=env
    )
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert {"text": "app freezes", "label": "technical_issue"}.items() <= lines[-1].items()
    bad = httpx.post(f"{server.url}/v1/modules/router/feedback", json={"text": "x", "label": "nonsense"})
    assert bad.status_code == 422 and "known labels" in bad.json()["hint"]


@pytest.mark.parametrize(
    "path, payload, status, words",
    [
        ("/v1/modules/nope/predict", {"text": "hi"}, 404, "available: bookings, router, tags"),
        ("/v1/modules/router/predict", {"text": "x" * 501}, 413, "limit of 500"),
        ("/v1/modules/router/predict", {"texts": ["a"] * 9}, 413, "limit of 8"),
        ("/v1/modules/router/predict", {"texts": ["a b"] * 8, "pad": "x" * 25_000}, 413, "20,000-byte limit"),
        ("/v1/modules/router/predict", {"text": "   "}, 422, "empty text"),
        ("/v1/modules/router/predict", {}, 422, 'either "text"'),
        ("/v1/modules/router/predict", {"text": "a", "texts": ["b"]}, 422, 'either "text"'),
        ("/v1/modules/router/feedback", {"label": "refund"}, 422, "prediction_id"),
    ],
)
def test_every_limit_and_bad_request_is_a_clear_json_error(server, path, payload, status, words):
    r = httpx.post(f"{server.url}{path}", json=payload)
    assert r.status_code == status, r.text
    body = r.json()
    assert words in body["error"] and body["hint"]


def test_metrics_count_requests(server):
    httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "hello"})
    text = httpx.get(f"{server.url}/metrics").text
    assert 'microgpt_requests_total{module="router",route="predict",status="200"}' in text
    assert "microgpt_request_seconds_bucket" in text and "microgpt_errors_total" in text


def test_promote_under_load_fails_no_request(tmp_path, modules_dir):
    registry = Registry(tmp_path)
    registry.add(modules_dir / "router-a", "router")
    registry.add(modules_dir / "router-b", "router")
    server = Server(tmp_path)
    failures: list[str] = []
    versions: list[int] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url) as c:
            while not stop.is_set():
                r = c.post("/v1/modules/router/predict", json={"text": "where is my parcel"})
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    versions.append(r.json()["version"])

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        registry.promote("router", 2)
        time.sleep(1.5)
        registry.rollback("router")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
    assert failures == []
    assert 1 in versions and 2 in versions and versions[-1] == 1
    assert len(versions) > 50


def test_api_keys_guard_every_route_but_health(tmp_path, modules_dir):
    Registry(tmp_path).add(modules_dir / "router-a", "router")
    key = Store(tmp_path / "microgpt.db").create_key("app")
    server = Server(tmp_path)
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        denied = httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "hi"})
        assert denied.status_code == 401 and "API key" in denied.json()["error"]
        assert httpx.get(f"{server.url}/v1/modules").status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        assert (
            httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "hi"}, headers=auth).status_code == 200
        )
        assert httpx.get(f"{server.url}/v1/modules", headers={"X-API-Key": key}).status_code == 200
        Store(tmp_path / "microgpt.db").revoke_key("app")
        time.sleep(1.1)  # the server re-reads the auth setting once a second
        assert httpx.get(f"{server.url}/v1/modules", headers=auth).status_code == 401  # fail closed (issue 17)
        Store(tmp_path / "microgpt.db").set_auth(False)
        time.sleep(1.1)
        assert httpx.get(f"{server.url}/v1/modules").status_code == 200  # the operator turned auth off
    finally:
        server.stop()


def test_hash_only_logging(tmp_path, modules_dir):
    Registry(tmp_path).add(modules_dir / "router-a", "router")
    server = Server(tmp_path, "--hash-texts")
    try:
        rid = httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "my secret"}).json()["prediction"]
        store = Store(tmp_path / "microgpt.db")
        deadline = time.monotonic() + 5
        while store.prediction(rid["request_id"]) is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the server writes its prediction log in batches, every 50 ms
        row = store.prediction(rid["request_id"])
        assert row["input_text"] is None and row["input_sha256"]
    finally:
        server.stop()
