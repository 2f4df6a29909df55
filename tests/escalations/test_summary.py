"""The builtin hand-off summary: examples of what it picks, and properties over any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deskpilot.escalations.summary import (
    ELLIPSIS,
    LATEST_LABEL,
    MAX_LINE_CHARS,
    MAX_WORDS,
    TRIED_LABEL,
    summarize_conversation,
)

LOCKED_OUT = [
    (
        "customer",
        "public",
        "Hi team,\nI reset my password yesterday but I still cannot log in to the dashboard. "
        "The login page says my account is locked. I love your new logo by the way. "
        "Can you unlock my account please?",
    ),
    (
        "ai",
        "public",
        "Sorry to hear that! You can reset your password from the login page using "
        "Forgot password. This sends a reset link to your email.",
    ),
    ("agent", "internal", "VIP customer, renewal next week"),
    (
        "customer",
        "public",
        "I already did the reset twice. It is still locked with error ACCOUNT_LOCKED.\n"
        "> On Monday you wrote:\n> You can reset your password from the login page",
    ),
]


def lines_of(summary: str) -> list[str]:
    return summary.splitlines()


def test_picks_central_sentences_the_tried_reply_and_the_latest_message() -> None:
    summary = summarize_conversation(
        LOCKED_OUT, subject="Cannot log in: account locked", max_sentences=3
    )
    assert lines_of(summary) == [
        "Cannot log in: account locked",
        "I reset my password yesterday but I still cannot log in to the dashboard.",
        "The login page says my account is locked.",
        "Tried: You can reset your password from the login page using Forgot password.",
        "Customer's latest message: I already did the reset twice. "
        "It is still locked with error ACCOUNT_LOCKED.",
    ]


def test_internal_notes_and_quoted_history_never_appear() -> None:
    summary = summarize_conversation(LOCKED_OUT, subject="Locked out", max_sentences=10)
    assert "VIP" not in summary
    assert "On Monday you wrote" not in summary
    assert "Hi team" not in summary  # no content words: a greeting is never picked


def test_sentences_keep_their_original_order() -> None:
    summary = summarize_conversation(LOCKED_OUT, subject="Locked out", max_sentences=10)
    picked = lines_of(summary)[:-2]
    body = LOCKED_OUT[0][2]
    assert [body.index(line) for line in picked[1:]] == sorted(
        body.index(line) for line in picked[1:]
    )
    assert picked[0] == "Locked out"


def test_a_single_message_always_keeps_the_customers_ask() -> None:
    first = LOCKED_OUT[:1]
    summary = summarize_conversation(first, subject="Cannot log in", max_sentences=1)
    assert summary == "Can you unlock my account please?"
    two = summarize_conversation(first, subject="Cannot log in", max_sentences=2)
    assert lines_of(two) == [
        "I reset my password yesterday but I still cannot log in to the dashboard.",
        "Can you unlock my account please?",
    ]


def test_near_duplicate_sentences_are_picked_once() -> None:
    messages = [
        (
            "customer",
            "public",
            "The invoice PDF export fails. The invoice PDF export fails! "
            "Billing emails are late too.",
        )
    ]
    summary = summarize_conversation(messages, max_sentences=3)
    assert summary.count("invoice PDF export fails") == 1
    assert "Billing emails are late too." in summary


def test_long_sentences_and_huge_words_are_cut_with_an_ellipsis() -> None:
    long_sentence = " ".join(f"word{i}" for i in range(100))
    messages = [("customer", "public", long_sentence), ("customer", "public", "x" * 5000)]
    first, latest = lines_of(summarize_conversation(messages))
    assert first == " ".join(f"word{i}" for i in range(MAX_WORDS)) + ELLIPSIS
    assert latest == LATEST_LABEL + "x" * (MAX_LINE_CHARS - 1) + ELLIPSIS


def test_nothing_to_summarize_is_empty() -> None:
    assert summarize_conversation([]) == ""
    assert summarize_conversation([("agent", "internal", "note"), ("system", "public", "x")]) == ""
    assert summarize_conversation([], subject="  Refund  ") == "Refund"


def test_max_sentences_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_sentences"):
        summarize_conversation([], max_sentences=0)


# --- properties ----------------------------------------------------------------------------------

AUTHORS = st.sampled_from(["customer", "agent", "ai", "system"])
VISIBILITY = st.sampled_from(["public", "internal"])
WORDS = st.text(alphabet="abcdeé xyz.?!>\n\t,'0123456789", max_size=300)
MESSAGES = st.lists(st.tuples(AUTHORS, VISIBILITY, WORDS | st.text(max_size=200)), max_size=8)


def _is_made_of_input_words(line: str, source_words: list[str]) -> bool:
    """The line's words appear in the input in this order; a cut line's last word may be a
    prefix of an input word."""
    cut = line.endswith(ELLIPSIS)
    words = line.removesuffix(ELLIPSIS).split()
    position = 0
    for index, word in enumerate(words):
        last = cut and index == len(words) - 1
        while position < len(source_words) and not (
            source_words[position] == word or (last and source_words[position].startswith(word))
        ):
            position += 1
        if position == len(source_words):
            return False
        position += 1
    return True


@settings(max_examples=300, deadline=None)
@given(MESSAGES, st.text(max_size=120), st.integers(min_value=1, max_value=6))
def test_never_crashes_stays_within_limits_and_only_quotes_the_input(
    messages: list[tuple[str, str, str]], subject: str, max_sentences: int
) -> None:
    summary = summarize_conversation(messages, subject=subject, max_sentences=max_sentences)

    lines = lines_of(summary)
    assert len(lines) <= max_sentences + 2
    assert sum(line.startswith(TRIED_LABEL) for line in lines) <= 1
    assert sum(line.startswith(LATEST_LABEL) for line in lines) <= 1
    public = [body for _author, visibility, body in messages if visibility == "public"]
    for line in lines:
        content = line.removeprefix(TRIED_LABEL).removeprefix(LATEST_LABEL)
        assert content.strip()
        assert len(content) <= MAX_LINE_CHARS
        assert len(content.removesuffix(ELLIPSIS).split()) <= MAX_WORDS
        # Internal notes are excluded, so public text and the subject must account for the line.
        sources = [subject, *public]
        assert any(_is_made_of_input_words(content, s.split()) for s in sources), line
    assert summary == summarize_conversation(messages, subject=subject, max_sentences=max_sentences)


@settings(max_examples=100, deadline=None)
@given(MESSAGES)
def test_internal_only_text_never_leaks(messages: list[tuple[str, str, str]]) -> None:
    secret = "zqsecretzq"
    summary = summarize_conversation(
        [*messages, ("agent", "internal", f"{secret} do not show"), ("customer", "public", "ok")]
    )
    assert secret not in summary
