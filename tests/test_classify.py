"""bridge.mail.classify: flags from headers, subject and content type."""

from __future__ import annotations

import email
import email.policy
from email.message import Message

import pytest

from bridge.mail.classify import (
    classify_body,
    classify_headers,
    is_list_stamped,
    is_robot_address,
)
from bridge.model import Flag

LIST = {"List-Id": "<solo.lists.example.org>"}


def _msg(headers: dict[str, str] | list[tuple[str, str]]) -> Message:
    """A parsed message with these headers (duplicates allowed as a list of pairs)."""
    pairs = headers.items() if isinstance(headers, dict) else headers
    raw = "".join(f"{k}: {v}\n" for k, v in pairs) + "\nbody\n"
    return email.message_from_string(raw, policy=email.policy.default)


def flags(
    headers: dict[str, str] | list[tuple[str, str]],
    subject: str = "Question about ILL",
    content_type: str = "text/plain",
    list_stamped: bool | None = None,
) -> frozenset[Flag]:
    return classify_headers(_msg(headers), subject, content_type, list_stamped=list_stamped)


def test_ordinary_list_post_has_no_flags() -> None:
    """A person's post distributed by a list (List-Id, Precedence: list) is not flagged."""
    assert flags({**LIST, "From": "Ann <ann@example.org>", "Precedence": "list"}) == frozenset()


# --- AUTOMATED --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["auto-generated", "auto-replied", "auto-notified; x=y"])
def test_auto_submitted_other_than_no_is_automated(value: str) -> None:
    """RFC 3834: any Auto-Submitted value but "no" marks machine mail."""
    assert Flag.AUTOMATED in flags({**LIST, "Auto-Submitted": value})


def test_auto_submitted_no_is_a_person() -> None:
    """ "Auto-Submitted: no" is explicitly human."""
    assert flags({**LIST, "Auto-Submitted": " No "}) == frozenset()


@pytest.mark.parametrize("value", ["bulk", "list", "junk"])
def test_list_stamped_precedence_is_ignored(value: str) -> None:
    """ezmlm/LISTSERV/Mailman stamp bulk, list (and old Mailman junk) on every post."""
    assert Flag.AUTOMATED not in flags({**LIST, "Precedence": value})


def test_mailing_list_header_alone_marks_list_mail() -> None:
    """ezmlm's Mailing-List header counts as list-stamped: its "bulk" is ignored."""
    headers = {"Mailing-List": "contact users-help@example.org; run by ezmlm", "Precedence": "bulk"}
    assert Flag.AUTOMATED not in flags(headers)


@pytest.mark.parametrize("value", ["bulk", "junk", "auto_reply"])
def test_precedence_counts_without_a_list_stamp(value: str) -> None:
    """Mail that did not come through a list: bulk/junk/auto_reply are automated."""
    assert Flag.AUTOMATED in flags({"Precedence": value})


def test_precedence_auto_reply_counts_even_on_list_mail() -> None:
    """No list stamps auto_reply: it is the sender's own autoresponder."""
    assert Flag.AUTOMATED in flags({**LIST, "Precedence": "auto_reply"})


def test_explicit_list_stamped_overrides_header_detection() -> None:
    """The caller's list_stamped wins over what the headers say."""
    assert Flag.AUTOMATED in flags({**LIST, "Precedence": "bulk"}, list_stamped=False)
    assert Flag.AUTOMATED not in flags({"Precedence": "bulk"}, list_stamped=True)


@pytest.mark.parametrize(
    "sender",
    [
        "GitHub <noreply@github.com>",
        "notifications@github.com",
        "GitBox <git@apache.org>",
        "Jenkins <jenkins@ci.example.org>",
        "No Reply <no-reply.abc123@shop.example>",
    ],
)
def test_robot_and_bot_senders_are_automated(sender: str) -> None:
    """noreply/notification addresses and code-hosting bots never ask questions."""
    assert Flag.AUTOMATED in flags({**LIST, "From": sender})


def test_bot_headers_are_automated() -> None:
    """X-GitHub-Reason and similar robot headers mark automated mail."""
    assert Flag.AUTOMATED in flags({**LIST, "X-GitHub-Reason": "subscribed"})


def test_bot_subject_tag_is_automated() -> None:
    """ "[GitHub] x opened a pull request" comes from a bot even under a person's name."""
    assert Flag.AUTOMATED in flags({**LIST, "From": "io7m <x@example.org>"}, "[GitHub] PR #1")


def test_null_return_path_without_list_is_automated() -> None:
    """ "Return-Path: <>" (null sender) is a DSN or autoresponder when no list relayed it."""
    assert Flag.AUTOMATED in flags({"Return-Path": "<>"})
    assert Flag.AUTOMATED not in flags({**LIST, "Return-Path": "<>"})


# --- BOUNCE -----------------------------------------------------------------------------------


def test_delivery_status_report_is_a_bounce() -> None:
    """multipart/report; report-type=delivery-status is a DSN (RFC 3464)."""
    ctype = 'multipart/report; report-type="delivery-status"; boundary="b"'
    assert {Flag.BOUNCE, Flag.AUTOMATED} <= flags({}, content_type=ctype)


def test_read_receipt_report_is_not_a_bounce() -> None:
    """multipart/report with report-type=disposition-notification is not a DSN."""
    ctype = "multipart/report; report-type=disposition-notification"
    assert Flag.BOUNCE not in flags({}, content_type=ctype)


@pytest.mark.parametrize(
    "sender",
    ["MAILER-DAEMON@mx.example.org", "Postmaster <postmaster@example.org>", "Mail Delivery "
     "System via Solo <solo@lists.example.org>"],
)  # fmt: skip
def test_mailer_daemon_senders_are_bounces(sender: str) -> None:
    """mailer-daemon/postmaster, also behind a list's "X via List" From rewrite."""
    assert Flag.BOUNCE in flags({**LIST, "From": sender})


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Returned mail: see transcript for details",
        "[Solo] Undeliverable: Question about ILL",
        "Unzustellbar: Frage",
        "Warning: message 1abc-0006 delayed 48 hours",
    ],
)
def test_bounce_subjects(subject: str) -> None:
    """MTA bounce subjects (Postfix, Exim, Sendmail, Exchange, German) mark a bounce."""
    assert Flag.BOUNCE in flags(LIST, subject)


def test_person_asking_about_bounces_is_not_a_bounce() -> None:
    """A question about undeliverable mail is not itself a bounce."""
    assert Flag.BOUNCE not in flags(LIST, "Undeliverable mail to Gmail, anyone else?")


def test_delay_warning_auto_replied_is_not_out_of_office() -> None:
    """MTA delay warnings carry "Auto-Submitted: auto-replied" but are not vacation notices."""
    got = flags({**LIST, "Auto-Submitted": "auto-replied"}, "Warning: message x delayed 48 hours")
    assert Flag.OUT_OF_OFFICE not in got and Flag.BOUNCE in got


# --- OUT_OF_OFFICE ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office AutoReply: Question",
        "Automatic reply: Question",
        "Auto-Reply: Question",
        "Autoreply: Question",
        "Abwesenheitsnotiz: Frage",
        "Automatische Antwort: Frage",
        "Réponse automatique : Question",
        "Respuesta automática: Pregunta",
        "Risposta automatica: Domanda",
        "Resposta automática: Pergunta",
        "Automatisch antwoord: Vraag",
        "Autosvar: Fråga",
        "自動応答: 質問",
        "자동 응답: 질문",
        "[Solo] Automatic reply: Question",
        "[Auto-Reply] Question",
    ],
)
def test_auto_reply_subjects_are_machine_evidence_alone(subject: str) -> None:
    """Prefixes only autoresponders write, in many languages, also behind a list tag."""
    assert Flag.OUT_OF_OFFICE in flags(LIST, subject)


AWAY_SUBJECTS = [
    "Out of Office: Re: Question", "Absence: Question", "Fuera de la oficina: Pregunta",
    "Fora do escritório: Pergunta", "Afwezig: Vraag", "Frånvaro: Fråga", "不在: 質問",
    "Vacation: how do other solo librarians get cover?",
]


@pytest.mark.parametrize("subject", AWAY_SUBJECTS)
def test_away_words_in_a_subject_alone_are_not_out_of_office(subject: str) -> None:
    """People write these words too: "Vacation: how do other solo librarians get cover?"."""
    assert Flag.OUT_OF_OFFICE not in flags(LIST, subject)


@pytest.mark.parametrize("subject", AWAY_SUBJECTS)
def test_away_words_with_outlooks_suppress_header_are_out_of_office(subject: str) -> None:
    got = flags({**LIST, "X-Auto-Response-Suppress": "All"}, subject)
    assert {Flag.OUT_OF_OFFICE, Flag.AUTOMATED} <= got


@pytest.mark.parametrize(
    "body",
    [
        "Thank you for your message. I am out of the office until 14 December with limited "
        "access to email.",
        "I will be on leave from 3 to 17 March. For urgent matters contact the front desk.",
        "Ich bin bis 4. Januar nicht im Büro. Ihre Nachricht wird nicht weitergeleitet.",
        "This is an automatic reply: I'm away from my desk this week.",
    ],
)
def test_away_subject_with_an_auto_reply_body_is_out_of_office(body: str) -> None:
    assert classify_body("Out of Office: Re: Serials question", body) == {
        Flag.OUT_OF_OFFICE, Flag.AUTOMATED}


def test_a_vacation_question_is_not_out_of_office_whatever_its_body() -> None:
    body = ("I am going on vacation for two weeks in January and there is nobody to cover the "
            "desk. How do other solo librarians arrange cover? Do you close the library?")
    assert classify_body("Vacation: how do other solo librarians get cover?", body) == frozenset()
    assert classify_body("Out of Office: Re: Question", "x " * 1000 + AWAY_BODY) == frozenset()


AWAY_BODY = "I am out of the office until Monday."


@pytest.mark.parametrize(
    "headers", [{"X-Autoreply": "yes"}, {"X-Autorespond": "x"}, {"Auto-Submitted": "auto-replied"}]
)
def test_autoreply_headers_are_out_of_office(headers: dict[str, str]) -> None:
    """X-Autoreply, X-Autorespond and Auto-Submitted: auto-replied mark a vacation reply."""
    assert {Flag.OUT_OF_OFFICE, Flag.AUTOMATED} <= flags({**LIST, **headers})


def test_auto_response_suppress_alone_is_not_automated() -> None:
    """Outlook sets X-Auto-Response-Suppress: All on ordinary mail too."""
    assert flags({**LIST, "X-Auto-Response-Suppress": "All"}) == frozenset()


def test_auto_response_suppress_with_oof_subject_is_automated() -> None:
    """With an autoreply subject, Outlook's suppress header confirms a machine sent it."""
    got = flags({**LIST, "X-Auto-Response-Suppress": "All"}, "Automatic reply: Question")
    assert {Flag.OUT_OF_OFFICE, Flag.AUTOMATED} <= got


@pytest.mark.parametrize(
    "headers",
    [
        {"X-GitHub-Recipient": "someone", "From": "Ann <ann@example.org>"},
        {"X-GitLab-Pipeline-Id": "12"},
        {"X-Gerrit-Change-Id": "I0a1b"},
        {"X-Bugzilla-Product": "Catalogue"},
        {"X-JIRA-FingerPrint": "ab12"},
        {"From": "kernel test robot <lkp@build.example.org>"},
        {"From": "buildfarm.example.org bot <farm@build.example.org>"},
        {"From": "<ci_notify@build.example.org>"},
    ],
)
def test_code_hosting_tracker_and_ci_robots_are_automated(headers: dict[str, str]) -> None:
    assert Flag.AUTOMATED in flags({**LIST, **headers})


@pytest.mark.parametrize("name", ["Abbot Okafor", "Ann Talbot", "Robert Botha"])
def test_people_whose_names_contain_bot_are_not_robots(name: str) -> None:
    assert flags({**LIST, "From": f"{name} <person@example.org>"}) == frozenset()


# --- evidence flags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "failed"),
    [
        ("Authentication-Results", "mx.example.org; spf=pass; dkim=fail header.d=x.example", True),
        ("ARC-Authentication-Results", "i=1; mx.google.example; dmarc=fail (p=NONE)", True),
        ("Authentication-Results", "mx.example.org; spf=softfail; dkim=pass; dmarc=pass", False),
        ("Authentication-Results", "mx.example.org; spf=pass; dkim=pass; dmarc=pass", False),
    ],
)
def test_authentication_failure(header: str, value: str, failed: bool) -> None:
    assert (Flag.AUTH_FAILED in flags({**LIST, header: value})) is failed


def test_the_lists_own_list_unsubscribe_is_not_a_bulk_sender() -> None:
    headers = {**LIST, "List-Post": "<mailto:solo@lists.example.org>",
               "List-Unsubscribe": "<mailto:solo-leave@lists.example.org>"}
    assert flags(headers) == frozenset()


@pytest.mark.parametrize(
    "headers",
    [
        {**LIST, "List-Unsubscribe": "<https://news.pitch.example.com/u?id=7>"},
        [("List-Id", "<solo.lists.example.org>"),
         ("List-Unsubscribe", "<mailto:leave@pitch.example.com>"),
         ("List-Unsubscribe", "<mailto:solo-leave@lists.example.org>")],
        {"List-Unsubscribe": "<mailto:leave@pitch.example.com>"},
    ],
)
def test_the_senders_own_list_unsubscribe_marks_a_bulk_sender(
    headers: dict[str, str] | list[tuple[str, str]],
) -> None:
    assert Flag.BULK_SENDER in flags(headers)


def test_undisclosed_recipients() -> None:
    assert Flag.UNDISCLOSED in flags({**LIST, "To": "undisclosed-recipients:;"})


# --- SPAM -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({"X-Spam-Flag": "YES"}, "Offer"),
        ({"X-Spam-Status": "Yes, score=9.1 required=5.0"}, "Offer"),
        ({"X-Spam": "yes"}, "Offer"),
        ({}, "[SPAM] Offer"),
        ({}, "[Solo] [SPAM] Offer"),
        ({}, "***SPAM*** Offer"),
        ({}, "{Spam?} Offer"),
    ],
)
def test_spam_marks(headers: dict[str, str], subject: str) -> None:
    """SpamAssassin/filter headers and subject tags mark spam."""
    assert Flag.SPAM in flags({**LIST, **headers}, subject)


@pytest.mark.parametrize(
    "headers", [{"X-Spam-Flag": "NO"}, {"X-Spam-Status": "No, score=2.3 required=5.0"}]
)
def test_negative_spam_verdicts_are_not_spam(headers: dict[str, str]) -> None:
    """The filter's "no" verdict is not a spam flag."""
    assert Flag.SPAM not in flags({**LIST, **headers})


# --- NO_ARCHIVE -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-No-Archive": "yes"}, True),
        ({"X-No-Archive": " YES "}, True),
        ({"X-Archive": "no"}, True),
        ({"X-Archive": "No;"}, True),
        ({"X-No-Archive": "no"}, False),
        ({"X-Archive": "yes"}, False),
    ],
)
def test_no_archive(headers: dict[str, str], expected: bool) -> None:
    """X-No-Archive: yes / X-Archive: no (any case, spaces) mean "do not publish me"."""
    assert (Flag.NO_ARCHIVE in flags({**LIST, **headers})) is expected


# --- lookups and helpers ----------------------------------------------------------------------


def test_plain_dict_is_looked_up_case_insensitively() -> None:
    """A dict with odd header-name case works like a Message."""
    headers = {"list-id": "<x>", "x-spam-flag": "YES", "AUTO-SUBMITTED": "auto-generated"}
    assert classify_headers(headers, "s", "text/plain") == {Flag.SPAM, Flag.AUTOMATED}


def test_every_value_of_a_repeated_header_counts() -> None:
    """A second Auto-Submitted header is not hidden behind the first."""
    got = flags([("List-Id", "<x>"), ("Auto-Submitted", "no"), ("Auto-Submitted", "auto-replied")])
    assert Flag.AUTOMATED in got


def test_is_list_stamped() -> None:
    """List-Id, List-Post or Mailing-List mark list-distributed mail."""
    assert is_list_stamped(_msg({"List-Post": "<mailto:solo@example.org>"}))
    assert not is_list_stamped(_msg({"From": "ann@example.org"}))


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("MAILER-DAEMON@example.org", True),
        ("Mail System <postmaster@example.org>", True),
        ("no-reply@example.org", True),
        ("noreply@github.com", True),
        ("do-not-reply@example.org", True),
        ("donotreply@example.org", True),
        ("bounce@example.org", True),
        ("bounces+abc@example.org", True),
        ("solo-bounces@lists.example.org", True),
        ("notifications@github.com", True),
        ("ann@example.org", False),
        ("Noreen Replyson <noreen@example.org>", False),
        ("bounce.house@example.org", False),
        ("0000001a-dmarc-request@listserv.example.org", False),  # LISTSERV DMARC rewrite
    ],
)
def test_is_robot_address(addr: str, expected: bool) -> None:
    """Robot mailboxes are recognised by local part, people are not."""
    assert is_robot_address(addr) is expected


def test_is_list_stamped_on_a_plain_dict_ignores_key_case() -> None:
    """is_list_stamped accepts a dict whose keys are not in canonical case."""
    assert is_list_stamped({"list-id": "<solo.lists.example.org>"})
