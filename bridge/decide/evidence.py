"""Evidence for and against "a person asking the list for help", weighed SpamAssassin-style.

Small named rules, one table of weights (RULES), and two thresholds: a sum at or above POST_AT
posts, at or above HOLD_AT holds the question for a moderator, below it skips. Every decision lists
the rules that fired with their weights ("QUESTION_SENTENCE=+3"), so an admin can see why.
The rules read what carries over to lists the bridge has never seen: the shape of a question,
machine headers, commercial marks, the list's own history (languages, senders, repeated pitches),
not list-specific words. Decisive rules (weight -10) are the old vetoes: flags, patches, known
announcements and phishing, orphan replies, a word-for-word repost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from bridge.decide import signals as sig
from bridge.decide.history import Context
from bridge.decide.project import project_marks
from bridge.decide.rules import scan_text
from bridge.model import Flag, Mail

POST_AT, HOLD_AT = 3.0, 1.5
DECISIVE = -10.0
HOLD_AT_MOST = frozenset({"UNSEEN_PARENT"})  # rules that never let a root post unseen

# fmt: off
# name: (weight, what it means). Positive: evidence for a question; negative: against.
RULES: dict[str, tuple[float, str]] = {
    "QUESTION_SENTENCE": (+3.0, "a sentence in the asker's own words ends in ?, ؟ or ？"),
    "REQUEST_PHRASE": (+2.5, "a request: how do I, does anyone, any idea, I am looking for..."),
    "PROBLEM_STATEMENT": (+1.0, "a problem or a plea for help in the asker's words (error, fails)"),
    "OWN_PROBLEM": (+2.0, "the asker reports their own problem: I get an error, we cannot..."),
    "PROBLEM_WITH_QUESTION": (+1.0, "a problem statement together with a question"),
    "SUBJECT_ASKS": (+1.0, "the subject is a question, a request or a plea for help"),
    "THANKS_IN_ADVANCE": (+1.0, "thanks in advance / any help appreciated"),
    "GREETS_THE_LIST": (+0.5, "addresses the list: hi all, dear colleagues..."),
    "UNSEEN_PARENT": (-0.5, "names a parent never seen, under a subject of its own (no Re:): a "
                      "reply with a new subject, or a new question whose mail client wrote "
                      "References; never posted unseen, at most held"),
    "MACHINE_BODY": (-3.0, "the body is mostly log, trace, code or config; nothing asks"),
    "AUTH_FAILED": (-1.5, "SPF, DKIM or DMARC failed (Authentication-Results)"),
    "BULK_SENDER": (-3.0, "the sender's own List-Unsubscribe: mailing software"),
    "UNDISCLOSED": (-2.0, "sent to undisclosed recipients"),
    "PRICE": (-1.5, "prices or currency amounts"),
    "CONTACT_US": (-1.5, "contact us / call us / for more information"),
    "MESSAGING_CONTACT": (-2.5, "a phone, WhatsApp, Telegram or wa.me contact"),
    "OFFER": (-2.0, "an offer: our services, discount, we provide..."),
    "JOB_AD": (-3.0, "recruitment: role, location, visa, send your resume"),
    "DATA_LIST": (-2.5, "an email, contact or attendee list for sale"),
    "MARKET_REPORT": (-2.5, "a market report or research offer"),
    "SEO": (-2.5, "SEO, backlinks, website traffic"),
    "SCAM": (-4.0, "advance fee, inheritance, lottery, romance or 'can we talk' bait"),
    "WAREZ": (-4.0, "cracks, keygens, free downloads"),
    "SHOUTING": (-1.5, "mostly capital letters"),
    "EMOJI": (-1.0, "three or more emoji"),
    "FOREIGN_LANGUAGE": (-2.5, "a language the list's history never uses"),
    "NEW_SENDER_COMMERCIAL": (-4.0, "a sender never in a conversation here, with commercial marks"),
    "SHORT_LINK": (-2.0, "a link through a URL shortener"),
    "SAME_PITCH": (-3.0, "an earlier new thread from this sender with much the same words"),
    "ONE_WAY_SENDER": (-3.0, "started 2+ threads here, never in a conversation: announcer, bot, ad"),
    "ASKS_CONSENT": (-3.0, "asks the list to agree, object, second or vote: any objections, thoughts?"),
    "DECIDES_FOR_PROJECT": (-1.5, "a decision question in the project's voice: should we, shall we"),
    "OWN_WORK": (-2.5, "news of the sender's own work or plan: I am planning, in a branch, we've added"),
    "OWN_WORK_MANY": (-2.5, "two or more different marks of the sender's own work: a notice"),
    "REVIEWS_A_PATCH": (-2.0, "reviews someone's patch: your patch, the patch <commit>"),
}

REQUEST_PHRASES: tuple[str, ...] = (
    r"\bhow (?:do|can|could|should|would|might) (?:i|we|one|you)\b", r"\bhow to\b",
    r"\b(?:does|has|did|is) (?:anyone|anybody|someone|somebody)\b", r"\bis there (?:a|any)\b",
    r"\bany (?:ideas?|advice|suggestions?|recommendations?|thoughts|pointers|tips|hints|help)\b",
    r"\b(?:i am|i'm|im) (?:\w+ )?looking for\b",
    r"\bwe(?: are|'re) looking for (?:a way|advice|help|ideas|suggestions|recommendations)\b",
    r"\bcan (?:anyone|anybody|someone|somebody|you) (?:help|tell|explain|point|suggest|advise"
    r"|recommend|confirm|share)\b", r"\bcould (?:you|someone|anyone) (?:please )?\w+",
    r"\b(?:please|pls|kindly) (?:help|advise|suggest|confirm|teach|tell|show|explain|let me know)\b",
    r"\b(?:i|we) need (?:some )?(?:help|advice)\b", r"\brequest(?:ing)? (?:for )?(?:your )?help\b",
    r"\b(?:i|we)(?:'d| would) like to (?:understand|know|learn|find out)\b",
    r"\b(?:i|we) would (?:like to know|appreciate|be grateful)\b", r"\bi(?:'d| would) like to ask\b",
    r"\b(?:i am|i'm) (?:wondering|trying to (?:understand|figure out|find))\b",
    r"\bwhat (?:is|are) the (?:best|right|recommended|correct)\b",
    r"\b(?:wondering|looking into|not sure|want to (?:know|check|confirm)) (?:whether|if)\b",
    r"\bwhether (?:this|it) is (?:a bug|expected|normal|intended|correct)\b",
    r"\bif (?:anyone|anybody|someone|somebody) (?:can|could) help\b",
    r"\balgui[eé]n (?:sabe|tiene|puede|ha)\b", r"\bc[oó]mo (?:puedo|hago|se puede)\b",
    r"\bnecesito ayuda\b", r"\balguna idea\b", r"\balgu[eé]m (?:sabe|tem|pode)\b",
    r"\bcomo (?:posso|fa[cç]o)\b", r"\bpreciso de ajuda\b", r"\balguma ideia\b",
    r"\bquelqu'un (?:sait|a|peut|aurait)\b", r"\bcomment (?:puis-je|faire|faut-il)\b",
    r"\bj'ai besoin d'aide\b", r"\bweiß jemand\b", r"\bhat jemand\b", r"\bwie kann ich\b",
    r"\bkann mir jemand\b", r"\bqualcuno (?:sa|ha|pu[oò])\b", r"\bcome posso\b",
    r"\bweet iemand\b", r"\bheeft iemand\b", r"\bhoe kan ik\b", r"\bczy kto[sś]\b",
    r"\bjak mog[eę]\b", r"教えてください", r"どうすれば", r"请问", r"怎么办", r"如何",
)
OWN_PROBLEMS = (
    r"\b(?:i|we)(?:'m| am|'re| are)? (?:get|getting|got|see|seeing|saw|have|having|had|face"
    r"|facing|encounter\w*|run into|ran into|hit|hitting|keep getting|noticed?)\b"
    r"[^.?!\n]{0,60}\b(?:errors?|problems?|issues?|crash\w*|fail\w*|exceptions?|warnings?"
    r"|trouble|panic|hang\w*|timeouts?)\b",
    r"(?<!\bif )\b(?:i|we) (?:can'?t|cannot|could ?n[o']t|am unable|are unable|'m unable|was unable"
    r"|were unable|fail(?:ed)? to)\b",
    r"\b(?:does ?n[o']t|did ?n[o']t|wo ?n[o']t|is ?n[o']t) work(?:ing)? (?:for me|for us|anymore)\b",
    r"\b(?:my|our) (?:[\w-]+ ){0,3}(?:is|are|was|were|keeps?|has|have)(?: not|n't)? (?:not )?"
    r"(?:working|broken|failing|crashing|stuck|down|missing)\b",
    r"\b(?:i|we)(?:'m| am|'re| are) (?:stuck|confused)\b",
    r"\bwhat (?:i|we)(?:'m| am|'re| are) doing wrong\b",
    r"\bme (?:sale|aparece|da) (?:un |el )?error\b", r"\bich bekomme\b.{0,40}\bfehler",
    r"\bj'ai (?:une|un) (?:erreur|probl[eè]me)\b", r"\bestou com (?:um )?(?:erro|problema)\b",
)
THANKS = (
    r"\b(?:thanks?|thx|thank you)(?: \w+)? in advance\b", r"\btia\b",
    r"\bappreciate (?:the |any |your )?(?:help|advice|pointers)\b", r"\bany (?:help|advice|pointers|input)"
    r" (?:is|would be|will be) (?:greatly |much |very much )?appreciated\b",
    r"\bgracias de antemano\b", r"\bmerci d'avance\b", r"\bdanke im voraus\b",
    r"\bobrigad[oa] desde j[aá]\b", r"\bgrazie in anticipo\b", r"\balvast bedankt\b",
)
GREETINGS = (
    r"^\s*(?:hi|hello|hey|dear|greetings|morning|good (?:morning|afternoon))"
    r",? (?:all|everyone|everybody|folks|guys|colleagues|list|team|friends|experts)\b",
    r"^\s*(?:hola a todos|bonjour à tous|hallo zusammen|ciao a tutti|ol[aá] a todos)\b",
)
COMMERCIAL: dict[str, tuple[str, ...]] = {
    "PRICE": (r"(?:[$€£¥₹]|\b(?:usd|eur|gbp|inr|rs\.?)) ?\d[\d,.]*", r"\b\d[\d,.]* ?(?:usd|eur"
              r"|dollars|euros?)\b", r"\bper (?:ton|kg|unit|piece|month|hour)\b", r"\bprice list\b"),
    "CONTACT_US": (r"\b(?:contact|call|email|e-mail|reach|write to) us\b", r"\bget in touch\b",
                   r"\b(?:kindly )?(?:reply|respond) (?:to this (?:e-?mail|message) )?with your\b",
                   r"\bcont[aá]cte?nos\b", r"\bkontaktieren sie uns\b", r"\bcontactez-nous\b"),
    "MESSAGING_CONTACT": (r"\bwhats ?app\b", r"\btelegram\b", r"\bwa\.me/", r"\bt\.me/",
                          r"\bviber\b", r"\bwechat\b", r"(?<![\w.])\+\d{1,3}[\s-]?\(?\d{2,4}\)?"
                          r"[\s-]?\d{3,4}[\s-]?\d{3,4}\b"),
    "OFFER": (r"\bwe (?:offer|provide|supply|manufacture|specialize|specialise)\b",
              r"\bour (?:services|products|company|team of|solutions)\b", r"\bdiscount\b",
              r"\d+ ?% off\b", r"\bfree (?:trial|quote|consultation|demo)\b",
              r"\blimited[- ]time\b", r"\bspecial offer\b", r"\bbest price\b", r"\bwholesale\b",
              r"\bsupplier\b", r"\bwe are a (?:leading|professional|trusted)\b", r"\bb2b\b",
              r"\blead generation\b", r"\bnuestros servicios\b", r"\bofrecemos\b",
              r"\bwspółprac\w*\b", r"\boferujemy\b", r"\bnossos servi[cç]os\b",
              r"\bunser angebot\b", r"\bnos services\b", r"\binteresuje pa[nń]stw"),
    "JOB_AD": (r"\b(?:send|share) (?:your|me your|us your) (?:updated )?(?:resume|cv|profile)",
               r"\bdirect client\b", r"^\s*\*?(?:role|position|location|duration|visa|contract|"
               r"experience|term|client)\s*\*?\s*:", r"\b(?:c2c|w2|h1b|usc/gc|gc/ead)\b",
               r"\bjob description\b", r"\byears of experience\b", r"\burgent (?:need|requirement)\b",
               r"\bimmediate (?:hire|joiner)\b", r"\brecruit(?:er|ing|ment)\b"),
    "DATA_LIST": (r"\b(?:buy|purchas|sell|acquir|offer|interested in)\w*\b.{0,40}\b(?:e-?mail|contact"
                  r"|attendees?|leads?|b2b|decision[- ]makers?) (?:list|lists|database|data)\b",
                  r"\battendees? (?:list|database)\b", r"\bverified (?:contacts|emails|leads)\b"),
    "MARKET_REPORT": (r"\bmarket (?:report|research|size|share|analysis|forecast|study)\b",
                      r"\bcagr\b", r"\bindustry (?:report|analysis)\b", r"\bsample report\b"),
    "SEO": (r"\bseo\b", r"\bback ?links?\b", r"\bsearch engine (?:optimi[sz]ation|rankings?)\b",
            r"\b(?:first|1st) page (?:of|on) google\b", r"\bwebsite traffic\b",
            r"\bdigital marketing\b", r"\bweb (?:design|development) (?:services|company)\b"),
    "SCAM": (r"\bbeneficiar(?:y|ies)\b", r"\bnext of kin\b", r"\binheritance\b", r"\batm card\b",
             r"\blottery\b", r"\b(?:western union|moneygram|money gram)\b", r"\bbarrister\b",
             r"\bmillion (?:us )?(?:dollars|usd|euros?)\b", r"\$ ?\d[\d,.]*\s?m(?:illion)?\b",
             r"\bcompensation (?:fund|payment)\b", r"\bconsignment\b", r"\bmy late husband\b",
             r"\bcan we (?:be friends?|talk)\b", r"\bi saw your profile\b", r"\bdear friend\b",
             r"\b(?:urgent|immediate) (?:reply|response|attention)\b",
             r"\bbusiness (?:proposal|transaction)\b", r"\bconfidential(?:ly)?\b.{0,40}\bfund",
             r"\b(?:did|have|if) you (?:receive|received|get|got) (?:my|the) (?:last |previous )?"
             r"(?:message|e-?mail|mail)\b", r"\b(?:the )?last message i sent you\b",
             r"\bi (?:really )?(?:want|would love) to hear from you\b"),
    "SHORT_LINK": (r"\b(?:t\.co|bit\.ly|tinyurl\.com|goo\.gl|ow\.ly|is\.gd|buff\.ly|cutt\.ly|rb\.gy"
                   r"|shorturl\.at|tiny\.cc|rebrand\.ly|s\.id|shorte\.st|adf\.ly)/\w",),
    "WAREZ": (r"\bkeygen\b", r"\b(?:v\d+(?:\.\d+)*|\d{3,4}p|pdf|zip|rar|apk|exe|iso|mp3) download\b",
              r"\bdownload (?:free|full|now)\b", r"\bcrack(?:ed|s)?\b.{0,30}\b(?:download|serial|key|full)\b",
              r"\bserial key\b", r"\bfree download\b", r"\bdownload (?:zip|file|link)\b",
              r"\bfull (?:version|movie)\b", r"\b(?:1080p|720p|dvdrip|bluray)\b", r"\btorrent\b"),
}
# fmt: on
COMMERCIAL_RULES = frozenset({*COMMERCIAL, "SHOUTING", "EMOJI", "BULK_SENDER", "UNDISCLOSED"})
_FLAG_RULES = ((Flag.AUTH_FAILED, "AUTH_FAILED"), (Flag.BULK_SENDER, "BULK_SENDER"),
               (Flag.UNDISCLOSED, "UNDISCLOSED"))


@dataclass(frozen=True, slots=True)
class _Patterns:
    request: re.Pattern[str]
    thanks: re.Pattern[str]
    own_problem: re.Pattern[str]
    greeting: re.Pattern[str]
    commercial: dict[str, re.Pattern[str]]
    subject_asks: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    """Compiled on first use, not at import: the daemon starts without paying for them."""
    return _Patterns(
        request=sig.compile_any(REQUEST_PHRASES),
        thanks=sig.compile_any(THANKS),
        own_problem=sig.compile_any(OWN_PROBLEMS),
        greeting=re.compile("|".join(f"(?:{p})" for p in GREETINGS), re.I | re.M),
        commercial={name: re.compile("|".join(f"(?:{p})" for p in table), re.I | re.M)
                    for name, table in COMMERCIAL.items()},
        subject_asks=re.compile(
            r"[?؟？]\s*$|\b(?:help|hilfe|ayuda|aide|aiuto|ajuda|pomocy?|hulp)\b", re.I),
    )


@dataclass(frozen=True, slots=True)
class Judgement:
    """The weighed evidence on one root: outcome, score, and the rules that fired."""

    outcome: str  # "post" | "hold" | "skip"
    score: float
    fired: tuple[str, ...]  # rule names, strongest first

    @property
    def evidence(self) -> tuple[str, ...]:
        return tuple(f"{name}={weight_of(name):+g}" for name in self.fired)


def weight_of(name: str) -> float:
    return RULES[name][0] if name in RULES else DECISIVE


def weigh(fired: list[str]) -> Judgement:
    """Sum the weights of the rules that fired against the two thresholds."""
    names = tuple(sorted(dict.fromkeys(fired), key=lambda n: (-abs(weight_of(n)), n)))
    score = sum(weight_of(n) for n in names)
    outcome = "post" if score >= POST_AT else "hold" if score >= HOLD_AT else "skip"
    if outcome == "post" and HOLD_AT_MOST.intersection(names):
        outcome = "hold"
    return Judgement(outcome, score, names)


def collect(root: Mail, context: Context, problem: re.Pattern[str]) -> list[str]:
    """Names of the soft rules that fire on `root`; `problem` is the configured help-word table."""
    body = scan_text(root.body or "")
    # an unparsed body (headers only) leaves the subject as the asker's only words
    prose = sig.own_words(body) if root.body is not None else root.subject
    fired = _asking(root.subject, prose, problem)
    asks = {"QUESTION_SENTENCE", "REQUEST_PHRASE", "PROBLEM_STATEMENT"} & set(fired)
    if not asks and body.strip() and sig.machine_share(body) >= 0.5:
        fired.append("MACHINE_BODY")
    fired += [name for flag, name in _FLAG_RULES if flag in root.flags]
    fired += _commercial(f"{root.subject}\n{body}")
    fired += project_marks(root.subject, prose)
    if root.in_reply_to:  # a root: its parent was never seen (a "Re:" subject is vetoed before)
        fired.append("UNSEEN_PARENT")
    fired += _history(root, prose, context, fired)
    return fired


def _asking(subject: str, prose: str, problem: re.Pattern[str]) -> list[str]:
    fired = []
    if sig.question_sentences(prose):
        fired.append("QUESTION_SENTENCE")
    p = _patterns()
    if p.request.search(prose):
        fired.append("REQUEST_PHRASE")
    if p.own_problem.search(prose) or p.own_problem.search(subject):
        fired.append("OWN_PROBLEM")
    if problem.search(prose) or problem.search(subject):
        fired.append("PROBLEM_STATEMENT")
        if "QUESTION_SENTENCE" in fired or "REQUEST_PHRASE" in fired:
            fired.append("PROBLEM_WITH_QUESTION")
    if p.subject_asks.search(subject) or p.request.search(subject):
        fired.append("SUBJECT_ASKS")
    if p.thanks.search(prose):
        fired.append("THANKS_IN_ADVANCE")
    if p.greeting.search(prose[:300]):
        fired.append("GREETS_THE_LIST")
    return fired


def _commercial(text: str) -> list[str]:
    commercial = _patterns().commercial
    fired = [name for name, pattern in commercial.items() if pattern.search(text)]
    if "JOB_AD" in fired and len(commercial["JOB_AD"].findall(text)) < 2:
        fired.remove("JOB_AD")  # one "recruiting" or "location:" is not yet a job ad
    head = text[:800]
    if sig.shouting(head.split("\n", 1)[0]) or sig.shouting(head):
        fired.append("SHOUTING")
    if sig.emoji_count(head) >= 3:
        fired.append("EMOJI")
    return fired


def _history(root: Mail, prose: str, context: Context, fired: list[str]) -> list[str]:
    found = []
    lang = sig.language(f"{root.subject}\n{prose}")
    if context.list_languages and lang is not None and lang not in context.list_languages:
        found.append("FOREIGN_LANGUAGE")
    if context.first_time_sender and COMMERCIAL_RULES & set(fired):
        found.append("NEW_SENDER_COMMERCIAL")
    if context.same_pitch >= 1:
        found.append("SAME_PITCH")
    if context.silent_sender and context.earlier_roots >= 2:
        found.append("ONE_WAY_SENDER")
    return found
