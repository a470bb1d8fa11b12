"""Pure judgement: which threads are due, what a post would say, caps, reply moderation."""
