-- 007: indexes for the daemon's cheap cycles, and the health of each pipeline stage.

-- The subject fallback: every arriving message asks "is there a reference-less reply with my
-- subject after me?"; this answers from an index holding only those replies.
CREATE INDEX messages_unreferenced_replies ON messages(subject_norm, date)
    WHERE is_reply = 1 AND refs = '';

-- The matcher reads only threads active within max_age.
CREATE INDEX threads_last_date ON threads(last_date);

-- One row per stage (ingest, publish, replies, relay): what `status` reports.
CREATE TABLE stage_status (
    stage         TEXT PRIMARY KEY,
    last_ok_at    INTEGER,
    last_error    TEXT NOT NULL DEFAULT '',
    last_error_at INTEGER,
    errors        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Daemon-wide facts: the last successful cycle, the matcher's next due time.
CREATE TABLE daemon_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
