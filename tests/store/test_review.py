"""Review queue and teacher labels in the store: migration from version 1, resolve/skip, export into training data."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import threading

import pytest

import microgpt
from microgpt.store.db import ReviewConflictError, ReviewNotFoundError, Store, StoreError
from microgpt.store.migrations import MIGRATIONS


@pytest.fixture
def store(store_at):
    """A fresh store on each backend (SQLite and PostgreSQL): the same calls, the same answers."""
    return Store(store_at)


def test_a_version_1_database_is_upgraded_with_its_rows_intact(tmp_path):
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:  # what microgpt wrote before the review queue existed
        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ("r1", "router", 1, "old text", "abc", '{"label": "billing"}', 0.4, 1.0, "2025-01-01T00:00:00Z"),
        )
        conn.execute(
            "INSERT INTO feedback (module, prediction_id, text, target, source, created_at) "
            "VALUES ('router', 'r1', 'old text', '\"refund\"', 'user', '2025-01-01T00:00:00Z')"
        )
    conn.close()
    store = Store(path)
    assert store.schema_version() == len(MIGRATIONS)
    tables = {r[0] for r in store.connect().execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"predictions", "feedback", "api_keys", "review_queue", "teacher_labels"} <= tables
    assert store.prediction("r1")["input_text"] == "old text"
    assert [(r["text"], r["target"]) for r in store.feedback("router")] == [("old text", "refund")]
    item = store.enqueue_review("router", "new text", reason="low_confidence")
    assert store.review_item(item)["status"] == "pending"
    assert Store(path).schema_version() == len(MIGRATIONS)  # reopening applies nothing twice


def test_enqueue_list_and_filter(store):
    a = store.enqueue_review("router", "charged twice?", version=3, prediction={"label": "billing"},
                             confidence=0.41, reason="low_confidence")  # fmt: skip
    b = store.enqueue_review("router", "asdfgh", reason="unknown_input")
    c = store.enqueue_review("tags", "pin and card", prediction={"labels": ["pin"]}, reason="fallback_failed: timeout")
    assert len(a) == 32 and len({a, b, c}) == 3
    items = store.review_items()
    assert [i["id"] for i in items] == [a, b, c]  # oldest first
    first = items[0]
    assert first["prediction"] == {"label": "billing"} and first["confidence"] == 0.41 and first["version"] == 3
    assert first["status"] == "pending" and first["answer"] is None and first["created_at"]
    assert [i["id"] for i in store.review_items("router")] == [a, b]
    assert [i["id"] for i in store.review_items(limit=1)] == [a]
    assert store.review_items(status="resolved") == []
    with pytest.raises(microgpt.DataError, match="unknown review status") as err:
        store.review_items(status="done")
    assert "pending" in err.value.hint
    with pytest.raises(microgpt.DataError, match="needs its text"):
        store.enqueue_review("router", "  ", reason="low_confidence")


def test_resolve_and_skip_with_clear_errors(store):
    a = store.enqueue_review("router", "money back", prediction={"label": "billing"}, reason="low_confidence")
    b = store.enqueue_review("router", "hmm", reason="unknown_input")
    store.resolve_review(a, "refund", by="ana")
    resolved = store.review_item(a)
    assert (resolved["status"], resolved["answer"], resolved["resolved_by"]) == ("resolved", "refund", "ana")
    assert resolved["resolved_at"]
    with pytest.raises(ReviewConflictError, match="already resolved") as err:
        store.resolve_review(a, "billing")
    assert err.value.hint and isinstance(err.value, StoreError)
    with pytest.raises(ReviewConflictError):
        store.skip_review(a)
    with pytest.raises(ReviewNotFoundError, match="no review item with id 'nope'") as err:
        store.resolve_review("nope", "refund")
    assert "microgpt review list" in err.value.hint
    with pytest.raises(ReviewNotFoundError):
        store.skip_review("nope")
    store.skip_review(b)
    store.skip_review(b)  # skipping twice changes nothing
    assert store.review_item(b)["status"] == "skipped"
    store.resolve_review(b, "other")  # a skipped item can still be answered later
    assert store.review_counts("router") == {"pending": 0, "resolved": 2, "skipped": 0}
    with pytest.raises(microgpt.DataError, match="needs the correct label"):
        store.resolve_review(store.enqueue_review("router", "x", reason="r"), "  ")


def test_the_answer_takes_the_shape_of_the_prediction(store):
    tagged = store.enqueue_review("tags", "new pin", prediction={"labels": ["pin"]}, reason="low_confidence")
    store.resolve_review(tagged, "card")
    assert store.review_item(tagged)["answer"] == ["card"]  # a tagger's answer is a list
    single = store.enqueue_review("router", "x y", prediction={"label": "billing"}, reason="low_confidence")
    with pytest.raises(microgpt.DataError, match="single-label classifier; got 2 labels"):
        store.resolve_review(single, ["billing", "refund"])
    store.resolve_review(single, ["refund"])
    assert store.review_item(single)["answer"] == "refund"


def test_concurrent_resolutions_of_one_item_one_wins(tmp_path):
    store = Store(tmp_path / "race.db")
    item = store.enqueue_review("router", "race", reason="low_confidence")
    results: list[str] = []

    def resolve(label: str) -> None:
        try:
            Store(tmp_path / "race.db").resolve_review(item, label)
            results.append(label)
        except ReviewConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=resolve, args=(f"label{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r != "conflict"]
    assert len(winners) == 1 and results.count("conflict") == 5
    assert store.review_item(item)["answer"] == winners[0]


def test_teacher_labels_are_logged_and_counted(store):
    store.log_teacher("router", "charged twice", "billing", "gpt-x", "Billing.", 120, 3, 0.0021)
    store.log_teacher("router", "gibberish", None, "gpt-x", "unknown", 100, 2, 0.0015)
    rows = store.teacher_labels("router")
    assert [(r["text"], r["label"], r["raw"]) for r in rows] == [
        ("charged twice", "billing", "Billing."),
        ("gibberish", None, "unknown"),
    ]
    assert store.teacher_usage("router") == {"calls": 2, "tokens_in": 220, "tokens_out": 5, "cost_usd": 0.0036}
    assert store.teacher_usage("other")["calls"] == 0


def test_feedback_review_and_teacher_labels_round_trip_into_training(store, tmp_path):
    store.add_feedback("router", "refund", text="I want my money back")
    done = store.enqueue_review("router", "my card was charged twice", prediction={"label": "refund"},
                                confidence=0.3, reason="low_confidence")  # fmt: skip
    store.resolve_review(done, "billing")
    store.enqueue_review("router", "still pending", reason="low_confidence")  # not an example until resolved
    store.skip_review(store.enqueue_review("router", "skipped one", reason="low_confidence"))
    teacher = [
        ("charged twice for one order", "billing"),
        ("please refund me", "refund"),
        ("where is my parcel", "shipping"),
        ("parcel is late", "shipping"),
        ("no idea", None),  # the teacher said unknown: not an example
        ("my card was charged twice", "refund"),  # a person already answered this text: theirs wins
        ("please refund me", "refund"),  # asked twice: one example
    ]
    for text, label in teacher:
        store.log_teacher("router", text, label, "gpt-x", label or "unknown", 100, 2, 0.001)
    out = io.StringIO()
    assert store.export_jsonl("router", out) == 6
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["text"], r["label"], r["source"]) for r in rows] == [
        ("I want my money back", "refund", "user"),
        ("my card was charged twice", "billing", "review"),
        ("charged twice for one order", "billing", "teacher"),
        ("please refund me", "refund", "teacher"),
        ("where is my parcel", "shipping", "teacher"),
        ("parcel is late", "shipping", "teacher"),
    ]
    assert rows[1]["review_id"] == done and rows[2]["teacher"] == "gpt-x"
    only_people = io.StringIO()
    assert store.export_jsonl("router", only_people, teacher=False) == 2
    path = tmp_path / "train.jsonl"
    path.write_text(out.getvalue())
    data = microgpt.read_examples(path, min_per_label=0)
    assert [e.meta.get("source") for e in data] == ["user", "review", "teacher", "teacher", "teacher", "teacher"]
    assert data[2].meta == {"source": "teacher", "teacher": "gpt-x"}
    model = microgpt.Classifier("nano").fit(data)
    assert set(model.labels_) == {"billing", "refund", "shipping"}
    assert model.predict(["where is my parcel"]) == ["shipping"]


def test_tagger_review_answers_export_as_label_lists(store, tmp_path):
    item = store.enqueue_review("tags", "new pin and a card", prediction={"labels": ["pin"]}, reason="low_confidence")
    store.resolve_review(item, ["pin", "card"])
    out = io.StringIO()
    store.export_jsonl("tags", out)
    row = json.loads(out.getvalue())
    assert row["labels"] == ["pin", "card"] and row["source"] == "review"


def test_a_version_2_database_gives_its_keys_every_scope(tmp_path):
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as conn:  # what microgpt wrote before keys had scopes
        for sql in MIGRATIONS[:2]:
            conn.executescript(sql)
        conn.execute("PRAGMA user_version = 2")
        conn.execute(
            "INSERT INTO api_keys (name, prefix, key_sha256, created_at) VALUES ('old', 'mgpt_x', ?, '2025')",
            (hashlib.sha256(b"mgpt_old").hexdigest(),),
        )
    conn.close()
    store = Store(path)
    assert store.key_info("mgpt_old") == {"name": "old", "scopes": ("predict", "review", "admin")}
    key = store.create_key("reviewer", scopes=["review"])
    assert store.key_info(key)["scopes"] == ("review",)
