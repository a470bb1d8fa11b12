"""The one definition of "ambiguous" that the publishing and relaying stages share."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.errors import (
    AuthError,
    DuplicatePost,
    MessageRefused,
    NotSent,
    PermanentError,
    RateLimited,
    TransientError,
    Uncertain,
    is_ambiguous,
    transient,
)


def test_an_error_that_says_where_it_failed_decides() -> None:
    assert is_ambiguous(Uncertain("timeout after the request"))
    assert not is_ambiguous(NotSent("connection refused"))
    assert not is_ambiguous(RateLimited("429", datetime(2026, 1, 1, tzinfo=UTC)))
    assert is_ambiguous(transient("reset", ambiguous=True))
    assert not is_ambiguous(transient("refused", ambiguous=False))


def test_a_refusal_is_never_ambiguous() -> None:
    for exc in (PermanentError("no"), AuthError("bad key"), DuplicatePost("dup"), MessageRefused("550", 550)):
        assert not is_ambiguous(exc)


def test_an_unknown_failure_after_the_request_counts_as_ambiguous() -> None:
    """A transient error that does not say, or any other exception, may have taken effect."""
    assert is_ambiguous(TransientError("?"))
    assert is_ambiguous(ValueError("a library choked on the answer"))
