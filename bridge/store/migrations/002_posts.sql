-- 002: posts. One row per thread root the bridge decided to publish. The row is written before
-- any network call (status 'pending') and confirmed with the network's post id afterwards.

CREATE TABLE posts (
    root_id      TEXT PRIMARY KEY,
    thread_id    INTEGER,
    network      TEXT NOT NULL DEFAULT 'x',
    status       TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'held', 'failed', 'dry_run')),
    text         TEXT NOT NULL,
    link         TEXT NOT NULL,
    post_id      TEXT UNIQUE,
    reason       TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER
) WITHOUT ROWID;
CREATE INDEX posts_status ON posts(status, created_at);
