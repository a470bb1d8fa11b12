-- 003: replies from X to our posts, their moderation, and the relay emails that carry them to
-- the list. A reply is stored once (its X id is the key); a cursor per reply source moves in the
-- same transaction as the replies it covers.

CREATE TABLE reply_cursors (
    source   TEXT PRIMARY KEY,      -- e.g. 'mentions' or 'search:<conversation id>'
    since_id TEXT NOT NULL,
    polled_at INTEGER NOT NULL
);

CREATE TABLE replies (
    reply_id        TEXT PRIMARY KEY,                 -- the X post id
    root_id         TEXT NOT NULL,                    -- the question's Message-ID
    post_id         TEXT NOT NULL,                    -- our post it answers (conversation id)
    author_id       TEXT NOT NULL,
    author_username TEXT NOT NULL,
    author_name     TEXT NOT NULL,
    author_created_at INTEGER,
    text            TEXT NOT NULL,
    url             TEXT NOT NULL,                    -- link to the reply on X
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('held', 'approved', 'rejected', 'relayed')),
    reason          TEXT NOT NULL DEFAULT '',         -- why held / rejected / approved
    relay_id        TEXT,                             -- Message-ID of the relay email carrying it
    fetched_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX replies_status ON replies(status, root_id, created_at);

CREATE TABLE relays (
    message_id  TEXT PRIMARY KEY,                     -- our own Message-ID, stored before sending
    root_id     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    raw         BLOB NOT NULL,                        -- the exact bytes; a retry resends them
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER
) WITHOUT ROWID;
CREATE INDEX relays_status ON relays(status, next_attempt_at);
