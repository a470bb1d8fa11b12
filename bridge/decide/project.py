"""What a project's own people write to a list, read by the evidence rules: a proposal that asks the
list to agree, object, second or vote; a decision question in the project's voice ("should we");
news of the sender's own work or plans; a review of someone's patch.

A member asking for help writes about their own need ("how do I", "I get this error"); these forms
ask the list to decide or to look at the sender's work, so they weigh against posting. The tables
hold forms, never a list's own words; they were read on developer lists (open-iscsi, maven dev,
asterix dev, tipc, groups.io updates) and checked on the others (README, "Judgement").
Pure functions over strings; every pattern is matched case-insensitively.
"""

from __future__ import annotations

import re
from functools import cache

# fmt: off
# The list is asked to agree, object, second or vote: consent for a change, not help for a need.
ASKS_CONSENT: tuple[str, ...] = (
    r"\bany objections?\b", r"\bobjections\s*\?", r"\b(?:does|would|will) any(?:one|body) object\b",
    r"\b(?:if|unless) (?:there are |i hear |we hear )?no (?:objections?|one objects)\b",
    r"\bif (?:i|we) (?:don'?t|do not) hear (?:anything|back|otherwise|any)\b", r"\blazy consensus\b",
    r"\bwho (?:wants|would like|is willing|can) to second\b", r"\bseconders?\b",
    r"\b(?:please|can (?:someone|anyone)) second\b", r"\bplease (?:cast your )?votes?\b",
    r"\bany(?:one|body) else (?:think|agree)\b", r"\b(?:does|do) (?:everyone|others|people|folks) agree\b",
    r"\b(?:i|we) (?:would like to |'d like to )?propose\b",
    r"\bmy proposal\b", r"\bi thought i'?d ask for (?:input|feedback|opinions)\b",
    r"\beinw[äa]nde\s*\?", r"\bobjeciones\s*\?", r"\bje propose\b",
    r"\bich schlage vor\b", r"\bpropongo\b", r"\bproponho\b",
)
# A decision question in the project's voice: weak alone ("should we wait?" is a team's need too).
# Measured and left out: "shall we" fired on a question only; a bare "Thoughts?" moved no list and
# is an asker's plea too.
DECIDES_FOR_PROJECT: tuple[str, ...] = (
    r"\bshould we\b", r"\bdo we (?:want|need) to\b", r"\A\W*time to\b",  # \A: the subject
    r"\bit(?: is|'s) time to (?:deprecate|drop|remove|retire|let go|stop supporting)\b",
    r"\bsollten wir\b", r"\bdevrions-nous\b", r"\bdeber[ií]amos\b", r"\bdovremmo\b",
)
# The sender's own work on the project, or the provider's news: branches, "please test", "we've
# added", an invitation to improve the service. (Not "I plan to" or "I'm considering": askers
# plan their own deployments in those words.)
OWN_WORK: tuple[str, ...] = (
    r"\bi (?:will|'ll) (?:soon )?submit\b", r"\b(?:i|we) (?:have )?made (?:good |some )?progress\b",
    r"\bi (?:have|'ve) (?:the|my) changes\b", r"\b(?:in|on) (?:a|my) (?:new |separate )?branch\b",
    r"\b(?:other|more|extra) (?:pairs? of )?eyes\b",
    r"\b(?:please|feel free to) (?:try|test) (?:it|this|them)\b",
    r"\banyone interested\s*\?", r"\blooking for (?:reviewers|testers|volunteers)\b",
    r"\b(?:feedback|comments|reviews?) (?:is |are )?(?:very )?welcome\b",
    r"\bdetails are tracked\b",
    r"\bdiscussion points\b", r"\bwe(?:'ve| have) (?:just )?(?:added|launched|introduced|shipped"
    r"|rolled out)\b", r"\byou can now\b", r"\bby popular demand\b",
    r"\bhow (?:can|could) we improve\b", r"\bidea for how to improve\b",
    r"\b(?:suggestions|ideas) for how (?:we|to)\b",
    r"\b(?:i think|imo|imho),? we (?:should|can|could|need to)\b",
    r"\bi (?:will|'ll) (?:add|write|update) (?:a |an |the )?(?:wiki|docs?\b|documentation|faq)",
    r"\bwe (?:should|need to|must) (?:review|cancel|deprecate|drop|remove|replace|force|decide)\b",
)
# A review of someone's patch: the message is for its author. (A greeting by name is not a sign:
# askers greet the maintainers by name as often as reviewers do.)
REVIEWS_A_PATCH: tuple[str, ...] = (
    r"\byour (?:patch|patches|patch ?set|series)\b", r"\bthe patch [0-9a-f]{7,}\b",
    r"\bthanks for (?:the|your) (?:patch|patches|series)\b",
)
# fmt: on


_WRAPPED = re.compile(r"(?<=\S)[ \t]*\n[ \t]*(?=\S)")
_TABLES = {"ASKS_CONSENT": ASKS_CONSENT, "DECIDES_FOR_PROJECT": DECIDES_FOR_PROJECT,
           "OWN_WORK": OWN_WORK, "REVIEWS_A_PATCH": REVIEWS_A_PATCH}


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    """One pattern per rule, compiled on first use, not at import."""
    return {name: re.compile("|".join(f"(?:{p})" for p in table), re.I | re.M)
            for name, table in _TABLES.items()}


def project_marks(subject: str, prose: str) -> list[str]:
    """Names of the project-voice rules that fire on a root's subject and own words; OWN_WORK_MANY
    when two or more different OWN_WORK phrases are found."""
    # mail is wrapped at ~72 columns: a phrase may break across lines; paragraphs stay apart
    text = f"{subject}\n" + _WRAPPED.sub(" ", prose)
    fired = [name for name, pattern in _patterns().items() if pattern.search(text)]
    work = {" ".join(m.group(0).lower().split()) for m in _patterns()["OWN_WORK"].finditer(text)}
    if len(work) >= 2:
        fired.append("OWN_WORK_MANY")
    return fired
