-- 005: the reply poller's schedule and budget, and the trail of every moderation decision.
-- Each poll of X is one row: the read budget sums `reads` over the last 24 hours, and a 429
-- leaves `retry_at` so the next poll waits for X's reset. A reply's current status stays in
-- replies.status; reply_decisions keeps who decided what, when and why (automatic or admin).

CREATE TABLE reply_polls (
    id        INTEGER PRIMARY KEY,
    polled_at INTEGER NOT NULL,
    calls     INTEGER NOT NULL,                 -- requests made to X
    reads     INTEGER NOT NULL,                 -- posts X returned: what reading costs
    outcome   TEXT NOT NULL CHECK (outcome IN ('ok', 'rate_limited', 'failed')),
    retry_at  INTEGER,                          -- no poll before this (X's rate-limit reset)
    error     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX reply_polls_time ON reply_polls(polled_at);

CREATE TABLE reply_decisions (
    id         INTEGER PRIMARY KEY,
    reply_id   TEXT NOT NULL REFERENCES replies(reply_id),
    status     TEXT NOT NULL CHECK (status IN ('held', 'approved', 'rejected')),
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,                   -- 'moderation' (the rules) or the admin's name
    decided_at INTEGER NOT NULL
);
CREATE INDEX reply_decisions_reply ON reply_decisions(reply_id, id);
CREATE INDEX replies_author ON replies(author_id, fetched_at);
CREATE INDEX replies_post ON replies(post_id, fetched_at);
