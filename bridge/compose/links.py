"""Choose the public archive link for a thread's root, per list platform, or say why none."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from bridge.model import Mail

Strategy = Literal["auto", "archived_at", "google_groups", "template"]
TEMPLATE_FIELDS = frozenset({"message_id", "message_id_hash", "list_id"})
_GOOGLE_SUFFIX = ".googlegroups.com"


@dataclass(frozen=True)
class LinkSettings:
    """How to link a thread: Archived-At (Mailman 3), Google Groups by Message-ID, or a pattern."""

    strategy: Strategy = "auto"
    url_template: str | None = None  # e.g. "https://lists.example.org/arc/{message_id_hash}"
    google_group: str | None = None  # overrides the group name taken from List-Id
    archive_private: bool = False  # a private archive is never linked from a public post


Link = tuple[str | None, str]


def thread_link(root: Mail, settings: LinkSettings) -> Link:
    """Return (url, reason) for the thread's root; url is None when no public link can be made."""
    if settings.archive_private:
        return None, "archive is private"
    if settings.strategy == "archived_at":
        return _archived_at(root)
    if settings.strategy == "google_groups":
        return _google_groups(root, settings)
    if settings.strategy == "template":
        return _template(root, settings)
    return _auto(root, settings)


def check_url_template(template: str) -> list[str]:
    """Problems with a configured url_template ([] when usable), for the config checker."""
    problems = []
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return [f"url_template {template!r} is not a valid pattern: {exc}"]
    for name in fields:
        if name not in TEMPLATE_FIELDS:
            allowed = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
            problems.append(f"url_template uses unknown placeholder {{{name}}}; allowed: {allowed}")
    if not problems and not _is_http(template.format_map(dict.fromkeys(TEMPLATE_FIELDS, "x"))):
        problems.append(f"url_template {template!r} must start with http:// or https://")
    return problems


def group_from_list_id(list_id: str | None) -> str | None:
    """The Google Group name from a List-Id such as "<solo.googlegroups.com>", else None."""
    value = (bare_list_id(list_id) or "").lower()
    if value.endswith(_GOOGLE_SUFFIX) and len(value) > len(_GOOGLE_SUFFIX):
        return value[: -len(_GOOGLE_SUFFIX)]
    return None


def _auto(root: Mail, settings: LinkSettings) -> Link:
    url, reason = _archived_at(root)
    if url:
        return url, reason
    if settings.google_group or group_from_list_id(root.list_id):
        return _google_groups(root, settings)
    if settings.url_template:
        return _template(root, settings)
    return None, "no usable link"


def _archived_at(root: Mail) -> Link:
    url = (root.archived_at or "").strip().strip("<>").strip()
    if not url:
        return None, "no Archived-At header"
    if not _is_http(url):
        return None, "Archived-At is not an http(s) URL"
    return url, "Archived-At"


def _google_groups(root: Mail, settings: LinkSettings) -> Link:
    group = settings.google_group or group_from_list_id(root.list_id)
    if not group:
        return None, "not a Google Group: no group configured and List-Id is not *.googlegroups.com"
    msgid = quote(root.message_id, safe="")
    url = f"https://groups.google.com/d/msgid/{quote(group, safe='')}/{msgid}"
    return url, "Google Groups message link"


def _template(root: Mail, settings: LinkSettings) -> Link:
    template = settings.url_template
    if not template:
        return None, "no url_template configured"
    problems = check_url_template(template)
    if problems:
        return None, problems[0]
    values = {
        "message_id": root.message_id,
        "message_id_hash": root.message_id_hash,
        "list_id": bare_list_id(root.list_id),
    }
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    missing = sorted(f for f in fields if not values[f])
    if missing:
        return None, f"url_template needs {{{missing[0]}}}, which this message lacks"
    url = template.format_map({k: quote(v or "", safe="") for k, v in values.items()})
    if not _is_http(url):
        return None, "url_template does not give an http(s) URL"
    return url, "url_template"


def bare_list_id(list_id: str | None) -> str | None:
    """The bare List-Id ("solo.lists.example.org"), without a description or angle brackets."""
    if not list_id:
        return None
    value = list_id.strip()
    if "<" in value and ">" in value:
        value = value[value.index("<") + 1 : value.rindex(">")]
    return value.strip() or None


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and " " not in url
