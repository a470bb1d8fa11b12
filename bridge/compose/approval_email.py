"""Build the approval request emailed to the moderators: pure, values in, bytes out.

Header values are built from cleaned `str` values (see compose.relay_email.clean_line), never from
parsed header objects. The request is marked Auto-Submitted (it goes to moderators, not to the
list) so that their auto-replies stay quiet; its token is in the Subject and in its own header.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING

from bridge.compose.post import ComposeSettings, clean_subject, make_template_env
from bridge.compose.relay_email import clean_line, clean_name, clean_text
from bridge.decide.approval import POST, plus_address, strip_tags, subject_tag

if TYPE_CHECKING:  # jinja2 loads where an environment is built (make_template_env)
    import jinja2

BODY_TEMPLATE = "approval.txt.j2"
SUBJECT_TEMPLATE = "approval_subject.txt.j2"
TOKEN_HEADER = "X-Listserv-Bridge-Approval"
MAX_SUBJECT = 160
NETWORK_NAMES = {"x": "X", "mastodon": "Mastodon", "bluesky": "Bluesky"}


@dataclass(frozen=True, slots=True)
class ApprovalItem:
    """What the moderators are asked about: a held post, or a held reply from X."""

    kind: str  # post | reply
    token: str
    texts: tuple[tuple[str, str], ...]  # (network, the exact text it would post or relay)
    subject: str  # the list question's subject
    question_date: datetime | None
    link: str  # the thread link
    evidence: tuple[str, ...]  # why it is held
    expires_at: datetime
    author: str = ""  # replies: "Name (@handle)"
    url: str = ""  # replies: the reply on X


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who sends the request and who answers it."""

    from_address: str  # the bridge's own address
    from_name: str
    moderators: tuple[str, ...]
    plus_address: bool = False  # answers go to local+lsb-<token>@domain


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return make_template_env(ComposeSettings())  # the packaged templates; built once


def network_name(network: str) -> str:
    return NETWORK_NAMES.get(network, network)


def render_subject(item: ApprovalItem) -> str:
    """The template's line and our tag; a tag-like text in the list's subject is taken out, so
    that a crafted subject cannot make the moderators' answers name two requests."""
    question = strip_tags(clean_subject(item.subject) or item.subject) or "(no subject)"
    networks = [network_name(n) for n, _ in item.texts]
    text = _env().get_template(SUBJECT_TEMPLATE).render(kind=item.kind, subject=question,
                                                        networks=networks)
    return f"{clean_line(text, MAX_SUBJECT)} {subject_tag(item.token)}"


def render_body(item: ApprovalItem, bridge_name: str) -> str:
    text = _env().get_template(BODY_TEMPLATE).render(
        kind=item.kind, bridge_name=bridge_name,
        texts=[{"network": network_name(n), "text": clean_text(t)} for n, t in item.texts],
        author=clean_line(item.author, 120), url=clean_line(item.url, 500),
        subject=clean_line(clean_subject(item.subject) or item.subject, 200),
        question_date=item.question_date.strftime("%Y-%m-%d") if item.question_date else "date unknown",
        link=clean_line(item.link, 500) or "(no link)",
        evidence=[clean_line(e, 300) for e in item.evidence if e.strip()] or ["(no reason recorded)"],
        tag=subject_tag(item.token), expires=item.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        command="release" if item.kind == POST else "moderate",
    )
    return clean_text(text) + "\n"


def build_approval_mail(item: ApprovalItem, envelope: Envelope, message_id: str, *,
                        date: datetime) -> bytes:
    """The request's exact bytes (CRLF, ASCII headers, UTF-8 quoted-printable body)."""
    msg = EmailMessage(policy=policy.SMTP)
    name = clean_name(envelope.from_name) or "listserv-bridge"
    msg["From"] = Address(display_name=f"{name} approvals"[:70], addr_spec=envelope.from_address)
    msg["To"] = ", ".join(envelope.moderators)
    reply_to = (plus_address(envelope.from_address, item.token) if envelope.plus_address
                else envelope.from_address)
    msg["Reply-To"] = reply_to
    msg["Subject"] = render_subject(item)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[TOKEN_HEADER] = item.token
    msg.set_content(render_body(item, name), charset="utf-8", cte="quoted-printable")
    return msg.as_bytes()
