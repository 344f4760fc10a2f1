"""Issue 17 on real uvicorn servers: fail-closed keys, one broken module never takes the others down, feedback by id
from any process, bounded metrics, clear 4xx for surrogates, oversize and odd bodies, DNS-rebinding Host check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import microgpt
from microgpt.policy import Policy
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.serving.test_server import Server, free_port

TEXTS = ["charged twice", "invoice wrong", "parcel late", "where is my parcel", "money back", "refund me"]
LABELS = ["billing", "billing", "shipping", "shipping", "refund", "refund"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("issue17-modules")
    microgpt.Classifier("nano").fit(TEXTS, LABELS).save(root / "router")
    queued = microgpt.Classifier("nano").fit(TEXTS, LABELS)
    queued.policy_ = Policy(threshold=1.01, below="queue", unknown="queue")  # every text waits for a person
    queued.save(root / "queued")
    return root


@pytest.fixture(scope="module")
def home(tmp_path_factory, trained) -> Path:
    """router (good), queued (queues everything), broken (truncated weights), badptr (garbage CURRENT)."""
    home = tmp_path_factory.mktemp("issue17-home")
    registry = Registry(home)
    for name in ("router", "broken", "badptr"):
        registry.add(trained / "router", name)
    registry.add(trained / "queued", "queued")
    weights = next((home / "modules" / "broken" / "1").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:40])
    (home / "modules" / "badptr" / "CURRENT").write_text("garbage\n")
    return home


@pytest.fixture(scope="module")
def server(home) -> Iterator[Server]:
    s = Server(home, "--max-text-chars", "500", "--max-body-bytes", "20000")
    yield s
    s.stop()


def test_issue_17_a_corrupt_module_is_unavailable_and_the_others_serve(server):
    assert httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "refund me"}).status_code == 200
    for name in ("broken", "badptr"):
        r = httpx.post(f"{server.url}/v1/modules/{name}/predict", json={"text": "refund me"})
        assert r.status_code == 503, r.text
        assert "unavailable" in r.json()["error"] and r.json()["hint"]
    listed = {m["name"]: m for m in httpx.get(f"{server.url}/v1/modules").json()}
    assert listed["router"]["available"] and listed["queued"]["available"]
    assert not listed["broken"]["available"] and "checksum" in listed["broken"]["error"]
    assert not listed["badptr"]["available"] and "CURRENT" in listed["badptr"]["error"]
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200 and ready.json()["unavailable"] == ["badptr", "broken"]
    assert "checksum" in ready.json()["errors"]["broken"]


def test_issue_17_lone_surrogates_are_a_clear_422(server):
    url = f"{server.url}/v1/modules/router"
    raw = {"content-type": "application/json"}
    r = httpx.post(f"{url}/predict", content=b'{"text": "\\ud800"}', headers=raw)
    assert r.status_code == 422 and "surrogate" in r.json()["error"], r.text
    r = httpx.post(f"{url}/predict", content=b'{"texts": ["fine", "bad \\udfff"]}', headers=raw)
    assert r.status_code == 422 and "texts[1]" in r.json()["error"], r.text
    r = httpx.post(f"{url}/feedback", content=b'{"text": "x\\ud800", "label": "refund"}', headers=raw)
    assert r.status_code == 422 and "surrogate" in r.json()["error"], r.text
    pair = httpx.post(f"{url}/predict", content=b'{"text": "refund \\ud83d\\ude00"}', headers=raw)
    assert pair.status_code == 200  # a proper surrogate pair is an emoji, not an error


def test_issue_17_feedback_text_is_capped_like_predict(server):
    r = httpx.post(f"{server.url}/v1/modules/router/feedback", json={"text": "x" * 501, "label": "refund"})
    assert r.status_code == 413 and "limit of 500" in r.json()["error"]


def test_issue_17_feedback_for_an_unknown_prediction_id_is_404(server):
    r = httpx.post(f"{server.url}/v1/modules/router/feedback", json={"prediction_id": "f" * 32, "label": "refund"})
    assert r.status_code == 404 and "no logged prediction" in r.json()["error"]


def test_issue_17_an_oversized_chunked_body_is_413(server):
    def chunks() -> Iterator[bytes]:
        yield b'{"texts": ['
        for _ in range(3000):
            yield b'"padding padding", '
        yield b'"end"]}'

    r = httpx.post(
        f"{server.url}/v1/modules/router/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "20,000-byte limit" in r.json()["error"]


def test_issue_17_a_json_body_without_json_content_type_is_accepted(server):
    form = {"content-type": "application/x-www-form-urlencoded"}  # what `curl -d '{...}'` sends
    r = httpx.post(f"{server.url}/v1/modules/router/predict", content=b'{"text": "refund me"}', headers=form)
    assert r.status_code == 200 and r.json()["prediction"]["label"] == "refund"
    r = httpx.post(f"{server.url}/v1/modules/nope/predict", content=b'{"text": "refund me"}', headers=form)
    assert r.status_code == 404
    r = httpx.post(f"{server.url}/v1/modules/router/predict", content=b"text=refund", headers=form)
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["hint"]


def test_issue_17_a_foreign_host_header_is_refused_on_loopback(server):
    r = httpx.get(f"{server.url}/v1/modules", headers={"host": "evil.example:80"})
    assert r.status_code == 421 and "Host" in r.json()["error"]
    for host in ("localhost", f"127.0.0.1:{server.port}", f"[::1]:{server.port}"):
        assert httpx.get(f"{server.url}/v1/modules", headers={"host": host}).status_code == 200


def test_issue_17_a_reverse_proxy_name_can_be_allowed(tmp_path, trained):
    Registry(tmp_path).add(trained / "router", "router")
    server = Server(tmp_path, "--allow-host", "models.example.com")
    try:
        assert httpx.get(f"{server.url}/v1/modules", headers={"host": "models.example.com"}).status_code == 200
        assert httpx.get(f"{server.url}/v1/modules", headers={"host": "evil.example"}).status_code == 421
    finally:
        server.stop()


def test_issue_17_unknown_module_names_add_no_metrics_series(server):
    names = [f"probe-{uuid.uuid4().hex[:8]}" for _ in range(50)]
    for name in names:
        assert httpx.post(f"{server.url}/v1/modules/{name}/predict", json={"text": "hi"}).status_code == 404
    text = httpx.get(f"{server.url}/metrics").text
    assert not any(name in text for name in names)
    line = next(x for x in text.splitlines() if x.startswith('microgpt_errors_total{module="_unknown",status="404"}'))
    assert float(line.split()[-1]) >= 50


def test_issue_17_feedback_on_a_queued_prediction_resolves_its_review_item(server, home):
    pred = httpx.post(f"{server.url}/v1/modules/queued/predict", json={"text": "parcel late"}).json()["prediction"]
    assert pred["decision"] == "queue" and pred["review_id"]
    r = httpx.post(
        f"{server.url}/v1/modules/queued/feedback", json={"prediction_id": pred["request_id"], "label": "shipping"}
    )
    assert r.status_code == 200, r.text
    store = Store(home / "microgpt.db")
    item = store.review_item(pred["review_id"])
    assert (item["status"], item["answer"], item["resolved_by"]) == ("resolved", "shipping", "feedback")
    import io

    out = io.StringIO()
    store.export_jsonl("queued", out)
    assert [json.loads(x)["text"] for x in out.getvalue().splitlines()].count("parcel late") == 1


def test_issue_17_feedback_by_id_works_from_another_server_process(server, home):
    """Predict on one server, send the feedback to another on the same store at once: every one lands."""
    other = Server(home)
    try:
        ids = []
        with httpx.Client() as c:
            for i in range(60):
                rid = c.post(f"{server.url}/v1/modules/router/predict", json={"text": f"money back {i}"})
                ids.append(rid.json()["prediction"]["request_id"])
                r = c.post(
                    f"{other.url}/v1/modules/router/feedback", json={"prediction_id": ids[-1], "label": "refund"}
                )
                assert r.status_code == 200, r.text
    finally:
        other.stop()
    rows = {r["prediction_id"] for r in Store(home / "microgpt.db").feedback("router")}
    assert set(ids) <= rows


def test_issue_17_feedback_by_id_works_across_the_workers_of_one_server(tmp_path, trained):
    Registry(tmp_path).add(trained / "router", "router")
    server = Server(tmp_path, "--workers", "2")
    try:
        with httpx.Client(base_url=server.url) as c:  # a new connection each time: the workers share the load
            for i in range(40):
                rid = c.post(
                    "/v1/modules/router/predict", json={"text": f"parcel late {i}"}, headers={"connection": "close"}
                )
                body = {"prediction_id": rid.json()["prediction"]["request_id"], "label": "shipping"}
                r = c.post("/v1/modules/router/feedback", json=body, headers={"connection": "close"})
                assert r.status_code == 200, r.text
    finally:
        server.stop()
    assert len(list(Store(tmp_path / "microgpt.db").feedback("router"))) == 40


# ---- fail-closed authentication -----------------------------------------------------------------------------
def test_issue_17_revoking_the_last_key_keeps_the_server_closed(tmp_path, trained):
    Registry(tmp_path).add(trained / "router", "router")
    store = Store(tmp_path / "microgpt.db")
    key = store.create_key("app")
    server = Server(tmp_path)
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path)}
    try:
        ok = httpx.get(f"{server.url}/v1/modules", headers={"Authorization": f"bearer {key}"})  # lower-case scheme
        assert ok.status_code == 200
        for path in ("/docs", "/openapi.json", "/metrics", "/v1/review"):
            assert httpx.get(f"{server.url}{path}").status_code == 401, path
        assert httpx.get(f"{server.url}/openapi.json", headers={"X-API-Key": key}).status_code == 200
        revoked = subprocess.run(
            [sys.executable, "-m", "microgpt", "keys", "revoke", "app"], env=env, capture_output=True, text=True
        )
        assert revoked.returncode == 0 and "no active key" in revoked.stdout
        time.sleep(1.1)  # the server re-reads the auth setting once a second
        for headers in ({"Authorization": f"Bearer {key}"}, {}):
            r = httpx.post(f"{server.url}/v1/modules/router/predict", json={"text": "hi"}, headers=headers)
            assert r.status_code == 401, r.text
            assert httpx.get(f"{server.url}/v1/review", headers=headers).status_code == 401
            assert httpx.get(f"{server.url}/metrics", headers=headers).status_code == 401
        off = subprocess.run(
            [sys.executable, "-m", "microgpt", "keys", "auth", "off"], env=env, capture_output=True, text=True
        )
        assert off.returncode == 0 and "authentication: off" in off.stdout
        time.sleep(1.1)
        assert httpx.get(f"{server.url}/v1/modules").status_code == 200  # only the operator's choice opens it
        text = httpx.get(f"{server.url}/metrics").text
        assert 'module="_unknown",status="401"' in text
    finally:
        server.stop()


def test_issue_17_serving_on_all_interfaces_without_a_key_refuses_to_start(tmp_path):
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "microgpt", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "--insecure" in done.stdout + done.stderr


def test_issue_17_hash_texts_keeps_no_plaintext_in_feedback_or_review(tmp_path, trained):
    Registry(tmp_path).add(trained / "queued", "queued")
    server = Server(tmp_path, "--hash-texts")
    secret = "my secret parcel 4512"
    try:
        pred = httpx.post(f"{server.url}/v1/modules/queued/predict", json={"text": secret}).json()["prediction"]
        r = httpx.post(f"{server.url}/v1/modules/queued/feedback", json={"text": secret, "label": "shipping"})
        assert r.status_code == 200
        r = httpx.post(
            f"{server.url}/v1/modules/queued/feedback", json={"prediction_id": pred["request_id"], "label": "shipping"}
        )
        assert r.status_code == 200, r.text
    finally:
        server.stop()
    db = (tmp_path / "microgpt.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("microgpt.db-*"))
    assert secret.encode() not in db
    assert oct((tmp_path / "microgpt.db").stat().st_mode & 0o777) == "0o600"
