-- 006: relaying beyond 003: when the list delivered our relay back to us (the echo), and the
-- key of the relay token header when the config names no secret (random, made once per store).

ALTER TABLE relays ADD COLUMN echoed_at INTEGER;    -- our relay came back through the list

CREATE TABLE relay_keys (
    name       TEXT PRIMARY KEY,                     -- 'token'
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
