"""The SQLite store: migrations, prediction log, feedback → training data, hashed keys, concurrent writers."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import microgpt
from microgpt.store.db import Store, StoreError
from microgpt.store.migrations import MIGRATIONS


@pytest.fixture
def store(store_at):
    """A fresh store on each backend (SQLite and PostgreSQL): the same calls, the same answers."""
    return Store(store_at)


def test_empty_database_is_migrated_in_wal_mode(tmp_path):
    store = Store(tmp_path / "new.db")
    assert store.schema_version() == len(MIGRATIONS)
    assert store.connect().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in store.connect().execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"predictions", "feedback", "api_keys"} <= tables


def test_reopening_keeps_data_and_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    Store(path).add_feedback("router", "billing", text="charged twice")
    again = Store(path)  # an existing database at the current version: nothing re-applied, nothing lost
    assert [r["text"] for r in again.feedback("router")] == ["charged twice"]
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="schema version") as err:
        Store(path)
    assert "upgrade" in err.value.hint


def test_prediction_log_keeps_text_or_only_its_hash(store):
    kept = store.log_prediction("router", 3, "where is my parcel", {"label": "shipping"}, 0.91, 0.2)
    hashed = store.log_prediction(
        "router", 3, "my card number is 4111", {"label": "billing"}, 0.8, 0.2, keep_text=False
    )
    assert store.prediction(kept)["input_text"] == "where is my parcel"
    row = store.prediction(hashed)
    assert row["input_text"] is None and len(row["input_sha256"]) == 64
    assert json.loads(row["output"]) == {"label": "billing"}


def test_feedback_by_prediction_id_becomes_training_data(store, tmp_path):
    rid = store.log_prediction("router", 1, "I want my money back", {"label": "billing"}, 0.55, 0.1)
    store.add_feedback("router", "refund", prediction_id=rid)
    store.add_feedback("router", "refund", text="refund me please")
    store.add_feedback("tagger", ["pin", "new"], text="new pin please")
    out = io.StringIO()
    assert store.export_jsonl("router", out) == 2
    path = tmp_path / "feedback.jsonl"
    path.write_text(out.getvalue())
    data = microgpt.read_examples(path, min_per_label=0)
    assert data.texts == ["I want my money back", "refund me please"] and data.labels == ["refund", "refund"]
    out = io.StringIO()
    store.export_jsonl("tagger", out)
    assert json.loads(out.getvalue())["labels"] == ["pin", "new"]


def test_feedback_errors_name_the_fix(store):
    with pytest.raises(StoreError, match="no logged prediction"):
        store.add_feedback("router", "refund", prediction_id="nope")
    rid = store.log_prediction("router", 1, "secret", {"label": "x"}, 0.5, 0.1, keep_text=False)
    with pytest.raises(microgpt.DataError, match="needs a text"):
        store.add_feedback("router", "refund", prediction_id=rid)
    with pytest.raises(StoreError, match="made by module 'router'"):
        store.add_feedback("tagger", "refund", prediction_id=rid, text="secret")
    with pytest.raises(microgpt.DataError, match="correct label"):
        store.add_feedback("router", "", text="hello")


def test_api_keys_are_hashed_checked_and_revoked(store):
    assert not store.any_keys()
    key = store.create_key("frontend")
    assert store.check_key(key) and not store.check_key(key + "x")
    raw = store.connect().execute("SELECT * FROM api_keys").fetchone()
    assert key not in [str(v) for v in tuple(raw)]
    assert store.revoke_key("frontend") == 1
    assert not store.check_key(key) and not store.any_keys()
    with pytest.raises(StoreError, match="no active API key"):
        store.revoke_key("frontend")


def test_concurrent_feedback_writers_lose_and_duplicate_nothing(tmp_path):
    store = Store(tmp_path / "c.db")
    n_threads, per_thread = 8, 250

    def writer(t: int) -> None:
        for i in range(per_thread):
            store.add_feedback("router", "billing", text=f"thread {t} item {i}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    texts = [r["text"] for r in Store(tmp_path / "c.db").feedback("router")]
    assert len(texts) == n_threads * per_thread == len(set(texts))


def test_keys_cli(tmp_path):
    env = {**os.environ, "MICROGPT_HOME": str(tmp_path)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "microgpt", "keys", *args], capture_output=True, text=True, env=env
        )

    key = cli("create", "ci").stdout.strip()
    assert key.startswith("mgpt_") and Store(tmp_path / "microgpt.db").check_key(key)
    assert "active" in cli("list").stdout and key not in cli("list").stdout
    assert cli("revoke", "ci").returncode == 0
    proc = cli("revoke", "ci")
    assert proc.returncode == 1 and "hint:" in proc.stderr


def test_batched_prediction_log_writes_everything_and_flush_makes_rows_visible(tmp_path):
    from microgpt.store.db import PredictionLog, prediction_row

    store = Store(tmp_path / "log.db")
    plog = PredictionLog(store, interval=10.0, max_rows=10_000)  # the thread will not write on its own here
    rows = [prediction_row("router", 1, f"text {i}", {"label": "x"}, 0.9, 0.1) for i in range(300)]
    for row in rows:
        plog.add(row)
    assert store.prediction(rows[0][0]) is None  # queued, not written yet
    plog.flush()
    assert store.prediction(rows[299][0])["input_text"] == "text 299"
    plog.add(prediction_row("router", 1, "last", {"label": "x"}, 0.9, 0.1))
    plog.close()  # a clean shutdown writes what is queued
    count = store.connect().execute("SELECT COUNT(*) FROM predictions").fetchone()[0]
    assert count == 301


def test_batched_log_writes_in_the_background(tmp_path):
    from microgpt.store.db import PredictionLog, prediction_row

    store = Store(tmp_path / "bg.db")
    plog = PredictionLog(store, interval=0.02)
    row = prediction_row("router", 1, "hello", {"label": "x"}, 0.9, 0.1)
    plog.add(row)
    deadline = time.monotonic() + 5
    while store.prediction(row[0]) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.prediction(row[0]) is not None
    plog.close()
