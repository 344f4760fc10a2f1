"""The store's schema as an append-only list of migrations: never edit one that has shipped, add the next.

`PRAGMA user_version` (PostgreSQL: the `microgpt_schema` table) records how many have been applied, so opening any
older database brings it up to date. They are written in SQLite's words; store/dialect.py says them to PostgreSQL.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: predictions log, feedback, API keys
    """
    CREATE TABLE predictions (
        id           TEXT PRIMARY KEY,          -- request id returned to the caller
        module       TEXT NOT NULL,
        version      INTEGER,
        input_text   TEXT,                      -- NULL when the module is configured not to keep texts
        input_sha256 TEXT NOT NULL,
        output       TEXT NOT NULL,             -- JSON: label(s) / fields
        confidence   REAL,
        latency_ms   REAL,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX predictions_module ON predictions (module, created_at);
    CREATE TABLE feedback (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        module        TEXT NOT NULL,
        prediction_id TEXT REFERENCES predictions (id),
        text          TEXT,
        target        TEXT NOT NULL,            -- JSON: the correct label, or list of labels
        source        TEXT NOT NULL DEFAULT 'user',
        created_at    TEXT NOT NULL
    );
    CREATE INDEX feedback_module ON feedback (module, id);
    CREATE TABLE api_keys (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL,
        prefix     TEXT NOT NULL,               -- first characters, shown in listings
        key_sha256 TEXT NOT NULL UNIQUE,        -- the key itself is never stored
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    """,
    # 2: review queue (items a model should not answer alone) and teacher labels (answers of the fallback model)
    """
    CREATE TABLE review_queue (
        id          TEXT PRIMARY KEY,           -- uuid4 hex
        module      TEXT NOT NULL,
        version     INTEGER,                    -- the module version that abstained, when known
        text        TEXT NOT NULL,
        prediction  TEXT,                       -- JSON: the model's answer, if it gave one
        confidence  REAL,
        reason      TEXT NOT NULL,              -- low_confidence, unknown_input, teacher_unknown, fallback_failed: ...
        status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'resolved', 'skipped')),
        answer      TEXT,                       -- JSON: the reviewer's label, or list of labels
        resolved_by TEXT,
        created_at  TEXT NOT NULL,
        resolved_at TEXT
    );
    CREATE INDEX review_queue_status ON review_queue (status, module, created_at);
    CREATE TABLE teacher_labels (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        module            TEXT NOT NULL,
        text              TEXT NOT NULL,
        label             TEXT,                 -- JSON: the teacher's label, NULL when it answered unknown
        teacher           TEXT NOT NULL,        -- the fallback model's name
        raw               TEXT,                 -- its answer, word for word
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        cost_usd          REAL,
        created_at        TEXT NOT NULL
    );
    CREATE INDEX teacher_labels_module ON teacher_labels (module, id);
    """,
    # 3: recorded settings (auth on/off survives revoking every key), and a hash for feedback kept without its text
    """
    CREATE TABLE settings (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    ALTER TABLE feedback ADD COLUMN text_sha256 TEXT;   -- set when the server keeps only hashes (--hash-texts)
    INSERT INTO settings (key, value, updated_at)
        SELECT 'auth', 'on', strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE EXISTS (SELECT 1 FROM api_keys);
    """,
    # 4: key scopes (existing keys keep every scope), an audit row per console decision, and the review queue's
    # lowest-confidence-first order served from an index
    """
    ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'predict,review,admin';
    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        key_name   TEXT NOT NULL,               -- who: the API key's name ('anonymous' when no keys exist)
        action     TEXT NOT NULL,               -- accept, correct, skip, promote, rollback, train
        module     TEXT NOT NULL,
        version    INTEGER,                     -- module@version the decision was about
        item_id    TEXT,                        -- the review item, when there is one
        detail     TEXT,                        -- JSON: the label given, the version promoted, ...
        created_at TEXT NOT NULL
    );
    CREATE INDEX audit_module ON audit (module, id);
    CREATE INDEX review_queue_next ON review_queue (status, module, confidence, created_at);
    CREATE INDEX review_queue_next_any ON review_queue (status, confidence, created_at)
    """,
    # 5: review claims: a reviewer takes the next item for a while, so two reviewers (on any replica) never get the
    # same one; a claim lapses at `claimed_until` (ISO 8601 UTC to the millisecond, compared as text), so an item a
    # reviewer walked away from comes back
    """
    ALTER TABLE review_queue ADD COLUMN claimed_by TEXT;
    ALTER TABLE review_queue ADD COLUMN claimed_until TEXT
    """,
]
