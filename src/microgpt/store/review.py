"""The review queue (texts a person should label: the model was unsure, the input unlike training, the fallback
failed) and the fallback model's answers. Both become training data through `Store.export_jsonl`.

`ReviewQueue` is a part of `Store` (store/db.py), which gives it `connect()`.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

from microgpt.data.digests import sha256_text
from microgpt.errors import DataError, StoreError
from microgpt.store.dialect import Dialect
from microgpt.store.registry import utc_now

REVIEW_STATUSES = ("pending", "resolved", "skipped")
# What a review item or teacher label keeps instead of the text when the store keeps only hashes (--hash-texts).
HASHED_PREFIX = "sha256:"


def _kept(store: object, text: str) -> str:
    if getattr(store, "keep_texts", True):
        return text
    return HASHED_PREFIX + sha256_text(text)


class ReviewNotFoundError(StoreError, LookupError):
    """No review item has this id."""


class ReviewConflictError(StoreError):
    """The review item is not in a state that allows this (e.g. resolving one already resolved)."""


class ReviewQueue:
    """Review-queue and teacher-label methods of `Store`."""

    dialect: Dialect  # provided by Store, with connect(), transaction() and insert()

    def connect(self) -> Any:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def insert(self, conn: Any, sql: str, args: tuple[Any, ...]) -> int:
        raise NotImplementedError

    # ---- review queue --------------------------------------------------------------------------------------
    def enqueue_review(
        self,
        module: str,
        text: str,
        *,
        version: int | None = None,
        prediction: Any = None,
        confidence: float | None = None,
        reason: str,
    ) -> str:
        """Queue a text for a person (model unsure, input unlike training, fallback failed); returns the item id.

        `reason` is a short tag: 'low_confidence', 'unknown_input', 'teacher_unknown', 'fallback_failed: timeout', ...
        """
        if not isinstance(text, str) or not text.strip():
            raise DataError("a review item needs its text", hint="queue the text the model was asked about")
        if not reason:
            raise DataError("a review item needs a reason", hint="e.g. reason='low_confidence'")
        item_id = uuid.uuid4().hex
        self.connect().execute(
            "INSERT INTO review_queue (id, module, version, text, prediction, confidence, reason, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            (
                item_id, module, version, _kept(self, text),
                None if prediction is None else json.dumps(prediction, ensure_ascii=False),
                confidence, reason, utc_now(),
            ),
        )  # fmt: skip
        return item_id

    def review_item(self, item_id: str) -> dict[str, Any] | None:
        row = self.connect().execute("SELECT * FROM review_queue WHERE id = ?", (item_id,)).fetchone()
        return _review_dict(row) if row else None

    def review_items(
        self, module: str | None = None, status: str | None = "pending", limit: int | None = 50
    ) -> list[dict[str, Any]]:
        """Review items, oldest first; `status` None lists every state, `limit` None lists all."""
        if status is not None and status not in REVIEW_STATUSES:
            raise DataError(f"unknown review status {status!r}", hint=f"use one of {', '.join(REVIEW_STATUSES)}")
        where, args = [], []
        if module is not None:
            where.append("module = ?")
            args.append(module)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM review_queue" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at, rowid" + (f" LIMIT {int(limit)}" if limit is not None else "")
        return [_review_dict(row) for row in self.connect().execute(sql, args)]

    def next_review(self, module: str | None = None, offset: int = 0) -> dict[str, Any] | None:
        """The pending item a person should look at next: the lowest confidence first (the model's least sure).

        `offset` steps past that many (a reviewer's "later" without changing the item's state).
        """
        where, args = ["status = 'pending'"], []
        if module is not None:
            where.append("module = ?")
            args.append(module)
        sql = f"SELECT * FROM review_queue WHERE {' AND '.join(where)} ORDER BY confidence, created_at LIMIT 1 OFFSET ?"
        row = self.connect().execute(sql, [*args, max(0, int(offset))]).fetchone()
        return _review_dict(row) if row else None

    def claim_review(self, module: str | None = None, by: str = "cli", lease_s: float = 300.0) -> dict[str, Any] | None:
        """Take the next pending item (lowest confidence first) for `by` for `lease_s` seconds; None when none is free.

        Two reviewers claiming at once (from any process or server replica) never get the same item: the row is
        locked while it is claimed (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so the other takes the next one; SQLite:
        one writer at a time). A claim that lapses puts the item back; resolving or skipping it ends the claim.
        """
        if lease_s <= 0:
            raise DataError(f"a claim lasts a positive number of seconds, got {lease_s}", hint="e.g. lease_s=300")
        now = time.time()
        where, args = ["status = 'pending'", "(claimed_until IS NULL OR claimed_until <= ?)"], [_iso(now)]
        if module is not None:
            where.append("module = ?")
            args.append(module)
        sql = f"SELECT id FROM review_queue WHERE {' AND '.join(where)} ORDER BY confidence, created_at LIMIT 1"
        with self.transaction() as conn:
            row = conn.execute(sql + self.dialect.skip_locked, args).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE review_queue SET claimed_by = ?, claimed_until = ? WHERE id = ?",
                (by, _iso(now + lease_s), row[0]),
            )
        return self.review_item(str(row[0]))

    def review_counts(self, module: str | None = None) -> dict[str, int]:
        """How many items are pending, resolved and skipped."""
        sql = "SELECT status, COUNT(*) FROM review_queue" + (" WHERE module = ?" if module else "") + " GROUP BY status"
        counts = dict.fromkeys(REVIEW_STATUSES, 0)
        counts.update({s: int(n) for s, n in self.connect().execute(sql, (module,) if module else ())})
        return counts

    def pending_by_module(self) -> dict[str, int]:
        """How many items wait for a person, per module."""
        sql = "SELECT module, COUNT(*) FROM review_queue WHERE status = 'pending' GROUP BY module"
        return {str(m): int(n) for m, n in self.connect().execute(sql)}

    def resolve_review(self, item_id: str, label_or_labels: str | list[str], by: str = "cli") -> None:
        """Record the correct answer for a pending (or skipped) item; it then exports as a training example.

        The answer takes the shape of the item's prediction: one label for a classifier, a list for a tagger.
        """
        target: str | list[str] = label_or_labels
        if isinstance(target, (list, tuple)):
            target = [str(x).strip() for x in target]
        if not target or not all(target if isinstance(target, list) else [target.strip()]):
            raise DataError("resolving a review item needs the correct label (or labels)", hint="e.g. billing")
        with self.transaction() as conn:
            row = self._open_review_row(conn, item_id, "resolve")
            prediction = json.loads(row["prediction"]) if row["prediction"] else None
            if isinstance(prediction, dict) and "labels" in prediction and isinstance(target, str):
                target = [target]  # a tagger's item: the answer is a list
            elif isinstance(prediction, dict) and "label" in prediction and isinstance(target, list):
                if len(target) != 1:
                    raise DataError(
                        f"review item {item_id} is from a single-label classifier; got {len(target)} labels",
                        hint="resolve it with one label",
                    )
                target = target[0]
            if isinstance(target, str):
                target = target.strip()
            conn.execute(
                "UPDATE review_queue SET status = 'resolved', answer = ?, resolved_by = ?, resolved_at = ? "
                "WHERE id = ?",
                (json.dumps(target, ensure_ascii=False), by, utc_now(), item_id),
            )

    def skip_review(self, item_id: str, by: str = "cli") -> None:
        """Take a pending item off the queue without an answer (skipping a skipped item changes nothing)."""
        with self.transaction() as conn:
            row = self._open_review_row(conn, item_id, "skip")
            if row["status"] == "pending":
                conn.execute(
                    "UPDATE review_queue SET status = 'skipped', resolved_by = ?, resolved_at = ? WHERE id = ?",
                    (by, utc_now(), item_id),
                )

    def _open_review_row(self, conn: Any, item_id: str, action: str) -> Any:
        row = conn.execute(
            "SELECT status, prediction, answer FROM review_queue WHERE id = ?" + self.dialect.for_update, (item_id,)
        ).fetchone()
        if row is None:
            raise ReviewNotFoundError(
                f"no review item with id {item_id!r}", hint="list the pending ones with `microgpt review list`"
            )
        if row["status"] == "resolved":
            raise ReviewConflictError(
                f"review item {item_id} is already resolved (answer {json.loads(row['answer'])!r}); cannot {action} it",
                hint="send a correction as feedback instead: POST /v1/modules/NAME/feedback",
            )
        return row

    # ---- teacher labels ------------------------------------------------------------------------------------
    def log_teacher(
        self,
        module: str,
        text: str,
        label: str | list[str] | None,
        teacher: str,
        raw: str | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cost_usd: float | None,
    ) -> int:
        """Record one answer of the fallback model (label None: it said unknown); returns the row id."""
        return self.insert(
            self.connect(),
            "INSERT INTO teacher_labels (module, text, label, teacher, raw, prompt_tokens, completion_tokens, "
            "cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                module, _kept(self, text), None if label is None else json.dumps(label, ensure_ascii=False), teacher,
                raw, prompt_tokens, completion_tokens, cost_usd, utc_now(),
            ),
        )  # fmt: skip

    def teacher_labels(self, module: str) -> list[dict[str, Any]]:
        rows = self.connect().execute("SELECT * FROM teacher_labels WHERE module = ? ORDER BY id", (module,))
        return [{**dict(r), "label": json.loads(r["label"]) if r["label"] is not None else None} for r in rows]

    def teacher_usage(self, module: str | None = None) -> dict[str, Any]:
        """Calls, tokens and USD spent on the teacher so far (for a module, or in all)."""
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
            "COALESCE(SUM(cost_usd), 0.0) FROM teacher_labels" + (" WHERE module = ?" if module else "")
        )
        calls, tokens_in, tokens_out, cost = self.connect().execute(sql, (module,) if module else ()).fetchone()
        return {"calls": int(calls), "tokens_in": int(tokens_in), "tokens_out": int(tokens_out),
                "cost_usd": float(cost)}  # fmt: skip


def _iso(t: float) -> str:
    """UTC to the millisecond (claims may be short); only ever compared with other `_iso` strings."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def _review_dict(row: Any) -> dict[str, Any]:
    item = dict(row)
    for key in ("prediction", "answer"):
        item[key] = json.loads(item[key]) if item[key] is not None else None
    return item
