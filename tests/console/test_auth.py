"""Scopes, sessions, CSRF and offline docs through the ASGI app (no browser needed), and the console's helpers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import microgpt
from microgpt.serving.app import create_app
from microgpt.serving.auth import rest_scope
from microgpt.serving.console.data import row_errors
from microgpt.serving.console.pages import highlight
from microgpt.serving.schemas import ServeSettings
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.console.conftest import HELPDESK, ROOT


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("auth-home")
    microgpt.train(HELPDESK, task="classify", tier="nano", out=home / "m")
    Registry(home).add(home / "m", "helpdesk")
    store = Store(home / "microgpt.db")
    keys = {scope: store.create_key(f"{scope}-key", scopes=[scope]) for scope in ("predict", "review", "admin")}
    with TestClient(create_app(ServeSettings(home=str(home)))) as client:
        yield client, keys, store


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_rest_routes_need_their_scope(served) -> None:
    client, keys, _ = served
    body = {"text": "where is my parcel"}
    assert client.post("/v1/modules/helpdesk/predict", json=body).status_code == 401
    assert client.post("/v1/modules/helpdesk/predict", json=body, headers=_bearer(keys["predict"])).status_code == 200
    refused = client.post("/v1/modules/helpdesk/predict", json=body, headers=_bearer(keys["review"]))
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "the key 'review-key' does not have the 'predict' scope",
        "hint": "use a key that has it: microgpt keys create NAME --scope predict",
    }
    assert client.get("/v1/review", headers=_bearer(keys["review"])).status_code == 200
    assert client.get("/v1/review", headers=_bearer(keys["predict"])).status_code == 403
    assert client.get("/v1/modules", headers=_bearer(keys["review"])).status_code == 200  # listing: any valid key


def test_route_scope_table() -> None:
    assert rest_scope("POST", "/v1/modules/router/predict") == "predict"
    assert rest_scope("POST", "/v1/modules/router/feedback") == "predict"
    assert rest_scope("POST", "/v1/review/abc/resolve") == "review"
    assert rest_scope("POST", "/v1/modules/router/promote") == "admin"
    assert rest_scope("GET", "/v1/modules") is None


def test_console_session_cookie_is_httponly_strict_and_the_key_is_not_in_it(served) -> None:
    client, keys, _ = served
    client.cookies.clear()
    page = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.post("/signin", data={"key": keys["admin"]}, follow_redirects=False).status_code == 403  # no CSRF
    signed = client.post("/signin", data={"key": keys["admin"], "csrf": token, "next": "https://evil.example/"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == "/modules"  # never an open redirect
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and keys["admin"] not in cookie
    assert client.get("/modules").status_code == 200
    client.cookies.clear()
    assert client.get("/modules", follow_redirects=False).headers["location"].startswith("/signin?next=")


def test_a_predict_key_cannot_open_the_review_queue_page(served) -> None:
    client, keys, _ = served
    client.cookies.clear()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"key": keys["predict"], "csrf": token})
    page = client.get("/review", headers={"accept": "text/html"})
    assert page.status_code == 403 and "review" in page.text
    client.cookies.clear()


def test_docs_are_served_offline_with_the_bearer_scheme(served) -> None:
    client, keys, _ = served
    html = client.get("/docs", headers=_bearer(keys["predict"])).text
    assert "cdn" not in html.lower() and "https://" not in html
    for asset in re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', html):
        assert client.get(asset).status_code == 200
    schema = client.get("/openapi.json", headers=_bearer(keys["predict"])).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["bearer"]["description"],
    }
    predict = schema["paths"]["/v1/modules/{name}/predict"]["post"]
    assert predict["security"] == [{"bearer": []}]
    assert predict["responses"]["403"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    examples = predict["requestBody"]["content"]["application/json"]["examples"]
    for example in examples.values():  # each works as sent: one of text / texts
        assert ("text" in example["value"]) != ("texts" in example["value"])
        sent = client.post("/v1/modules/helpdesk/predict", json=example["value"], headers=_bearer(keys["predict"]))
        assert sent.status_code == 200, sent.text
    assert client.get("/redoc").status_code == 404  # its assets would come from a CDN: not offered


def test_keys_create_takes_repeatable_scopes(tmp_path: Path) -> None:
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "microgpt.cli.app", "keys", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    made = keys("create", "night", "--scope", "review", "--scope", "predict")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert Store(tmp_path / "microgpt.db").key_info(key) == {"name": "night", "scopes": ("predict", "review")}
    bad = keys("create", "x", "--scope", "root")
    assert bad.returncode == 1 and "unknown scope(s) ['root']" in bad.stderr


def test_row_errors_lists_every_bad_row_in_the_readers_words(tmp_path: Path) -> None:
    lines = HELPDESK.read_text().splitlines()
    path = tmp_path / "tickets.csv"
    path.write_text(
        "\n".join([lines[0], *lines[1:4], '"",billing', *lines[4:8], "a text with no label,", *lines[8:40]])
    )
    errors, n_ok, problem = row_errors(path, "classify", None, None)
    assert problem is None and [e["line"] for e in errors] == [5, 10]
    assert (
        "empty text at tickets.csv:5" in errors[0]["message"]
        and "missing label at tickets.csv:10" in errors[1]["message"]
    )
    assert n_ok == 39  # the two bad rows left out


def test_highlight_marks_spans_in_order() -> None:
    text = "table for 4 on friday"
    spans = [{"start": 15, "end": 21, "label": "date"}, {"start": 10, "end": 11, "label": "people"}]
    assert highlight(text, spans) == [
        {"text": "table for ", "label": None},
        {"text": "4", "label": "people"},
        {"text": " on ", "label": None},
        {"text": "friday", "label": "date"},
    ]


def test_revoking_a_key_ends_its_console_sessions(served) -> None:
    client, _, store = served
    key = store.create_key("temp-admin")
    client.cookies.clear()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"key": key, "csrf": token})
    assert client.get("/modules", follow_redirects=False).status_code == 200
    store.revoke_key("temp-admin")
    time.sleep(1.1)  # key checks are cached for a second
    assert client.get("/modules", follow_redirects=False).headers["location"].startswith("/signin")
    client.cookies.clear()


def test_items_queued_by_a_fallback_failure_can_be_skipped_in_bulk(served) -> None:
    client, keys, store = served
    failed = [store.enqueue_review("helpdesk", f"text {i}", reason="fallback_failed: timeout") for i in range(3)]
    kept = store.enqueue_review("helpdesk", "unsure text", reason="low_confidence", confidence=0.1)
    client.cookies.clear()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"key": keys["review"], "csrf": token})
    page = client.get("/review?module=helpdesk").text
    assert "3 item(s) were queued because the LLM fallback failed" in page
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/review/bulk", data={"csrf": token, "module": "helpdesk", "reason": "fallback_failed"})
    assert [store.review_item(i)["status"] for i in failed] == ["skipped"] * 3
    assert store.review_item(kept)["status"] == "pending"
    assert (
        store.audit("helpdesk")[0]["action"] == "bulk_skip" and store.audit("helpdesk")[0]["key_name"] == "review-key"
    )
    client.cookies.clear()


def test_items_queued_by_a_fallback_failure_can_be_retried_with_the_llm(served) -> None:
    from microgpt.routing.llm import FallbackConfig
    from tests.routing.stub_llm import StubLLM

    _, keys, store = served
    stub = StubLLM()
    # the fallback is injected through the settings, as `microgpt serve` builds them from MICROGPT_LLM_*
    settings = ServeSettings(home=str(Path(store.path).parent), fallback=FallbackConfig(base_url=stub.base_url,
                                                                                       model="stub-1"))  # fmt: skip
    client = TestClient(create_app(settings)).__enter__()
    try:
        texts = {"I was charged twice": "answered", "please answer [400]": "failed", "tell me a joke": "unknown"}
        ids = {store.enqueue_review("helpdesk", t, reason="fallback_failed: timeout"): t for t in texts}
        client.cookies.clear()
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
        client.post("/signin", data={"key": keys["review"], "csrf": token})
        page = client.get("/review?module=helpdesk").text
        assert 'data-testid="bulk-retry"' in page
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        after = client.post("/review/bulk", data={"csrf": token, "module": "helpdesk", "action": "retry"}).text
        assert "1 answered" in after and "1 failed again" in after and "1 it could not label" in after
        status = {texts[t]: store.review_item(i)["status"] for i, t in ids.items()}
        assert status == {"answered": "skipped", "failed": "pending", "unknown": "pending"}
        labels = {r["text"]: r["label"] for r in store.teacher_labels("helpdesk")}
        assert labels["I was charged twice"] == "billing"
        assert store.audit("helpdesk")[0]["action"] == "bulk_retry"
    finally:
        stub.stop()
        client.__exit__(None, None, None)


def test_retrain_from_corrections_goes_through_the_gate(served) -> None:
    client, keys, store = served
    home = store.path.parent
    rows = HELPDESK.read_text().splitlines()
    with (home / "modules" / "helpdesk" / "eval.jsonl").open("w") as f:
        for line in rows[300:380]:
            text, label = line.rsplit(",", 1)
            f.write(json.dumps({"text": text.strip('"'), "label": label}) + "\n")
    store.add_feedback("helpdesk", "billing", text="they took the money twice this month")
    client.cookies.clear()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"key": keys["admin"], "csrf": token})
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/data").text).group(1)
    mapped = client.post("/data/upload", data={"csrf": token, "filename": "base.csv", "content": "\n".join(rows[:300])})
    assert 'data-testid="retrain"' in mapped.text
    upload = re.search(r'name="token" value="([^"]+)"', mapped.text).group(1)
    job = client.post("/data/retrain", data={"csrf": token, "token": upload, "module": "helpdesk"})
    job_id = job.url.path.rsplit("/", 1)[1]
    with client.stream("GET", f"/data/jobs/{job_id}/events") as events:
        last = [line for line in events.iter_lines() if line.startswith("data:")][-1]
    done = json.loads(last.removeprefix("data:"))
    assert done["percent"] == 100 and done["error"] is None, done
    assert re.search(r"\(\d+ corrections", done["summary"]) and "frozen evaluation set (80 texts)" in done["summary"]
    # v1 learnt every row of the set it is scored on, so the new version cannot beat it: registered, not promoted
    assert "not promoted: v1 stays live" in done["summary"] and Registry(home).current("helpdesk") == 1
    assert (home / "modules" / "helpdesk" / "eval-set.jsonl").exists()  # frozen from eval.jsonl the first time
    assert store.audit("helpdesk")[0]["action"] == "retrain"
    client.cookies.clear()


def test_odd_console_requests_get_a_clear_4xx_never_a_500(served) -> None:
    client, keys, _ = served
    client.cookies.clear()
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text).group(1)
    client.post("/signin", data={"key": keys["admin"], "csrf": token})
    odd = ["abc", "", "-1", "9" * 30, "../x", "\u00e9", "1 OR 1=1"]
    for value in odd:
        for method, path, form in [
            ("GET", f"/modules/helpdesk/promote?version={value}", None),
            ("POST", "/modules/helpdesk/promote", {"version": value}),
            ("GET", f"/try/{value or 'x'}", None),
            ("POST", f"/review/{value or 'x'}", {"action": value, "label": value}),
            ("GET", f"/data/map/{value or 'x'}?task={value}", None),
            ("POST", "/data/train", {"token": value, "module": value, "task": value}),
            ("GET", f"/data/jobs/{value or 'x'}", None),
            ("GET", f"/review?module={value}", None),
            ("GET", f"/activity?days={value}", None),
        ]:
            data = {"csrf": token, **form} if form is not None else None
            r = client.request(method, path, data=data, follow_redirects=False)
            assert r.status_code < 500, f"{method} {path} {form} → {r.status_code}: {r.text[:200]}"
    client.cookies.clear()
