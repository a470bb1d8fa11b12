"""Pure writing: the post text, the thread link, the relay email."""
