"""The store on PostgreSQL (a real server, tests/pgserver.py) behaves as on SQLite; review claims never collide."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from microgpt.errors import ConfigError, DataError
from microgpt.store.db import Store, StoreError, store_location
from microgpt.store.dialect import pg_migration, pg_query, redact
from microgpt.store.migrations import MIGRATIONS

pytestmark = pytest.mark.scale


def test_store_url_selects_postgresql_and_sqlite_stays_the_default(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv("MICROGPT_HOME", str(tmp_path))
    monkeypatch.delenv("MICROGPT_STORE_URL", raising=False)
    assert store_location() == tmp_path / "microgpt.db" and Store().dialect.name == "sqlite"
    url = postgres_server.new_database()
    monkeypatch.setenv("MICROGPT_STORE_URL", url)
    store = Store()
    assert store.dialect.name == "postgresql" and store.path is None
    assert store.schema_version() == len(MIGRATIONS)
    store.add_feedback("router", "billing", text="charged twice")
    assert [r["text"] for r in Store(url).feedback("router")] == ["charged twice"]
    assert not (tmp_path / "microgpt.db").exists() or Store(tmp_path / "microgpt.db").feedback("router") is not None


def test_bad_store_urls_name_the_fix(postgres_server):
    with pytest.raises(StoreError, match="cannot connect") as err:
        Store(f"postgresql://microgpt:s3cret@127.0.0.1:{postgres_server.port}/no_such_db")
    assert "MICROGPT_STORE_URL" in err.value.hint and "s3cret" not in err.value.message
    with pytest.raises(ConfigError, match="unsupported store URL") as err:
        Store("mysql://u:p@h/db")
    assert "postgresql://" in err.value.hint
    assert redact("postgresql://u:pw@h:5/d") == "postgresql://u:***@h:5/d"


def test_a_newer_postgresql_schema_is_refused(postgres_server):
    url = postgres_server.new_database()
    store = Store(url)
    store.connect().execute("UPDATE microgpt_schema SET version = ?", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="schema version") as err:
        Store(url)
    assert "upgrade" in err.value.hint


def test_concurrent_first_opens_migrate_once(postgres_server):
    url = postgres_server.new_database()
    with ThreadPoolExecutor(6) as pool:
        stores = list(pool.map(lambda _: Store(url), range(6)))
    assert {s.schema_version() for s in stores} == {len(MIGRATIONS)}
    rows = stores[0].connect().execute("SELECT COUNT(*) FROM microgpt_schema").fetchone()
    assert rows[0] == 1


def test_concurrent_feedback_writers_on_postgresql_lose_and_duplicate_nothing(postgres_server):
    url = postgres_server.new_database()
    store = Store(url)

    def write(w: int) -> list[int]:
        return [store.add_feedback("router", "billing", text=f"w{w} n{i}") for i in range(50)]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for batch in pool.map(write, range(8)) for i in batch]
    texts = [r["text"] for r in Store(url).feedback("router")]
    assert len(ids) == len(set(ids)) == 400
    assert sorted(texts) == sorted(f"w{w} n{i}" for w in range(8) for i in range(50))


def test_nul_in_a_text_is_a_clear_error_on_postgresql(postgres_server):
    store = Store(postgres_server.new_database())
    with pytest.raises(DataError, match="NUL") as err:
        store.add_feedback("router", "billing", text="a\x00b")
    assert "remove" in err.value.hint
    assert store.add_feedback("router", "billing", text="still works")  # the connection is fine afterwards


def test_claims_never_hand_out_one_item_twice(store_at):
    store = Store(store_at)
    ids = {store.enqueue_review("router", f"text {i}", confidence=i / 100, reason="low_confidence") for i in range(40)}
    got: list[str] = []
    lock = threading.Lock()

    def reviewer(name: str) -> None:
        mine = Store(store_at)  # each reviewer its own connection, as on separate replicas
        while (item := mine.claim_review("router", by=name)) is not None:
            with lock:
                got.append(item["id"])

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(got) == sorted(ids)  # every item claimed, none twice


def test_a_claim_takes_the_least_sure_first_and_lapses(store_at):
    store = Store(store_at)
    sure = store.enqueue_review("router", "sure", confidence=0.6, reason="low_confidence")
    unsure = store.enqueue_review("router", "unsure", confidence=0.1, reason="low_confidence")
    unknown = store.enqueue_review("router", "no confidence", reason="teacher_unknown")  # NULL first, as SQLite sorts
    first = store.claim_review("router", by="ann", lease_s=0.3)
    assert first["id"] == unknown and first["claimed_by"] == "ann"
    assert store.claim_review("router", by="bob")["id"] == unsure
    store.resolve_review(unsure, "billing", by="bob")
    assert store.claim_review("router", by="bob")["id"] == sure
    time.sleep(0.4)  # ann's claim lapsed: the item comes back
    assert store.claim_review("router", by="cy")["id"] == unknown
    assert store.claim_review("router", by="cy") is None
    with pytest.raises(DataError, match="positive"):
        store.claim_review(by="x", lease_s=0)


def test_the_translation_keeps_sqlite_meaning():
    assert pg_query("SELECT * FROM t WHERE a = ? AND b LIKE '%x' ORDER BY confidence, created_at") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '%%x' ORDER BY confidence NULLS FIRST, created_at"
    )
    ddl = pg_migration(MIGRATIONS[0])
    assert "AUTOINCREMENT" not in ddl and "REAL" not in ddl.replace("DOUBLE PRECISION", "")
    assert "CREATE TABLE predictions (rowid BIGINT GENERATED ALWAYS AS IDENTITY" in ddl
    assert "CREATE TABLE feedback (rowid" not in ddl  # an integer key is SQLite's rowid already
