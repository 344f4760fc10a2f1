"""The SQLite store (WAL mode): prediction log, feedback, review queue and teacher labels (all of which become
training data), and hashed API keys.

One `Store` per process; each thread gets its own connection, so a multi-threaded server can log concurrently.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from microgpt.data.digests import sha256_text
from microgpt.errors import DataError, StoreError
from microgpt.store.dialect import SQLite, dialect_for
from microgpt.store.keys import SCOPES, KeyStore, check_scopes
from microgpt.store.migrations import MIGRATIONS
from microgpt.store.registry import default_home, utc_now
from microgpt.store.review import (
    HASHED_PREFIX,
    REVIEW_STATUSES,
    ReviewConflictError,
    ReviewNotFoundError,
    ReviewQueue,
)

__all__ = [
    "REVIEW_STATUSES", "SCOPES", "PredictionLog", "PredictionNotFoundError", "ReviewConflictError",
    "ReviewNotFoundError", "Store", "StoreError", "check_scopes", "prediction_row", "store_location", "text_sha256",
]  # fmt: skip

log = logging.getLogger(__name__)


text_sha256 = sha256_text  # the name the server and the tests use


class PredictionNotFoundError(StoreError, LookupError):
    """No logged prediction has this id (in this store)."""


def store_location(home: str | Path | None = None) -> str | Path:
    """Where the store is: `MICROGPT_STORE_URL` (postgresql://...) when set, else `home/microgpt.db` (SQLite;
    `home` defaults to `$MICROGPT_HOME`)."""
    url = os.environ.get("MICROGPT_STORE_URL", "").strip()
    if url:
        return url
    return (Path(home) if home is not None else default_home()) / "microgpt.db"


class Store(ReviewQueue, KeyStore):
    """`Store()` opens the store `MICROGPT_STORE_URL` names (PostgreSQL), else `$MICROGPT_HOME/microgpt.db` (SQLite,
    created 0600); either is migrated on first use. `Store(path_or_url)` opens that one.

    `keep_texts=False` keeps no plaintext in feedback, the review queue or teacher labels either (only sha256
    digests), matching a server started with `--hash-texts`.
    """

    def __init__(self, path: str | Path | None = None, keep_texts: bool = True) -> None:
        location = path if path is not None else store_location()
        self.dialect = dialect_for(location)
        self.path = self.dialect.path if isinstance(self.dialect, SQLite) else None
        self.keep_texts = keep_texts
        self._local = threading.local()
        self.migrate()

    # ---- connection and schema -----------------------------------------------------------------------------
    def connect(self) -> Any:
        """This thread's connection (sqlite3, or psycopg behind the same interface), opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None or not getattr(conn, "usable", True):  # a PostgreSQL connection the server dropped
            conn = self.dialect.connect()
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """One transaction on this thread's connection: committed on success, rolled back on any error."""
        conn = self.connect()
        conn.execute(self.dialect.begin)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def insert(self, conn: Any, sql: str, args: tuple[Any, ...]) -> int:
        """Run an INSERT into a table with an integer `id`; returns the new row's id (on either database)."""
        return int(conn.execute(sql + " RETURNING id", args).fetchone()[0])

    def schema_version(self) -> int:
        return self.dialect.schema_version(self.connect())

    def describe(self) -> str:
        """Where the store is (a path, or the URL without its password)."""
        return self.dialect.describe()

    def migrate(self) -> None:
        """Apply the migrations this database has not seen yet, each in its own transaction."""
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.describe()} has schema version {current}; this microgpt knows {len(MIGRATIONS)}",
                hint="upgrade microgpt (pip install -U microgpt) — never downgrade a store in place",
            )
        for number, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction() as conn:
                self.dialect.lock_schema(conn)
                if self.dialect.schema_version(conn) >= number:  # another process migrated meanwhile
                    continue
                for statement in self.dialect.migration(sql).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                self.dialect.set_schema_version(conn, number)

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
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO predictions (id, module, version, input_text, input_sha256, output, confidence, "
                "latency_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def prediction(self, request_id: str) -> dict[str, Any] | None:
        row = self.connect().execute("SELECT * FROM predictions WHERE id = ?", (request_id,)).fetchone()
        return dict(row) if row else None

    def wait_for_prediction(self, request_id: str, timeout: float = 1.0) -> dict[str, Any] | None:
        """The logged prediction, waiting up to `timeout` s: another server process may still hold it in its
        batched log (written every 50 ms), so an id handed out by any process on this store resolves here."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.prediction(request_id)
            if row is not None or time.monotonic() >= deadline:
                return row
            time.sleep(0.02)

    # ---- feedback ------------------------------------------------------------------------------------------
    def add_feedback(
        self,
        module: str,
        target: str | list[str],
        prediction_id: str | None = None,
        text: str | None = None,
        source: str = "user",
        wait: bool = False,
    ) -> int:
        """Record the correct answer for a logged prediction (by id) or for a new text; returns the row id.

        A prediction that sits in the review queue has its review item resolved by this feedback (and exported
        once, as feedback). With `keep_texts=False` only the text's sha256 is kept.
        """
        review_id = digest = None
        hash_only = False
        if prediction_id is not None:
            logged = self.wait_for_prediction(prediction_id) if wait else self.prediction(prediction_id)
            if logged is None:
                raise PredictionNotFoundError(
                    f"no logged prediction with id {prediction_id!r}",
                    hint="send the request_id a predict answer gave, or send the text instead",
                )
            if logged["module"] != module:
                raise StoreError(
                    f"prediction {prediction_id} was made by module {logged['module']!r}, not {module!r}",
                    hint="send the feedback to the module that made the prediction",
                )
            digest = logged["input_sha256"]
            if text is None and logged["input_text"] is None and not self.keep_texts:
                text, hash_only = "", True  # logged hash-only: the feedback keeps the hash (below) and no text
            text = text if text is not None else logged["input_text"]
            try:
                review_id = json.loads(logged["output"]).get("review_id")
            except (ValueError, AttributeError):
                review_id = None
        if text is None or (not str(text).strip() and not hash_only):
            raise DataError(
                "feedback needs a text (this prediction was logged without its text)",
                hint="include the text with the feedback",
            )
        if not target or (isinstance(target, list) and not all(isinstance(x, str) and x for x in target)):
            raise DataError("feedback needs the correct label (or list of labels)", hint='e.g. {"label": "billing"}')
        digest = sha256_text(text) if text else digest
        with self.transaction() as conn:
            row_id = self.insert(
                conn,
                "INSERT INTO feedback (module, prediction_id, text, target, source, created_at, text_sha256) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    module, prediction_id, text if self.keep_texts else None, json.dumps(target, ensure_ascii=False),
                    source, utc_now(), digest,
                ),
            )  # fmt: skip
            if review_id:  # the person's answer settles the queued item too, so it is not labelled (or exported) twice
                conn.execute(
                    "UPDATE review_queue SET status = 'resolved', answer = ?, resolved_by = 'feedback', "
                    "resolved_at = ? WHERE id = ? AND status = 'pending'",
                    (json.dumps(target, ensure_ascii=False), utc_now(), review_id),
                )
        return row_id

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
            if row["text"] is None:
                continue  # kept hash-only (--hash-texts): nothing to train on
            write(row["text"], row["target"], source=row["source"], feedback_id=row["id"])
            human.add(row["text"])
        if review:
            for item in self.review_items(module, status="resolved", limit=None):
                if item["resolved_by"] == "feedback" or item["text"].startswith(HASHED_PREFIX):
                    continue  # exported above as the feedback that resolved it / kept hash-only
                write(item["text"], item["answer"], source="review", review_id=item["id"])
                human.add(item["text"])
        if teacher:
            latest: dict[str, dict[str, Any]] = {}
            for row in self.teacher_labels(module):
                if row["label"] is not None and row["text"] not in human and not row["text"].startswith(HASHED_PREFIX):
                    latest[row["text"]] = row
            for row in latest.values():
                write(row["text"], row["label"], source="teacher", teacher=row["teacher"], teacher_label_id=row["id"])
        return n


def prediction_row(
    module: str,
    version: int | None,
    text: str,
    output: Any,
    confidence: float | None,
    latency_ms: float | None,
    keep_text: bool = True,
) -> tuple[Any, ...]:
    """One `predictions` row, its first column a new request id (texts are checked for lone surrogates first)."""
    return (
        uuid.uuid4().hex, module, version, text if keep_text else None, sha256_text(text),
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
