"""The SQLite store (WAL mode): prediction log, feedback, review queue and teacher labels (all of which become
training data), and hashed API keys.

One `Store` per process; each thread gets its own connection, so a multi-threaded server can log concurrently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from microgpt.errors import ConfigError, DataError, StoreError
from microgpt.store.migrations import MIGRATIONS
from microgpt.store.registry import default_home, utc_now
from microgpt.store.review import REVIEW_STATUSES, ReviewConflictError, ReviewNotFoundError, ReviewQueue

__all__ = [
    "REVIEW_STATUSES", "SCOPES", "PredictionLog", "ReviewConflictError", "ReviewNotFoundError", "Store", "StoreError",
    "check_scopes", "prediction_row",
]  # fmt: skip

log = logging.getLogger(__name__)

# What a key may do: call predict/feedback, work the review queue, change modules and keys.
SCOPES = ("predict", "review", "admin")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Store(ReviewQueue):
    """`Store()` opens `$MICROGPT_HOME/microgpt.db` (created and migrated on first use)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_home() / "microgpt.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.migrate()

    # ---- connection and schema -----------------------------------------------------------------------------
    def connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; safe with WAL
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def schema_version(self) -> int:
        return int(self.connect().execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this database has not seen yet, each in its own transaction."""
        conn = self.connect()
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {current}; this microgpt knows {len(MIGRATIONS)}",
                hint="upgrade microgpt (pip install -U microgpt) — never downgrade a store in place",
            )
        for number, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version() >= number:  # another process migrated meanwhile
                    conn.execute("ROLLBACK")
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ---- predictions ---------------------------------------------------------------------------------------
    def log_prediction(
        self,
        module: str,
        version: int | None,
        text: str,
        output: Any,
        confidence: float | None,
        latency_ms: float | None,
        keep_text: bool = True,
    ) -> str:
        """Record one prediction; returns its request id. With `keep_text=False` only the text's hash is kept."""
        row = prediction_row(module, version, text, output, confidence, latency_ms, keep_text)
        self.insert_predictions([row])
        return str(row[0])

    def insert_predictions(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows made by `prediction_row` in one transaction."""
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def prediction(self, request_id: str) -> dict[str, Any] | None:
        row = self.connect().execute("SELECT * FROM predictions WHERE id = ?", (request_id,)).fetchone()
        return dict(row) if row else None

    # ---- feedback ------------------------------------------------------------------------------------------
    def add_feedback(
        self,
        module: str,
        target: str | list[str],
        prediction_id: str | None = None,
        text: str | None = None,
        source: str = "user",
    ) -> int:
        """Record the correct answer for a logged prediction (by id) or for a new text; returns the row id."""
        if prediction_id is not None:
            logged = self.prediction(prediction_id)
            if logged is None:
                raise StoreError(f"no logged prediction with id {prediction_id!r}", hint="send the text instead")
            if logged["module"] != module:
                raise StoreError(
                    f"prediction {prediction_id} was made by module {logged['module']!r}, not {module!r}",
                    hint="send the feedback to the module that made the prediction",
                )
            text = text if text is not None else logged["input_text"]
        if text is None or not str(text).strip():
            raise DataError(
                "feedback needs a text (this prediction was logged without its text)",
                hint="include the text with the feedback",
            )
        if not target or (isinstance(target, list) and not all(isinstance(x, str) and x for x in target)):
            raise DataError("feedback needs the correct label (or list of labels)", hint='e.g. {"label": "billing"}')
        cur = self.connect().execute(
            "INSERT INTO feedback (module, prediction_id, text, target, source, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (module, prediction_id, text, json.dumps(target, ensure_ascii=False), source, utc_now()),
        )
        return int(cur.lastrowid or 0)

    def feedback(self, module: str) -> Iterator[dict[str, Any]]:
        rows = self.connect().execute("SELECT * FROM feedback WHERE module = ? ORDER BY id", (module,))
        for row in rows:
            yield {**dict(row), "target": json.loads(row["target"])}

    def export_jsonl(self, module: str, out: TextIO, review: bool = True, teacher: bool = True) -> int:
        """Write the module's training JSONL (`text` + `label` or `labels`, and `source`); returns the row count.

        Rows come from user feedback, then resolved review items (source 'review'), then teacher labels (source
        'teacher', only those with a label, the latest per text, and none for a text a person has labelled).
        """
        n = 0
        human: set[str] = set()

        def write(text: str, target: Any, **extra: Any) -> None:
            nonlocal n
            key = "labels" if isinstance(target, list) else "label"
            out.write(json.dumps({"text": text, key: target, **extra}, ensure_ascii=False) + "\n")
            n += 1

        for row in self.feedback(module):
            write(row["text"], row["target"], source=row["source"], feedback_id=row["id"])
            human.add(row["text"])
        if review:
            for item in self.review_items(module, status="resolved", limit=None):
                write(item["text"], item["answer"], source="review", review_id=item["id"])
                human.add(item["text"])
        if teacher:
            latest: dict[str, dict[str, Any]] = {}
            for row in self.teacher_labels(module):
                if row["label"] is not None and row["text"] not in human:
                    latest[row["text"]] = row
            for row in latest.values():
                write(row["text"], row["label"], source="teacher", teacher=row["teacher"], teacher_label_id=row["id"])
        return n

    # ---- API keys ------------------------------------------------------------------------------------------
    def create_key(self, name: str, scopes: Iterable[str] = SCOPES) -> str:
        """A new API key with `scopes` (any of predict, review, admin; shown once, only its sha256 is stored)."""
        chosen = check_scopes(scopes)
        key = "mgpt_" + secrets.token_urlsafe(32)
        self.connect().execute(
            "INSERT INTO api_keys (name, prefix, key_sha256, created_at, scopes) VALUES (?, ?, ?, ?, ?)",
            (name, key[:12], _sha256(key), utc_now(), ",".join(chosen)),
        )
        return key

    def check_key(self, key: str) -> bool:
        return self.key_info(key) is not None

    def key_info(self, key: str) -> dict[str, Any] | None:
        """The active key's name and scopes (a tuple), or None for an unknown or revoked key."""
        return self.key_info_by_hash(_sha256(key))

    def key_info_by_hash(self, key_sha256: str) -> dict[str, Any] | None:
        """`key_info` by the key's sha256 (what a console session keeps instead of the key)."""
        row = (
            self.connect()
            .execute("SELECT name, scopes FROM api_keys WHERE key_sha256 = ? AND revoked_at IS NULL", (key_sha256,))
            .fetchone()
        )
        if row is None:
            return None
        return {"name": row["name"], "scopes": tuple(s for s in row["scopes"].split(",") if s)}

    def any_keys(self) -> bool:
        return self.connect().execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1").fetchone() is not None

    def revoke_key(self, name_or_prefix: str) -> int:
        cur = self.connect().execute(
            "UPDATE api_keys SET revoked_at = ? WHERE revoked_at IS NULL AND (name = ? OR prefix = ?)",
            (utc_now(), name_or_prefix, name_or_prefix),
        )
        if cur.rowcount == 0:
            raise StoreError(f"no active API key named {name_or_prefix!r}", hint="list them with `microgpt keys list`")
        return int(cur.rowcount)

    def keys(self) -> list[dict[str, Any]]:
        rows = self.connect().execute("SELECT name, prefix, scopes, created_at, revoked_at FROM api_keys ORDER BY id")
        return [dict(r) for r in rows]

    # ---- audit ---------------------------------------------------------------------------------------------
    def add_audit(
        self,
        key_name: str,
        action: str,
        module: str,
        version: int | None = None,
        item_id: str | None = None,
        detail: Any = None,
    ) -> int:
        """Record who decided what about which module@version (a review answer, a promote); returns the row id."""
        cur = self.connect().execute(
            "INSERT INTO audit (key_name, action, module, version, item_id, detail, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key_name, action, module, version, item_id,
             None if detail is None else json.dumps(detail, ensure_ascii=False), utc_now()),
        )  # fmt: skip
        return int(cur.lastrowid or 0)

    def audit(self, module: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit rows, newest first."""
        sql = "SELECT * FROM audit" + (" WHERE module = ?" if module else "") + " ORDER BY id DESC LIMIT ?"
        rows = self.connect().execute(sql, (module, limit) if module else (limit,))
        return [{**dict(r), "detail": json.loads(r["detail"]) if r["detail"] else None} for r in rows]


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes in their canonical order; an unknown one is an error naming the valid ones."""
    given = [scopes] if isinstance(scopes, str) else list(scopes)
    unknown = [s for s in given if s not in SCOPES]
    if unknown:
        raise ConfigError(f"unknown scope(s) {unknown}", hint=f"use any of {', '.join(SCOPES)}")
    if not given:
        raise ConfigError("a key needs at least one scope", hint=f"use any of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in given)


def prediction_row(
    module: str,
    version: int | None,
    text: str,
    output: Any,
    confidence: float | None,
    latency_ms: float | None,
    keep_text: bool = True,
) -> tuple[Any, ...]:
    """One `predictions` row, its first column a new request id."""
    return (
        uuid.uuid4().hex, module, version, text if keep_text else None, _sha256(text),
        json.dumps(output, ensure_ascii=False), confidence, latency_ms, utc_now(),
    )  # fmt: skip


class PredictionLog:
    """Batches prediction rows and writes them from a background thread (one transaction per batch).

    A server request then costs a list append instead of a SQLite commit (measured: 1,885 → ~2,290 req/s for nano).
    `flush()` writes everything queued so far — call it before reading a prediction back (feedback by id);
    `close()` flushes and stops the thread. Rows not yet written when the process is killed are lost (at most
    `interval` seconds' worth); a clean shutdown loses none.
    """

    def __init__(self, store: Store, interval: float = 0.05, max_rows: int = 500) -> None:
        self.store = store
        self.interval = interval
        self.max_rows = max_rows
        self._rows: list[tuple[Any, ...]] = []
        self._cv = threading.Condition()
        self._writing = threading.Lock()  # held while a batch is being written
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="microgpt-prediction-log", daemon=True)
        self._thread.start()

    def add(self, row: tuple[Any, ...]) -> None:
        with self._cv:
            self._rows.append(row)
            if len(self._rows) >= self.max_rows:
                self._cv.notify()

    def flush(self) -> None:
        with self._writing:
            with self._cv:
                rows, self._rows = self._rows, []
            if rows:
                self.store.insert_predictions(rows)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._closed:
                    self._cv.wait(timeout=self.interval)
                closed = self._closed
            try:
                self.flush()
            except Exception:  # keep serving; the rows stay lost only if the database itself is broken
                log.exception("could not write the prediction log")
            if closed:
                return
