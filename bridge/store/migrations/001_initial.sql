-- 001: mailbox cursors, messages, threads, the id index used for threading, problems.
-- Dates are integer seconds since the epoch (UTC): sortable and cheap to compare.

CREATE TABLE cursors (
    folder      TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE threads (
    id            INTEGER PRIMARY KEY,
    root_id       TEXT,
    first_date    INTEGER NOT NULL,
    last_date     INTEGER NOT NULL,
    message_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX threads_first_date ON threads(first_date);

CREATE TABLE messages (
    message_id      TEXT PRIMARY KEY,
    thread_id       INTEGER NOT NULL REFERENCES threads(id),
    parent_id       TEXT,
    refs            TEXT NOT NULL DEFAULT '',   -- space-separated ids the message names
    subject         TEXT NOT NULL,
    subject_norm    TEXT NOT NULL,
    is_reply        INTEGER NOT NULL,
    author_name     TEXT NOT NULL,
    author_address  TEXT NOT NULL,
    date            INTEGER NOT NULL,
    list_id         TEXT,
    archived_at     TEXT,
    message_id_hash TEXT,
    flags           TEXT NOT NULL DEFAULT '',   -- comma-separated model.Flag values
    body            TEXT,                       -- clean text; NULL when only headers were parsed
    size            INTEGER NOT NULL DEFAULT 0,
    has_message_id  INTEGER NOT NULL DEFAULT 1,
    source          TEXT NOT NULL,
    ingested_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX messages_thread ON messages(thread_id, date);
CREATE INDEX messages_subject ON messages(subject_norm, date);

-- Every Message-ID seen, as a message or only as a reference, mapped to its thread. Threads are
-- the connected components of "message names id"; merging when a parent arrives late is an
-- UPDATE of this table, so the result does not depend on delivery order.
CREATE TABLE id_threads (
    ref_id    TEXT PRIMARY KEY,
    thread_id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX id_threads_thread ON id_threads(thread_id);

CREATE TABLE problems (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    message_id TEXT,
    size       INTEGER NOT NULL DEFAULT 0,
    seen_at    INTEGER NOT NULL
);
