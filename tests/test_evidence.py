"""bridge.decide.evidence: each evidence rule on small real-shaped mails written for these tests,
and the outcomes (post / hold / skip) the weights give."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from bridge.compose.links import LinkSettings
from bridge.compose.post import ComposeSettings
from bridge.decide import evidence
from bridge.decide.history import NO_CONTEXT, Context, History
from bridge.decide.matcher import MatcherSettings, judge
from bridge.decide.planner import Drafter, plan_thread
from bridge.decide.signals import is_machine_line, language, question_sentences
from bridge.mail.parse import ParseOptions, parse_mail
from bridge.model import Author, Flag, Mail, ThreadView

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ASKER = Author("Rosa Lindqvist", "rosa@library.example.org")
SETTINGS = MatcherSettings()
_ids = count(1)


def mail(subject: str, body: str | None, *, author: Author = ASKER, hours: float = 0,
         flags: frozenset[Flag] = frozenset(), reply_to: Mail | None = None) -> Mail:
    return Mail(
        message_id=f"e{next(_ids)}@example.org", subject=subject, subject_norm=subject.casefold(),
        is_reply_subject=reply_to is not None, author=author, date=T0 + timedelta(hours=hours),
        in_reply_to=reply_to.message_id if reply_to else None,
        references=(reply_to.message_id,) if reply_to else (), flags=flags, body=body,
    )


def fired(root: Mail, context: Context = NO_CONTEXT) -> set[str]:
    return set(judge(root, SETTINGS, context)[0].fired)


def outcome(root: Mail, context: Context = NO_CONTEXT) -> str:
    return judge(root, SETTINGS, context)[0].outcome


# --- the table ------------------------------------------------------------------------------


def test_every_rule_has_a_weight_and_a_meaning_in_one_table() -> None:
    assert all(weight != 0 and meaning for weight, meaning in evidence.RULES.values())
    assert evidence.POST_AT > evidence.HOLD_AT > 0


def test_a_decision_lists_the_rules_that_fired_with_their_weights() -> None:
    judgement, reason = judge(mail("Renewing serials in Koha?", "How do I renew a serial?"),
                              SETTINGS)
    assert judgement.outcome == "post" and reason.startswith("request")
    assert "QUESTION_SENTENCE=+3" in judgement.evidence
    assert "REQUEST_PHRASE=+2.5" in judgement.evidence


# --- evidence for ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "We moved to a new discovery layer last month. Has the relevance ranking changed for you?",
    "هل يعرف أحد طريقة لتصدير السجلات؟",
    "新しいシステムで貸出記録を移行する方法はありますか？",
    "¿Alguien ha migrado los préstamos a Koha?",
])
def test_a_question_in_the_askers_own_words(body: str) -> None:
    assert "QUESTION_SENTENCE" in fired(mail("Records migration", body))


@pytest.mark.parametrize("body", [
    "The hours are listed at https://library.example.org/hours?branch=3 now.",
    "How to use?\n\n1. Open the admin page.\n2. Click Import.\n3. Pick the file.",
    "Here is my setup:\n    if (x == null) { return y ? a : b; }\n    log_level = debug",
    "[2026-03-01 10:22:13] GET /search?q=serials 200\n[2026-03-01 10:22:14] GET /item?id=7 404",
    "< HTTP/1.1 400 Bad Request?\n<title>Why 400?</title>\n* Closing connection #0 ?",
])
def test_no_question_in_urls_headings_code_or_logs(body: str) -> None:
    # (also a curl -v trace: "< HTTP/1.1 400" and "* Closing connection" are machine lines)
    assert "QUESTION_SENTENCE" not in fired(mail("Notes", body))


@pytest.mark.parametrize("body", [
    "Does anyone have a retention schedule for subscription invoices.",
    "I am looking for a short open access policy from a small funder.",
    "Any ideas on where the renewal setting lives in version 24",
    "Wie kann ich die Fernleihe für Zeitschriften einstellen",
    "Quelqu'un sait comment exporter les notices en MARCXML",
    "Alguém sabe como exportar os registros",
])
def test_a_request_without_a_question_mark(body: str) -> None:
    assert "REQUEST_PHRASE" in fired(mail("Serials", body))


@pytest.mark.parametrize("body", [
    "For example:\n\n<Proxy balancer://app/>\nMember http://10.0.0.1/\n</Proxy>\n\nPlease teach me.",
    "Looking into whether this is a bug or expected behaviour since the upgrade.",
    "I'd like to understand the expected behaviour when a member is slow.",
    "Requesting your help in resolving this.",
])
def test_more_requests_without_a_question_mark(body: str) -> None:
    assert "REQUEST_PHRASE" in fired(mail("Proxy members", body))


def test_a_job_ads_we_are_looking_for_is_not_a_request() -> None:
    assert "REQUEST_PHRASE" not in fired(mail("Opening", "We are looking for a .NET developer."))


@pytest.mark.parametrize("body", [
    "I get the following error when I open the circulation module.",
    "We cannot renew any loan since the upgrade.",
    "Our overdue notices are not working since Monday.",
])
def test_the_askers_own_problem(body: str) -> None:
    assert {"OWN_PROBLEM", "PROBLEM_STATEMENT"} <= fired(mail("Circulation", body))


def test_a_problem_with_a_question_is_stronger_than_either() -> None:
    got = fired(mail("Import fails", "The import fails at record 12. What does code 4 mean?"))
    assert {"PROBLEM_STATEMENT", "QUESTION_SENTENCE", "PROBLEM_WITH_QUESTION"} <= got


@pytest.mark.parametrize("subject", ["Which ILS for 3,000 items?", "Help with MARC export",
                                     "Ayuda con el préstamo"])
def test_the_subject_asks(subject: str) -> None:
    assert "SUBJECT_ASKS" in fired(mail(subject, "Details below."))


@pytest.mark.parametrize("closing", ["Thanks in advance,", "thx in advance", "TIA", "We would "
                                     "really appreciate any help.", "Any help is appreciated."])
def test_thanks_in_advance_and_greeting_the_list(closing: str) -> None:
    got = fired(mail("Koha", f"Hi all,\n\nOur notices stopped.\n\n{closing}\nRosa"))
    assert {"THANKS_IN_ADVANCE", "GREETS_THE_LIST"} <= got


# --- evidence against: the body and the headers -------------------------------------------


def test_a_config_paste_with_nothing_asked_is_machine_text() -> None:
    body = ("Here is my config\n\n[server]\nport = 8080\nhost = 0.0.0.0\nworkers: 4\n"
            "<Directory /srv/www>\nRequire all granted\n</Directory>")
    root = mail("Writing configuration files", body)
    assert "MACHINE_BODY" in fired(root) and outcome(root) == "skip"


def test_a_log_dump_from_a_test_robot_is_skipped() -> None:
    log = "\n".join(f"[  {i}.{i:06d}] BUG: unable to handle page fault at 0xffff{i:08x}"
                    for i in range(12))
    root = mail("[buildfarm] crash in net/core", log)
    assert "MACHINE_BODY" in fired(root) and outcome(root) == "skip"


@pytest.mark.parametrize(("flag", "rule"), [(Flag.AUTH_FAILED, "AUTH_FAILED"),
                                            (Flag.BULK_SENDER, "BULK_SENDER"),
                                            (Flag.UNDISCLOSED, "UNDISCLOSED")])
def test_header_evidence(flag: Flag, rule: str) -> None:
    assert rule in fired(mail("Catalogue", "How do I merge records?", flags=frozenset({flag})))


@pytest.mark.parametrize(("rule", "text"), [
    ("PRICE", "Our premium chairs cost only $149 each, USD 1,200 per set."),
    ("CONTACT_US", "Reach us or call us today."),
    ("MESSAGING_CONTACT", "Message me on WhatsApp: +44 7700 900123 or wa.me/447700900123"),
    ("OFFER", "We provide CNC machining with a 20% off discount for new customers."),
    ("JOB_AD", "Role: Java developer\nLocation: Remote\nSend your updated resume today."),
    ("DATA_LIST", "We sell a verified attendee list of 12,000 librarians."),
    ("MARKET_REPORT", "Our market report on library software shows a CAGR of 6%."),
    ("SEO", "Get your website on the first page of Google with our SEO and backlinks."),
    ("SCAM", "I am the beneficiary of an inheritance of 8 million dollars. Can we talk?"),
    ("WAREZ", "Cataloguing Suite 9 keygen free download full version"),
    ("WAREZ", "Shelf Planner V16 Download"),
    ("SHORT_LINK", "All the details: https://bit.ly/3xYzAbC"),
    ("SHOUTING", "URGENT REQUIREMENT FOR CATALOGUERS SEND PROFILE NOW"),
    ("EMOJI", "Big news 🎉🎉 for every library 📚🚀"),
])
def test_commercial_marks(rule: str, text: str) -> None:
    assert rule in fired(mail("Hello", text))


def test_one_recruitment_word_is_not_yet_a_job_ad() -> None:
    assert "JOB_AD" not in fired(mail("Recruiting volunteers?", "How do you recruit volunteers?"))


def test_can_we_talk_bait_is_skipped_although_it_asks() -> None:
    body = "Dear friend, I saw your profile and it interests me. Can we talk please???"
    assert outcome(mail("Hello dear", body)) == "skip"


# --- evidence against: the project's own voice (proposals, plans, reviews) ---------------------


@pytest.mark.parametrize("body", [
    "The XML exporter has had no maintainer since 2019. I propose we remove it in 3.0. "
    "Any objections?",
    "I pushed the fix for the date parser to the review queue.\n\nWho wants to second this?",
    "Supporting two config formats costs us every release. Does anyone else think so?",
    "Before I merge this I thought I'd ask for input. If I don't hear anything by Friday I'll go "
    "ahead.",
    "Le format XML n'est plus maintenu depuis 2019. Des objections ?",
])
def test_asking_the_list_to_agree_object_or_second(body: str) -> None:
    assert "ASKS_CONSENT" in fired(mail("Dropping the XML exporter", body))


def test_a_proposal_that_asks_for_consent_is_not_posted() -> None:
    root = mail("Time to drop the XML exporter?", "Keeping the old exporter slows every release. "
                "IMO it is time to let it go. Any objections?")
    assert {"ASKS_CONSENT", "DECIDES_FOR_PROJECT"} <= fired(root)
    assert outcome(root) == "skip"


def test_a_decision_question_is_weak_a_teams_question_is_posted_or_held() -> None:
    bare = mail("Subscriber readiness", "Our service binds a subscriber socket at start-up. Should "
                "we wait before publishing, or is the socket ready at once?")
    assert "DECIDES_FOR_PROJECT" in fired(bare) and outcome(bare) == "hold"
    asking = replace(bare, body="We would like to know if the socket is ready at once. Should we "
                     "wait before publishing?")
    assert "DECIDES_FOR_PROJECT" in fired(asking) and outcome(asking) == "post"


@pytest.mark.parametrize("body", [
    "I am planning to move the build to meson. The changes sit in a branch called meson-v1.\n\n"
    "I would really appreciate other eyes on it. Anyone interested?",
    "By popular demand, we've added the ability to archive polls. You can now find them under "
    "Settings.\n\nHave an idea for how to improve the service? Let us know!",
])
def test_news_of_the_senders_own_work_is_a_notice(body: str) -> None:
    root = mail("Polls and builds", body)
    assert {"OWN_WORK", "OWN_WORK_MANY"} <= fired(root)
    assert outcome(root) == "skip"


def test_a_phrase_wrapped_across_lines_is_still_read() -> None:
    body = "The queue limit of 2 ticks is too short on fast machines, so we\nshould replace it."
    assert "OWN_WORK" in fired(mail("Queue limit", body))


def test_a_review_of_someones_patch_is_for_its_author() -> None:
    root = mail("parser: warn on old compilers", "Hi,\n\nThanks for your patches. What about "
                "doing the same for the other compiler?")
    assert "REVIEWS_A_PATCH" in fired(root) and outcome(root) == "skip"


def test_greeting_the_maintainers_by_name_is_not_evidence_against() -> None:
    """Askers greet maintainers by name as often as reviewers do (measured): no rule reads it."""
    root = mail("Socket cleanup", "Hi Tung, Xin,\n\nHow do I close a socket whose process was "
                "killed?")
    assert outcome(root) == "post"


def test_a_conditional_cannot_is_not_the_askers_problem() -> None:
    assert "OWN_PROBLEM" not in fired(mail("Init order", "If I can't get this right I will "
                                           "remove the service."))
    assert "OWN_PROBLEM" in fired(mail("Init order", "I can't start the service after boot."))


def test_hi_guys_greets_the_list() -> None:
    assert "GREETS_THE_LIST" in fired(mail("Builds", "Hi guys,\n\nanything we can do?"))


def test_titles_in_a_reference_list_are_not_the_senders_question() -> None:
    body = ("I set up the shared drive and it works.\n\n[1] How to configure a static address?\n"
            "[2] How do you make a target?\nLink: https://howto.example.org/targets")
    got = fired(mail("Shared drive working", body))
    assert not {"QUESTION_SENTENCE", "REQUEST_PHRASE"} & got


@pytest.mark.parametrize(("subject", "rule"), [
    ("[VOTE] Release catalogue 2.1.0", "SUBJECT_PROPOSAL"),
    ("[DISCUSS] Moving the docs to the wiki", "SUBJECT_PROPOSAL"),
    ("RFC: make the XML exporter optional?", "SUBJECT_PROPOSAL"),
    ("[devs] Proposal: a code of conduct", "SUBJECT_PROPOSAL"),
    ("next: build failure after merge of the sound tree", "SUBJECT_BUILD_REPORT"),
])
def test_proposal_vote_and_build_report_subjects_are_decisive(subject: str, rule: str) -> None:
    judgement, _ = judge(mail(subject, "Should we do this? How do I vote?"), SETTINGS)
    assert judgement.fired == (rule,) and judgement.outcome == "skip"


def test_a_subject_that_only_mentions_a_proposal_is_not_vetoed() -> None:
    assert outcome(mail("Grant proposal: how do I cite a dataset?", "How do I cite it?")) == "post"


# --- evidence from the list's history --------------------------------------------------------


def test_a_language_the_lists_members_never_answer_in() -> None:
    context = Context(list_languages=frozenset({"en"}))
    root = mail("Capacitación en liderazgo", "Ofrecemos cursos para su equipo. ¿Le interesa "
                "conocer nuestros programas para el próximo año con descuentos especiales?")
    assert "FOREIGN_LANGUAGE" in fired(root, context)
    assert "FOREIGN_LANGUAGE" not in fired(root, Context())  # no history: no opinion


def test_a_first_time_sender_with_commercial_marks() -> None:
    ad = mail("Library chairs", "Do you need chairs? We offer them at $99. Contact us.")
    assert "NEW_SENDER_COMMERCIAL" in fired(ad, Context(first_time_sender=True))
    plain = mail("Chairs", "Which chairs did you buy for the reading room?")
    assert "NEW_SENDER_COMMERCIAL" not in fired(plain, Context(first_time_sender=True))


def test_history_sees_languages_senders_pitches_and_reposts_only_before_the_root() -> None:
    members = [Author(f"Member {i}", f"m{i}@example.org") for i in range(12)]
    threads = []
    for i, member in enumerate(members):
        root = mail(f"Question {i}?", f"How do we handle case {i} in the catalogue?",
                    author=member, hours=i)
        answer = mail("Re", "We export the records first and then merge them by hand, "
                      "which is slow but it works for us.", author=members[i - 1],
                      hours=i + 0.5, reply_to=root)
        threads.append(ThreadView(i, root, (root, answer)))
    pitch = "We offer library furniture at the best price. Contact us for a quote today."
    seller = Author("Sam Seller", "sam@furniture.example.com")
    first = mail("Furniture for your library", pitch, author=seller, hours=20)
    again = mail("Furniture for your library", pitch, author=seller, hours=30)
    reworded = mail("Chairs", pitch + " Free delivery.", author=seller, hours=40)
    threads += [ThreadView(100 + i, m, (m,)) for i, m in enumerate((first, again, reworded))]
    history = History(threads)
    assert history.context(first).list_languages == {"en"}
    assert history.context(first).first_time_sender is False  # only 24 messages before it
    assert history.context(again).repost_of == first.message_id
    assert history.context(first).repost_of is None  # the future is not seen
    assert history.context(reworded).same_pitch == 2
    assert history.context(reworded).earlier_roots == 2
    assert history.context(reworded).silent_sender is True
    # after 24 messages the seller, never in a conversation, is still a newcomer; members are not
    extra = [mail(f"Q{i}", "Which shelving?", author=members[0], hours=50 + i) for i in range(8)]
    late = History([*threads, *(ThreadView(300 + i, m, (m,)) for i, m in enumerate(extra))])
    probe = replace(reworded, date=T0 + timedelta(days=5))
    assert late.context(probe).first_time_sender is True
    assert late.context(replace(probe, author=members[3])).first_time_sender is False


def test_a_word_for_word_repost_is_the_same_question() -> None:
    root = mail("Serials in Koha?", "How do I renew a serial?")
    judgement, reason = judge(root, SETTINGS, Context(repost_of="first@example.org"))
    assert judgement.outcome == "skip" and judgement.fired == ("REPOST",)
    assert reason == "repost of first@example.org: same sender, same text"


def test_a_one_way_sender() -> None:
    root = mail("New feature: calendars", "Did you know every group now has a calendar?")
    assert "ONE_WAY_SENDER" in fired(root, Context(silent_sender=True, earlier_roots=2))
    assert "ONE_WAY_SENDER" not in fired(root, Context(silent_sender=True, earlier_roots=1))
    assert "ONE_WAY_SENDER" not in fired(root, Context(silent_sender=False, earlier_roots=9))


def test_a_list_footers_for_more_info_is_not_an_ad() -> None:
    body = "Why is the value negative?\n\n---\nThe users list. See <URL:https://x.example> for more info."
    assert "CONTACT_US" not in fired(mail("Log value", body))


def test_the_same_pitch_again() -> None:
    root = mail("Chairs", "Do you need chairs for your reading room?")
    assert "SAME_PITCH" in fired(root, Context(same_pitch=1))


# --- outcomes -------------------------------------------------------------------------------


def test_a_question_or_an_own_problem_posts_a_terse_plea_is_held() -> None:
    assert outcome(mail("Renewals?", "How do I renew a serial subscription?")) == "post"
    assert outcome(mail("Overdue notices", "Our notices are not working since Monday.")) == "post"
    assert outcome(mail("Help: overdue notices", "The notices are not working.")) == "hold"
    assert outcome(mail("Overdue notices", "The notices went out on Monday.")) == "skip"


def test_a_question_with_an_offer_from_a_first_time_sender_is_never_posted() -> None:
    ad = mail("Equipment", "Hi, do you need seats for your waiting rooms? We offer them at "
              "$120 each. Contact us for more information.")
    assert outcome(ad, Context(first_time_sender=True)) == "skip"
    assert outcome(ad) != "post"


GITHUB_PUSH = b"""From: Ann Example <noreply@github.example>
To: devs@lists.example.org
Subject: [acme/catalogue] 3 new commits pushed to main
Message-ID: <push-1@github.example>
Date: Mon, 2 Mar 2026 09:00:00 +0000
List-Id: <devs.lists.example.org>
X-Auto-Response-Suppress: All
X-GitHub-Recipient-Address: devs@lists.example.org
Content-Type: text/plain

Branch: refs/heads/main
Home: https://code.example/acme/catalogue
Commit: 3f2a
  Log Message:
  Why does the import fail? Fix it.
"""


def test_a_code_hosting_notification_is_machine_mail_end_to_end() -> None:
    [root] = parse_mail(GITHUB_PUSH, ParseOptions())
    judgement, reason = judge(root, SETTINGS)
    assert judgement.outcome == "skip" and judgement.fired == ("MACHINE_MAIL",)
    assert reason == "automated mail"


def test_a_root_naming_an_unseen_parent_under_its_own_subject_is_held_never_posted() -> None:
    """A new question whose client wrote References (Outlook, a reply to an old mail of one's own)
    is held for a moderator; under "Re:" it continues an older thread and is skipped."""
    unseen = mail("Old tuner", None)  # never ingested: only its id is named
    ask = "Hi all, how do I set the gain on the new tuner? Thanks in advance."
    own_subject = mail("Gain on the new tuner", ask, reply_to=unseen)
    own_subject = replace(own_subject, is_reply_subject=False)
    judgement, _ = judge(own_subject, SETTINGS)
    assert judgement.outcome == "hold" and "UNSEEN_PARENT" in judgement.fired
    assert judgement.score >= evidence.POST_AT  # strong enough to post, held only for the parent
    assert outcome(mail("Re: Gain on the new tuner", ask, reply_to=unseen)) == "skip"
    assert outcome(mail("Gain on the new tuner", ask)) == "post"


def test_plain_pleas_for_help_count_as_asking() -> None:
    """Help requests with no question mark, in the forms a help list sees."""
    plea = mail("Upgrade fails", "The upgrade stops with a version mismatch. If anyone can help "
                "me sort this out, I would be grateful.")
    assert "REQUEST_PHRASE" in fired(plea)
    stuck = mail("Underflow on transmit", "Everything works below the top rate; at the top rate "
                 "the device underflows. I don't understand what I'm doing wrong.")
    confused = mail("Peak at DC", "I am confused about the peak in the middle of the spectrum.")
    assert "OWN_PROBLEM" in fired(stuck) and "OWN_PROBLEM" in fired(confused)
    assert "OWN_PROBLEM" not in fired(mail("Notes", "The installer got stuck once; fixed in 2.1."))


def test_signals() -> None:
    assert is_machine_line("$ C:\\msys64\\mingw64\\bin\\c++.exe -DBOOST_ALL -O2 main.cpp")
    assert not is_machine_line("Can someone explain why the build stops at the linker step?")
    assert question_sentences("Fine.How do I fix it? Thanks") == ["Fine.How do I fix it?"]
    # a web mail form's line break ("?\\" at the end of the line) still ends the question;
    # a backslash inside a line (a path, an escape) does not
    assert question_sentences("Has anyone seen this error?\\\nThanks") == ["Has anyone seen this error?"]
    assert question_sentences("printf(\"done?\\n\"); return 0;") == []
    assert language("Wir haben ein Problem mit der Fernleihe und wissen nicht, wie wir die "
                    "Bestellungen für die Zeitschriften auf dem neuen System einstellen.") == "de"
    assert language("ok") is None


def test_the_unparsed_body_leaves_the_subject_to_judge() -> None:
    assert outcome(replace(mail("How do I weed a small collection?", None))) == "post"


def test_a_post_whose_text_needs_review_is_held_with_that_evidence() -> None:
    """No readable question sentence and a vague subject: the text cannot stand alone."""
    links = LinkSettings(strategy="template", url_template="https://lists.example.org/{message_id}")
    drafter = Drafter(ComposeSettings(), links)
    root = mail("Help!", "We cannot renew any loan since the upgrade. The log says code 4.")
    plan = plan_thread(ThreadView(1, root, (root,)), T0 + timedelta(days=3), SETTINGS, drafter)
    assert plan.outcome == "hold" and plan.held
    assert any(e.startswith("TEXT_NEEDS_REVIEW (") for e in plan.evidence)
    clear = replace(root, subject="Help! Loans cannot be renewed since the upgrade?")
    assert plan_thread(ThreadView(2, clear, (clear,)), T0 + timedelta(days=3), SETTINGS,
                       drafter).outcome == "post"


def test_a_thread_view_with_copied_mails_does_not_make_the_root_its_own_reply() -> None:
    """Views rebuild their Mail values (bodies added later): the root is found by Message-ID."""
    seller = Author("Sam Seller", "sam@furniture.example.com")
    roots = [mail(f"Offer {i}", "We offer chairs.", author=seller, hours=i) for i in range(3)]
    history = History([ThreadView(i, replace(r), (replace(r, body="We offer chairs!"),))
                       for i, r in enumerate(roots)])
    context = history.context(roots[2])
    assert context.silent_sender and context.earlier_roots == 2 and not context.list_languages
