-- 008: moderator approval by email. One request per held item (a post, or a reply from X): the
-- email's exact bytes and our Message-ID are stored before it is sent (like a relay), so a crash
-- never sends it twice nor loses it. Moderators' answers are stored once by their Message-ID, in
-- the ingest batch that read them (with the IMAP cursor), and applied by the approval stage.

CREATE TABLE approval_requests (
    token           TEXT PRIMARY KEY,                 -- HMAC of (kind, item): in Subject / plus-address
    kind            TEXT NOT NULL CHECK (kind IN ('post', 'reply')),
    item_id         TEXT NOT NULL,                    -- posts.root_id or replies.reply_id
    message_id      TEXT NOT NULL UNIQUE,             -- our request email's Message-ID
    raw             BLOB NOT NULL,                    -- the exact bytes; a retry resends them
    recipients      TEXT NOT NULL,                    -- moderators' addresses, space-separated
    send_status     TEXT NOT NULL CHECK (send_status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('open', 'approved', 'rejected', 'expired', 'closed')),
    reason          TEXT NOT NULL DEFAULT '',         -- why it was decided, expired or closed
    decided_by      TEXT NOT NULL DEFAULT '',         -- the moderator's address
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    expires_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    UNIQUE (kind, item_id)
) WITHOUT ROWID;
CREATE INDEX approval_requests_send ON approval_requests(send_status, next_attempt_at);
CREATE INDEX approval_requests_open ON approval_requests(status, expires_at);

CREATE TABLE approval_answers (
    message_id   TEXT PRIMARY KEY,                    -- the answer email's Message-ID
    token        TEXT NOT NULL DEFAULT '',            -- the token it carried ('' = none readable)
    from_address TEXT NOT NULL DEFAULT '',            -- addr-spec of From ('' = not a plain one)
    verdict      TEXT NOT NULL DEFAULT '',            -- approve | reject | '' (none found)
    problem      TEXT NOT NULL DEFAULT '',            -- why it cannot count, known at ingest
    status       TEXT NOT NULL CHECK (status IN ('new', 'applied', 'ignored')),
    reason       TEXT NOT NULL DEFAULT '',            -- what the stage did with it, and why
    received_at  INTEGER NOT NULL,
    applied_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX approval_answers_status ON approval_answers(status, received_at);
