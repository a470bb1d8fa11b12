"""listserv-bridge: a mailing list's unanswered questions to X, and the replies back to the list."""

__version__ = "0.1.0"
