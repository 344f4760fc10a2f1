"""Reply modules over REST on a real uvicorn server: drafts one at a time and in batches, placeholders filled only
from the fields sent, the draft streamed as server-sent events, and clear 422s for options a module does not take."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

import microgpt
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.reply.test_replier import TINY_GPT, reply_data
from tests.serving.test_server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("reply-home")
    microgpt.Replier("nano").fit(reply_data()).save(home / "nano-dir")
    microgpt.Replier("micro", micro=TINY_GPT).fit(reply_data()).save(home / "micro-dir")
    microgpt.Classifier("nano").fit(["cancel it", "stop it", "refund me", "money back"], list("aabb")).save(
        home / "cls"
    )
    for directory, name in (("nano-dir", "replies"), ("micro-dir", "writer"), ("cls", "router")):
        Registry(home).add(home / directory, name)
    s = Server(home)
    s.home = home  # type: ignore[attr-defined]
    yield s
    s.stop()


def predict(server: Server, name: str, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/modules/{name}/predict", json=body, timeout=60)


def test_a_draft_fills_only_the_fields_sent(server):
    r = predict(server, "replies", text="please cancel my order 555", fields={"Order Number": "555"})
    assert r.status_code == 200, r.text
    p = r.json()["prediction"]
    assert p["reply"] == "I have cancelled order 555. Your refund reaches you within 5 days via {{Payment Method}}."
    assert p["unfilled"] == ["Payment Method"] and p["intent"] is None and p["tokens"] > 0 and p["request_id"]
    bare = predict(server, "replies", text="please cancel my order 555").json()["prediction"]
    assert bare["reply"].startswith("I have cancelled order {{Order Number}}.")  # nothing sent, nothing invented
    assert set(bare["unfilled"]) == {"Order Number", "Payment Method"}
    store = Store(server.home / "microgpt.db")  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10  # the server logs predictions in batches, from a background thread
    while (logged := store.prediction(p["request_id"])) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logged is not None and json.loads(logged["output"])["reply"] == p["reply"]


def test_a_batch_of_drafts_from_the_generator(server):
    r = predict(server, "writer", texts=["where is my order 9", "I forgot my password"], max_new_tokens=12)
    assert r.status_code == 200, r.text
    drafts = r.json()["predictions"]
    assert len(drafts) == 2 and all(d["tokens"] <= 12 and isinstance(d["reply"], str) for d in drafts)  # a tiny model
    assert {d["intent"] for d in drafts} <= set(microgpt.load(server.home / "micro-dir").labels_)  # type: ignore[attr-defined]
    chosen = predict(server, "writer", text="hello", intent="recover_password", max_new_tokens=5).json()
    assert chosen["prediction"]["intent"] == "recover_password"


def test_the_draft_streams_as_server_sent_events(server):
    body = {"text": "where is my order 77", "fields": {"Order Number": "77"}, "max_new_tokens": 30, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/modules/replies/predict", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [block for block in r.read().decode().split("\n\n") if block]
    kinds = [e.split("\n")[0] for e in events]
    assert kinds[-1] == "event: done" and set(kinds[:-1]) == {"event: token"} and len(kinds) > 2
    pieces = "".join(json.loads(e.split("data: ", 1)[1])["text"] for e in events[:-1])
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert pieces == "Your order 77 is on its way. Follow it at {{Website URL}}."
    assert done["reply"] == pieces and done["request_id"] and done["unfilled"] == ["Website URL"]
    plain = predict(server, "replies", text=body["text"], fields=body["fields"]).json()
    assert plain["prediction"]["reply"] == pieces  # streamed or not, the same draft


@pytest.mark.parametrize(
    ("name", "body", "words"),
    [
        ("writer", {"text": "hi", "intent": "fly_to_the_moon"}, "unknown intent"),
        ("writer", {"text": "   "}, "empty message"),
        ("writer", {"texts": ["a", "b"], "stream": True}, '"stream" writes one draft'),
        (
            "router",
            {"text": "refund please", "fields": {"Order Number": "1"}},
            '"fields" is not an option of classify modules',
        ),
        ("router", {"text": "refund please", "stream": True}, '"stream" is not an option of classify modules'),
        ("replies", {"text": "hi", "context": "people"}, '"context" is not an option of reply modules'),
    ],
)
def test_bad_requests_are_clear_422s(server, name, body, words):
    r = predict(server, name, **body)
    assert r.status_code == 422, r.text
    assert words in r.json()["error"] and r.json()["hint"]


def test_feedback_on_a_replier_says_how_to_correct_it(server):
    r = httpx.post(f"{server.url}/v1/modules/replies/feedback", json={"text": "hi", "label": "x"})
    assert r.status_code == 422 and "replier" in r.json()["error"] and "retrain" in r.json()["hint"]
