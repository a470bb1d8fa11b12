"""bridge.mail.clean (with quotes and signatures): subjects, HTML, the author's words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.compose.post import clean_subject
from bridge.compose.relay_email import relay_subject
from bridge.mail.clean import (
    clean_body,
    html_to_text,
    normalise_newlines,
    normalise_subject,
    split_subject_tags,
    starts_as_reply,
)

# --- normalise_subject ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[List] Re: [List] RE: AW: Fwd: Catalog question", ("catalog question", True)),
        ("Re: [SOLO-lib] Koha overflow", ("koha overflow", True)),
        ("[SOLO-lib] Re: Koha overflow", ("koha overflow", True)),
        ("[SOLO] Fwd: Weeding policy", ("weeding policy", False)),
        ("FW: WG: TR: RV: Enc: Weeding policy", ("weeding policy", False)),
        ("SV: VS: Antw: Antwort: Réf: Rif: R: Weeding", ("weeding", True)),
        ("Re[2]: Re^3: Re(4): Weeding", ("weeding", True)),
        ("Re： Weeding", ("weeding", True)),  # fullwidth colon
        ("Re : Désherbage", ("désherbage", True)),  # French spacing before the colon
        ("Re:Re:RE:weeding", ("weeding", True)),
        ("  Catalog\t  question \n", ("catalog question", False)),
        ("[SOLVED] Re: Catalog question", ("catalog question", True)),
        ("Re: Catalog question [no-tweet]", ("catalog question", True)),
        ("Reading lists for 2025", ("reading lists for 2025", False)),  # "Re" must be a prefix
        ("Fwd: ", ("", False)),
    ],
)
def test_normalise_subject_strips_tags_and_prefixes(
    subject: str, expected: tuple[str, bool]
) -> None:
    """List tags and reply/forward prefixes go, in any order, whitespace folded, casefolded."""
    assert normalise_subject(subject) == expected


def test_normalise_subject_forward_only_is_not_a_reply() -> None:
    """Fwd/FW/WG/TR/RV/Enc mark a forward, which starts a conversation rather than answers one."""
    assert normalise_subject("Fwd: FW: Lost book")[1] is False
    assert normalise_subject("Fwd: Re: Lost book")[1] is True


def test_split_subject_tags_keeps_case_and_rest() -> None:
    """Leading bracket tags come back separately; the remainder keeps its original case."""
    assert split_subject_tags("[List] [SPAM] Re: Hello") == (("List", "SPAM"), "Re: Hello")


@given(st.text(max_size=200))
def test_normalise_subject_is_idempotent(subject: str) -> None:
    """Normalising a normalised subject changes nothing (it is a stable threading key)."""
    once, _ = normalise_subject(subject)
    assert normalise_subject(once)[0] == once


@given(st.lists(st.sampled_from(["Re: ", "[L] ", "AW:", "Fwd: ", " ", "x", "Ré", "[", "]"])))
def test_normalise_subject_is_idempotent_on_prefix_soup(parts: list[str]) -> None:
    """Idempotent also on inputs built from the very tokens it strips."""
    once, _ = normalise_subject("".join(parts))
    assert normalise_subject(once)[0] == once


# --- html_to_text -----------------------------------------------------------------------------


def test_html_to_text_has_no_markdown_noise() -> None:
    """No "#", "**", "[text](url)", image syntax or backslash escapes; link text is kept."""
    html = (
        "<h2>Hours</h2><p>1. Open <b>late</b> &amp; <a href='http://x.example/'>see the page</a>"
        "<img src='a.png' alt='logo'></p><p>- not a bullet</p>"
    )
    assert html_to_text(html) == "Hours\n\n1. Open late & see the page\n\n- not a bullet"


def test_html_to_text_drops_style_and_script() -> None:
    """CSS and scripts are not text."""
    html = "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
    html += "<body><p>Hello</p></body></html>"
    assert html_to_text(html) == "Hello"


def test_html_to_text_unescapes_entities_and_nbsp() -> None:
    """Entities become characters and a no-break space becomes a plain space."""
    assert html_to_text("<p>&lt;a&gt; &eacute;t&eacute;&nbsp;&#8211; &#x27;q&#39;</p>") == (
        "<a> été – 'q'"
    )


def test_html_to_text_does_not_wrap_long_lines() -> None:
    """One paragraph stays on one line whatever its length."""
    words = " ".join(["word"] * 60)
    assert html_to_text(f"<p>{words}</p>") == words


def test_html_to_text_survives_broken_markup() -> None:
    """Unclosed tags and stray brackets still give the text."""
    assert html_to_text("<div>broken <p unclosed <b>bold &bogus; <").startswith("broken")


def test_html_to_text_table_cells_are_separated() -> None:
    """Cells of a row do not run together."""
    text = html_to_text("<table><tr><td>Mon</td><td>9-5</td></tr></table>")
    assert text.split() == ["Mon", "9-5"]


def test_every_runtime_dependency_has_a_permissive_licence() -> None:
    """An MIT package ships no GPL code: html2text (GPL-3.0) was replaced by html.parser."""
    import re
    import tomllib
    from importlib import metadata
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        meta = metadata.metadata(name)
        licence = " ".join([meta.get("License-Expression") or "", meta.get("License") or "",
                            *[c for c in meta.get_all("Classifier") or [] if "License" in c]])
        assert "GPL" not in licence.replace("LGPL", ""), (name, licence)


def test_html_lists_and_quotes_keep_their_shape() -> None:
    html = ("<p>Steps:</p><ol><li>open</li><li>save</li></ol><ul><li>a<ul><li>b</li></ul></li></ul>"
            "<blockquote>quoted<br>twice</blockquote><pre>  keep   this\n  too</pre>")
    assert html_to_text(html) == (
        "Steps:\n\n1. open\n2. save\n\n- a\n  - b\n\n> quoted\n> twice\n\n  keep   this\n  too")


def test_html_blockquote_becomes_a_quote_that_clean_body_removes() -> None:
    """Gmail's HTML quote (a blockquote under "On ... wrote:") is gone after cleaning."""
    html = (
        "<div>Yes, renew it.</div><div class='gmail_quote'>On Mon, Apr 2, 2012 at 6:26 PM, Ann "
        "&lt;ann@example.org&gt; wrote:<br><blockquote>Can I renew?</blockquote></div>"
    )
    assert clean_body(html_to_text(html)) == "Yes, renew it."


# --- clean_body: quotes -----------------------------------------------------------------------


def test_top_posted_reply_drops_attribution_and_quote() -> None:
    """The Gmail attribution and everything quoted under it go."""
    body = "Yes, use the API.\n\nOn Tue, Mar 1, 2011 at 6:02 PM, Ann <a@example.org> wrote:\n> How?"
    assert clean_body(body) == "Yes, use the API."


def test_bottom_posted_reply_keeps_the_answer() -> None:
    """Quoted lines above the answer go; the answer stays."""
    assert clean_body("> Is the library open?\n> Thanks\n\nYes, until 8.\n") == "Yes, until 8."


def test_interleaved_reply_keeps_every_own_line() -> None:
    """Each answer between quote blocks is kept, in order, and the attribution goes."""
    body = "On 3 Jan 2025, at 10:00, Ann wrote:\n> First?\n\nOne.\n\n> Second?\n\nTwo.\n"
    assert clean_body(body) == "One.\n\nTwo."


def test_attribution_wrapped_over_three_lines() -> None:
    """Apple/Gmail wrap long attributions: "On ..., Name\\n<addr>\\nwrote:"."""
    body = "Fixed now.\n\nOn Dec 16, 2011, at 12:47 PM, Cory Doe\n<c@example.org>\nwrote:\n\n> Bad?"
    assert clean_body(body) == "Fixed now."


@pytest.mark.parametrize(
    "attribution",
    [
        "Am 02.04.2012 um 18:26 schrieb Anna Beispiel <anna@example.de>:",
        "Anna Beispiel <anna@example.de> schrieb am Mo., 2. Apr. 2012 um 18:26:",
        "Le lun. 2 avr. 2012 à 18:26, Anne Exemple <anne@example.fr> a écrit :",
        "El lun., 2 abr. 2012 a las 18:26, Ana Ejemplo (<ana@example.es>) escribió:",
        "Op ma 2 apr. 2012 om 18:26 schreef Anke Voorbeeld <anke@example.nl>:",
        "Il giorno lun 2 apr 2012 alle ore 18:26 Anna Esempio <anna@example.it> ha scritto:",
        "Em seg., 2 de abr. de 2012 às 18:26, Ana Exemplo <ana@example.br> escreveu:",
        "Den mån 2 apr. 2012 kl 18:26 skrev Anna Exempel <anna@example.se>:",
        "2012/4/2 Ann Example <ann@example.org>",
        "Ann Example wrote:",
    ],
)
def test_attributions_in_other_languages(attribution: str) -> None:
    """Attribution lines in German, French, Spanish, Dutch, Italian, Portuguese, Swedish go."""
    assert clean_body(f"Danke.\n\n{attribution}\n\n> Frage?\n") == "Danke."


def test_unquoted_original_below_attribution_is_cut() -> None:
    """Clients that paste the original without ">" under "On ... wrote:": all of it goes."""
    body = "Agreed.\n\nOn 2025-01-03 10:00, Ann Example wrote:\nOriginal text, not quoted.\n"
    assert clean_body(body) == "Agreed."


def test_prose_starting_with_on_is_not_an_attribution() -> None:
    """ "On Monday we ... wrote:" without a date digit is the author's sentence."""
    body = "On Monday the committee wrote:\nthe policy is approved."
    assert clean_body(body) == body


def test_space_indented_quotes_are_quotes() -> None:
    """ " > " quoting (a space before ">") is removed too."""
    assert clean_body("On Wed, Jan 6, 2010 at 11:38 AM, Kev wrote:\n > old\n\nnew\n") == "new"


def test_snip_markers_are_dropped_with_their_attribution() -> None:
    """ "[...]" / "<snip>" stand for cut quotes; they and the attribution above them go."""
    assert clean_body("On Sat, 2010-01-02 at 11:53, Jo wrote:\n[...]\n\nMy point.\n") == "My point."


# --- clean_body: Outlook-style originals ------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "-----Original Message-----\nFrom: Ann\nSent: Monday\nSubject: Hours",
        "----- Original Message -----\nFrom: Ann\nTo: Bob\nSent: Monday",
        "-----Ursprüngliche Nachricht-----\nVon: Anna\nGesendet: Montag",
        "________________________________\nFrom: Ann <ann@example.org>\nSent: Monday, 3 March",
        "From: Ann [mailto:ann@example.org]\nSent: Monday\nTo: List\nSubject: Hours",
        "*From:* Ann\n*Sent:* Monday\n*To:* List",
        "De : Anne\nEnvoyé : lundi 3 mars\nÀ : Liste\nObjet : Horaires",
        "De: Ana\nEnviado el: lunes\nPara: Lista",
        "Van: Anke\nVerzonden: maandag\nAan: Lijst",
        "Date: Thu, 26 Jun 2014 13:53:45 +0400\nSubject: Hours\nFrom: ann@example.org\nTo: bob",
        "-------- Original message --------From: Ann Date: 7/13/20 To: list Subject: Hours",
    ],
)
def test_outlook_header_blocks_cut_the_rest(header: str) -> None:
    """An unquoted original under an Outlook/Apple/phone header block is removed entirely."""
    assert clean_body(f"Open until 8.\n\n{header}\n\nWhen are you open?\n") == "Open until 8."


def test_forwarded_message_is_kept() -> None:
    """A forward under "---------- Forwarded message ---------" is content, not a quote."""
    body = (
        "See below.\n\n---------- Forwarded message ---------\nFrom: Ann\nDate: Mon, 3 Mar 2025"
        "\nSubject: Hours\n\nWhen are you open?"
    )
    assert clean_body(body) == body


# --- clean_body: signatures -------------------------------------------------------------------


def test_sig_dash_dash_space_delimiter_cuts_signature() -> None:
    """Everything from a "-- " line on is the signature."""
    assert clean_body("Try the catalog.\n\n-- \nAnn Example\nLibrarian\n") == "Try the catalog."


def test_dashes_inside_a_line_are_not_a_signature() -> None:
    """ "--" inside a sentence does not start a signature."""
    body = "Here is a fix -- not a signature.\n\nbye"
    assert clean_body(body) == body


def test_long_tail_after_dashes_is_not_a_signature() -> None:
    """A "--" line followed by a long text is a separator, not a signature."""
    body = "Intro\n--\n" + "\n".join(f"line {n}" for n in range(30))
    assert clean_body(body) == body


@pytest.mark.parametrize(
    "tagline",
    [
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Get Outlook for iOS",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPad",
        "Enviado desde mi Android",
        "Verzonden vanaf mijn iPhone",
        "Inviato da iPhone",
        "Enviado do meu iPhone",
        "Skickat från min iPhone",
    ],
)
def test_mobile_taglines_are_removed(tagline: str) -> None:
    """Phone/app taglines at the end go, in several languages."""
    assert clean_body(f"Yes.\n\n{tagline}\n") == "Yes."


def test_sent_from_sentence_is_kept() -> None:
    """ "Sent from my desk, ..." is a sentence, not a tagline."""
    body = "Here it is\n\nSent from my desk, is much easier then my mobile phone."
    assert clean_body(body) == body


def test_sign_off_block_at_the_end_is_removed() -> None:
    """ "Best regards,\\nName\\nTitle" closing the message goes."""
    body = "Does anyone use Koha?\n\nBest regards,\nAnn Example\nHead Librarian, Example College\n"
    assert clean_body(body) == "Does anyone use Koha?"


def test_sign_off_followed_by_a_question_is_kept() -> None:
    """Text under "Thanks," that asks something is not a signature block."""
    body = "Question one.\n\nThanks,\nAlso, does it work on Linux?"
    assert clean_body(body) == body


def test_sign_off_alone_is_kept() -> None:
    """A message that is only "Thanks!" keeps it: there is nothing else to say."""
    assert clean_body("Thanks!\n") == "Thanks!"


def test_pgp_clear_signed_text_is_unwrapped() -> None:
    """The armor header, its Hash: line, dash-escaping and the signature block go."""
    body = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSigned words.\n- - Alex\n"
        "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEB\n-----END PGP SIGNATURE-----\n"
    )
    assert clean_body(body) == "Signed words.\n- Alex"


# --- clean_body: list footers -----------------------------------------------------------------

_FOOTERS = {
    "mailman2": "_______________________________________________\nSolo mailing list\n"
    "solo@lists.example.org\nhttps://lists.example.org/mailman/listinfo/solo\n",
    "mailman3": "_______________________________________________\nSolo mailing list -- "
    "solo@lists.example.org\nTo unsubscribe send an email to solo-leave@lists.example.org\n",
    "google": "-- \nYou received this message because you are subscribed to the Google Groups "
    '"Solo" group.\nTo unsubscribe from this group, send an email to solo+unsubscribe@example.org.'
    "\nTo view this discussion visit https://groups.google.com/d/msgid/solo/abc\n",
    "groupsio": "-=-=-=-=-=-=-=-=-=-=-=-\nGroups.io Links: You receive all messages sent to this "
    "group.\nView/Reply Online (#12): https://groups.io/g/solo/message/12\n"
    "-=-=-=-=-=-=-=-=-=-=-=-\n",
    "listserv": "############################\n\nTo unsubscribe from the SOLO list, click the "
    "following link:\nhttps://listserv.example.org/scripts/wa.exe?SUBED1=SOLO&A=1\n",
    "ezmlm": "---------------------------------------------------------------------\nTo "
    "unsubscribe, e-mail: users-unsubscribe@example.org\nFor additional commands, e-mail: "
    "users-help@example.org\n",
}


@pytest.mark.parametrize("platform", sorted(_FOOTERS))
def test_list_footers_are_removed(platform: str) -> None:
    """Mailman 2/3, Google Groups, groups.io, LISTSERV and ezmlm footers go."""
    assert clean_body(f"Where is the ILL form?\n\n{_FOOTERS[platform]}") == "Where is the ILL form?"


def test_footer_glued_to_the_last_line_is_removed() -> None:
    """Mailman appends its rule to a last line that had no newline."""
    body = "Last words.\xa0_______________________________________________\nSolo mailing list -- "
    body += "solo@lists.example.org\nTo unsubscribe send an email to solo-leave@lists.example.org\n"
    assert clean_body(body) == "Last words."


def test_quoted_footer_in_a_bottom_post_does_not_cut_the_answer() -> None:
    """A footer inside the quote goes with the quote; the answer below stays."""
    body = (
        "> q?\n> ______________________________\n> Solo mailing list\n> x@example.org\n\nAnswer.\n"
    )
    assert clean_body(body) == "Answer."


def test_mention_of_a_mailing_list_is_kept() -> None:
    """Prose that mentions "mailing list" is not a footer."""
    body = "Please ask on the openssl mailing list.\nThey know more."
    assert clean_body(body) == body


# --- clean_body: whitespace and robustness ----------------------------------------------------


def test_newlines_trailing_spaces_and_blank_runs_are_normalised() -> None:
    """CRLF/CR become LF, line ends are trimmed, blank-line runs collapse to one."""
    assert clean_body("\r\n\r\nA  \r\n\r\n\r\n\r\nB\rC\t\n\n") == "A\n\nB\nC"


def test_indentation_of_code_is_kept() -> None:
    """Leading spaces (code, logs) are the author's and stay."""
    body = "Run:\n\n    telnet 127.0.0.1 52698\n\nthen retry."
    assert clean_body(body) == body


def test_pathological_long_quote_is_handled() -> None:
    """A body with a 700,000-character run of ">" and long lines finishes and keeps the text."""
    body = "Hi folks\n\n" + ">" * 700_000 + "\n" + "A" + ">" * 60_000 + "\nbye\n"
    out = clean_body(body)
    assert out.startswith("Hi folks\n\nA>>>") and out.endswith("bye")


def test_many_attribution_like_lines_are_handled() -> None:
    """Thousands of lines that start like a wrapped attribution but never end in ":" are kept."""
    body = "\n".join(["On 3 May 2025, at 10:00, Ann Example wrote"] * 5_000)
    assert clean_body(body).count("\n") == 4_999


@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                [
                    "> quoted",
                    "-- ",
                    "--",
                    "On 1 Jan 2025, Ann wrote:",
                    "From: a",
                    "Sent: b",
                    "_" * 47,
                    "Solo mailing list",
                    "Thanks,",
                    "Sent from my iPhone",
                    "",
                    "\r",
                    "-----Original Message-----",
                    "-----BEGIN PGP SIGNED MESSAGE-----",
                    "[...]",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_clean_body_never_raises_nor_grows(lines: list[str]) -> None:
    """Any input gives text no longer than the newline-normalised input."""
    text = "\n".join(lines)
    assert len(clean_body(text)) <= len(normalise_newlines(text))


@given(st.text())
def test_clean_body_on_arbitrary_text(text: str) -> None:
    """Arbitrary Unicode (U+2028, NUL, lone CR...) never raises and never grows."""
    assert len(clean_body(text)) <= len(normalise_newlines(text))


@given(st.text())
def test_html_to_text_never_raises(markup: str) -> None:
    """Arbitrary input to the HTML converter gives a string."""
    assert isinstance(html_to_text(markup), str)


@pytest.mark.parametrize("prefix", ["Re:", "RE :", "Aw:", "SV:", "Antw:", "Antwort:", "Odp:", "R:",
                                    "Vs:", "Réf :", "Re[2]:", "Re^3:", "回复：", "Отв:"])
def test_one_reply_prefix_rule_for_threading_the_post_and_the_relay(prefix: str) -> None:
    """The same words are reply prefixes to threading, to the post's subject and to the relay's
    "Re:" (three copies with different word lists before)."""
    subject = f"[Solo] {prefix} Weeding policy"
    assert normalise_subject(subject) == ("weeding policy", True)
    assert clean_subject(subject) == "Weeding policy"
    assert starts_as_reply(subject) and relay_subject(subject) == subject


@pytest.mark.parametrize("prefix", ["Fwd:", "Fw:", "WG:", "TR:", "RV:", "Enc:", "转发："])
def test_a_forward_prefix_is_stripped_but_is_no_reply(prefix: str) -> None:
    subject = f"{prefix} Weeding policy"
    assert normalise_subject(subject) == ("weeding policy", False)
    assert clean_subject(subject) == "Weeding policy"
    assert not starts_as_reply(subject) and relay_subject(subject) == f"Re: {subject}"
