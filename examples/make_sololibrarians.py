"""Write examples/sololibrarians.mbox: a fictional three-week Google Groups list for the demo.

Every person, organisation, address (example.org/.com/.net) and phone number (555-01xx) is
made up. Run `python examples/make_sololibrarians.py` to rebuild the mbox byte for byte; the
output is deterministic (ids and boundaries are hashes of each message's key).
"""

from __future__ import annotations

import hashlib
import quopri
import re
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path

LIST_ADDR = "sla-dsol@googlegroups.com"
LIST_NAME = "SLA Solo Librarians"
GROUP_ID = "712093804417"
OUT = Path(__file__).with_name("sololibrarians.mbox")


@dataclass(frozen=True)
class Person:
    name: str
    addr: str
    client: str  # gmail | outlook | apple | thunderbird | web
    sig: str = ""


@dataclass
class Msg:
    key: str
    who: Person
    when: str  # "2026-11-02 09:15 -0500"
    subject: str
    body: str
    parent: str | None = None  # key of the parent message, or a literal "<id>" not in the file
    refs: str = "full"  # full | bare (web front-end: bare In-Reply-To, no References)
    mode: str = "plain"  # plain | qp1252 | html | alt
    quote: bool = False  # append the parent's text as "On ... wrote:" + "> " lines
    via: bool = False  # Google Groups DMARC rewrite of From
    extra: list[tuple[str, str]] = field(default_factory=list)
    missing_refs: tuple[str, ...] = ()  # References for a parent absent from the archive


def sig(*lines: str) -> str:
    return "\n".join(lines)


TOMAS = Person("Tomás Ibarra", "t.ibarra@westfield-marine.example.org", "thunderbird", sig(
    "Tomás Ibarra", "Librarian, Westfield Marine Institute", "+1 555-0143"))
RUTH = Person("Ruth Abernathy", "ruth.abernathy@example.net", "apple", sig(
    "Ruth", "--", "Ruth Abernathy, MLIS", "Library consultant (semi-retired)"))
BEATRIX = Person("Beatrix Lowe", "beatrix.lowe@example.org", "gmail", sig(
    "Beatrix Lowe", "Chair, SLA Solo Librarians Division"))
ANITA = Person("Anita Deshpande", "adeshpande@st-columba-hospital.example.org", "outlook", sig(
    "Anita Deshpande, MLS, AHIP", "Medical Librarian | St Columba Hospital",
    "Tel 555-0127 | adeshpande@st-columba-hospital.example.org"))
MARGARET = Person("Margaret Okafor", "m.okafor@harbourview-health.example.org", "outlook", sig(
    "Margaret Okafor", "Health Sciences Librarian", "Harbourview Health | 555-0112"))
KWAME = Person("Kwame Mensah", "kmensah@lakeside-policy.example.org", "gmail", sig(
    "Kwame Mensah", "Information Manager, Lakeside Policy Institute"))
HR = Person("Fenwick Valley Careers", "careers@fenwick-valley-hospital.example.org", "outlook")
SINEAD = Person("Sinéad O'Rourke", "sinead.orourke@brightwater-trust.example.org", "gmail", sig(
    "Sinéad O'Rourke", "Research Librarian, Brightwater Trust"))
JONATHAN = Person("Jonathan Pike", "jpike@horticultural-assoc.example.org", "thunderbird", sig(
    "Jonathan Pike", "Librarian & Archivist, Northern Horticultural Association"))
DANIEL = Person("Daniel Whitcombe", "dwhitcombe@pryce-lindqvist.example.com", "outlook", sig(
    "Daniel Whitcombe", "Law Librarian | Pryce & Lindqvist LLP", "T: 555-0188"))
PRIYA = Person("Priya Raman", "priya.raman@corvane.example.com", "gmail", sig(
    "Priya Raman", "Information Centre, Corvane Engineering"))
ELLEN = Person("Ellen Fairbrother", "librarian@st-brendans-college.example.org", "apple", sig(
    "Ellen Fairbrother", "Librarian, St Brendan's Theological College"))
HELENE = Person("Hélène Marchetti", "h.marchetti@musee-vallon.example.org", "outlook", sig(
    "Hélène Marchetti", "Bibliothécaire, Musée du Vallon", "+33 555-0164"))
GRACE = Person("Grace Whitaker-Lund", "gwl@hollis-ferrante.example.com", "web", sig(
    "Grace Whitaker-Lund", "Knowledge Manager, Hollis Ferrante"))
OLIVER = Person("Oliver Grant", "oliver.grant@kestrel-energy.example.com", "gmail", sig(
    "Oliver Grant", "Kestrel Energy Library"))
YUKI = Person("Yuki Tanabe", "ytanabe@northgate-pharma.example.com", "outlook")
MARCUS = Person("Marcus Feld", "marcus.feld@okonkwo-foundation.example.org", "apple", sig(
    "Marcus Feld", "Archivist-Librarian, The Okonkwo Foundation"))
COLLEEN = Person("Colleen Barrett", "cbarrett@meridian-insurance.example.com", "outlook")
SPAMMER = Person("Dr. Editorial Board", "editor@global-index-journals.example.net", "web")


def b(text: str) -> str:
    """Dedent a hand-written body and strip the blank line after the opening quotes."""
    return textwrap.dedent(text).strip("\n") + "\n"


MESSAGES: list[Msg] = [
    Msg("koha-pattern", TOMAS, "2026-11-02 09:15 -0500",
        "Koha serials: prediction pattern for an irregular quarterly?", b("""
        Hi all,

        We take a society journal that is "quarterly" but publishes in February,
        May, September and December, and skips a number whenever the editor
        feels like it. In Koha 24.05 I cannot find a prediction pattern that
        gets the months right: the built-in quarterly pattern gives me
        Feb/May/Aug/Nov.

        Has anyone set up a custom pattern for something like this, or do you
        just receive these as irregular and fix the expected dates by hand?
        """)),
    Msg("koha-pattern-r1", RUTH, "2026-11-02 12:40 -0500",
        "Re: Koha serials: prediction pattern for an irregular quarterly?", b("""
        Hi Tomás,

        You can do it with a custom pattern. Set the frequency to "1 issue per
        month" and then use the irregularity list to tick the months that do
        NOT appear (Jan, Mar, Apr, Jun, Jul, Aug, Oct, Nov). Koha keeps the
        numbering going only for the months you leave unticked. I did exactly
        this for a newsletter at my last job and it survived two upgrades.

        When the editor skips a number, just mark that issue "Not issued" and
        the next prediction stays correct.
        """), parent="koha-pattern", quote=True),
    Msg("koha-pattern-r2", TOMAS, "2026-11-02 14:05 -0500",
        "Re: Koha serials: prediction pattern for an irregular quarterly?", b("""
        Thank you Ruth, that worked first time. The next four issues now show
        the right months.
        """), parent="koha-pattern-r1", quote=True),
    Msg("ann-meetup", BEATRIX, "2026-11-02 15:00 -0500",
        "[ANN] Solo Librarians Division virtual fall meetup, Thursday 12 November", b("""
        Dear colleagues,

        A reminder that our virtual fall meetup is on Thursday 12 November,
        12:00-13:00 US Eastern. Bring a win, a worry, or a tool you could not
        live without. No slides, no recording.

        Joining details: https://meet.example.org/sla-dsol-fall

        Want to host the spring one? Reply to me off-list.
        """)),
    Msg("oclc-holdings", ANITA, "2026-11-03 10:40 -0500",
        "OCLC holdings not updating after batch load", b("""
        Hello everyone,

        I get the following error when I run our monthly holdings batch
        through the WorldShare record manager. The file validates, the job
        reports "completed", but the holdings count for our symbol does not
        change and the report contains this line for every record:

            Record 1 of 212: HOLDINGS_NOT_SET - invalid or missing OCLC
            number in 035 (subfield a)

        The 035 fields look like (OCoLC)ocm12345678 in our ILS export. Full
        job report below, in case something jumps out at someone.

            Job ID      : 88213-0047
            Input format: MARC21 (UTF-8)
            Records     : 212
            Set         : 0
            Unset       : 0
            Errors      : 212
        """)),
    Msg("ill-hospital", MARGARET, "2026-11-03 15:20 -0500",
        "ILL for a hospital library without DOCLINE?", b("""
        Hi all,

        Our hospital has finally agreed to fund interlibrary loan properly, but
        we are not eligible for DOCLINE for another six months (paperwork). In
        the meantime, how are other one-person hospital libraries getting
        articles quickly? Reciprocal agreements with nearby academic
        libraries, commercial document delivery, something else?

        Turnaround matters more than cost for our clinicians.
        """)),
    Msg("ill-hospital-r1", ANITA, "2026-11-03 17:30 -0500",
        "[sla-dsol] Re: ILL for a hospital library without DOCLINE?", b("""
        Margaret, we were in the same position two years ago. What worked:

        1. A written reciprocal agreement with the nursing school down the road
           (articles by email, 24 h turnaround, no fee).
        2. A deposit account with a commercial document supplier for anything
           urgent; about USD 35 per article, usually same day.
        3. Asking authors directly; you would be surprised how often that is
           fastest.

        Happy to share our agreement template off-list.
        """), parent="ill-hospital", quote=True),
    Msg("ill-hospital-r2", KWAME, "2026-11-04 09:10 -0500",
        "Re: ILL for a hospital library without DOCLINE?", b("""
        +1 to the reciprocal agreement. One tip: put the turnaround in writing
        and review it every year, otherwise it drifts.
        """), parent="ill-hospital-r1", quote=True),
    Msg("job-fenwick", HR, "2026-11-04 11:00 -0500",
        "JOB: Solo Librarian (0.6 FTE), Fenwick Valley Regional Hospital", b("""
        Fenwick Valley Regional Hospital is recruiting a part-time (0.6 FTE)
        librarian to run its one-person clinical library.

        - MLIS/MLS or equivalent; health sciences experience preferred
        - Literature searching for clinicians, ILL, e-resource management
        - Salary band USD 34-38 per hour, hybrid (2 days on site)

        Closing date: 30 November 2026. Details and application:
        https://jobs.fenwick-valley-hospital.example.org/librarian-0-6

        Questions to careers@fenwick-valley-hospital.example.org or 555-0190.
        """)),
    Msg("libguides-wiki", SINEAD, "2026-11-05 08:30 +0000",
        "LibGuides or an internal wiki for a one-person research library?", b("""
        Hello all,

        Our trust is reviewing software licences and LibGuides is on the list
        to cut. IT says "just use the Confluence wiki, we already pay for it".
        For those of you who have tried both: what did you lose (or gain) by
        moving research guides into a general-purpose wiki? I am mostly worried
        about link checking and usage statistics.
        """), mode="alt"),
    Msg("libguides-wiki-r1", JONATHAN, "2026-11-05 11:45 +0000",
        "Re: LibGuides or an internal wiki for a one-person research library?", b("""
        We moved to our intranet wiki in 2024. Honest summary: editing is
        easier and staff actually find the guides now because they are where
        everything else is. We lost the built-in link checker (I run a free
        link-checking tool monthly instead) and the nice per-guide statistics;
        the wiki only gives page views.
        """), parent="libguides-wiki", quote=True),
    Msg("libguides-wiki-r2", DANIEL, "2026-11-05 13:02 +0000",
        "RE: LibGuides or an internal wiki for a one-person research library?", b("""
        Same experience at the firm. One thing to check before you agree: who
        can edit. Our wiki let any fee-earner "improve" the Westlaw guide and
        it took me a month to notice.
        """), parent="libguides-wiki"),
    Msg("libguides-wiki-r3", SINEAD, "2026-11-06 08:00 +0000",
        "Re: LibGuides or an internal wiki for a one-person research library?", b("""
        Thank you both, this is exactly what I needed for the meeting. I will
        ask for page-level permissions and a link checker in the proposal.
        """), parent="libguides-wiki-r2", mode="alt"),
    Msg("ezproxy", PRIYA, "2026-11-06 10:00 +0530",
        "EZproxy: \"host not found\" after adding the new vendor stanza", b("""
        Hi all,

        Our standards publisher moved to a new platform last week. I added
        their published stanza to config.txt and restarted EZproxy, but users
        now get "host not found" on every article link. Stanza as added:

            Title Standards Platform (new)
            URL https://platform.standards.example.com/
            DJ standards.example.com
            HJ platform.standards.example.com

        Anyone seen this? What am I missing?
        """)),
    Msg("ezproxy-solved", PRIYA, "2026-11-06 15:10 +0530",
        "[SOLVED] Re: EZproxy: \"host not found\" after adding the new vendor stanza", b("""
        Never mind, found it. The article links go through a CDN host
        (cdn.standards.example.com) that was not in the stanza; adding an HJ
        line for it and restarting fixed everything. Posting in case it helps
        someone else.
        """), parent="ezproxy"),
    Msg("coursepacks", ELLEN, "2026-11-06 16:30 +0000",
        "Copyright for course packs: scanning chapters for a 12-student class", b("""
        Dear all,

        A lecturer has asked me to scan three chapters from two different
        books into a PDF course pack for a class of 12. We have a blanket
        licence from our national licensing body but I am never sure whether
        "a chapter" means one chapter per book or per course. How do others
        handle this - do you ask the licensing body each time?
        """)),
    Msg("coursepacks-r1", DANIEL, "2026-11-06 19:05 +0000",
        "RE: Copyright for course packs: scanning chapters for a 12-student class", b("""
        Ellen - not legal advice, but every blanket licence I have read says
        one chapter (or 10%, whichever is greater) per book per course. Three
        chapters from two books only works if no more than one comes from each
        book, unless the 10% rule covers you. The licensing body usually has a
        helpdesk that answers within a day; I would email them with the ISBNs
        and keep the reply on file.
        """), parent="coursepacks"),
    Msg("coursepacks-r2", RUTH, "2026-11-07 09:20 -0500",
        "Re: Copyright for course packs: scanning chapters for a 12-student class", b("""
        Agree with Daniel. Also log every scan (title, pages, course, date):
        if the licensing body ever audits you, that spreadsheet is your best
        friend.
        """), parent="coursepacks-r1", quote=True),
    Msg("newsletter", BEATRIX, "2026-11-09 08:00 -0500",
        "The Solo Librarian - November 2026 issue", b("""
        The November issue of our division newsletter is out:
        https://sla-dsol.example.org/newsletter/2026-11

        In this issue:
        From the chair: three years of the solo librarians' survey
        Member profile: a one-person library on an offshore research vessel
        How I got our COUNTER reports down to one page
        Book review: "Weeding Without Tears"

        As always, contributions for the next issue are welcome.
        """)),
    Msg("donated-collection", HELENE, "2026-11-09 14:20 +0100",
        "Cataloguing a donated collection of exhibition catalogues", b("""
        Dear colleagues,

        Our museum has received a donation of about 1,400 exhibition catalogues
        (1962–1998), many from small galleries in France and Belgium, with
        dedications and the donor’s annotations. I am the only librarian and
        have roughly one day a week for this project.

        Most titles have no record in WorldCat, or only a very short one. I
        hesitate between three approaches: full original cataloguing of
        everything, a brief inventory list now (title, gallery, year, “notes”)
        and proper records later, or cataloguing only the annotated copies.
        Would a minimal-level record be acceptable in your experience, and
        how do you record provenance for a donor’s annotations?

        Merci d’avance,
        """), mode="qp1252"),
    Msg("westlaw-lexis", DANIEL, "2026-11-10 09:30 -0500",
        "Westlaw vs Lexis: cutting one for the 2027 budget", b("""
        Morning all,

        Our managing partner wants a 20% cut in the legal research budget for
        2027, and the obvious move is to drop either Westlaw or Lexis. We are
        a 40-lawyer firm, mostly commercial property and employment. For those
        of you at small firms who went down to one platform: which did you
        keep, how did the lawyers cope, and did you negotiate a multi-year deal
        to soften the price?
        """)),
    Msg("westlaw-lexis-r1", GRACE, "2026-11-10 12:15 -0500",
        "Re: Westlaw vs Lexis: cutting one for the 2027 budget", b("""
        We kept Westlaw and dropped Lexis three years ago (35 lawyers,
        litigation heavy). The first six months were noisy, then nobody
        mentioned it again. Get usage data per practice group before you
        decide; ours showed one group used Lexis almost exclusively, and we
        bought them a small add-on instead of the full platform. We signed a
        three-year deal with a 3% cap on the annual increase.
        """), parent="westlaw-lexis", refs="bare"),
    Msg("westlaw-lexis-r2", OLIVER, "2026-11-10 16:40 -0500",
        "Re: Westlaw vs Lexis: cutting one for the 2027 budget", b("""
        Not a law firm, but our in-house legal team went through this. Ask
        both vendors for a quote at the same time and tell each one you are
        doing so. The difference between the first and the final offer was
        larger than the 20% we had to find.
        """), parent="westlaw-lexis", via=True, quote=True),
    Msg("westlaw-lexis-r3", DANIEL, "2026-11-11 08:50 -0500",
        "RE: Westlaw vs Lexis: cutting one for the 2027 budget", b("""
        Thank you Grace and Oliver, very helpful. I have asked both vendors
        for usage reports by practice group.
        """), parent="westlaw-lexis-r2"),
    Msg("webinar", BEATRIX, "2026-11-11 13:00 -0500",
        "Webinar: COUNTER Release 5.1 for one-person libraries, 18 November", b("""
        Dear all,

        Join us on Wednesday 18 November, 11:00 US Eastern, for a free
        one-hour webinar: "COUNTER Release 5.1 for one-person libraries:
        which reports matter and how to explain them to management".

        Register: https://sla-dsol.example.org/events/counter-51

        Not sure whether it is for you? If you have ever exported a TR_J1
        report and wondered what to do with it, it is.
        """)),
    Msg("usage-stats", PRIYA, "2026-11-12 09:00 +0530",
        "Director wants \"usage stats for everything\" by Friday", b("""
        Hi all,

        My director has asked for "usage statistics for all library
        resources" for the annual review, by Friday. We have 14 e-resource
        subscriptions, a print collection of about 3,000 items, and I answer
        roughly 15 enquiries a week. What do you actually put in front of
        senior management: a one-page dashboard, cost per use, something
        else? Examples welcome.
        """)),
    Msg("usage-stats-r1", YUKI, "2026-11-12 07:10 -0500",
        "RE: Director wants \"usage stats for everything\" by Friday", b("""
        Priya, what worked for us was one page, three numbers per resource:
        annual cost, uses (COUNTER TR_J1 unique item requests, or searches for
        databases), and cost per use. Sort by cost per use, highest first.
        Then one paragraph on enquiries with two short examples of questions
        that saved someone real time. Management remembered the examples, not
        the numbers.

        Yuki
        """), parent="usage-stats", quote=True),
    Msg("usage-stats-r2", KWAME, "2026-11-12 09:30 -0500",
        "Re: Director wants \"usage stats for everything\" by Friday", b("""
        Agree with Yuki. I would add a line for "turnaways" if any platform
        reports them: it is the easiest argument for keeping a subscription.
        """), parent="usage-stats-r1"),
    Msg("email-archiving", MARCUS, "2026-11-13 11:30 -0500",
        "Archiving the email of departing executives", b("""
        Hello all,

        Our foundation's director of programmes is retiring after 22 years and
        the board has asked me to "archive her email". IT will export the
        mailbox as a PST file (about 40 GB) and then delete the account. I
        have no email archiving tool and no written policy.

        What is the minimum sensible thing to do: convert to MBOX or EML and
        keep it on a separate drive, appraise and keep only some folders, or
        push back until there is a policy? Any open-source tools you would
        recommend for a one-person shop?
        """)),
    Msg("discovery-orphan", RUTH, "2026-11-14 10:00 -0500",
        "Re: Discovery layer on a shoestring", b("""
        > Has anyone put a discovery layer in front of Koha with no budget?

        Yes: two of my former clients run the open-source discovery interface
        that talks to Koha over its APIs. It took about three days to set up,
        most of them spent on the record display templates.
        """), parent="<CAEq7h2vK9xWm3@mail.example.com>",
        missing_refs=("<CAEq7h2vK9xWm3@mail.example.com>",)),
    Msg("discovery-orphan-r1", SINEAD, "2026-11-14 17:20 +0000",
        "Re: Discovery layer on a shoestring", b("""
        Ruth, would you be willing to share which templates needed the most
        work? We are looking at the same setup.
        """), parent="discovery-orphan", quote=True),
    Msg("spam", SPAMMER, "2026-11-16 03:12 +0000",
        "Get your library journal indexed in 48 hours!!! GUARANTEED", b("""
        Dear Esteemed Librarian,

        Our indexing service GUARANTEES inclusion of your institutional journal
        in 40+ international databases within 48 hours. Special offer for this
        week only: USD 99.

        Click here: https://global-index-journals.example.net/offer
        """), extra=[("X-Spam-Flag", "YES"),
                     ("X-Spam-Status", "Yes, score=9.8 required=5.0 tests=ADVANCE_FEE,URI_PHISH")]),
    Msg("cfp", BEATRIX, "2026-11-16 09:00 -0500",
        "CFP: Solo Librarians track at the 2027 annual conference", b("""
        Dear colleagues,

        The division invites proposals for 20-minute talks and lightning
        talks for the solo librarians track at the 2027 annual conference.
        Topics: doing more with less, measuring value, technology on a small
        budget, managing up.

        Submit a 250-word abstract by 15 January 2027:
        https://sla-dsol.example.org/cfp-2027

        Have an idea but not sure it is a talk? Ask me, that is what I am for.
        """)),
    Msg("open-access", SINEAD, "2026-11-17 10:00 +0000",
        "Open access policy for a small research charity?", b("""
        Hi all,

        Our trustees want us to adopt an open access policy for the research we
        fund (about 25 grants a year). Does anyone have a short policy from a
        small funder they could point me to? Ours needs to fit on two pages.
        """)),
    Msg("open-access-r1", KWAME, "2026-11-17 13:30 -0500",
        "Re: Open access policy for a small research charity?", b("""
        Sinéad, ours is one and a half pages and I am happy to share it; it
        boils down to: deposit the accepted manuscript in a repository within
        six months, a CC BY licence where possible, and a small budget line
        for article processing charges. I will send it off-list.
        """), parent="open-access", quote=True),
    Msg("webinar-reminder", BEATRIX, "2026-11-17 15:00 -0500",
        "Re: Webinar: COUNTER Release 5.1 for one-person libraries, 18 November", b("""
        Reminder: this is tomorrow, 11:00 US Eastern. 140 people registered so
        far; there is room for more.
        """), parent="webinar"),
    Msg("counter-plus1", ANITA, "2026-11-19 10:15 -0500",
        "COUNTER 5: TR_J3 or TR_J1 for the board report?", b("""
        Hello all,

        I missed yesterday's webinar (on call at the hospital). For a one-page
        report to our library committee, should I be using TR_J1 (unique item
        requests) or TR_J3 (which also breaks down by access type)? Our
        committee mostly wants to know whether the big journal package is
        worth it. Which metric do you report, and why?
        """)),
    Msg("counter-plus1-r1", MARGARET, "2026-11-19 13:00 -0500",
        "RE: COUNTER 5: TR_J3 or TR_J1 for the board report?", b("""
        +1, following. Same question from our committee.
        """), parent="counter-plus1", quote=True),
    Msg("counter-plus1-r2", SINEAD, "2026-11-20 09:00 +0000",
        "Re: COUNTER 5: TR_J3 or TR_J1 for the board report?", b("""
        Me too - following this one.
        """), parent="counter-plus1"),
    Msg("roi-html", YUKI, "2026-11-19 16:45 -0500",
        "Our board is asking for the library's ROI - how do you calculate it?", b("""
        Hi all,

        Our new CFO has asked me to show the "return on investment" of the
        library (one librarian, about USD 410,000 a year including
        subscriptions) to the board in January. I have time-saved survey data
        from 2025 and the usage statistics, but no idea how to turn that into
        one defensible figure.

        Has anyone presented an ROI number to a board? Which method did you
        use, and did they believe it?
        """), mode="html"),
    Msg("weeding", JONATHAN, "2026-11-20 10:30 +0000",
        "Weeding policy template for a small association library", b("""
        Dear all,

        Our council wants a written weeding policy before I can withdraw
        anything from our 9,000-volume collection, and I have never had to
        write one. Could anyone share a short policy (or the headings of
        yours)? We keep all of our own publications permanently, so that part
        is easy; it is everything else I need wording for.
        """)),
    Msg("weeding-ooo", COLLEEN, "2026-11-20 10:31 +0000",
        "Out of Office: Weeding policy template for a small association library", b("""
        Thank you for your message. I am out of the office until Monday 30
        November with limited access to email. For urgent library requests
        please contact the service desk on 555-0176.

        Colleen Barrett
        Librarian, Meridian Insurance
        """), parent="weeding",
        extra=[("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")]),
    Msg("salary-notweet", GRACE, "2026-11-20 14:00 -0500",
        "[no-tweet] Salary survey for solo librarians in law firms?", b("""
        Hi all,

        I am preparing for a salary review and would like data for solo
        librarians in small law firms. Is there a recent survey anyone can
        recommend, or would people be willing to share ranges with me
        privately?
        """)),
    Msg("noarchive", MARGARET, "2026-11-21 09:20 -0500",
        "Patron wants their search request records deleted", b("""
        Hi all,

        A clinician has asked us to delete every record of the literature
        searches we did for them over the last five years. Our hospital
        records policy does not mention library requests at all. What do
        other hospital libraries do with old search request forms, and do you
        have a retention period written down?
        """), extra=[("X-No-Archive", "yes")]),
    Msg("koha-error", TOMAS, "2026-11-22 11:00 -0500",
        "Koha: error when renewing a serial subscription", b("""
        Hi all,

        I get the following error when I try to renew any serial subscription
        in Koha (24.05.04) since our host applied last week's update. The
        renewal form opens, I click Save, and the page shows this instead, see
        below. Nothing is renewed.

            Software error:
            Can't call method "enddate" on an undefined value at
            /usr/share/koha/intranet/cgi-bin/serials/subscription-renew.pl
            line 77.

        The host says it is a data problem on our side, but it happens for
        every subscription, including ones created last month.
        """)),
    Msg("zotero", MARGARET, "2026-11-23 14:00 -0500",
        "Zotero or EndNote for hospital staff?", b("""
        Quick one: our research nurses want a reference manager and IT will
        only support one. Zotero or EndNote, for a mix of novices and a few
        experienced authors? Any regrets either way?
        """)),
    Msg("zotero-r1", ANITA, "2026-11-23 15:10 -0500",
        "[sla-dsol] Re: Zotero or EndNote for hospital staff?", b("""
        Zotero for us: free, works in any browser, and the novices picked it
        up in a 45-minute session. The two authors who insisted on EndNote
        still have it on their own budget. No regrets.
        """), parent="zotero", quote=True),
    Msg("retention", MARCUS, "2026-11-24 19:00 -0500",
        "Retention schedule for the library's own records?", b("""
        Hello again,

        Following on from my email archiving question: does anyone have a
        retention schedule for the library's own administrative records
        (subscription invoices, licence agreements, enquiry logs, ILL
        requests)? I would rather adapt one than start from nothing.
        """)),
    Msg("zotero-r2", RUTH, "2026-11-25 11:30 -0500",
        "Re: Zotero or EndNote for hospital staff?", b("""
        Agree with Anita. One tip: set up a shared group library for each
        research team in the first session. It is what keeps them using it.
        """), parent="zotero-r1", quote=True),
]

FOOTER_TEXT = (
    "-- \n"
    f'You received this message because you are subscribed to the Google Groups "{LIST_NAME}"'
    " group.\n"
    "To unsubscribe from this group and stop receiving emails from it, send an email to"
    " sla-dsol+unsubscribe@googlegroups.com.\n"
    "To view this discussion visit https://groups.google.com/d/msgid/sla-dsol/{msgid}.\n"
)
FOOTER_HTML = (
    "<p></p>\n\n-- <br />\n"
    "You received this message because you are subscribed to the Google Groups "
    f"&quot;{LIST_NAME}&quot; group.<br />\n"
    "To unsubscribe from this group and stop receiving emails from it, send an email to "
    '<a href="mailto:sla-dsol+unsubscribe@googlegroups.com">'
    "sla-dsol+unsubscribe@googlegroups.com</a>.<br />\n"
    'To view this discussion visit <a href="https://groups.google.com/d/msgid/sla-dsol/{msgid}">'
    "https://groups.google.com/d/msgid/sla-dsol/{msgid}</a>.<br />\n"
)
LIST_HEADERS = [
    ("X-Original-Sender", "{sender}"),
    ("Precedence", "list"),
    ("Mailing-list", f"list {LIST_ADDR}; contact sla-dsol+owners@googlegroups.com"),
    ("List-ID", "<sla-dsol.googlegroups.com>"),
    ("X-Spam-Checked-In-Group", LIST_ADDR),
    ("X-Google-Group-Id", GROUP_ID),
    ("List-Post", f"<https://groups.google.com/group/sla-dsol/post>, <mailto:{LIST_ADDR}>"),
    ("List-Help", "<https://groups.google.com/support/>, <mailto:sla-dsol+help@googlegroups.com>"),
    # Google Groups really does send List-Archive without the closing ">".
    ("List-Archive", "<https://groups.google.com/group/sla-dsol"),
    ("List-Subscribe", "<https://groups.google.com/group/sla-dsol/subscribe>,\n"
     " <mailto:sla-dsol+subscribe@googlegroups.com>"),
    ("List-Unsubscribe", f"<mailto:googlegroups-manage+{GROUP_ID}+unsubscribe@googlegroups.com>,\n"
     " <https://groups.google.com/group/sla-dsol/subscribe>"),
]
MAILERS = {
    "gmail": None,
    "outlook": ("X-Mailer", "Microsoft Outlook 16.0"),
    "apple": ("X-Mailer", "Apple Mail (2.3826.500.181.1.5)"),
    "thunderbird": ("User-Agent", "Mozilla Thunderbird 128.4.2"),
    "web": ("X-Mailer", "PortalMail Web 4.2"),
}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def make_msgid(m: Msg) -> str:
    h, domain = digest(m.key), m.who.addr.split("@")[1]
    if m.who.client == "gmail":
        alnum = hashlib.sha256(h.encode()).hexdigest().upper()
        return f"<CA{alnum[:10]}+{h[:6]}_{alnum[10:26]}@mail.example.com>"
    if m.who.client == "outlook":
        box = f"SJ0PR{int(h[:2], 16) % 20:02d}MB{int(h[2:6], 16) % 10000:04d}"
        return f"<{box}{h[6:30].upper()}@{box}.namprd11.prod.example.net>"
    if m.who.client == "apple":
        u = h[:32].upper()
        return f"<{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}@{domain}>"
    if m.who.client == "thunderbird":
        return f"<{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}@{domain}>"
    return f"<portal.{h[:20]}@webmail.{domain}>"


def parse_when(when: str) -> datetime:
    return datetime.strptime(when, "%Y-%m-%d %H:%M %z")


def encode_name(p: Person) -> str:
    if p.name.isascii():
        return formataddr((p.name, p.addr))
    charset = {"outlook": "iso-8859-1"}.get(p.client, "utf-8")
    return f"{Header(p.name, charset).encode()} <{p.addr}>"


def attribution(parent: Msg, client: str) -> str:
    """The quote header line, in the style of the replier's mail client."""
    dt, p = parse_when(parent.when), parent.who
    if client == "apple":
        return f"On {dt.day} {dt:%b %Y}, at {dt:%H:%M}, {p.name} <{p.addr}> wrote:"
    if client == "thunderbird":
        return f"On {dt:%d/%m/%Y %H:%M}, {p.name} wrote:"
    hour = dt.strftime("%I").lstrip("0")
    when = f"{dt:%a}, {dt:%b} {dt.day}, {dt.year} at {hour}:{dt:%M %p}"
    return f"On {when} {p.name} <{p.addr}> wrote:"


def outlook_block(parent: Msg) -> str:
    """Outlook quotes without "> ": a From/Sent/To/Subject block, then the old text as is."""
    dt, p = parse_when(parent.when), parent.who
    hour = dt.strftime("%I").lstrip("0")
    return ("________________________________\n"
            f"From: {p.name} <{p.addr}>\n"
            f"Sent: {dt:%A, %B} {dt.day}, {dt.year} {hour}:{dt:%M %p}\n"
            f"To: {LIST_NAME} <{LIST_ADDR}>\n"
            f"Subject: {parent.subject}\n\n" + signed(parent))


def signed(m: Msg) -> str:
    return m.body + (f"\n{m.who.sig}\n" if m.who.sig else "")


def quoted_text(m: Msg, by_key: dict[str, Msg], ids: dict[str, str]) -> str:
    parent = by_key[m.parent or ""]
    if m.who.client == "outlook":
        return signed(m) + "\n" + outlook_block(parent)
    old = signed(parent)
    if m.who.client == "gmail":  # Gmail quotes the list footer too
        old += "\n" + FOOTER_TEXT.format(msgid=url_id(ids[parent.key]))
    lines = [">" if not ln else "> " + ln for ln in old.rstrip("\n").split("\n")]
    block = attribution(parent, m.who.client) + "\n" + "\n".join(lines) + "\n"
    if m.who.client == "thunderbird":  # bottom-posting
        return block + "\n" + signed(m)
    return signed(m) + "\n" + block


def url_id(msgid: str) -> str:
    return msgid.strip("<>").replace("@", "%40").replace("+", "%2B")


def to_html(text: str) -> str:
    out: list[str] = []
    for para in text.strip("\n").split("\n\n"):
        esc = para.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if para.startswith("    "):
            out.append(f"<pre>{esc}</pre>")
        else:
            out.append("<p>" + esc.replace("\n", "<br>\n") + "</p>")
    return '<html><head><meta charset="utf-8"></head><body>\n' + "\n".join(out) + "\n"


def qp(data: bytes) -> str:
    return quopri.encodestring(data).decode("ascii")


def text_part(text: str, client: str) -> tuple[list[tuple[str, str]], str]:
    if text.isascii():
        return [("Content-Type", 'text/plain; charset="US-ASCII"'),
                ("Content-Transfer-Encoding", "7bit")], text
    if client in ("gmail", "apple"):
        return [("Content-Type", 'text/plain; charset="UTF-8"'),
                ("Content-Transfer-Encoding", "quoted-printable")], qp(text.encode())
    return [("Content-Type", 'text/plain; charset="UTF-8"'),
            ("Content-Transfer-Encoding", "8bit")], text


def html_part(text: str, msgid: str) -> tuple[list[tuple[str, str]], str]:
    html = to_html(text) + FOOTER_HTML.format(msgid=url_id(msgid)) + "</body></html>\n"
    return [("Content-Type", 'text/html; charset="UTF-8"'),
            ("Content-Transfer-Encoding", "quoted-printable")], qp(html.encode())


def render_body(m: Msg, text: str, msgid: str) -> tuple[list[tuple[str, str]], str]:
    footer = FOOTER_TEXT.format(msgid=url_id(msgid))
    if m.mode == "qp1252":
        return [("Content-Type", 'text/plain; charset="windows-1252"'),
                ("Content-Transfer-Encoding", "quoted-printable")], qp(
                    (text + "\n" + footer).encode("cp1252"))
    if m.mode == "html":
        return html_part(text, msgid)
    if m.mode == "alt":
        boundary = "000000000000" + digest(m.key)[:16]
        parts = [text_part(text + "\n" + footer, m.who.client), html_part(text, msgid)]
        chunks = [f"--{boundary}\n" + "".join(f"{k}: {v}\n" for k, v in hs) + "\n" + body
                  for hs, body in parts]
        body = "\n".join(chunks) + f"\n--{boundary}--\n"
        return [("Content-Type", f'multipart/alternative; boundary="{boundary}"')], body
    return text_part(text + "\n" + footer, m.who.client)


def thread_headers(m: Msg, by_key: dict[str, Msg], ids: dict[str, str],
                   refs_of: dict[str, list[str]]) -> list[tuple[str, str]]:
    if m.parent is None:
        refs_of[m.key] = []
        return []
    if m.parent.startswith("<"):  # the parent is not in this archive
        refs_of[m.key] = [*m.missing_refs]
        return [("In-Reply-To", m.parent), ("References", " ".join(m.missing_refs))]
    pid = ids[m.parent]
    refs_of[m.key] = [*refs_of[m.parent], pid]
    if m.refs == "bare":
        return [("In-Reply-To", pid.strip("<>"))]
    return [("In-Reply-To", pid), ("References", "\n ".join(refs_of[m.key]))]


def from_headers(m: Msg) -> list[tuple[str, str]]:
    if not m.via:
        return [("From", encode_name(m.who))]
    person = encode_name(m.who)
    return [("From", f"\"'{m.who.name}' via {LIST_NAME}\" <{LIST_ADDR}>"),
            ("Reply-To", person), ("X-Original-From", person), ("Sender", LIST_ADDR)]


def received(m: Msg, dt: datetime) -> list[tuple[str, str]]:
    h = digest(m.key)
    n = int(h[:2], 16) % 200 + 20
    stamp = format_datetime(dt.astimezone(UTC) + timedelta(seconds=n % 40 + 2))
    return [
        ("Return-Path", f"<sla-dsol+bnc{h[:24]}@googlegroups.com>"),
        ("Received", f"from mail-sor-f{n}.googlegroups.com (mail-sor-f{n}.googlegroups.com"
         f" [198.51.100.{n}])\n        by mx1.example.net with ESMTPS id {h[24:36]}\n"
         f"        for <members@example.net>; {stamp}"),
        ("Received", f"by 2002:a05:6214:{h[36:40]}:b0:{h[40:43]}:{h[43:47]} with SMTP id"
         f" {h[47:59]}ls{n};\n        {stamp}"),
    ]


def render(m: Msg, by_key: dict[str, Msg], ids: dict[str, str],
           refs_of: dict[str, list[str]]) -> bytes:
    dt, msgid = parse_when(m.when), ids[m.key]
    text = quoted_text(m, by_key, ids) if m.quote else signed(m)
    body_headers, body = render_body(m, text, msgid)
    headers = [*received(m, dt), *from_headers(m), ("To", LIST_ADDR), ("Subject", m.subject),
               ("Date", format_datetime(dt)), ("Message-ID", msgid),
               *thread_headers(m, by_key, ids, refs_of), ("MIME-Version", "1.0")]
    mailer = MAILERS[m.who.client]
    headers += [*([mailer] if mailer else []), *body_headers, *m.extra]
    headers += [(k, v.format(sender=m.who.addr)) for k, v in LIST_HEADERS]
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    return (head + "\n" + body).encode("utf-8")


def mbox_entry(m: Msg, raw: bytes) -> bytes:
    stamp = parse_when(m.when).astimezone(UTC).strftime("%a %b %e %H:%M:%S %Y")
    escaped = re.sub(rb"(?m)^(>*From )", rb">\1", raw)
    return f"From {m.who.addr} {stamp}\n".encode() + escaped.rstrip(b"\n") + b"\n\n"


def build() -> bytes:
    by_key = {m.key: m for m in MESSAGES}
    ids = {m.key: make_msgid(m) for m in MESSAGES}
    refs_of: dict[str, list[str]] = {}
    out = [mbox_entry(m, render(m, by_key, ids, refs_of))
           for m in sorted(MESSAGES, key=lambda m: parse_when(m.when))]
    return b"".join(out)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    target.write_bytes(build())
    print(f"wrote {len(MESSAGES)} messages to {target}")
