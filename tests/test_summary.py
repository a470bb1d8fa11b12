"""Summaries that read as the question (issue 10 item 4): the asker's own question sentences,
whole; never code, logs, commands, config, quotes or headings; no fragments; no "?:" joint; no
subject repeated; a vague subject alone needs a moderator; other people's names scrubbed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.compose.links import LinkSettings
from bridge.compose.post import ComposeSettings, compose_post, make_template_env
from bridge.compose.summary import is_prose, sentences, summarise
from bridge.decide.planner import Drafter
from bridge.model import Author, Mail
from bridge.store.db import Store
from bridge.store.mail import MailStore

LINK = "https://lists.example.org/archives/list/solo@lists.example.org/message/X/"
ENV = make_template_env(ComposeSettings())


def root(subject: str, body: str, name: str = "Ann Example") -> Mail:
    return Mail(message_id="q1@example.org", subject=subject, subject_norm=subject.casefold(),
                is_reply_subject=False, author=Author(name, "ann@example.org"),
                date=datetime(2025, 3, 4, tzinfo=UTC), in_reply_to=None, references=(), body=body)


def best(subject: str, body: str, others: tuple[str, ...] = ()) -> str:
    return summarise(root(subject, body), others).candidates[0]


@pytest.mark.parametrize(
    "line",
    ["$ C:\\msys64\\mingw64\\bin\\c++.exe -DBOOST_ALL_NO_LIB -O2 main.cpp",
     "C:\\Program Files\\Koha\\koha.exe --rebuild?",
     "> How do I renew a serial in Koha?",
     "## How to use?",
     "[2025-03-04 10:00:01] ERROR kernel: BUG: unable to handle page fault?",
     "    at org.koha.Index.build(Index.java:42)",
     "max_connections = 100",
     "sudo apt-get install koha-common?",
     "if (x) { return y; }",
     "Traceback (most recent call last):"],
)
def test_code_logs_commands_config_quotes_and_headings_are_not_prose(line: str) -> None:
    assert not is_prose(line)


def test_a_compiler_command_line_never_becomes_the_summary() -> None:
    body = ("I build with:\n\n$ C:\\msys64\\mingw64\\bin\\c++.exe -DBOOST_ALL_NO_LIB main.cpp?\n\n"
            "It stops with a linker error. What library am I missing for the linker?\n")
    assert best("Build fails on Windows", body) == (
        "Build fails on Windows: What library am I missing for the linker?")


def test_a_how_to_heading_is_not_the_question() -> None:
    body = "How to use?\n\nFirst install the package, then run it with your config."
    summary = summarise(root("Writing configuration files", body))
    assert summary.candidates == ("Writing configuration files",)


def test_quoted_text_is_not_the_askers_question() -> None:
    body = "> Does anyone use Koha for serials?\n\nWe do, and it works well for us."
    assert summarise(root("Re: Koha serials", body)).candidates == ("Koha serials",)


def test_a_sentence_with_a_url_or_address_cut_out_is_dropped_not_left_as_a_fragment() -> None:
    body = ("Is the guide at <https://evil.example/guide> still right? "
            "Can you write to me at bob.smith at library.org? "
            "How do you catalogue zines in a one-person library?")
    summary = best("Small press", body)
    assert summary == "Small press: How do you catalogue zines in a one-person library?"
    assert "<" not in summary and " at" not in summary


def test_only_fragments_leave_the_subject_without_a_dangling_bracket() -> None:
    summary = best("Guide at <https://evil.example/g> outdated?", "Is <https://evil.example/g> right?")
    assert summary == "Guide at outdated?"


def test_sentences_are_separated_even_without_a_space_after_the_full_stop() -> None:
    body = "We moved to Koha last year.How do you handle serial predictions for irregular issues?"
    assert sentences(body) == ["We moved to Koha last year.",
                               "How do you handle serial predictions for irregular issues?"]
    assert best("Serials", body).endswith(": How do you handle serial predictions for irregular "
                                          "issues?")


def test_the_rest_of_a_sentence_cut_by_a_reference_line_is_not_a_question() -> None:
    """A wrapped line opening with "[1]." is not prose; the words after it are no sentence."""
    body = ("We discussed this a year ago, with advice not to run it twice at once\n"
            "[1]. A later comment [2] says it is fine. Is there an agreement\n"
            "in the community on whether it is safe? If it is not safe, is there a\n"
            "bug describing the problems it causes?\n")
    assert not any(s.startswith("in the community") for s in sentences(body))
    assert best("Running the tool twice", body) == (
        "Running the tool twice: If it is not safe, is there a bug describing the problems it "
        "causes?")


def test_my_question_is_that_is_not_kept_before_the_question() -> None:
    body = "So my question is that can we shorten the failover on a busy server?"
    assert best("Slow path switch", body) == (
        "Slow path switch: can we shorten the failover on a busy server?")


def test_a_question_after_a_code_line_is_kept() -> None:
    body = "I run this:\n$ make install\nHow do I get past the linker error?"
    assert best("Install fails", body) == "Install fails: How do I get past the linker error?"


def test_no_question_mark_colon_joint_after_a_subject_that_asks() -> None:
    body = "Our library closes in August. How do you handle the interlibrary loans then?"
    summary = best("Who else skips the summer?", body)
    assert "?:" not in summary
    assert summary == "Who else skips the summer? How do you handle the interlibrary loans then?"


def test_the_subject_is_not_repeated_word_for_word() -> None:
    body = "Hello, how do I renew a serial subscription in Koha without losing the history?"
    summary = best("How do I renew a serial subscription", body)
    assert summary == "how do I renew a serial subscription in Koha without losing the history?"


def test_markdown_marks_around_a_question_are_not_kept() -> None:
    assert best("Contract role", "We have a role.\n\n*Is this a good fit for a cataloguer?*") == (
        "Contract role: Is this a good fit for a cataloguer?")


def test_two_question_sentences_are_kept_whole_when_they_fit() -> None:
    body = "Which ILS do you use for a school library? Is it free for one user?"
    summary = summarise(root("ILS choice", body))
    assert summary.candidates[0] == ("ILS choice: Which ILS do you use for a school library? "
                                     "Is it free for one user?")
    assert "ILS choice: Which ILS do you use for a school library?" in summary.candidates


@pytest.mark.parametrize("subject", ["Question", "Help!", "Quick question", "", "Urgent help needed"])
def test_a_vague_subject_alone_needs_a_moderator(subject: str) -> None:
    summary = summarise(root(subject, "See the attached file.\n\nThanks,\nAnn"))
    assert summary.needs_review is not None and "vague" in summary.needs_review
    draft = compose_post(root(subject, "See the attached file."), LINK, ComposeSettings(), ENV)
    assert draft.needs_review == summary.needs_review


def test_a_clear_subject_alone_needs_no_moderator() -> None:
    summary = summarise(root("Writing configuration files for Koha", "See attached."))
    assert summary.candidates == ("Writing configuration files for Koha",)
    assert summary.needs_review is None


def test_names_of_other_senders_are_scrubbed() -> None:
    body = "Did you get the usage stats from Jane Smith at EBSCO? Which report lists e-book usage?"
    summary = best("E-book stats from Jane Smith", body, others=("Jane Smith", "Bob Stone"))
    assert "Jane" not in summary and "Smith" not in summary
    assert summary == "E-book stats from: Which report lists e-book usage?"


def test_ten_thousand_emoji_compose_into_a_post_that_fits() -> None:
    draft = compose_post(root("😀" * 10_000, "😀" * 10_000 + "?"), LINK, ComposeSettings(), ENV)
    assert draft.weighted_length <= 280 and draft.text.endswith(LINK)


_WORDS = st.lists(st.sampled_from(["how", "do", "I", "the", "catalogue", "Koha", "serial", "at",
                                   "<", ">", "?", ".", "renew", "x@y.org", "www.a.example", "#tag",
                                   "$TSLA", "\u200b", "\u2067", "555-123-4567", "Ann", "Example"]),
                  max_size=40)


@settings(max_examples=150, deadline=None)
@given(subject=_WORDS, body=_WORDS)
def test_no_candidate_is_a_fragment_or_carries_a_control(subject: list[str], body: list[str]) -> None:
    summary = summarise(root(" ".join(subject), " ".join(body)))
    for text in summary.candidates:
        assert "\x00" not in text and "\u200b" not in text and "\u2067" not in text
        assert "@" not in text and "#tag" not in text and "$TSLA" not in text and "555" not in text
        assert "Ann" not in text and "Example" not in text
        assert "?:" not in text


def test_senders_the_store_has_seen_are_scrubbed_from_drafts(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "b.sqlite3")
    mails = MailStore(store)
    jane = replace(root("Re: stats", "Ask EBSCO."), message_id="r1@example.org",
                   author=Author("Jane Smith", "jane@example.org"))
    question = root("E-book usage", "Did you get the stats from Jane Smith at EBSCO? "
                    "Which report lists e-book usage per title?")
    with store.transaction():
        mails.add_mail(jane, "test")
        mails.add_mail(question, "test")
    assert set(mails.author_names()) == {"Jane Smith", "Ann Example"}
    drafter = Drafter(ComposeSettings(), LinkSettings(url_template="https://arc.example.org/{message_id}"),
                      mails.author_names())
    draft, why = drafter.draft(question)
    assert draft is not None, why
    assert "Smith" not in draft.text and "per title?" in draft.text
    store.close()
