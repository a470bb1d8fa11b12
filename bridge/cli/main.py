"""Command line: the one place where concrete adapters are built from config."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import __version__
from bridge.cli.state import DEFAULT_TIMEOUT, check_integrity, explain_sqlite_error, open_db, resolve_db
from bridge.errors import BridgeError, ConfigError

if TYPE_CHECKING:  # each command imports what it uses when it runs: start-up stays fast
    from bridge.config.settings import Config
    from bridge.decide.planner import Plan
    from bridge.model import RawMail
    from bridge.stages.ingest import IngestPolicy, IngestReport
    from bridge.store.db import Store
    from bridge.store.mail import MailStore

PARALLEL_MIN_BYTES = 8 * 1024 * 1024  # below this, starting parser processes costs more than it saves


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML config (default: embedded defaults)")
    common.add_argument("--db", metavar="PATH", help="state database (overrides [store] path)")
    common.add_argument("--db-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="how long to wait while another process writes to the database "
                             f"(default {DEFAULT_TIMEOUT:.0f})")
    common.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    common.add_argument("--log-format", default="auto", choices=["auto", "console", "json"],
                        help="logs on stderr: auto = readable on a terminal, JSON under systemd "
                             "($JOURNAL_STREAM) or when stderr is not a terminal")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="listserv-bridge",
        description="Bridge a mailing list's unanswered questions to X and the replies back.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common()
    ingest = sub.add_parser("ingest", parents=[common], help="ingest an archive or one IMAP pass")
    source = ingest.add_mutually_exclusive_group()
    source.add_argument("--mbox", metavar="PATH", help="an mbox file (mboxo, mboxrd or MMDF)")
    source.add_argument("--maildir", metavar="PATH", help="a Maildir tree or folder of messages")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.add_argument("--workers", type=int, default=0, metavar="N",
                        help="parser processes for an archive (default: all cores for archives "
                             "over 8 MB, else 1)")
    threads = sub.add_parser("threads", parents=[common], help="list the stored threads")
    threads.add_argument("--json", action="store_true", help="one JSON object per line per thread")
    sub.add_parser("run", parents=[common], help="run the bridge as a daemon (systemd service)")
    sub.add_parser("check", parents=[common],
                   help="validate config and test IMAP, SMTP and X (nothing is sent)")
    status = sub.add_parser("status", parents=[common], help="what the bridge did and where it stands")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.add_argument("--problems", type=int, nargs="?", const=20, default=0, metavar="N",
                        help="also list the N most recent problems with their reasons (default 20)")
    moderate = sub.add_parser("moderate", parents=[common], help="list, approve or reject held replies")
    moderate.add_argument("action", choices=["list", "approve", "reject"])
    moderate.add_argument("ids", nargs="*", metavar="ID", help='reply ids, or "all" (held ones)')
    moderate.add_argument("--json", action="store_true", help="list as JSON lines")
    release = sub.add_parser("release", parents=[common],
                             help="list posts held by the mass-new guard, or release them")
    release.add_argument("roots", nargs="*", metavar="ROOT", help="Message-IDs of held questions")
    release.add_argument("--all", action="store_true", help="release every held post")
    preview = sub.add_parser("preview", parents=[common],
                             help="threads due now and soon, with the exact post text")
    preview.add_argument("--json", action="store_true", help="one JSON object per line per thread")
    backtest = sub.add_parser("backtest", parents=[common],
                              help="replay an mbox archive with a simulated clock")
    backtest.add_argument("--mbox", metavar="PATH", required=True, help="the archive to replay")
    backtest.add_argument("--unanswered-after", metavar="D", help='override, e.g. "36h" or "2d"')
    backtest.add_argument("--json", action="store_true", help="one JSON object per line per thread")
    backtest.add_argument("--thresholds", metavar="LIST",
                          help='compare thresholds, e.g. "24h,48h,72h": per threshold, the questions '
                               "posted and those the list answered later anyway (the first is chosen "
                               "for --html)")
    backtest.add_argument("--html", metavar="FILE",
                          help="also write a self-contained HTML report: answer times, thresholds, "
                               "posts per week, every decision")
    return parser


@contextmanager
def open_store(config: Config, args: argparse.Namespace, *, create: bool = False
               ) -> Iterator[MailStore]:
    from bridge.store.mail import MailStore

    with open_db(config, args.db, create=create, timeout=args.db_timeout) as store:
        yield MailStore(store, subject_window=config.ingest.subject_window)


def ingest_policy(config: Config, store: Store, now: datetime) -> IngestPolicy:
    """The daemon's policy (bodies within body_window, our relays recognised) for one pass."""
    from bridge.service.ingest_policy import build_ingest_policy, relay_echo

    echo = relay_echo(config, store, strict=False)
    return build_ingest_policy(config, echo, body_since=now - config.ingest.body_window, now=now)


@contextmanager
def _progress(path: str, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=Path(path).stat().st_size, unit="B", unit_scale=True, desc="ingest") as bar:

        def advance(count: int) -> None:
            bar.update(count)

        yield advance


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    from bridge.adapters.archive import check_archive, read_maildir, read_mbox
    from bridge.stages.ingest import ingest_archive

    now = datetime.now(UTC)
    path = args.mbox or args.maildir
    if path:  # before the store is opened: a wrong path creates nothing
        check_archive(path, maildir=bool(args.maildir))
    with open_store(config, args, create=True) as mailstore:
        check_integrity(mailstore.store)
        policy = ingest_policy(config, mailstore.store, now)
        if path:
            with _progress(path, not args.no_progress and bool(args.mbox)) as progress:
                reader = read_mbox if args.mbox else read_maildir
                raws: Iterator[RawMail] = reader(path, progress)
                report = ingest_archive(mailstore, raws, policy, workers=_workers(args, path))
        else:
            from bridge.service.lock import StateLock

            with StateLock(config.db_path(args.db)):  # the daemon's cursor must have one writer
                report = ingest_imap(mailstore, config, policy)
        _print_summary(report, mailstore)
    return 0


def _workers(args: argparse.Namespace, path: str) -> int:
    if args.workers > 0:
        return int(args.workers)
    big = Path(path).is_file() and Path(path).stat().st_size > PARALLEL_MIN_BYTES
    return min(os.cpu_count() or 1, 4) if big else 1


def ingest_imap(mailstore: MailStore, config: Config, policy: IngestPolicy) -> IngestReport:
    """One IMAP pass: every message after the stored cursor, batch by batch."""
    from bridge.cli.build import build_mailbox
    from bridge.config.settings import check_secrets
    from bridge.stages.ingest import IngestReport, store_batch

    if config.imap is None:
        raise BridgeError("no [imap] section in the config: give --mbox/--maildir or configure IMAP")
    check_secrets(config, ("imap",))
    mailbox = build_mailbox(config.imap)
    total = IngestReport()
    try:
        mailbox.connect()
        cursor = mailstore.store.get_cursor(config.imap.folder)
        for batch in mailbox.fetch_new(cursor):
            total.add(store_batch(mailstore, batch.mails, policy, batch.cursor, batch.oversized))
    finally:
        mailbox.close()
    return total


def _print_summary(report: IngestReport, mailstore: MailStore) -> None:
    counts = report.as_dict()
    counts["threads_total"] = mailstore.store.count("threads")
    counts["messages_total"] = mailstore.store.count("messages")
    _log().info("ingest_finished", **counts)
    print(
        f"ingested {report.stored} new messages ({report.duplicates} duplicates, "
        f"{report.problems} problems, {report.skipped_list} from other lists) into "
        f"{len(report.threads)} threads; store now holds {counts['messages_total']} messages "
        f"in {counts['threads_total']} threads"
    )


def cmd_threads(args: argparse.Namespace, config: Config) -> int:
    from bridge.store import posts as postrows

    with open_store(config, args) as mailstore:
        posts = postrows.status_by_root(mailstore.store)
        for thread in mailstore.threads():
            state = _thread_state(thread.state, posts.get(thread.root.message_id))
            if args.json:
                print(json.dumps({
                    "root": thread.root.message_id,
                    "messages": [m.message_id for m in thread.messages],
                    "subject": thread.root.subject,
                    "state": state,
                }, ensure_ascii=False))
            else:
                when = thread.root.date.strftime("%Y-%m-%d %H:%M")
                print(f"{when}  {len(thread.messages):3d}  {state:<14} {thread.root.subject}")
    return 0


def _thread_state(mail_state: str, post_status: str | None) -> str:
    """open / replied / answered_via_x from the mail; posted / post_<status> from the bridge."""
    if mail_state == "answered_via_x" or post_status is None:
        return mail_state
    return "posted" if post_status == "confirmed" else f"post_{post_status}"


def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli import review
    from bridge.compose.links import describe_link_source

    now = datetime.now(UTC)
    with open_store(config, args) as mailstore:
        plans = review.preview_plans(mailstore, config, now)
        no_link = describe_link_source(config.links, mailstore.recent_roots())
    if no_link:  # say it first and plainly: otherwise every question just reads "no usable link"
        print(f"note: {no_link}", file=sys.stderr if args.json else sys.stdout)
    return _show_plans(plans, config, args.json, lambda: review.print_preview(plans, now, sys.stdout))


def cmd_backtest(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli import review
    from bridge.cli.report import parse_thresholds

    if not Path(args.mbox).is_file():
        raise BridgeError(f"no such archive: {args.mbox}")
    if args.unanswered_after:
        [(_, matcher)] = parse_thresholds(args.unanswered_after, config.matcher, "--unanswered-after",
                                          single=True)
        config = replace(config, matcher=matcher)
    if args.thresholds or args.html:
        return _backtest_report(args, config)
    plans = review.backtest_plans(args.mbox, config)  # streamed: one thread at a time
    return _show_plans(plans, config, args.json,
                       lambda: review.print_backtest(plans, sys.stdout))


def _backtest_report(args: argparse.Namespace, config: Config) -> int:
    """Every threshold replayed over one read of the archive; the table, and the HTML page."""
    from bridge.cli import report, review
    from bridge.decide.history import History
    from bridge.decide.planner import Drafter
    from bridge.durations import format_duration

    chosen = format_duration(config.matcher.unanswered_after)
    variants = (report.parse_thresholds(args.thresholds, config.matcher) if args.thresholds
                else [(chosen, config.matcher)])
    with review.read_archive(args.mbox, config) as archive:
        runs = [report.ThresholdRun(label, m.unanswered_after, ()) for label, m in variants]
        if archive is not None:
            drafter = Drafter(config.compose, config.links, archive.mailstore.author_names())
            history = History(archive.threads())
            runs = report.replay_all(archive.threads(), archive.end, variants, drafter, history)
    if args.thresholds:
        if args.json:
            for run in runs:
                print(json.dumps({"threshold": run.label, "posted": run.posted,
                                  "posted_in_vain": run.in_vain}))
        else:
            report.print_thresholds(runs, sys.stdout)
    else:
        plans = [r.plan for r in runs[0].results]
        _show_plans(plans, config, args.json, lambda: review.print_backtest(plans, sys.stdout))
    if args.html:
        report.write_report(runs, Path(args.mbox).name, args.html, datetime.now(UTC))
        print(f"backtest report written to {Path(args.html).resolve()}", file=sys.stderr)
    return 0


def _show_plans(plans: Iterable[Plan], config: Config, as_json: bool,
                human: Callable[[], None]) -> int:
    from bridge.cli import review

    if not as_json:
        human()
        return 0
    for plan in plans:
        print(review.plan_json(plan, config))
    return 0


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli.build import build_services
    from bridge.config.settings import check_secrets
    from bridge.service.daemon import Daemon
    from bridge.service.notify import Notifier

    if config.imap is None:
        raise ConfigError([f"{config.source}: imap: the daemon needs an [imap] section"])
    check_secrets(config)
    daemon = Daemon(config, args.config, resolve_db(config, args.db, create=True), build_services,
                    Notifier.from_env())
    return daemon.run()


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli.ops import print_checks, run_checks
    from bridge.config.settings import check_secrets

    check_secrets(config)
    return print_checks(run_checks(config, config.db_path(args.db)), sys.stdout)


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli.ops import collect_status, print_status

    with open_db(config, args.db, timeout=args.db_timeout) as store:
        status = collect_status(store, config, datetime.now(UTC), problems=args.problems)
        print_status(status, sys.stdout, args.json)
    return 0


def cmd_moderate(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli.moderate import run_moderate

    with open_db(config, args.db, timeout=args.db_timeout) as store:
        return run_moderate(store, args.action, args.ids, sys.stdout, datetime.now(UTC), args.json)


def cmd_release(args: argparse.Namespace, config: Config) -> int:
    from bridge.cli.release import run_release

    return run_release(resolve_db(config, args.db, create=False), args.roots, args.all, sys.stdout)


COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {
    "check": cmd_check,
    "status": cmd_status,
    "moderate": cmd_moderate,
    "release": cmd_release,
    "ingest": cmd_ingest,
    "run": cmd_run,
    "threads": cmd_threads,
    "preview": cmd_preview,
    "backtest": cmd_backtest,
}


def main(argv: Sequence[str] | None = None) -> int:
    from bridge.service.log import configure_logging

    args = build_parser().parse_args(argv)
    # logs on stderr; stdout is the command's own output (and under systemd both reach journald)
    configure_logging(args.log_level, fmt=args.log_format)
    try:
        from bridge.config.settings import load_config

        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    try:
        return COMMANDS[args.command](args, config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"listserv-bridge {args.command}: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        message = explain_sqlite_error(exc, config.db_path(args.db))
        print(f"listserv-bridge {args.command}: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `listserv-bridge threads | head`: the reader left, nothing to say
        sys.stderr.close()
        return 1


def _log() -> Any:
    import structlog

    return structlog.get_logger()


if __name__ == "__main__":
    raise SystemExit(main())
