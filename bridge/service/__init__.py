"""The running service: the orchestrator, the daemon loop, notify, lock, metrics, logs."""
