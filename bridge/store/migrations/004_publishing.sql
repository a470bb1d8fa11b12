-- 004: publishing exactly once. The posts table is rebuilt (SQLite cannot widen a CHECK) to add
-- the 'queued' status and the attempt bookkeeping; posting_state keeps what stops all posting.
--
-- A post row moves: held -> queued (admin released it) -> pending (the call may have happened)
-- -> confirmed. queued means "surely not on X": a definite refusal (429, refused connection,
-- 401/403) or a pending post that reconciliation did not find. pending is never sent again
-- before the account's own posts were searched for its link.

CREATE TABLE posts_new (
    root_id         TEXT PRIMARY KEY,
    thread_id       INTEGER,
    network         TEXT NOT NULL DEFAULT 'x',
    status          TEXT NOT NULL CHECK (status IN
                        ('queued', 'pending', 'confirmed', 'held', 'failed', 'dry_run')),
    text            TEXT NOT NULL,
    link            TEXT NOT NULL,
    post_id         TEXT UNIQUE,
    reason          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,   -- calls to the network made for this row
    attempted_at    INTEGER,                      -- the last call (or dry-run); caps and spend count it
    next_attempt_at INTEGER NOT NULL DEFAULT 0,   -- queued: not before; pending: next reconciliation
    error           TEXT NOT NULL DEFAULT ''      -- the last failure, for status
) WITHOUT ROWID;

INSERT INTO posts_new (root_id, thread_id, network, status, text, link, post_id, reason,
                       created_at, confirmed_at, attempted_at)
SELECT root_id, thread_id, network, status, text, link, post_id, reason, created_at, confirmed_at,
       CASE WHEN status IN ('pending', 'confirmed', 'dry_run') THEN created_at END
FROM posts;

DROP TABLE posts;
ALTER TABLE posts_new RENAME TO posts;
CREATE INDEX posts_status ON posts(status, next_attempt_at);
CREATE INDEX posts_attempted ON posts(attempted_at);

-- One row per network. suspended_reason <> '': posting stopped (authentication refused) until a
-- check of the credentials succeeds. blocked_until: no post before it (X's rate-limit reset).
CREATE TABLE posting_state (
    network          TEXT PRIMARY KEY,
    suspended_reason TEXT NOT NULL DEFAULT '',
    suspended_at     INTEGER,
    blocked_until    INTEGER NOT NULL DEFAULT 0,
    blocked_reason   TEXT NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL
);
