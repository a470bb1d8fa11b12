"""The approval-by-email keys of the [moderation] table, read into decide.approval.ApprovalSettings."""

from __future__ import annotations

from datetime import timedelta

from bridge.config.reader import Section
from bridge.decide.approval import MODES, ApprovalSettings
from bridge.mail.headers import parse_address


def read_approval(sec: Section) -> ApprovalSettings:
    """`approval`, `moderators`, `approval_folder`, `approval_expiry`, `approval_plus_address`.
    Read before the moderation keys: their reader reports keys nobody read."""
    moderators = set()
    for value in sec.strings("moderators"):
        address = parse_address(value)[1]
        if not address or address != value.strip().lower():
            sec.problems.append(f"{sec.key('moderators')}: {value!r} is not a plain address "
                                "such as owner@example.org")
        else:
            moderators.add(address)
    cfg = ApprovalSettings(
        moderators=frozenset(moderators),
        approval=sec.string("approval", "held", MODES),
        folder=sec.string("approval_folder"),
        expiry=sec.duration("approval_expiry", "3d"),
        plus_address=sec.boolean("approval_plus_address", False),
    )
    if cfg.expiry < timedelta(minutes=1):
        sec.problems.append(f"{sec.key('approval_expiry')}: must be at least 1m")
    return cfg
