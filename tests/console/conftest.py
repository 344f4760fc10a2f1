"""Console fixtures: a MICROGPT_HOME with two nano versions of a helpdesk router, a review queue, an admin and a
review-only key; a real uvicorn server on a loopback port; Chromium through Playwright (skipped when missing)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import microgpt
from microgpt.store.db import Store
from microgpt.store.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
HELPDESK = ROOT / "examples" / "helpdesk.csv"
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


@dataclass
class Site:
    """A running console: its URL, home folder, and the keys made for it."""

    url: str
    home: Path
    admin_key: str
    review_key: str
    review_texts: list[str]

    @property
    def store(self) -> Store:
        return Store(self.home / "microgpt.db")

    @property
    def registry(self) -> Registry:
        return Registry(self.home)


def _rows() -> list[dict[str, str]]:
    with HELPDESK.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def console_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], list[str]]:
    """helpdesk v1 (live) and v2 (trained on every row), a frozen eval set, five queued texts, keys; an invoice
    extractor and a reply drafter (all nano)."""
    home = tmp_path_factory.mktemp("console-home")
    data = microgpt.read_examples(HELPDESK)
    train, test = microgpt.train_test_split(data, test_fraction=0.25, seed=0)
    registry = Registry(home)
    microgpt.train(train, task="classify", tier="nano", out=home / "v1")
    microgpt.train(data, task="classify", tier="nano", out=home / "v2", seed=1)
    registry.add(home / "v1", "helpdesk")
    registry.add(home / "v2", "helpdesk")
    microgpt.train(ROOT / "examples" / "invoices.jsonl", task="extract", tier="nano", out=home / "ex")
    registry.add(home / "ex", "invoices")
    microgpt.train(ROOT / "examples" / "replies.jsonl", task="reply", tier="nano", out=home / "rp")
    registry.add(home / "rp", "replies")
    with (registry.root / "helpdesk" / "eval.jsonl").open("w") as f:
        for e in list(test)[:60]:
            f.write(json.dumps({"text": e.text, "label": e.label}) + "\n")
    store = Store(home / "microgpt.db")
    texts = [r["text"] for r in _rows()[:5]]
    for i, text in enumerate(texts):
        store.enqueue_review("helpdesk", text, version=1, prediction={"label": "shipping"}, confidence=0.2 + i / 10,
                             reason="low_confidence")  # fmt: skip
    keys = {"admin": store.create_key("ops-admin"), "review": store.create_key("night-reviewer", scopes=["review"])}
    return home, keys, texts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def site(console_home: tuple[Path, dict[str, str], list[str]]) -> Iterator[Site]:
    """`python -m uvicorn microgpt.serving.app:app_factory` on 127.0.0.1, stopped at the end of the session."""
    home, keys, texts = console_home
    port = _free_port()
    env = {**os.environ, "MICROGPT_HOME": str(home), "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "microgpt.serving.app:app_factory", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # 30 s at most
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not become ready in 30 s")
        yield Site(url, home, keys["admin"], keys["review"], texts)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    def missing(reason: str) -> None:  # a skip on a developer's machine; a failure in CI, which installs both
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser tests must run: {reason}", pytrace=False)
        pytest.skip(reason)

    if not CHROMIUM.exists():
        missing("no /usr/bin/chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(params=[1280, 390], ids=["1280px", "390px"])
def width(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser context (no cookies) at 1280 px, or the test's `width` when it asks for one."""
    width = request.getfixturevalue("width") if "width" in request.fixturenames else 1280
    context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def shot(page: object, name: str) -> Path:
    """Save a full-page screenshot for people to look at (tests/console/screenshots/, not committed)."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def sign_in(page: object, site: Site, key: str, then: str = "/modules") -> None:
    page.goto(f"{site.url}{then}")  # type: ignore[attr-defined]
    page.fill("#key", key)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{site.url}{then}")  # type: ignore[attr-defined]
