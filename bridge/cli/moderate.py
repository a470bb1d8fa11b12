"""The admin's `moderate` command: list held replies, approve or reject them (with the trail)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, TextIO

from bridge.decide.approval import REPLY, describe_request
from bridge.decide.moderation import ADMIN, APPROVED, HELD, REJECTED, Verdict, is_stop
from bridge.store import approvals
from bridge.store import replies as rows
from bridge.store.approvals import RequestRow
from bridge.store.db import Store, from_epoch
from bridge.store.replies import ReplyRow

_CHANGES = {"approve": (APPROVED, (HELD, REJECTED)), "reject": (REJECTED, (HELD, APPROVED))}


def run_moderate(store: Store, action: str, ids: Sequence[str], out: TextIO, now: datetime,
                 as_json: bool = False, actor: str = ADMIN) -> int:
    """`moderate list [ID...]`: held replies (or the named ones, any status).
    `moderate approve|reject ID...|all`: "all" means every held reply. 0 ok, 1 some ids refused,
    2 usage error."""
    if action == "list":
        found = rows.replies_by_id(store, ids) if ids else rows.held_replies(store)
        _print_rows(found, out, as_json, approvals.requests_by_item(store, REPLY))
        if not ids and not as_json:
            _print_other_counts(store, out)
        return 0
    if action not in _CHANGES:
        out.write(f"moderate: unknown action {action!r} (list, approve or reject)\n")
        return 2
    if not ids:
        out.write(f"moderate {action}: give reply ids or 'all'\n")
        return 2
    with store.transaction():
        refused = _change(store, action, ids, out, now, actor)
    return 1 if refused else 0


def _change(store: Store, action: str, ids: Sequence[str], out: TextIO, now: datetime,
            actor: str) -> int:
    target, allowed = _CHANGES[action]
    if list(ids) == ["all"]:  # every held reply, except that "stop" is never approved in bulk
        found = [r for r in rows.held_replies(store) if not (target == APPROVED and is_stop(r.text))]
        missing: list[str] = []
        if not found:
            out.write(f"no held replies to {action}\n")
    else:
        found = rows.replies_by_id(store, ids)
        missing = sorted(set(ids) - {r.reply_id for r in found})
    for reply_id in missing:
        out.write(f"{reply_id}: no such reply\n")
    refused = len(missing)
    for reply in found:
        stop = target == APPROVED and is_stop(reply.text)  # checked on the text: never relayed
        if reply.status not in allowed or reply.relay_id or stop:
            why = ("it asked to stop" if stop
                   else f"it is in relay email {reply.relay_id}" if reply.relay_id
                   else f"it is {reply.status}")
            out.write(f"{reply.reply_id}: not {target}: {why}\n")
            refused += 1
            continue
        rows.record_decision(store.conn, reply.reply_id, Verdict(target, f"{target} by {actor}"),
                             actor, now)
        out.write(f"{reply.reply_id}: {target}\n")
    return refused


def _print_rows(found: Sequence[ReplyRow], out: TextIO, as_json: bool,
                requests: dict[str, RequestRow]) -> None:
    for reply in found:
        item: dict[str, Any] = asdict(reply)
        item["created_at"] = reply.created_at.isoformat()
        if as_json:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            continue
        text = " ".join(reply.text.split())
        out.write(f"{reply.reply_id}  {item['created_at'][:16]}  @{reply.author_username}  "
                  f"[{reply.status}: {reply.reason}]\n    on {reply.root_id}\n"
                  f"    {text}\n    {reply.url}\n")
        request = requests.get(reply.reply_id)
        if request is not None:
            out.write("    " + describe_request(request.status, request.send_status,
                                                from_epoch(request.expires_at), request.reason) + "\n")
    if not as_json and not found:
        out.write("no held replies\n")


def _print_other_counts(store: Store, out: TextIO) -> None:
    counts = {s: n for s, n in store.count_by_status("replies").items() if s != HELD}
    if counts:
        out.write("also stored: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) +
                  " (list ID... shows any reply; approve ID relays a rejected one)\n")
