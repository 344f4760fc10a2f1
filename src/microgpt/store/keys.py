"""API keys (hashes only, with scopes), recorded settings (authentication on or off) and the console's audit rows.

`KeyStore` is a part of `Store` (store/db.py), which gives it `connect()`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterable
from typing import Any

from microgpt.data.digests import sha256_text
from microgpt.errors import ConfigError, StoreError
from microgpt.store.registry import utc_now

# What a key may do: call predict/feedback, work the review queue, change modules and keys.
SCOPES = ("predict", "review", "admin")


class KeyStore:
    """Key, setting and audit methods of `Store`."""

    def connect(self) -> Any:  # provided by Store, with transaction() and insert()
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def insert(self, conn: Any, sql: str, args: tuple[Any, ...]) -> int:
        raise NotImplementedError

    # ---- settings ------------------------------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        row = self.connect().execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        self.connect().execute(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, utc_now()),
        )

    # ---- API keys ------------------------------------------------------------------------------------------
    def create_key(self, name: str, scopes: Iterable[str] = SCOPES) -> str:
        """A new API key with `scopes` (any of predict, review, admin; shown once, only its sha256 is stored).
        Creating one turns authentication on."""
        chosen = check_scopes(scopes)
        key = "mgpt_" + secrets.token_urlsafe(32)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (name, prefix, key_sha256, created_at, scopes) VALUES (?, ?, ?, ?, ?)",
                (name, key[:12], sha256_text(key), utc_now(), ",".join(chosen)),
            )
            conn.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES ('auth', 'on', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = 'on', updated_at = excluded.updated_at",
                (utc_now(),),
            )
        return key

    def auth_required(self) -> bool:
        """Whether the server demands a key: on once any key was created, until `set_auth(False)` turns it off.

        Fail closed: revoking every key never opens the server; with auth on and no active key every request is
        refused until a key is created or the operator runs `microgpt keys auth off`.
        """
        return self.setting("auth") == "on"

    def set_auth(self, on: bool) -> None:
        """Record the operator's choice: `microgpt keys auth on|off`."""
        self.set_setting("auth", "on" if on else "off")

    def check_key(self, key: str) -> bool:
        return self.key_info(key) is not None

    def key_info(self, key: str) -> dict[str, Any] | None:
        """The active key's name and scopes (a tuple), or None for an unknown or revoked key."""
        return self.key_info_by_hash(sha256_text(key))

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
        """Whether an active (not revoked) key exists — not whether auth is on: see `auth_required`."""
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
        return self.insert(
            self.connect(),
            "INSERT INTO audit (key_name, action, module, version, item_id, detail, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key_name, action, module, version, item_id,
             None if detail is None else json.dumps(detail, ensure_ascii=False), utc_now()),
        )  # fmt: skip

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
