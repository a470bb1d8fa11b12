"""Composing a post from hostile text: seconds per post, next to an ordinary question.

    python bench/compose_bench.py [--repeat 5]

Cases (generated here): an ordinary question (the yardstick); 10,000 emoji in subject and body
(issue 13: 41-123 s before the input cap); 4 MB of words with no full stop; one 4 MB word;
a million digits; a body of 2,000
question sentences; a thread whose list has seen 5,000 senders (other people's names scrubbed).
Prints one line per case: best seconds of `--repeat` runs and the post's weighted length.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.compose.post import ComposeSettings, compose_post, make_template_env
from bridge.model import Author, Mail

LINK = "https://lists.example.org/archives/list/solo@lists.example.org/message/ABC/"
NAMES = tuple(f"Person{n} Surname{n}" for n in range(5000))


def mail(subject: str, body: str) -> Mail:
    return Mail(message_id="q@example.org", subject=subject, subject_norm=subject.casefold(),
                is_reply_subject=False, author=Author("Ann Example", "ann@example.org"),
                date=datetime(2025, 3, 4, tzinfo=UTC), in_reply_to=None, references=(), body=body)


CASES: dict[str, tuple[Mail, tuple[str, ...]]] = {
    "yardstick": (mail("Serials in Koha", "Hello all,\nHow do I set up a prediction pattern "
                       "for an irregular quarterly in Koha?\nThanks, Ann"), ()),
    "emoji_10k": (mail("😀" * 10_000, "😀" * 10_000 + "?"), ()),
    "words_4mb": (mail("Long", "word " * 800_000), ()),
    "one_word_4mb": (mail("x" * 100_000, "a" * 4_000_000 + "?"), ()),
    "digits_1mb": (mail("1" * 100_000, "1" * 1_000_000 + " ?"), ()),
    "questions_2000": (mail("Many", "How do I catalogue this zine? " * 2000), ()),
    "senders_5000": (mail("Stats", "Did Person42 Surname42 send the usage stats for e-books?"),
                     NAMES),
}


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = ComposeSettings()
    env = make_template_env(settings)
    for name, (root, names) in CASES.items():
        draft = compose_post(root, LINK, settings, env, names)
        seconds = best_of(args.repeat, lambda r=root, n=names: compose_post(r, LINK, settings, env, n))
        print(f"{name:<16} {seconds:8.4f} s  weighted {draft.weighted_length}")


if __name__ == "__main__":
    main()
