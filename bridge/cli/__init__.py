"""Command line: the one place where concrete adapters are built from config."""
