"""Routes with FastAPI's TestClient and dependency overrides: what a route does, without a real server.

The transport (limits, chunked bodies, hot reload, several processes) keeps its real-uvicorn tests elsewhere."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import microgpt
from microgpt.serving.app import create_app
from microgpt.serving.schemas import ServeSettings
from microgpt.serving.state import authorize, services
from microgpt.store.registry import Registry

ROOT = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("routes-home")
    microgpt.train(ROOT / "helpdesk.csv", tier="nano", out=home / "router")
    microgpt.train(ROOT / "bookings.jsonl", task="extract", tier="nano", out=home / "bookings")
    registry = Registry(home)
    registry.add(home / "router", "router")
    registry.add(home / "bookings", "bookings")
    app = create_app(ServeSettings(home=str(home)))
    with TestClient(app) as client:
        yield app, client


def test_each_task_answers_with_its_own_response_model(app):
    _, client = app
    label = client.post("/v1/modules/router/predict", json={"text": "I was charged twice"}).json()["prediction"]
    assert label["task"] == "classify" and {"label", "confidence", "decision", "unknown", "top"} <= set(label)
    assert "fields" not in label and "reply" not in label  # no bag of nulls from the other tasks
    fields = client.post("/v1/modules/bookings/predict", json={"text": "a table for 4 on Friday at 7"}).json()
    assert fields["prediction"]["task"] == "extract" and fields["prediction"]["fields"]["people"] == 4
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"ClassifyPrediction", "TagPrediction", "ExtractPrediction", "ReplyPrediction"} <= set(schema)


def test_dependencies_can_be_overridden(app):
    """Auth and the server's parts come in through dependencies, so a test swaps them instead of patching."""
    fastapi_app, client = app
    real = fastapi_app.state.services
    real.store.create_key("someone")  # auth is on from here
    time.sleep(1.1)  # servers re-read the recorded auth setting once a second
    try:
        assert client.get("/v1/modules").status_code == 401
        fastapi_app.dependency_overrides[authorize] = lambda: None
        assert [m["name"] for m in client.get("/v1/modules").json()] == ["bookings", "router"]
        fastapi_app.dependency_overrides[services] = lambda: type(real)(**{**real.__dict__, "ready": False})
        assert client.get("/readyz").status_code == 503
    finally:
        fastapi_app.dependency_overrides.clear()
        real.store.set_auth(False)
        time.sleep(1.1)


def test_options_and_feedback_ask_the_task(app):
    _, client = app
    wrong = client.post("/v1/modules/router/predict", json={"text": "hi", "context": "people"})
    assert wrong.status_code == 422 and '"context" is not an option of classify modules' in wrong.json()["error"]
    refused = client.post("/v1/modules/bookings/feedback", json={"text": "for 4", "label": "people"})
    assert refused.status_code == 422 and "corrected example" in refused.json()["error"]
    unknown = client.post("/v1/modules/router/feedback", json={"text": "hi", "label": "nope"})
    assert unknown.status_code == 422 and "known labels" in unknown.json()["hint"]


def test_metrics_count_decisions_per_module_and_version_and_the_queue_depth(app):
    fastapi_app, client = app
    fastapi_app.state.services.store.enqueue_review("router", "some text a person should see", reason="low_confidence")
    client.post("/v1/modules/router/predict", json={"texts": ["I was charged twice", "where is my parcel"]})
    text = client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("microgpt_decisions_total{") and 'module="router"' in x)
    assert 'version="1"' in line and 'decision="answer"' in line and float(line.rsplit(" ", 1)[1]) >= 2
    assert 'microgpt_review_queue_depth{module="router"} 1.0' in text
