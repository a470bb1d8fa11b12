-- 010: the RFC 2369 List-Archive URL of each message, the link of last resort for a list that
-- adds no Archived-At and is not a Google Group (validated before use, see compose.links).
ALTER TABLE messages ADD COLUMN list_archive TEXT;
