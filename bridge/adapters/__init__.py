"""Outside systems behind small adapters: IMAP, SMTP, X, local archives."""
