"""The two databases the store runs on, as one thin dialect layer: SQLite (embedded, the default) and PostgreSQL
(`MICROGPT_STORE_URL=postgresql://...`, psycopg 3) for several server replicas on one store.

The store writes its SQL once, in SQLite's words; `Postgres` translates the few that differ (placeholders,
`AUTOINCREMENT`, `REAL`, `strftime`, the implicit `rowid`, NULLs sorting first) and returns rows that behave like
`sqlite3.Row` (by index, by name, `dict(row)`). Each thread has its own connection; transactions are explicit
(`Dialect.begin` ... COMMIT) on an autocommit connection, the same on both.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from microgpt.errors import ConfigError, DataError, MissingExtraError, StoreError

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


class Dialect:
    """What differs between the databases; `Store` holds one."""

    name = "?"
    begin = "BEGIN"
    for_update = ""  # appended to a SELECT that reads a row it will then change (a row lock where there are any)
    skip_locked = ""  # appended to a SELECT that claims a row: another transaction's locked rows are passed over

    def connect(self) -> Any:
        raise NotImplementedError

    def schema_version(self, conn: Any) -> int:
        raise NotImplementedError

    def set_schema_version(self, conn: Any, version: int) -> None:
        raise NotImplementedError

    def lock_schema(self, conn: Any) -> None:
        """Inside the migration's transaction: make concurrent migrators wait their turn."""

    def migration(self, sql: str) -> str:
        return sql

    def json_text(self, column: str, key: str) -> str:
        """An SQL expression: the string at `key` in the JSON object stored in `column`."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class SQLite(Dialect):
    name = "sqlite"
    begin = "BEGIN IMMEDIATE"  # take the write lock now: a read-then-write never meets a writer in between

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():  # customer texts and key hashes: readable by its owner only
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; safe with WAL
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def schema_version(self, conn: Any) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute(f"PRAGMA user_version = {int(version)}")

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def describe(self) -> str:
        return str(self.path)


class Postgres(Dialect):
    name = "postgresql"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ModuleNotFoundError as err:
            raise MissingExtraError(
                f"the store at {redact(url)} is PostgreSQL, which needs psycopg (the [postgres] extra)",
                hint="pip install 'microgpt[postgres]' (or unset MICROGPT_STORE_URL to use the embedded SQLite store)",
            ) from err
        self.url = url.replace("postgres://", "postgresql://", 1)
        self._psycopg = psycopg

    def connect(self) -> PgConnection:
        try:
            conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self._psycopg.OperationalError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise StoreError(
                f"cannot connect to the PostgreSQL store {redact(self.url)}: {first}",
                hint="check MICROGPT_STORE_URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE) and that the server "
                "is up and reachable",
            ) from None
        return PgConnection(conn)

    def schema_version(self, conn: Any) -> int:
        if conn.execute("SELECT to_regclass('microgpt_schema')").fetchone()[0] is None:
            return 0  # a new database (the table is made under the migration lock: concurrent CREATEs collide)
        row = conn.execute("SELECT version FROM microgpt_schema").fetchone()
        return int(row[0]) if row else 0

    def set_schema_version(self, conn: Any, version: int) -> None:
        conn.execute("DELETE FROM microgpt_schema")
        conn.execute("INSERT INTO microgpt_schema (version) VALUES (?)", (int(version),))

    def lock_schema(self, conn: Any) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS microgpt_schema (version INTEGER NOT NULL)")

    def migration(self, sql: str) -> str:
        return pg_migration(sql)

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def describe(self) -> str:
        return redact(self.url)


MIGRATION_LOCK = 0x6D677074  # "mgpt": the advisory lock migrators take, one at a time


def dialect_for(location: str | Path) -> Dialect:
    if is_url(location):
        return Postgres(str(location))
    if isinstance(location, str) and "://" in location:
        raise ConfigError(
            f"unsupported store URL {redact(location)}",
            hint="use postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or a file path for SQLite",
        )
    return SQLite(Path(location))


# ---- PostgreSQL: SQL translation and sqlite3-like rows ----------------------------------------------------------
_NO_ROWID = re.compile(r"CREATE TABLE (\w+) \((?![^;]*INTEGER PRIMARY KEY AUTOINCREMENT)")


def pg_migration(sql: str) -> str:
    """A migration written for SQLite, in PostgreSQL's words (same tables, columns, indexes and data)."""
    # SQLite gives every table an insertion-order `rowid` (an integer key is it), which the store orders ties by;
    # in PostgreSQL a table without an integer key gets a column of that name
    sql = _NO_ROWID.sub(r"CREATE TABLE \1 (rowid BIGINT GENERATED ALWAYS AS IDENTITY, ", sql)
    sql = sql.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)  # REAL is 4 bytes in PostgreSQL, 8 in SQLite
    return sql.replace(
        "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", """to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    )


@functools.lru_cache(maxsize=512)
def pg_query(sql: str) -> str:
    """A query written for SQLite, for psycopg: `?` → `%s` (literal `%` doubled); NULL confidences first, as in
    SQLite (PostgreSQL sorts NULLs last)."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    return re.sub(r"ORDER BY confidence\b(?! NULLS)", "ORDER BY confidence NULLS FIRST", sql)


class Row(tuple[Any, ...]):
    """A result row like `sqlite3.Row`: `row[0]`, `row["name"]`, `dict(row)`, tuple unpacking."""

    _names: tuple[str, ...]

    def __new__(cls, names: tuple[str, ...], values: Sequence[Any]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise IndexError(f"no column named {key!r}") from None
        return tuple.__getitem__(self, key)


def _row_factory(cursor: Any) -> Any:
    desc = cursor.description or []
    keep = [i for i, c in enumerate(desc) if c.name != "rowid"]  # the added insertion order stays internal
    names = tuple(desc[i].name for i in keep)
    if len(keep) == len(desc):
        return lambda values: Row(names, values)
    return lambda values: Row(names, [values[i] for i in keep])


class PgConnection:
    """A psycopg connection that takes the store's SQLite-worded queries (`execute`, `executemany`, `close`)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @property
    def usable(self) -> bool:
        return not (self.conn.closed or self.conn.broken)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor(row_factory=_row_factory)
        try:
            cur.execute(pg_query(sql), tuple(params))
        except Exception as err:
            _reraise(err)
        return cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        cur = self.conn.cursor()
        try:
            cur.executemany(pg_query(sql), [tuple(r) for r in rows])
        except Exception as err:
            _reraise(err)
        return cur

    def close(self) -> None:
        self.conn.close()


def _reraise(err: Exception) -> NoReturn:
    """psycopg's errors as the store's where a user can act on them (a NUL in a text); the rest unchanged."""
    if "0x00" in str(err):
        raise DataError(
            "the text holds a NUL character (\\x00), which PostgreSQL cannot store",
            hint="remove NUL characters from the text before sending it",
        ) from err
    raise err
