"""The matcher: which threads are unanswered help requests due for posting, with the reason why."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.decide.matcher import (
    Decision,
    MatcherSettings,
    check_settings,
    classify_request,
    decide,
    is_content_free,
    is_qualifying_answer,
)
from bridge.model import Author, Flag, Mail, ThreadView

T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)  # a Tuesday
ASKER = Author("Ann Example", "ann@example.org")
MEMBER = Author("Bob Helper", "bob@example.net")
DEFAULT = MatcherSettings()
_ids = itertools.count(1)


def mail(
    subject: str = "How do I renew a subscription in the ILS?",
    body: str | None = "Our renewal step fails with an error. What am I missing in the setup?",
    *,
    author: Author = ASKER,
    at: timedelta = timedelta(0),
    flags: frozenset[Flag] = frozenset(),
    reply_to: Mail | None = None,
) -> Mail:
    """A small Mail factory: a root by default, a reply when `reply_to` is given."""
    number = next(_ids)
    is_reply = reply_to is not None
    return Mail(
        message_id=f"m{number}@example.org",
        subject=f"Re: {reply_to.subject}" if reply_to is not None else subject,
        subject_norm=subject.casefold(),
        is_reply_subject=is_reply,
        author=author,
        date=T0 + at,
        in_reply_to=reply_to.message_id if reply_to is not None else None,
        references=(reply_to.message_id,) if reply_to is not None else (),
        list_id="solo.lists.example.org",
        flags=flags,
        body=body,
    )


def reply(
    root: Mail, body: str | None, *, author: Author = MEMBER, hours: float = 3, **kw: object
) -> Mail:
    return mail(body=body, author=author, at=timedelta(hours=hours), reply_to=root, **kw)  # type: ignore[arg-type]


def thread(root: Mail, *replies: Mail) -> ThreadView:
    return ThreadView(thread_id=1, root=root, messages=(root, *replies))


def decide_at(
    view: ThreadView,
    hours: float,
    settings: MatcherSettings = DEFAULT,
    posted: frozenset[str] = frozenset(),
) -> Decision:
    return decide(view, T0 + timedelta(hours=hours), settings, posted)


# --- is it a request for help? ---


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        (
            "I get the following error when building the catalogue module",
            "See the log below.\nmake: *** [all] Error 2",
        ),
        ("Cataloguing e-books", "Does anyone know a free tool for batch MARC edits?"),
        ("Stuck with overdue notices", "Our notices are not working since the upgrade."),
        ("Ayuda con el préstamo interbibliotecario", "No funciona el formulario."),
        ("Frage zur Fernleihe", "Wie kann ich das einstellen"),
        ("Interlibrary loan policy for donations", "Is there a template you would recommend?"),
    ],
)
def test_requests_without_or_with_question_marks_are_recognised(subject: str, body: str) -> None:
    is_request, reason = classify_request(mail(subject, body), DEFAULT)
    assert is_request, reason
    assert reason.startswith("request")


@pytest.mark.parametrize(
    ("subject", "body", "reason"),
    [
        (
            "[ANN] New discovery layer available",
            "We are pleased to announce it.",
            "announcement: subject matches '[ann]'",
        ),
        (
            "Save the Date: Solo Librarians Day 2025",
            "Join us?",
            "announcement: subject matches 'save the date'",
        ),
        (
            "Call for Papers: Small Libraries Conference",
            "Submit by May?",
            "call for papers: subject matches 'call for papers'",
        ),
        (
            "SDLC 2025",
            "** apologies for cross-posting **\nCall for Contributions: tracks?",
            "call for papers: body matches 'call for contributions'",
        ),
        (
            "City library is hiring a cataloguer",
            "Apply now?",
            "job ad: subject matches 'is hiring'",
        ),
        (
            "Job opening: part-time librarian",
            "Interested?",
            "job ad: subject matches 'job opening'",
        ),
        (
            "Koha 24.05.1 released",
            "Release notes attached. Questions?",
            "release notes: subject matches 'released'",
        ),
        (
            "Release notes for the spring update",
            "What changed?",
            "release notes: subject matches 'release notes'",
        ),
        ("Free webinar on weeding", "Want to learn more?", "webinar: subject matches 'webinar'"),
        ("Solo News newsletter, March", "What's new?", "newsletter: subject matches 'newsletter'"),
        (
            "Solo-L Digest, Vol 12, Issue 3",
            "Today's topics?",
            "newsletter: subject matches 'digest, vol 12'",
        ),
        (
            "Your mailbox is full",
            "Click here to verify your account?",
            "phishing: subject matches 'mailbox is full'",
        ),
        ("Invoice attached #4411", "Please pay?", "phishing: subject matches 'invoice attached'"),
        ("Investment loan at 2%", "Need money?", "spam: subject matches 'investment loan'"),
        (
            "Factura electrónica 617 adjunta",
            "¿Puede revisar?",
            "phishing: subject matches 'factura'",
        ),
        (
            "Dringend: Ihre Kundendaten",
            "Bitte aktualisieren?",
            "phishing: subject matches 'kundendaten'",
        ),
        (
            "Atualizacao cadastral pendente",
            "Pode confirmar?",
            "phishing: subject matches 'atualizacao cadastral'",
        ),
        (
            "【重要なお知らせ】お支払い方法の更新",
            "確認してください？",
            "phishing: subject matches 'お支払'",
        ),
        (
            "[PATCH v2 3/5] net: fix the thing",
            "Does this look right?",
            "patch: subject matches '[patch v2 3/5]'",
        ),
        (
            "Account update",
            "Dear customer, your account will be suspended?",
            "phishing: body matches 'your account will be suspended'",
        ),
    ],
)
def test_non_requests_are_refused_with_their_category(subject: str, body: str, reason: str) -> None:
    assert classify_request(mail(subject, body), DEFAULT) == (False, reason)


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        (Flag.SPAM, "spam: flagged by the list's filter"),
        (Flag.AUTOMATED, "automated mail"),
        (Flag.OUT_OF_OFFICE, "automated: out-of-office reply"),
        (Flag.BOUNCE, "automated: delivery status notification"),
    ],
)
def test_flagged_mail_is_never_a_request_even_when_it_asks(flag: Flag, reason: str) -> None:
    assert classify_request(mail(flags=frozenset({flag})), DEFAULT) == (False, reason)


def test_a_statement_without_any_sign_of_asking_is_not_a_request() -> None:
    verdict = classify_request(
        mail("Our library moved", "The new address is on the website."), DEFAULT
    )
    assert verdict == (False, "no question or request for help found")


def test_a_question_mark_inside_a_url_is_not_a_question() -> None:
    verdict = classify_request(
        mail("Opening hours", "They are listed at https://x.example/h?id=3 now."), DEFAULT
    )
    assert verdict[0] is False


def test_unparsed_body_is_judged_on_the_subject_alone() -> None:
    assert classify_request(mail("How to weed a small collection?", None), DEFAULT)[0] is True
    assert classify_request(mail("Weeding the collection", None), DEFAULT) == (
        False,
        "not parsed: the subject shows no request",
    )


def test_an_orphan_reply_root_is_not_a_new_question() -> None:
    root = mail()
    orphan = replace(reply(root, "Did you try the admin page?"), in_reply_to="unknown@example.org")
    assert classify_request(orphan, DEFAULT) == (False, "a reply to a message we never saw")


def test_request_patterns_are_configurable() -> None:
    settings = MatcherSettings(not_request_subject=(("exhibit", (r"\bexhibit\b",)),))
    root = mail("Exhibit ideas for spring?", "Any themes you liked?")
    assert classify_request(root, settings) == (False, "exhibit: subject matches 'exhibit'")
    assert classify_request(mail("Call for papers?", "What counts as one?"), settings)[0] is True


def test_bad_patterns_and_impossible_durations_are_reported() -> None:
    settings = MatcherSettings(request_evidence=("(unclosed",), unanswered_after=timedelta(days=8))
    problems = check_settings(settings)
    assert any("request_evidence" in p and "(unclosed" in p for p in problems)
    assert any("shorter than max_age" in p for p in problems)
    assert check_settings(DEFAULT) == []


# --- answers ---


@pytest.mark.parametrize(
    "body",
    [
        "+1",
        "Me too!",
        "I'd like to know too.",
        "Following",
        "+1. Same problem here! Any update?",
        "Same here",
        "Thanks",
        "Ich auch",
        "moi aussi",
        "bump",
        "👍👍 🙏",
        " . ",
    ],
)
def test_content_free_replies_do_not_answer(body: str) -> None:
    assert is_content_free(body, DEFAULT)
    assert not is_qualifying_answer(reply(mail(), body), ASKER, DEFAULT)


def test_an_empty_or_unparsed_reply_by_someone_else_counts_as_an_answer() -> None:
    """We cannot tell what was said; not posting is the safe side."""
    root = mail()
    assert is_qualifying_answer(reply(root, None), ASKER, DEFAULT)
    assert is_qualifying_answer(reply(root, "   \n"), ASKER, DEFAULT)


def test_a_short_real_answer_counts() -> None:
    root = mail()
    assert is_qualifying_answer(
        reply(root, "Me too. Did you check the loan rules table?"), ASKER, DEFAULT
    )
    assert is_qualifying_answer(reply(root, "Yes."), ASKER, DEFAULT)


@pytest.mark.parametrize("flag", [Flag.AUTOMATED, Flag.OUT_OF_OFFICE, Flag.BOUNCE, Flag.SPAM])
def test_automated_replies_do_not_answer(flag: Flag) -> None:
    root = mail()
    auto = reply(
        root, "I am out of the office until Monday with limited access.", flags=frozenset({flag})
    )
    assert not is_qualifying_answer(auto, ASKER, DEFAULT)


def test_the_askers_own_follow_up_does_not_answer_even_from_a_rewritten_address() -> None:
    root = mail()
    same_address = reply(root, "Any news? I also tried restarting.", author=ASKER)
    via_list = reply(root, "Still stuck, any ideas?", author=Author("Ann Example", ""))
    assert not is_qualifying_answer(same_address, ASKER, DEFAULT)
    assert not is_qualifying_answer(via_list, ASKER, DEFAULT)
    view = thread(root, same_address, via_list)
    assert decide_at(view, 49).due


# --- the whole decision ---


def test_unanswered_thread_becomes_due_exactly_after_unanswered_after() -> None:
    view = thread(mail(), reply(mail(), "+1", hours=2))
    waiting = decide_at(view, 47)
    assert (waiting.due, waiting.due_at, waiting.reason) == (
        False,
        T0 + timedelta(hours=48),
        "waiting: due in 1h",
    )
    due = decide_at(view, 48)
    assert (due.due, due.due_at, due.reason) == (
        True,
        T0 + timedelta(hours=48),
        "unanswered for 2d",
    )


def test_plus_one_replies_leave_the_thread_unanswered() -> None:
    root = mail()
    view = thread(
        root, reply(root, "+1"), reply(root, "me too", author=Author("Cy", "cy@example.com"))
    )
    assert decide_at(view, 50).due


def test_an_answer_within_minutes_skips_the_thread() -> None:
    root = mail()
    view = thread(
        root, reply(root, "Check the circulation rules, renewals are off there.", hours=0.1)
    )
    decision = decide_at(view, 50)
    assert (decision.due, decision.reason, decision.outcome) == (False, "answered by a member", "skip")


def test_a_late_answer_still_skips_the_thread() -> None:
    root = mail()
    view = thread(
        root, reply(root, "Sorry for the delay: the rules table is the culprit.", hours=60)
    )
    assert decide_at(view, 61).reason == "answered by a member"


def test_our_own_relay_coming_back_counts_as_answered() -> None:
    root = mail()
    relay = reply(
        root,
        "Jane on X says: try the rules table.",
        author=Author("Bridge", "bridge@bridge.example"),
        flags=frozenset({Flag.OURS}),
    )
    assert decide_at(thread(root, relay), 50).reason == "answered via X"
    assert (
        decide_at(thread(replace(root, flags=frozenset({Flag.OURS}))), 50).reason == "our own relay"
    )


@pytest.mark.parametrize("subject", ["[SOLVED] How do I renew?", "Re: [Summary] How do I renew?"])
def test_asker_tagging_solved_or_summary_closes_the_thread(subject: str) -> None:
    root = mail()
    follow_up = replace(
        reply(root, "Here is what I learned, in short.", author=ASKER), subject=subject
    )
    decision = decide_at(thread(root, follow_up), 50)
    assert not decision.due
    assert decision.reason.startswith("closed by the asker: [")


def test_asker_saying_never_mind_found_it_closes_the_thread() -> None:
    root = mail()
    follow_up = reply(root, "Never mind, found it: a typo in the config.", author=ASKER)
    assert decide_at(thread(root, follow_up), 50).reason == "closed by the asker: 'never mind'"


def test_someone_else_saying_solved_does_not_close_but_answers() -> None:
    root = mail()
    other = replace(
        reply(root, "I think this is solved by the 2.1 update."), subject="Re: [SOLVED] x"
    )
    assert decide_at(thread(root, other), 50).reason == "answered by a member"


def test_closing_words_in_the_question_itself_do_not_close_it() -> None:
    root = mail(body="I found it strange that renewals fail. Never mind the old setup: why now?")
    assert decide_at(thread(root), 50).due


def test_business_days_skip_the_weekend() -> None:
    friday = mail()
    friday = replace(friday, date=datetime(2025, 3, 7, 10, tzinfo=UTC))
    settings = MatcherSettings(business_days=True)
    monday_noon = datetime(2025, 3, 10, 12, tzinfo=UTC)
    waiting = decide(thread(friday), monday_noon, settings, frozenset())
    assert waiting.due_at == datetime(2025, 3, 11, 10, tzinfo=UTC)
    assert not waiting.due
    assert decide(thread(friday), datetime(2025, 3, 11, 10, tzinfo=UTC), settings, frozenset()).due


def test_threads_older_than_max_age_are_never_dug_up() -> None:
    view = thread(mail())
    assert decide_at(view, 7 * 24).due
    old = decide_at(view, 7 * 24 + 1)
    assert (old.due, old.reason) == (False, "too old: 7d 1h > 7d")


def test_a_due_time_beyond_max_age_is_skipped_up_front() -> None:
    settings = MatcherSettings(
        unanswered_after=timedelta(days=5), max_age=timedelta(days=6), business_days=True
    )
    friday = replace(
        mail(), date=datetime(2025, 3, 7, 10, tzinfo=UTC)
    )  # 5 business days = 7 calendar days
    decision = decide(thread(friday), friday.date + timedelta(hours=1), settings, frozenset())
    assert decision.reason == "too old by the time it would be due"


@pytest.mark.parametrize(
    ("settings", "root_kw", "reason"),
    [
        (DEFAULT, {"subject": "[no-tweet] How do I renew?"}, "opted out: [no-tweet]"),
        (DEFAULT, {"subject": "[NoTweet] How do I renew?"}, "opted out: [notweet]"),
        (DEFAULT, {"subject": "[private] How do I renew?"}, "opted out: [private]"),
        (DEFAULT, {"flags": frozenset({Flag.NO_ARCHIVE})}, "opted out: X-No-Archive"),
        (
            MatcherSettings(opt_out_senders=frozenset({"ANN@example.org"})),
            {},
            "opted out: sender on the opt-out list",
        ),
        (
            MatcherSettings(opt_out_senders=frozenset({"@example.org"})),
            {},
            "opted out: sender on the opt-out list",
        ),
        (
            MatcherSettings(opt_in_only=True),
            {},
            "opted out: the list is opt-in only and the subject has no opt-in tag",
        ),
    ],
)
def test_opt_outs_are_honoured(
    settings: MatcherSettings, root_kw: dict[str, object], reason: str
) -> None:
    root = mail(**root_kw)  # type: ignore[arg-type]
    assert decide_at(thread(root), 50, settings) == Decision(root.message_id, False, reason)


def test_opt_in_only_list_posts_roots_with_an_opt_in_tag() -> None:
    root = mail("[tweet] How do I renew a subscription?")
    assert decide_at(thread(root), 50, MatcherSettings(opt_in_only=True)).due


def test_asker_opting_out_in_a_follow_up_is_honoured() -> None:
    root = mail()
    follow_up = replace(
        reply(root, "Please keep this internal.", author=ASKER), flags=frozenset({Flag.NO_ARCHIVE})
    )
    assert decide_at(thread(root, follow_up), 50).reason == "opted out: X-No-Archive"


def test_already_posted_threads_are_skipped() -> None:
    root = mail()
    assert (
        decide_at(thread(root), 50, posted=frozenset({root.message_id})).reason == "already posted"
    )


def test_decisions_are_pure_functions_of_now() -> None:
    view = thread(mail())
    assert decide_at(view, 10) == decide_at(view, 10)
    assert decide_at(view, 10) != decide_at(view, 60)


@pytest.mark.parametrize(
    "subject",
    [
        "When will the new Koha version be released?",
        "How do I word a donor invitation?",
        "Which webinar on weeding would you recommend?",
    ],
)
def test_announcement_words_in_a_question_subject_do_not_veto(subject: str) -> None:
    is_request, reason = classify_request(mail(subject, "Thanks for any pointers."), DEFAULT)
    assert is_request, reason


def test_a_root_without_a_usable_date_is_never_posted() -> None:
    """Its fallback date may be the arrival time, which would dig up old mail after a resync."""
    root = replace(mail(), flags=frozenset({Flag.DATE_MISSING}))
    assert decide_at(thread(root), 50).reason == "no usable Date header: age unknown"


def test_a_newsletter_issue_is_not_a_request_though_it_says_issue() -> None:
    root = mail("The Solo Librarian - November 2026 issue",
                "The November issue of our division newsletter is out: see the website.")
    assert classify_request(root, DEFAULT)[0] is False
    issue_q = mail("Koha issue with serial renewals", "Renewal fails. Any idea?")
    assert classify_request(issue_q, DEFAULT)[0] is True


@pytest.mark.parametrize("body", [
    "+1, following. Same question from our committee.\n\nBob Helper\nHealth Sciences Librarian\n555-0112",
    "Me too - following this one.\n\nBob Helper\nResearch Librarian, Example Trust",
])
def test_me_too_with_a_signoff_block_is_still_content_free(body: str) -> None:
    root = mail()
    assert not is_qualifying_answer(reply(root, body), ASKER, DEFAULT)


def test_a_real_answer_followed_by_a_signoff_still_counts() -> None:
    root = mail()
    body = "Check the subscription's frequency setting first.\n\nBob Helper\nLibrarian"
    assert is_qualifying_answer(reply(root, body), ASKER, DEFAULT)
