"""Choose the public archive link for a thread's root, per list platform, or say why none.

A link from a header (Archived-At, List-Archive) is used only when it points into the list's own
archive: under the configured `archive_url`, or in the known URL shape of the list's platform on
the list's own site. Sender headers pass unchanged through several list platforms, so an
unchecked header would let anyone put their link in a post under the list's name.
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from bridge.model import Mail

Strategy = Literal["auto", "archived_at", "google_groups", "template"]
TEMPLATE_FIELDS = frozenset({"message_id", "message_id_hash", "list_id"})
_GOOGLE_SUFFIX = ".googlegroups.com"
MAX_URL = 512
# Printable ASCII a URL may carry in a post: no quotes, brackets, parentheses or spaces, which
# end a URL early by twitter-text's rules and let the rest become text (or an @mention).
_SAFE_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&*+,;=%]+")
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}")
_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)


@dataclass(frozen=True)
class LinkSettings:
    """How to link a thread: Archived-At (Mailman 3), Google Groups by Message-ID, or a pattern."""

    strategy: Strategy = "auto"
    url_template: str | None = None  # e.g. "https://lists.example.org/arc/{message_id_hash}"
    google_group: str | None = None  # overrides the group name taken from List-Id
    archive_private: bool = False  # a private archive is never linked from a public post
    archive_url: str | None = None  # the list's archive; header links must point under it


Link = tuple[str | None, str]


def thread_link(root: Mail, settings: LinkSettings) -> Link:
    """Return (url, reason) for the thread's root; url is None when no public link can be made."""
    if settings.archive_private:
        return None, "archive is private"
    if settings.strategy == "archived_at":
        return _archived_at(root, settings)
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
    if not problems and not is_safe_url(template.format_map(dict.fromkeys(TEMPLATE_FIELDS, "x"))):
        problems.append(f"url_template {template!r} must be a plain http:// or https:// URL")
    return problems


def check_archive_url(url: str) -> list[str]:
    """Problems with a configured archive_url ([] when usable), for the config checker."""
    if not is_safe_url(url):
        return [f"archive_url {url!r} must be a plain http:// or https:// URL"]
    return []


def group_from_list_id(list_id: str | None) -> str | None:
    """The Google Group name from a List-Id such as "<solo.googlegroups.com>", else None."""
    value = (bare_list_id(list_id) or "").lower()
    if value.endswith(_GOOGLE_SUFFIX) and len(value) > len(_GOOGLE_SUFFIX):
        return value[: -len(_GOOGLE_SUFFIX)]
    return None


def _auto(root: Mail, settings: LinkSettings) -> Link:
    url, why_not = _archived_at(root, settings)
    if url:
        return url, why_not
    if settings.google_group or group_from_list_id(root.list_id):
        return _google_groups(root, settings)
    if settings.url_template:
        return _template(root, settings)
    page, why_no_page = _list_archive(root, settings)
    if page:
        return page, why_no_page
    reasons = [r for r in (why_not, why_no_page) if "outside" in r or "private" in r]
    return None, "; ".join(["no usable link", *reasons])


def _header_url(value: str | None, header: str) -> Link:
    """(url, "") when the header holds a plain http(s) URL, else (None, why not)."""
    url = (value or "").strip().strip("<>").strip()
    if not url:
        return None, f"no {header} header"
    if not is_safe_url(url):
        return None, f"{header} is not a plain http(s) URL"
    return url, ""


def _archived_at(root: Mail, settings: LinkSettings) -> Link:
    url, why_not = _header_url(root.archived_at, "Archived-At")
    if url is None:
        return None, why_not
    if not (_under_archive_url(url, settings) or _mailman3_message(url, root)):
        return None, f"Archived-At points outside the list's archive ({_host(url)})"
    return url, "Archived-At"


def _list_archive(root: Mail, settings: LinkSettings) -> Link:
    """RFC 2369 List-Archive: the archive page the list names itself (not the thread)."""
    url, why_not = _header_url(root.list_archive, "List-Archive")
    if url is None:
        return None, why_not
    if _private_archive(url):
        return None, "List-Archive names a private archive"
    if not (_under_archive_url(url, settings) or _platform_archive_page(url, root)):
        return None, f"List-Archive points outside the list's archive ({_host(url)})"
    return url, "List-Archive (the list's archive page)"


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
    if not is_safe_url(url):
        return None, "url_template does not give a plain http(s) URL"
    return url, "url_template"


def bare_list_id(list_id: str | None) -> str | None:
    """The bare List-Id ("solo.lists.example.org"), without a description or angle brackets."""
    if not list_id:
        return None
    value = list_id.strip()
    if "<" in value and ">" in value:
        value = value[value.index("<") + 1 : value.rindex(">")]
    return value.strip() or None


# --- is this URL the list's own archive? ---


def is_safe_url(url: str) -> bool:
    """A plain http(s) URL of printable ASCII, a real host name, no user part, no dot segments."""
    if len(url) > MAX_URL or not _SAFE_URL.fullmatch(url):
        return False
    parts = urlsplit(url)
    host = parts.netloc.lower().removesuffix(".")
    if ":" in host:
        host, _, port = host.partition(":")
        if not port.isdigit():
            return False
    return bool(_HOST.fullmatch(host)) and not _DOT_SEGMENT.search(parts.path)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _under_archive_url(url: str, settings: LinkSettings) -> bool:
    base = settings.archive_url
    if not base or not is_safe_url(base):
        return False
    b, u = urlsplit(base), urlsplit(url)
    prefix = b.path if b.path.endswith("/") else b.path + "/"
    return u.hostname == b.hostname and u.port == b.port and (
        (u.path + "/").startswith(prefix)
    )


def _list_parts(root: Mail) -> tuple[str, str] | None:
    """(list name, list domain) from the List-Id "solo.lists.example.org"."""
    bare = (bare_list_id(root.list_id) or "").lower()
    name, _, domain = bare.partition(".")
    return (name, domain) if name and "." in domain else None


def _same_site(host: str, domain: str) -> bool:
    """The archive host is the list's own site: the same last two labels ("example.org")."""
    return host == domain or host.split(".")[-2:] == domain.split(".")[-2:]


def mailman_hash(message_id: str) -> str:
    """Mailman 3's X-Message-ID-Hash: base32 of the SHA-1 of the Message-ID (no brackets)."""
    return base64.b32encode(hashlib.sha1(message_id.encode("utf-8")).digest()).decode()


def _mailman3_message(url: str, root: Mail) -> bool:
    """HyperKitty's permalink of this very message on the list's own site."""
    parts = _list_parts(root)
    if parts is None:
        return False
    name, domain = parts
    pattern = rf"/(?:[\w-]+/)*list/{re.escape(name)}@{re.escape(domain)}/message/([A-Z2-7]{{32}})/?"
    found = re.fullmatch(pattern, urlsplit(url).path, re.IGNORECASE)
    if found is None or not _same_site(_host(url), domain):
        return False
    return found.group(1).upper() == mailman_hash(root.message_id)


def _platform_archive_page(url: str, root: Mail) -> bool:
    """The list's archive page in the shape of Mailman 2/3, LISTSERV or Groups.io, on its site."""
    parts = _list_parts(root)
    if parts is None:
        return False
    name, domain = parts
    split = urlsplit(url)
    n = re.escape(name)
    shapes = (
        rf"/(?:mailman/)?pipermail/{n}/?",  # Mailman 2
        rf"/(?:[\w-]+/)*list/{n}@{re.escape(domain)}/?",  # Mailman 3 (HyperKitty)
        rf"/(?:cgi-bin|scripts)/wa(?:\.exe)?\?a0={n}",  # LISTSERV
        rf"/g/{n}(?:/topics)?/?",  # Groups.io
    )
    target = split.path + (f"?{split.query}" if split.query else "")
    shaped = any(re.fullmatch(s, target, re.IGNORECASE) for s in shapes)
    return shaped and _same_site(_host(url), domain)


def _private_archive(url: str) -> bool:
    return "/mailman/private/" in urlsplit(url).path.lower()


# --- telling the admin when a list has no link source ---


def describe_link_source(settings: LinkSettings, roots: Iterable[Mail]) -> str | None:
    """None when posts can get a link; else one plain sentence saying why not and what to set.

    `roots` are recent thread roots of the list (a few dozen are enough); `check` and `preview`
    print the sentence.
    """
    if settings.archive_private:
        return ("links.archive_private = true: posts never link to a private archive, so nothing "
                "is posted; set it to false only if the list's archive is public")
    if settings.strategy != "auto" or settings.url_template or settings.google_group:
        return None
    seen = list(roots)
    if not seen:
        return None  # nothing to judge yet
    rejected: set[str] = set()
    for root in seen:
        url, why = thread_link(root, settings)
        if url:
            return None
        rejected.update(m.group(1) for m in re.finditer(r"outside the list's archive \(([^)]*)\)", why))
    hint = ""
    if rejected:
        hosts = ", ".join(sorted(rejected)[:3])
        hint = (f" Its Archived-At/List-Archive headers point to {hosts}; if that is the list's "
                f"own archive, set [links] archive_url to its base URL.")
    return (
        f"no link source for this list: none of its last {len(seen)} questions carries an "
        "Archived-At or List-Archive header into the list's archive, and it is not a Google "
        "Group, so nothing can be posted. Add to [links]: url_template = \"https://<archive>/"
        "...{message_id}...\" (a link per message, e.g. LISTSERV or a mail archive), or "
        "google_group = \"<name>\", or archive_url = \"https://<archive>/\"." + hint
    )
