"""Issue 17 in the store: auth is a recorded setting (fail closed), hash-only stores keep no text, the database is
private, an oversize correction never blocks a retrain."""

from __future__ import annotations

import microgpt
from microgpt.lifecycle.retrain import retrain
from microgpt.store.db import Store
from microgpt.store.registry import Registry
from tests.lifecycle.test_retrain import write_csv


def test_issue_17_auth_stays_on_after_the_last_key_is_revoked(tmp_path):
    store = Store(tmp_path / "s.db")
    assert not store.auth_required()  # a fresh store: nothing configured yet
    key = store.create_key("app")
    store.revoke_key("app")
    assert store.auth_required() and not store.check_key(key) and not store.any_keys()
    assert Store(tmp_path / "s.db").auth_required()  # recorded, so every process sees it
    store.set_auth(False)
    assert not store.auth_required()
    store.create_key("again")
    assert store.auth_required()


def test_issue_17_the_database_file_is_private(tmp_path):
    Store(tmp_path / "s.db")
    assert (tmp_path / "s.db").stat().st_mode & 0o777 == 0o600


def test_issue_17_a_hash_only_store_keeps_no_text(tmp_path):
    store = Store(tmp_path / "s.db", keep_texts=False)
    store.add_feedback("router", "billing", text="secret invoice 4512")
    item = store.enqueue_review("router", "secret invoice 4512", reason="low_confidence")
    store.log_teacher("router", "secret invoice 4512", "billing", "stub", None, 1, 1, 0.0)
    assert [r["text"] for r in store.feedback("router")] == [None]
    assert next(r["text_sha256"] for r in store.feedback("router"))
    assert store.review_item(item)["text"].startswith("sha256:")
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
    assert b"secret invoice" not in raw


def test_issue_17_an_oversize_correction_is_skipped_not_fatal(tmp_path, helpdesk_split):
    train, test = helpdesk_split
    base_csv, eval_csv = write_csv(tmp_path / "base.csv", train), write_csv(tmp_path / "eval.csv", test)
    registry, store = Registry(tmp_path / "home"), Store(tmp_path / "home" / "microgpt.db")
    microgpt.Classifier("nano").fit(train).save(tmp_path / "v1")
    registry.add(tmp_path / "v1", "router")
    store.add_feedback("router", "billing", text="charged twice " * 150_000)  # 2.1 MB, over the 20,000 limit
    store.add_feedback("router", "refund", text="please send my money back")
    result = retrain("router", base_csv, eval_data=eval_csv, registry=registry, store=store)
    assert result.n_skipped == 1 and result.n_corrections == 1 and "skipped" in result.why
