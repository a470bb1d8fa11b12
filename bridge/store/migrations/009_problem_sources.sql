-- 009: a problem's reason lives only in `reason`. Before, an unreadable Maildir file was recorded
-- with the reason also written into its source ("maildir:/path (unreadable: ...)"); keep the path.

UPDATE problems
SET source = substr(source, 1, instr(source, ' (unreadable: ') - 1)
WHERE source LIKE 'maildir:% (unreadable: %)';
