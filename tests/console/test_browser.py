"""The console in a real Chromium against a real uvicorn server: what a person running the business does."""

from __future__ import annotations

import io
import json
import re
import time

import httpx
import pytest

from tests.console.conftest import HELPDESK, ROOT, Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_sign_in_sets_a_strict_httponly_cookie_and_never_puts_the_key_in_a_url(page, site: Site, width: int) -> None:
    page.goto(site.url + "/")
    assert "/signin" in page.url
    page.fill("#key", "mgpt_not-a-key")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text("[role=alert]")
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.fill("#key", site.admin_key)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + "/modules")
    assert "helpdesk" in page.inner_text("#module-helpdesk h2")
    assert "ops-admin" in page.inner_text("header .who")
    cookie = next(c for c in page.context.cookies() if c["name"] == "mgpt_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert site.admin_key not in cookie["value"] and not any(site.admin_key in u for u in urls)
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling at 390 px
    shot(page, f"signin-modules-{width}")
    assert site.admin_key not in (site.home / "server.log").read_text()


def test_try_a_text_shows_label_confidence_in_words_decision_and_top_3(page, site: Site, width: int) -> None:
    sign_in(page, site, site.admin_key, "/try/helpdesk")
    page.fill("#text", "I forgot my password and cannot log in")
    page.click("#try-form button[type=submit]")
    result = page.locator("[data-testid=result]")
    assert result.locator("[data-testid=label]").inner_text() == "login"
    assert page.inner_text("[data-testid=confidence-words]") in ("very sure", "fairly sure", "unsure", "guessing")
    assert page.inner_text("[data-testid=decision]") == "answered automatically"
    assert page.locator("[data-testid=top] li").count() == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"try-{width}")


def test_try_an_extractor_highlights_its_spans_in_the_text(page, site: Site) -> None:
    first = json.loads((ROOT / "examples" / "invoices.jsonl").read_text().splitlines()[0])
    sign_in(page, site, site.admin_key, "/try/invoices")
    page.fill("#text", first["text"])
    page.click("#try-form button[type=submit]")
    marks = page.locator("[data-testid=marked] mark")
    assert marks.count() >= 3
    labels = {m.get_attribute("data-label") for m in marks.all()}
    assert {"company", "invoice_no", "total"} <= labels
    assert page.inner_text("[data-testid=field-invoice_no]").startswith("INV-")
    shot(page, "try-extractor")


def test_try_a_replier_streams_its_draft(page, site: Site) -> None:
    sign_in(page, site, site.admin_key, "/try/replies")
    pieces: list[str] = []
    page.on("response", lambda r: pieces.append(r.headers.get("content-type", "")) if "/stream?" in r.url else None)
    page.fill("#text", "where is my parcel? order NW-12345")
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#draft-card[data-done]")
    assert len(page.inner_text("[data-testid=draft]")) > 20
    assert any(p.startswith("text/event-stream") for p in pieces)
    shot(page, "try-replier")


def test_activity_shows_requests_decisions_and_queue_depth(page, site: Site, width: int) -> None:
    headers = {"Authorization": f"Bearer {site.admin_key}"}
    texts = ["where is my parcel", "refund please", "cannot log in"]
    assert httpx.post(f"{site.url}/v1/modules/helpdesk/predict", json={"texts": texts}, headers=headers).is_success
    time.sleep(0.3)  # the prediction log writes in the background
    sign_in(page, site, site.admin_key, "/activity")
    card = page.locator("section[data-module=helpdesk]")
    assert re.search(r"\d+ requests", card.inner_text())
    assert int(card.locator("[data-testid=depth-helpdesk]").inner_text()) >= 1
    assert card.locator("svg.chart rect").count() >= 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"activity-{width}")


def test_three_review_items_resolved_with_the_keyboard_only_become_training_data(page, site: Site) -> None:
    sign_in(page, site, site.review_key, "/review?module=helpdesk")
    assert page.inner_text("[data-testid=progress]").startswith("0 done")
    answers: dict[str, str] = {}

    def card_text() -> str:
        return page.inner_text("[data-testid=card] [data-testid=text]")

    # 1: accept the suggestion (Enter)
    answers[card_text()] = page.inner_text("[data-testid=suggestion]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # 2: the second choice (2, then Enter)
    page.keyboard.press("2")
    answers[card_text()] = page.locator("#choices input:checked").get_attribute("value")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # 3: search the label list (/ focuses the search box), Enter takes the first match
    page.keyboard.press("/")
    page.keyboard.type("refu")
    answers[card_text()] = page.locator("#choices input:checked").get_attribute("value")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.inner_text("[data-testid=progress]").startswith("3 done")
    assert len(answers) == 3 and answers[list(answers)[2]] == "refund"
    shot(page, "review-after-three")
    out = io.StringIO()
    site.store.export_jsonl("helpdesk", out)
    exported = {r["text"]: r for r in map(json.loads, out.getvalue().splitlines())}
    for text, label in answers.items():
        assert exported[text]["label"] == label and exported[text]["source"] == "review"
    decisions = [a for a in site.store.audit("helpdesk") if a["item_id"]]
    assert len(decisions) == 3 and {a["action"] for a in decisions} <= {"accept", "correct"}
    assert all(a["key_name"] == "night-reviewer" and a["version"] == 1 for a in decisions)


def test_promote_with_the_versions_side_by_side_then_roll_back(page, site: Site) -> None:
    sign_in(page, site, site.admin_key)
    assert site.registry.current("helpdesk") == 1
    page.click("[data-testid=promote-helpdesk-2]")
    compare = page.locator("[data-testid=compare]")
    assert "v1 (live)" in compare.text_content() and "v2 (new)" in compare.text_content()
    assert "accuracy" in compare.inner_text() and "frozen evaluation set" in page.inner_text("main")
    shot(page, "promote-confirm")
    page.click("[data-testid=confirm]")
    page.wait_for_url(site.url + "/modules")
    assert "v2 is live" in page.inner_text(".flash") and site.registry.current("helpdesk") == 2
    page.click("[data-testid=rollback-helpdesk]")
    page.click("[data-testid=confirm]")
    page.wait_for_url(site.url + "/modules")
    assert "rolled back to v1" in page.inner_text(".flash") and site.registry.current("helpdesk") == 1
    shot(page, "rolled-back")
    actions = [a["action"] for a in site.store.audit("helpdesk")]
    assert "promote" in actions and "rollback" in actions


def test_an_uploaded_csv_with_one_bad_row_shows_that_rows_error(page, site: Site, tmp_path) -> None:
    lines = HELPDESK.read_text().splitlines()
    bad = tmp_path / "tickets.csv"
    bad.write_text("\n".join([lines[0], *lines[1:6], '"",billing', *lines[6:40]]) + "\n")
    sign_in(page, site, site.admin_key, "/data")
    page.set_input_files("#upload-file", str(bad))
    page.wait_for_url(re.compile(r".*/data/map/.*"))
    errors = page.locator("[data-testid=row-errors] li")
    assert errors.count() == 1
    assert errors.first.get_attribute("data-line") == "7"
    assert "empty text at tickets.csv:7" in errors.first.inner_text()
    assert page.locator("table.preview tr.bad").count() == 1
    shot(page, "upload-row-error")


def test_train_nano_from_the_page_and_watch_progress_reach_100(page, site: Site, tmp_path) -> None:
    data = tmp_path / "orders.csv"
    data.write_text(HELPDESK.read_text())
    sign_in(page, site, site.admin_key, "/data")
    page.set_input_files("#upload-file", str(data))
    page.wait_for_url(re.compile(r".*/data/map/.*"))
    page.fill("input[name=module]", "fromweb")
    page.click("[data-testid=train]")
    page.wait_for_url(re.compile(r".*/data/jobs/.*"))
    page.wait_for_function("document.getElementById('job-pct').textContent === '100%'", timeout=60_000)
    page.wait_for_selector("[data-testid=job-result]:not([hidden])")
    assert "fromweb v1" in page.inner_text("[data-testid=job-result]")
    assert site.registry.current("fromweb") == 1
    shot(page, "trained")


def test_a_post_without_the_csrf_token_is_refused(page, site: Site) -> None:
    sign_in(page, site, site.admin_key, "/try/helpdesk")
    no_token = page.request.post(f"{site.url}/try/helpdesk", form={"text": "where is my parcel"})
    assert no_token.status == 403 and "CSRF" in no_token.text()
    wrong = page.request.post(f"{site.url}/modules/helpdesk/rollback", form={"csrf": "forged"})
    assert wrong.status == 403
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    ok = page.request.post(f"{site.url}/try/helpdesk", form={"text": "where is my parcel", "csrf": token})
    assert ok.status == 200
    page.set_content(no_token.text())
    shot(page, "csrf-refused")


def test_a_review_key_cannot_promote(page, site: Site) -> None:
    sign_in(page, site, site.review_key, "/review")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    page.goto(f"{site.url}/modules")
    assert page.locator("[data-testid^=promote-]").count() == 0
    page.goto(f"{site.url}/modules/helpdesk/promote?version=2")
    assert "'admin' scope" in page.inner_text("[data-testid=error]")
    shot(page, "review-key-cannot-promote")
    refused = page.request.post(f"{site.url}/modules/helpdesk/promote", form={"version": "2", "csrf": token})
    assert refused.status == 403 and site.registry.current("helpdesk") == 1
    # the REST routes hold the same line: a review key cannot predict, an admin key can
    body = {"text": "where is my parcel"}
    as_reviewer = httpx.post(f"{site.url}/v1/modules/helpdesk/predict", json=body,
                             headers={"Authorization": f"Bearer {site.review_key}"})  # fmt: skip
    assert as_reviewer.status_code == 403 and "predict" in as_reviewer.json()["error"]
    as_admin = httpx.post(f"{site.url}/v1/modules/helpdesk/predict", json=body,
                          headers={"Authorization": f"Bearer {site.admin_key}"})  # fmt: skip
    assert as_admin.status_code == 200


@pytest.mark.parametrize("width", [1280, 390], ids=["1280px", "390px"])
def test_every_page_fits_the_screen_without_sideways_scrolling(page, site: Site, width: int) -> None:
    sign_in(page, site, site.admin_key)
    for path in ("/modules", "/try/helpdesk", "/review", "/data", "/activity", "/modules/helpdesk/promote?version=2"):
        page.goto(site.url + path)
        assert page.locator("main h1").count() == 1, path
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"
        shot(page, f"page{path.replace('/', '-').replace('?', '-')}-{width}")
