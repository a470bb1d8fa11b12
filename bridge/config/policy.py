"""Readers of the policy sections ([matcher], [post], [links], [publish], [replies], [moderation],
[relay]): TOML to the frozen settings each pure module defines, every problem with its key path."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError

from bridge.compose.links import LinkSettings, check_archive_url, check_url_template
from bridge.compose.post import ComposeSettings
from bridge.compose.relay_email import MAX_NAME, RelaySettings, clean_line
from bridge.config.reader import Section
from bridge.config.sections import ReplySettings
from bridge.decide import rules
from bridge.decide.approval import MODES as APPROVAL_MODES
from bridge.decide.approval import ApprovalSettings
from bridge.decide.caps import PublishSettings
from bridge.decide.handles import parse_handle
from bridge.decide.matcher import MatcherSettings, check_settings
from bridge.decide.moderation import MODES, ModerationSettings
from bridge.mail.headers import plain_address

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")


def _read_pattern_table(sec: Section, name: str, default: rules.PatternTable) -> rules.PatternTable:
    """A {category = [patterns]} table; given, it replaces the default table whole."""
    sec.used.add(name)
    value = sec.data.get(name)
    if value is None:
        return default
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in value.values()
    ):
        sec.problems.append(f"{sec.key(name)}: expected a table of category = [patterns]")
        return default
    return tuple((str(k), tuple(v)) for k, v in value.items())


def read_matcher(sec: Section) -> MatcherSettings:
    d = MatcherSettings()
    cfg = MatcherSettings(
        unanswered_after=sec.duration("unanswered_after", "48h"),
        max_age=sec.duration("max_age", "7d"),
        business_days=sec.boolean("business_days", False),
        opt_out_tags=sec.strings("opt_out_tags", d.opt_out_tags),
        opt_in_only=sec.boolean("opt_in_only", False),
        opt_in_tags=sec.strings("opt_in_tags", d.opt_in_tags),
        opt_out_senders=frozenset(s.lower() for s in sec.strings("opt_out_senders")),
        not_request_subject=_read_pattern_table(sec, "not_request_subject", d.not_request_subject),
        not_request_body=_read_pattern_table(sec, "not_request_body", d.not_request_body),
        request_evidence=sec.strings("request_evidence", d.request_evidence),
        closing_tags=sec.strings("closing_tags", d.closing_tags),
        closing_body=sec.strings("closing_body", d.closing_body),
        content_free=sec.strings("content_free", d.content_free),
        min_answer_chars=sec.integer("min_answer_chars", d.min_answer_chars, 0, 10_000),
    )
    sec.problems.extend(f"{sec.path}: {p}" for p in check_settings(cfg))
    sec.finish()
    return cfg


def read_compose(sec: Section) -> ComposeSettings:
    cfg = ComposeSettings(
        hashtags=sec.strings("hashtags", ComposeSettings.hashtags),
        template_dir=sec.string("template_dir") or None,
    )
    for tag in cfg.hashtags:
        if not tag.startswith("#") or len(tag) < 2 or any(c.isspace() for c in tag):
            sec.problems.append(f"{sec.key('hashtags')}: {tag!r} is not a hashtag")
    if cfg.template_dir and not Path(cfg.template_dir, "post.txt.j2").is_file():
        sec.problems.append(f"{sec.key('template_dir')}: no post.txt.j2 in {cfg.template_dir}")
    sec.finish()
    return cfg


def read_links(sec: Section) -> LinkSettings:
    cfg = LinkSettings(
        strategy=sec.string(  # type: ignore[arg-type]
            "strategy", "auto", ("auto", "archived_at", "google_groups", "template")
        ),
        url_template=sec.string("url_template") or None,
        google_group=sec.string("google_group") or None,
        archive_private=sec.boolean("archive_private", False),
        archive_url=sec.string("archive_url") or None,
    )
    if cfg.archive_url:
        sec.problems.extend(f"{sec.key('archive_url')}: {p}" for p in check_archive_url(cfg.archive_url))
    if cfg.url_template:
        sec.problems.extend(f"{sec.key('url_template')}: {p}" for p in check_url_template(cfg.url_template))
    elif cfg.strategy == "template":
        sec.problems.append(f"{sec.key('url_template')}: required with strategy = \"template\"")
    sec.finish()
    return cfg


def read_publish(sec: Section) -> PublishSettings:
    """[publish] from the config file; every problem goes to sec.problems with its key path."""
    d = PublishSettings()
    settings = PublishSettings(
        dry_run=sec.boolean("dry_run", d.dry_run),
        max_per_hour=sec.integer("max_per_hour", d.max_per_hour, minimum=1),
        max_per_day=sec.integer("max_per_day", d.max_per_day, minimum=1),
        min_spacing=sec.duration("min_spacing", "20m"),
        quiet_hours=sec.string("quiet_hours", d.quiet_hours),
        timezone=sec.string("timezone", d.timezone),
        monthly_budget_usd=sec.number("monthly_budget_usd", d.monthly_budget_usd),
        price_post_with_link=sec.number("price_post_with_link", d.price_post_with_link),
        price_post=sec.number("price_post", d.price_post),
        mass_new_threshold=sec.integer("mass_new_threshold", d.mass_new_threshold),
        reconcile_window=sec.duration("reconcile_window", "2h"),
    )
    sec.finish()
    return _checked(settings, sec)


def _checked(settings: PublishSettings, sec: Section) -> PublishSettings:
    try:
        settings.zone  # noqa: B018  # raises on an unknown zone
    except (ZoneInfoNotFoundError, ValueError):
        sec.problems.append(f"{sec.key('timezone')}: unknown time zone {settings.timezone!r}")
        settings = replace(settings, timezone="UTC")
    try:
        settings.quiet  # noqa: B018
    except ValueError as exc:
        sec.problems.append(f"{sec.key('quiet_hours')}: {exc}")
        settings = replace(settings, quiet_hours="")
    if settings.reconcile_window < timedelta(minutes=5):
        sec.problems.append(f"{sec.key('reconcile_window')}: must be at least 5m (X's own "
                            "timeline can lag behind a post)")
    return settings


def read_moderation(sec: Section) -> ModerationSettings:
    """The [moderation] table; every key optional."""
    d = ModerationSettings()
    cfg = ModerationSettings(
        mode=sec.string("mode", d.mode, MODES),
        blocklist=_read_handles(sec, "blocklist"),
        allowlist=_read_handles(sec, "allowlist"),
        hold_links=sec.boolean("hold_links", d.hold_links),
        min_account_age=sec.duration("min_account_age", "30d"),
        per_author_daily=sec.integer("per_author_daily", d.per_author_daily, 0, 10_000),
        per_thread_daily=sec.integer("per_thread_daily", d.per_thread_daily, 0, 100_000),
        min_chars=sec.integer("min_chars", d.min_chars, 0, 280),
    )
    both = cfg.blocklist & cfg.allowlist
    if both:
        sec.problems.append(f"{sec.path}: on both blocklist and allowlist: {', '.join(sorted(both))}")
    sec.finish()
    return cfg


def read_approval(sec: Section) -> ApprovalSettings:
    """`approval`, `moderators`, `approval_folder`, `approval_expiry`, `approval_plus_address`.
    Read before the moderation keys: their reader reports keys nobody read."""
    moderators = set()
    for value in sec.strings("moderators"):
        address = plain_address(value)
        if not address:
            sec.problems.append(f"{sec.key('moderators')}: {value!r} is not a plain address "
                                "such as owner@example.org")
        else:
            moderators.add(address)
    cfg = ApprovalSettings(
        moderators=frozenset(moderators),
        approval=sec.string("approval", "held", APPROVAL_MODES),
        folder=sec.string("approval_folder"),
        expiry=sec.duration("approval_expiry", "3d"),
        plus_address=sec.boolean("approval_plus_address", False),
    )
    if cfg.expiry < timedelta(minutes=1):
        sec.problems.append(f"{sec.key('approval_expiry')}: must be at least 1m")
    return cfg


def _read_handles(sec: Section, name: str) -> frozenset[str]:
    handles = set()
    for value in sec.strings(name):
        handle = parse_handle(value)
        if handle is None:
            sec.problems.append(f"{sec.key(name)}: {value!r} is not an X handle")
        else:
            handles.add(handle)
    return frozenset(handles)


def read_relay(sec: Section) -> RelaySettings:
    """RelaySettings from the [relay] table; every problem is collected with its key path."""
    from_address = _address(sec, "from_address")
    list_address = _address(sec, "list_address")
    if from_address and from_address == list_address:
        sec.problems.append(f"{sec.key('from_address')}: must be the bridge's own address, not the list's")
    settings = RelaySettings(
        from_address=from_address,
        list_address=list_address,
        admin_contact=clean_line(sec.required_string("admin_contact"), 200),
        from_name=clean_line(sec.string("from_name", "Solo Librarians Bridge"), MAX_NAME),
        batch_window=sec.duration("batch_window", "30m"),
        resend_grace=sec.duration("resend_grace", "30m"),
        give_up_after=sec.duration("give_up_after", "3d"),
        retry_base=sec.duration("retry_base", "5m"),
        message_id_domain=sec.string("message_id_domain").lower(),
        token_secret=sec.secret("token_secret", required=False),
        template_dir=sec.string("template_dir") or None,
    )
    if settings.retry_base < timedelta(seconds=1):
        sec.problems.append(f"{sec.key('retry_base')}: must be at least 1s")
    if settings.message_id_domain and not _DOMAIN.fullmatch(settings.message_id_domain):
        sec.problems.append(f"{sec.key('message_id_domain')}: not a domain name")
    sec.finish()
    return settings


def _address(sec: Section, name: str) -> str:
    value = sec.required_string(name)
    address = plain_address(value) if value else ""
    if value and not address:
        sec.problems.append(f"{sec.key(name)}: expected a plain address such as bridge@example.org")
        return ""
    return address


def read_replies(sec: Section) -> ReplySettings:
    """The [replies] table; every key optional."""
    d = ReplySettings()
    cfg = ReplySettings(
        reply_window=sec.duration("reply_window", "7d"),
        min_poll_interval=sec.duration("min_poll_interval", "15m"),
        daily_read_budget=sec.integer("daily_read_budget", d.daily_read_budget, 1, 10_000_000),
        use_search=sec.boolean("use_search", d.use_search),
    )
    if cfg.min_poll_interval < timedelta(seconds=5):
        sec.problems.append(f"{sec.key('min_poll_interval')}: must be at least 5s")
    if not timedelta(hours=1) <= cfg.reply_window <= timedelta(days=30):
        sec.problems.append(f"{sec.key('reply_window')}: must be between 1h and 30d")
    sec.finish()
    return cfg
