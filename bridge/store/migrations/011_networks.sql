-- 011: more than one network (X, Mastodon, Bluesky). A question gets one posts row per network,
-- each with its own status, so a failure on one never blocks or repeats another: the key
-- becomes (root_id, network) and a post id is unique within its network. Replies, their
-- cursors and the poll schedule carry the network they came from ('x' for every older row).
-- A reply id from another network is stored as "<network>:<id>" (Bluesky's at:// URIs as they
-- are), so ids of two networks never meet.

CREATE TABLE posts_new (
    root_id         TEXT NOT NULL,
    thread_id       INTEGER,
    network         TEXT NOT NULL DEFAULT 'x',
    status          TEXT NOT NULL CHECK (status IN
                        ('queued', 'pending', 'confirmed', 'held', 'failed', 'dry_run')),
    text            TEXT NOT NULL,
    link            TEXT NOT NULL,
    post_id         TEXT,
    reason          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    attempted_at    INTEGER,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    error           TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (root_id, network),
    UNIQUE (network, post_id)
) WITHOUT ROWID;

INSERT INTO posts_new SELECT root_id, thread_id, network, status, text, link, post_id, reason,
    created_at, confirmed_at, attempts, attempted_at, next_attempt_at, error FROM posts;
DROP TABLE posts;
ALTER TABLE posts_new RENAME TO posts;
CREATE INDEX posts_status ON posts(status, next_attempt_at);
CREATE INDEX posts_attempted ON posts(network, attempted_at);

ALTER TABLE replies ADD COLUMN network TEXT NOT NULL DEFAULT 'x';
ALTER TABLE reply_cursors ADD COLUMN network TEXT NOT NULL DEFAULT 'x';
ALTER TABLE reply_polls ADD COLUMN network TEXT NOT NULL DEFAULT 'x';
CREATE INDEX reply_polls_network ON reply_polls(network, polled_at);

-- A network's session kept between runs (Bluesky: opening sessions is limited per day).
CREATE TABLE network_sessions (
    network    TEXT PRIMARY KEY,
    session    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
