"""Default keyword/pattern tables the matcher's rules use: readable, grouped, and overridable.

Every entry is a regular expression matched case-insensitively (plain words work as they are).
A table is a tuple of (category, patterns); the category names the reason a decision gives,
e.g. "announcement: subject matches 'save the date'" (the match, or a pattern's first group).
Config may replace any table whole.
CJK patterns carry no \\b: those scripts have no spaces, so word boundaries do not apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bridge.model import Flag, Mail

PatternTable = tuple[tuple[str, tuple[str, ...]], ...]

# Prefix for words that also occur in real questions ("When will 2.0 be released?"): they only
# count in a subject without a question mark. A pattern's first group is what a reason quotes.
NOQ = r"^(?!.*[?？]).*?\b"

# Mail a machine wrote never asks for help and never answers a question (not configurable).
AUTOMATIC_FLAGS: tuple[tuple[Flag, str], ...] = (
    (Flag.SPAM, "spam: flagged by the list's filter"),
    (Flag.BOUNCE, "automated: delivery status notification"),
    (Flag.OUT_OF_OFFICE, "automated: out-of-office reply"),
    (Flag.AUTOMATED, "automated mail"),
)
# Vetoes read a body's opening and its end (where newsletters put "unsubscribe"); the middle of
# a long paste (logs, code) adds only noise and time.
BODY_HEAD_CHARS, BODY_TAIL_CHARS = 4000, 2000

# fmt: off
# (tables stay hand-wrapped: one line per idea reads better than one line per pattern)

# Subjects that are not requests for help. Checked before any sign of a question, because
# announcements and spam ask rhetorical questions too. Keep library vocabulary in mind:
# "interlibrary loan", "donations", "catalogue" are everyday questions on a librarians' list.
NOT_REQUEST_SUBJECT: PatternTable = (
    ("patch", (r"\[[^\]]*\b(?:patch(?:v?\d+)?|pull|git pull|rfc)\b[^\]]*\]",)),
    ("phishing", (
        r"\bmailbox\b.*\b(?:full|quota|shutdown|storage|deactivat\w*)\b",
        r"\bstorage (?:limit|quota|full)\b",
        r"\b(?:password|account|access) (?:expir\w*|suspen\w*|verification|re-?activation)\b",
        r"\bverify your (?:account|e-?mail|identity|mailbox)\b", r"\bnot a robot\b",
        r"\bconfirm your (?:e-?mail|account|identity)\b", r"\bmessages? (?:have been )?withheld\b",
        r"\bpending +messages\b", r"\bvoice ?(?:mail|message)\b", r"\binvoice (?:attached|#?\d)",
        r"\b(?:payment|remittance) advice\b", r"\bpayment (?:notification|failed|declined)\b",
        r"\bsub\w*ption (?:has )?expired\b", r"\baction required\b", r"\bsecurity alert\b",
        r"\b(?:termination|suspension|expiration) notice\b",
        r"\bimportant (?:notification|information)\b",
        r"\bshipment notification\b", r"\bdocument pending\b", r"\bsign and return\b",
        r"\bfactura\b", r"\bmulta\b", r"\bdocumento \d+", r"\bcontrato restringido\b",
        r"\btransferencia\b.*\bpendiente\b", r"\bnotificaci[oó]n (?:oficial|de pago)\b",
        r"\batualiza[cç][aã]o cadastral\b", r"\bintima[cç][aã]o\b", r"\bnota fiscal\b",
        r"\bencomenda\b", r"\binconsist[eê]ncia de informa", r"\b[uú]ltimo aviso\b",
        r"\bfacture\b", r"\bsera suspendu\b", r"\bpay[ée]e deux fois\b",
        r"\bkundendaten\b", r"\brechnung\b", r"\bdringend\b",
        r"\bkonto (?:gesperrt|verifizieren)\b",
        r"\bterugbetaling\b", r"\bidentificeer\b", r"\bfactuur\b", r"\bfaktura\b",
        r"\bfattura\b", r"\bsözleşme", r"お支払", r"支払い方法", r"確認が必要", r"重要なお知らせ",
        r"アカウント", r"カード", r"ご請求", r"還付金", r"配達", r"お荷物", r"認証", r"マイル",
        r"账户", r"帐户", r"验证", r"发票", r"中奖", r"계정", r"당첨",
        r"협조 요청",
    )),
    ("spam", (
        r"\b(?:investment|personal|business|quick|instant) loans?\b", r"\bloan offer\b",
        r"\blottery\b", r"\bbeneficiary\b", r"\binheritance\b", r"\bjoint venture\b",
        r"\bmillion (?:euros?|dollars?|usd|gbp|pounds?)\b", r"\bzwei millionen\b",
        r"\b(?:business|investment|partnership) (?:opportunit\w+|proposal|enquiry|inquiry)\b",
        r"\bproject funding\b", r"\bbulk order\b", r"\brequest for (?:new )?quot(?:e|ation)\b",
        r"\bquotation\b", r"\bpurchase of goods\b", r"\bblack friday\b",
        r"\byour products?\b", r"\bour products\b", r"\bdeclaration of interest\b",
        r"\bpartner with\b", r"\bdid you (?:receive|get|see) (?:the|my|our) (?:e-?mail|message)",
        r"\bchance to look at the e-?mail\b", r"\bwohlt[aä]tigkeitsspende\b", r"\bwspółpraca\b",
        r"\bfotowoltaika\b", r"\boptymalizacja podatkowa\b", r"\bconvite\b", r"\bsconti\b",
        r"\bpreventivo\b",
    )),
    # proposals and votes by their conventional subject forms ([VOTE], [DISCUSS], "RFC: ...")
    ("proposal", (
        r"\[(?:vote|discuss|discussion|proposal|poll|result)\]",
        r"^(?:\s*\[[^\]]*\])*\W*(?:rfc|proposal|vote|poll)\s*:",  # after any list tag
    )),
    # a tree's build report on a kernel-style list ("linux-next: build warning after merge of ...")
    ("build report", (r"\bbuild (?:warnings?|failures?|errors?) after (?:the )?merge of\b",)),
    ("announcement", (
        r"\bannounc(?:e|es|ed|ement|ements|ing)\b", r"\[ann\]", r"\bsave[- ]the[- ]date\b",
        r"^(?!.*[?？])\W*(introducing)\b",
        r"\bis back (?:up|online)\b", r"^\W*reminder\b", r"\breminder:",
        NOQ + r"(invitation|now available)\b", r"\bank[üu]ndigung\b", r"\beinladung\b",
        r"\bannonce\b",
        r"\banuncio\b", r"\binvitaci[oó]n\b", r"\baankondiging\b", r"\bogłoszenie\b",
        r"お知らせ", r"ご案内", r"通知",
    )),
    ("release notes", (
        r"\brelease (?:notes|announcement|candidate)\b", NOQ + r"(released)\b", r"\[release\]",
        r"\bv?\d+(?:\.\d+)+ (?:is )?(?:out|available)\b", r"\bchangelog\b",
    )),
    ("call for papers", (
        r"\bcall for (?:papers|proposals|participation|contributions|abstracts|submissions"
        r"|presentations|speakers|chapters|posters|nominations)\b",
        r"\bcfp\b", r"\bappel à (?:communications|contributions|propositions)\b",
        r"\bconvocatoria\b", r"\bchamada de trabalhos\b", r"\bdeadline extend",
        r"\bregistration (?:is )?(?:now )?open\b",
    )),
    ("webinar", (NOQ + r"(webinars?|webinaire|online[- ]seminar)\b",)),
    ("job ad", (
        r"\b(?:is|are|we're|now) hiring\b", r"\bjob (?:opening|offer|posting|opportunity|ad)s?\b",
        r"^\W*jobs?\b", r"\[jobs?\]", r"\bvacanc(?:y|ies)\b", r"\bposition (?:available|open)\b",
        r"\bopen positions?\b", r"\b(?:postdoc|phd|post-?doctoral) (?:position|fellowship)\b",
        r"\bstellen(?:angebot|ausschreibung)\b", r"\boffre d'emploi\b",
        r"\boferta de (?:trabajo|empleo)\b", r"\brekrutacja\b", r"\bvacature\b",
    )),
    ("newsletter", (
        r"\bnewsletter\b", r"\bdigest,? vol(?:ume)?\.? ?\d+", r"\bdigest\b.*\bissue \d+",
        NOQ + r"((?:january|february|march|april|may|june|july|august|september|october|november"
        r"|december|spring|summer|autumn|fall|winter)(?: \d{4})? (?:issue|edition))\b",
        NOQ + r"(issue (?:no\.? ?|#)?\d+)\b",
        r"\b(?:weekly|monthly) (?:update|roundup|news)\b", NOQ + r"(bulletin)\b", r"\brundbrief\b",
        r"\bbolet[ií]n\b", r"\bnieuwsbrief\b",
    )),
    ("test message", (
        r"^\W*test(?:ing)?\W*$", r"\bthis is a test\b", r"\btest (?:e-?mail|message|post)\b",
        r"\bplease ignore\b", r"\[test\]",
    )),
)

# Strong phrases in the body of a non-request. Bodies of real questions mention releases and
# conferences in passing, so these are whole phrases, never single words.
NOT_REQUEST_BODY: PatternTable = (
    # git format-patch mail, whatever its subject tag ("[net]", "[-next]"): a sign-off and a diff
    ("patch", (r"(?ms)^signed-off-by: [^\n]+<[^\n]+>$.*^(?:diff --git|---$|\+\+\+ |@@ )",)),
    ("call for papers", (
        r"\bcall for (?:papers|proposals|participation|contributions|abstracts|submissions)\b",
        r"\bsubmission deadline\b",
        r"\bapologies for (?:cross-?posting|multiple (?:copies|postings))",
        r"\bplease (?:forward|circulate|distribute) (?:this|to)\b",
    )),
    ("announcement", (
        r"\b(?:we are|we're|i am|i'm|is) (?:pleased|happy|excited|delighted|proud) to announce\b",
        r"\bsave the date\b", r"\bfreuen uns\b.{0,60}\b(?:ankündigen|mitteilen|bekannt)",
        r"\bnous avons le plaisir\b", r"\btenemos el placer\b", r"\bjust to let everyone\b",
    )),
    ("job ad", (
        r"\bwe(?: are|'re) hiring\b", r"\bjob description\b", r"\bto apply,? (?:please )?send\b",
        r"\bapply (?:now|here|online|by)\b",
    )),
    ("webinar", (r"\bjoin (?:us|our)\b.{0,40}\bwebinar\b", r"\bregister (?:now|here|today)\b")),
    ("newsletter", (
        r"\b(?:issue|edition) of (?:our|the) (?:[\w-]+ ){0,3}newsletter is (?:out|here|available|online)",
        r"\bin this issue\b",
        r"\bview (?:this e-?mail|it|this message) in your browser\b",
        r"\bunsubscribe from (?:this|our) (?:list|newsletter|mailing)",
        r"\byou are receiving this (?:e-?mail|newsletter|message)\b",
        r"\bmanage your (?:subscription|preferences)\b",
        r"\bclick (?:here|below) to unsubscribe\b", r"\bto stop receiving (?:these|this|our)\b",
        r"\bif you (?:no longer )?(?:wish|want) to (?:stop )?receiv", r"\bdarte de baja\b",
        r"\bdarse de baja\b", r"\bno deseas? recibir\b", r"\bse d[ée]sabonner\b",
        r"\bd[ée]sinscri", r"\bnewsletter abbestellen\b", r"\bafmelden voor\b",
    )),
    ("sales pitch", (
        r"\bas (?:the|a|our) sales (?:director|manager|representative|team)\b",
        r"\bwe (?:would be|are|'d be|will be) (?:happy|glad|honou?red|pleased) to "
        r"(?:talk|be your|offer|provide|quote|discuss|cooperate)",
        r"\bwe support companies\b", r"\b(?:can|could) our (?:product|company|services?)\b",
        r"\bi will send you the (?:specification|catalog|offer|price)",
        r"\blate (?:husband|wife|father|mother)\b",
    )),
    ("phishing", (
        r"\byour mailbox (?:is|has)\b", r"\bverify your (?:account|e-?mail|identity)\b",
        r"\bclick (?:here|below|the link) to (?:verify|confirm|update|avoid|keep|restore|claim)",
        r"\byour account (?:will|has been) (?:be )?(?:suspended|closed|deactivated|terminated)",
        r"\bdear (?:customer|user|client|beneficiary|account holder|valued)\b",
        r"\bwire transfer\b", r"\bnext of kin\b", r"\blottery\b", r"\bbank details\b",
        r"\bgeachte klant\b", r"\bestimad[oa] cliente\b", r"\bch[eè]re? client\b",
        r"\bsehr geehrte[rn]? kund", r"\bprezad[oa] cliente\b", r"\bgentile cliente\b",
        r"\bszanown[ya] klienc",
    )),
)

# Signs of a request for help, in subject or body. Only consulted once no rule above vetoed.
# A problem or a plea for help in words (evidence PROBLEM_STATEMENT): weak alone, since ads,
# changelogs and newsletters use them too. Questions and requests are found by bridge.decide.evidence.
REQUEST_EVIDENCE: tuple[str, ...] = (
    r"\bhelp\b", r"\bproblems?\b", r"\berrors?\b",
    # "issue" alone is also a newsletter's or a journal's issue
    r"\bissues? (?:with|when|while|after|in|on)\b", r"\b(?:an|this|same|having|had|have) issues?\b",
    r"\bfail(?:s|ed|ure|ing)?\b",
    r"\bunable\b", r"\bcan'?t\b", r"\bcannot\b", r"\bcouldn'?t\b", r"\bdoesn'?t work",
    r"\bnot working\b", r"\bwon'?t\b", r"\btrouble\b", r"\bstuck\b",
    r"\bunderflow|overflow|underrun|overrun",
    r"\bhilfe\b", r"\bfehler\b", r"\bfunktioniert nicht\b", r"\bayuda\b",
    r"\bno funciona\b", r"\baide\b", r"\bprobl[eè]me\b", r"\berreur\b",
    r"\bne fonctionne pas\b", r"\baiuto\b", r"\berrore\b", r"\bnon funziona\b",
    r"\bpomocy?\b", r"\bbłąd\b", r"\bnie działa\b", r"\bhulp\b",
    r"\bprobleem\b", r"\bwerkt niet\b", r"\bajuda\b", r"\bnão funciona\b",
    r"助けて", r"できません", r"エラー", r"帮助", r"错误",
)

# Whole replies that add nothing: every sentence of the reply must match one of these.
CONTENT_FREE: tuple[str, ...] = (
    r"\+\s?1+", r"me(?: too|2)", r"same(?: here| for me)?",
    r"(?:i have|i've got|i'?m having|having|i see|we have|we see)?\s?(?:the )?same "
    r"(?:problem|issue|question|error|here)(?: here)?(?: (?:from|for|at|in|on) (?:\w+ ){0,2}\w+)?",
    r"i(?:'d| would) (?:like|love) to know(?: (?:this|that|it))?(?: too| as well)?",
    r"(?:i'?m )?(?:also )?(?:interested|following|watching|subscribed?)"
    r"(?: (?:in )?(?:this|the) (?:one|thread|question|topic|discussion))?(?: too)?",
    r"bump(?:ing)?", r"any (?:updates?|news|progress|luck)(?: on this)?",
    r"(?:many )?thanks?(?: you)?(?: (?:in advance|too|a lot))?", r"ty|thx|tia",
    r"ich auch", r"moi aussi", r"yo tambi[ée]n", r"anch'?io", r"ik ook", r"eu tamb[ée]m",
    r"ja też", r"同じく", r"私も",
    r"[\W_]+",  # emoji or punctuation only: "👍👍", "!!!"
)

# An asker's subject carrying one of these closes the thread (case-insensitive substring).
CLOSING_TAGS: tuple[str, ...] = ("[solved]", "[summary]", "[resolved]", "[closed]", "(solved)")

# An asker's follow-up body saying the question is settled.
CLOSING_BODY: tuple[str, ...] = (
    r"\bnever ?mind\b", r"\bnvm\b",
    r"\b(?:i|we) (?:have )?(?:found|figured out|worked out|sorted out|solved|fixed|resolved)"
    r" (?:it|this|the (?:problem|issue|answer|solution|cause)|a (?:solution|workaround|fix))\b",
    r"\b(?:problem|issue|topic|question) (?:is |was |has been |got )?(?:solved|resolved|fixed)\b",
    r"\bplease ignore my (?:previous|last|earlier) (?:e-?mail|message|post|question)\b",
    r"\bgelöst\b", r"\brésolu\b", r"\bresuelto\b", r"\brisolto\b", r"\bopgelost\b",
    r"\brozwiązan[ey]\b", r"\bresolvido\b", r"解決しました", r"已解决",
)

OPT_OUT_TAGS: tuple[str, ...] = ("[no-tweet]", "[notweet]", "[no tweet]", "[private]")
OPT_IN_TAGS: tuple[str, ...] = ("[tweet]", "[share]")
# fmt: on


# --- vetoes: small named functions built once from tables; each returns a veto or None ---

Veto = tuple[str, str]  # (rule name, reason): decisive evidence against a request
RequestRule = Callable[[Mail], Veto | None]
FLAG_RULES: dict[Flag, str] = {
    Flag.SPAM: "LIST_SPAM_FLAG", Flag.BOUNCE: "BOUNCE", Flag.OUT_OF_OFFICE: "OUT_OF_OFFICE",
    Flag.AUTOMATED: "MACHINE_MAIL",
}


def rule_name(where: str, category: str) -> str:
    """ "subject", "job ad" -> "SUBJECT_JOB_AD"."""
    return f"{where}_{re.sub(r'[^A-Za-z0-9]+', '_', category).strip('_')}".upper()


CompiledTable = tuple[tuple[str, re.Pattern[str]], ...]


def compile_pattern(pattern: str, where: str) -> re.Pattern[str]:
    """Compile one configured pattern; a bad one is a ValueError naming where it came from."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid pattern {pattern!r} in {where}: {exc}") from exc


def compile_table(table: PatternTable, where: str) -> CompiledTable:
    return tuple(
        (cat, compile_pattern(p, f"{where}.{cat}")) for cat, patterns in table for p in patterns
    )


def search_table(table: CompiledTable, text: str) -> tuple[str, str] | None:
    """The first (category, matched text) found in `text`, in table order, or None."""
    for category, pattern in table:
        match = pattern.search(text)
        if match:
            shown = match.group(1) if pattern.groups else match.group(0)
            return category, " ".join(shown.split())[:40].lower()
    return None


def scan_text(body: str) -> str:
    """The parts of a body the rules read: its head and its tail."""
    if len(body) <= BODY_HEAD_CHARS + BODY_TAIL_CHARS:
        return body
    return body[:BODY_HEAD_CHARS] + "\n" + body[-BODY_TAIL_CHARS:]


def orphan_reply_rule(mail: Mail) -> Veto | None:
    """A "Re:" root continues an older thread. (A root that names a parent we never saw under a
    subject of its own is not vetoed: evidence.UNSEEN_PARENT holds it for a moderator.)"""
    if mail.is_reply_subject:
        return "ORPHAN_REPLY", "a reply to a message we never saw"
    return None


def flag_rule(mail: Mail) -> Veto | None:
    """Spam, bounces, out-of-office and other automated mail are never requests."""
    return next(((FLAG_RULES[f], why) for f, why in AUTOMATIC_FLAGS if f in mail.flags), None)


def subject_rule(table: PatternTable) -> RequestRule:
    compiled = compile_table(table, "not_request_subject")

    def not_request_subject(mail: Mail) -> Veto | None:
        """Announcements, job ads, phishing... recognised by their subject."""
        hit = search_table(compiled, mail.subject)
        return (rule_name("subject", hit[0]), f"{hit[0]}: subject matches '{hit[1]}'") if hit else None

    return not_request_subject


def body_rule(table: PatternTable) -> RequestRule:
    compiled = compile_table(table, "not_request_body")

    def not_request_body(mail: Mail) -> Veto | None:
        """The same, by strong phrases in the opening of the body."""
        hit = search_table(compiled, scan_text(mail.body or ""))
        return (rule_name("body", hit[0]), f"{hit[0]}: body matches '{hit[1]}'") if hit else None

    return not_request_body
