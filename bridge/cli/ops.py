"""The admin's health tools: `check` (can every configured service be reached, with the fix for
each failure) and `status` (what the bridge has done and where it stands)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bridge.cli.review import due_counts
from bridge.compose.links import describe_link_source
from bridge.config.sections import ImapConfig
from bridge.config.settings import Config
from bridge.errors import AuthError, BridgeError, ConfigError, StoreError, TransientError
from bridge.redact import redact
from bridge.store import approvals
from bridge.store import posts as postrows
from bridge.store import replies as replyrows
from bridge.store.db import Store, from_epoch, schema_version
from bridge.store.mail import MailStore
from bridge.store.state import stage_statuses, state_time


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _fix_for(service: str, exc: BaseException) -> str:
    if isinstance(exc, AuthError):
        return f"the {service} server refused the credentials: check the user name and the secret file"
    if isinstance(exc, ConfigError):
        return "fix the config problems listed above"
    if isinstance(exc, TransientError):
        return f"the {service} server could not be reached: check host, port, firewall and DNS"
    text = str(exc).lower()
    if "certificate" in text:
        return (f"the {service} certificate is not trusted: set {service.lower()}.ca_file "
                "or fix the server's certificate chain")
    return f"see the error; `listserv-bridge run` would fail the same way for {service}"


def _probe(name: str, service: str, action: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, action())
    except (BridgeError, OSError) as exc:
        return CheckResult(name, False, redact(f"{type(exc).__name__}: {exc}"), _fix_for(service, exc))


def run_checks(config: Config, db_path: str) -> list[CheckResult]:
    """Every check that applies to this config, in order; nothing is sent or posted."""
    from bridge.adapters.x_account import XPublisher
    from bridge.cli.build import build_mailbox, build_x_client, make_smtp_sender

    results = [CheckResult("config", True, f"{config.source}: valid")]

    def store() -> str:
        path = Path(db_path)
        if not path.exists():  # check creates nothing: the first `run` or `ingest` will
            if not path.parent.is_dir():
                raise StoreError(f"{db_path}: the folder {path.parent} does not exist")
            return f"{db_path} does not exist yet: `run` or `ingest` creates it (schema {schema_version()})"
        Store.open(db_path).close()
        return f"{db_path} (schema {schema_version()})"

    results.append(_probe("state database", "store", store))
    results.append(_link_source(config, db_path))
    if config.imap is not None:
        main_imap = config.imap

        def imap_probe(imap: ImapConfig) -> str:
            mailbox = build_mailbox(imap, connect_attempts=1)  # report, don't retry
            try:
                uidvalidity = mailbox.connect()
            finally:
                mailbox.close()
            return f"{imap.username}@{imap.host}:{imap.port} folder {imap.folder} UIDVALIDITY {uidvalidity}"

        results.append(_probe("IMAP", "IMAP", lambda: imap_probe(main_imap)))
        if config.approval.enabled and config.approval.folder:
            answers = replace(main_imap, folder=config.approval.folder)
            results.append(_probe("IMAP approval folder", "IMAP", lambda: imap_probe(answers)))
    else:
        results.append(CheckResult("IMAP", False, "no [imap] section",
                                   "add [imap]: the daemon reads the list there"))
    if config.smtp is not None:
        smtp = config.smtp

        def smtp_probe() -> str:
            make_smtp_sender(smtp).check()
            return f"{smtp.host}:{smtp.port} ({smtp.security}), login {'ok' if smtp.username else 'not used'}"

        results.append(_probe("SMTP", "SMTP", smtp_probe))
    if config.x is not None:
        x = config.x
        results.append(_probe("X", "X", lambda: "posting as @" + XPublisher(build_x_client(x)).check_auth()))
    results += _network_checks(config, db_path)
    return results


def _network_checks(config: Config, db_path: str) -> list[CheckResult]:
    """Mastodon: the token (verify_credentials) and the instance's limits; Bluesky: the kept
    session (one is opened with the app password only if none is stored yet)."""
    from bridge.cli.build import build_bluesky, build_mastodon

    found = []
    if config.mastodon is not None:
        settings = config.mastodon

        def mastodon_probe() -> str:
            account = build_mastodon(settings)
            handle = account.check_auth()
            rules = account.text_rules()
            return (f"posting as @{handle} ({settings.visibility}); the instance allows "
                    f"{rules.max_length} characters, a link counts {rules.url_weight}")

        found.append(_probe("Mastodon", "Mastodon", mastodon_probe))
    if config.bluesky is not None:
        sky = config.bluesky
        found.append(_probe("Bluesky", "Bluesky", lambda: "posting as @"
                            + build_bluesky(sky, db_path).check_auth() + f" on {sky.service}"))
    return found


def _link_source(config: Config, db_path: str) -> CheckResult:
    """Can posts get a thread link on this list? Judged on the stored mail's recent roots."""
    try:
        store = Store.open(db_path)
    except (BridgeError, OSError) as exc:
        return CheckResult("thread links", False, f"cannot judge: {exc}")
    try:
        roots = MailStore(store).recent_roots()
    finally:
        store.close()
    problem = describe_link_source(config.links, roots)
    if problem:
        return CheckResult("thread links", False, problem.split(":")[0], problem)
    detail = f"judged on {len(roots)} recent questions" if roots else "no mail stored yet to judge"
    return CheckResult("thread links", True, f"{config.links.strategy}: {detail}")


def print_checks(results: list[CheckResult], out: TextIO) -> int:
    for result in results:
        out.write(f"[{'PASS' if result.ok else 'FAIL'}] {result.name}: {result.detail}\n")
        if result.fix:
            out.write(f"       fix: {result.fix}\n")
    failed = [r.name for r in results if not r.ok]
    summary = f"{len(failed)} check(s) failed: {', '.join(failed)}" if failed else "all checks passed"
    out.write(summary + "\n")
    return 0 if not failed else 1


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def collect_status(store: Store, config: Config, now: datetime, problems: int = 0) -> dict[str, Any]:
    """Everything `status` reports, as plain data (the same for text and --json); with
    `problems`, that many of the most recent problems with their reasons, newest first."""
    due_now, due_soon = due_counts(MailStore(store, config.ingest.subject_window), config, now)
    posting = postrows.posting_state(store)
    return {
        "messages": store.count("messages"),
        "threads": store.count("threads"),
        "problems": store.count("problems"),
        "threads_due_now": due_now,
        "threads_due_soon": due_soon,
        "posts": store.count_by_status("posts"),
        "posts_today": postrows.posts_today(store, now, config.publish.zone),
        "spend_this_month_usd": round(postrows.spend_this_month(store, now, config.publish), 3),
        "monthly_budget_usd": config.publish.monthly_budget_usd,
        "posting_suspended": posting.suspended_reason,
        "networks": _networks(store),
        "replies": store.count_by_status("replies"),
        "relays": store.count_by_status("relays"),
        "approval_requests": approvals.counts(store),
        "approval_expired": [f"{r.kind} {r.item_id}: {r.reason}"
                             for r in approvals.requests(store, "expired")[-10:]],
        "approval_unsent": [f"{r.kind} {r.item_id}: {r.send_status}: {r.error}"
                            for r in approvals.requests(store) if r.send_status != "sent"][-10:],
        "stages": {s.stage: {"last_ok_at": _when(s.last_ok_at), "last_error": redact(s.last_error),
                             "last_error_at": _when(s.last_error_at), "errors": s.errors}
                   for s in stage_statuses(store)},
        "cursors": {c.folder: {"uidvalidity": c.uidvalidity, "last_uid": c.last_uid}
                    for c in store.cursors()},
        "reply_cursors": replyrows.cursors(store.conn),
        "last_cycle_at": _when(state_time(store, "last_cycle_at")),
        "last_successful_cycle_at": _when(state_time(store, "last_ok_cycle_at")),
        "recent_problems": [{"source": p.source, "reason": p.reason, "message_id": p.message_id,
                             "size": p.size} for p in store.problems(limit=problems)]
        if problems > 0 else [],
    }


def print_status(status: dict[str, Any], out: TextIO, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(status, sort_keys=True) + "\n")
        return
    out.write(f"messages ingested: {status['messages']} in {status['threads']} threads "
              f"({status['problems']} problems)\n")
    out.write(f"threads due now: {status['threads_due_now']}, due soon: {status['threads_due_soon']}\n")
    out.write(f"posts: {_fmt(status['posts'])}; today {status['posts_today']}; this month "
              f"${status['spend_this_month_usd']:.2f} of ${status['monthly_budget_usd']:.2f}\n")
    if status["posting_suspended"]:
        out.write(f"POSTING SUSPENDED: {status['posting_suspended']}\n")
    out.write(f"replies: {_fmt(status['replies'])}; relay emails: {_fmt(status['relays'])}\n")
    if status["approval_requests"]:
        out.write(f"approval requests: {_fmt(status['approval_requests'])}\n")
    for line in status["approval_expired"]:
        out.write(f"approval expired: {line}\n")
    for line in status["approval_unsent"]:
        out.write(f"approval request not sent: {line}\n")
    for stage, info in sorted(status["stages"].items()):
        error = f"; last error {info['last_error_at']}: {info['last_error']}" if info["last_error"] else ""
        out.write(f"stage {stage}: last ok {info['last_ok_at'] or 'never'}{error}\n")
    for folder, cur in status["cursors"].items():
        out.write(f"IMAP cursor {folder}: UIDVALIDITY {cur['uidvalidity']}, last UID {cur['last_uid']}\n")
    for name, info in sorted(status["networks"].items()):
        state = f"; SUSPENDED: {info['suspended']}" if info["suspended"] else ""
        blocked = f"; blocked until {info['blocked_until']}" if info["blocked_until"] else ""
        out.write(f"{name}: posts {_fmt(info['posts'])}; replies {_fmt(info['replies'])}"
                  f"{blocked}{state}\n")
    for source, since in status["reply_cursors"].items():
        out.write(f"reply cursor {source}: since {since}\n")
    out.write(f"last cycle: {status['last_cycle_at'] or 'never'}; last successful cycle: "
              f"{status['last_successful_cycle_at'] or 'never'}\n")
    recent = status["recent_problems"]
    if recent:
        out.write(f"most recent problems ({len(recent)} of {status['problems']}, newest first):\n")
        for problem in recent:
            out.write(f"  {problem['source']}: {problem['reason']}\n")
    elif status["problems"]:
        out.write("(status --problems lists them with their reasons)\n")


def _networks(store: Store) -> dict[str, dict[str, Any]]:
    """Per network that has posts: their statuses, its replies, a suspension or rate-limit block."""
    found: dict[str, dict[str, Any]] = {}
    for name, (posts, replies) in postrows.network_counts(store).items():
        state = postrows.posting_state(store, name)
        blocked = from_epoch(state.blocked_until) if state.blocked_until else None
        found[name] = {"posts": posts, "replies": replies, "suspended": state.suspended_reason,
                       "blocked_until": _when(blocked)}
    return found


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none"
