"""The admin's `release` command: list the posts the mass-new guard held, or release them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from bridge.decide.approval import POST, describe_request
from bridge.stages.publish import release_held
from bridge.store import approvals
from bridge.store import posts as rows
from bridge.store.db import Store, from_epoch


def run_release(
    db_path: str, root_ids: Sequence[str], release_all: bool, out: TextIO,
    now: datetime | None = None,
) -> int:
    """CLI: without ids, list held posts; else release them (or all). 1 if an id was not held."""
    store = Store.open(db_path)
    try:
        if not root_ids and not release_all:
            held = rows.rows_with_status(store, "held")
            requests = approvals.requests_by_item(store, POST)
            for row in held:
                request = requests.get(row.root_id)
                state = "" if request is None else "\t" + describe_request(
                    request.status, request.send_status, from_epoch(request.expires_at), request.reason)
                out.write(f"{row.root_id}\t{from_epoch(row.created_at):%Y-%m-%d %H:%M}Z\t{row.reason}"
                          f"{state}\n")
            out.write(f"{len(held)} held post(s)\n")
            return 0
        released = release_held(store, "all" if release_all else root_ids, now or datetime.now(UTC))
    finally:
        store.close()
    missing = [r for r in root_ids if r not in released]
    for root in missing:
        out.write(f"not held: {root}\n")
    out.write(f"released {len(released)} post(s); they go out within the caps\n")
    return 1 if missing else 0
