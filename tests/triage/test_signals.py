"""Signals from the customer's words: explicit requests for a person, negativity, vagueness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deskpilot.triage import signals
from deskpilot.triage.signals import MAX_CHARS, content_words, is_vague, negativity, wants_human

ASKS_FOR_A_PERSON = [
    "talk to a person",
    "Can I talk to a human?",
    "I want to speak to a real person.",
    "agent please",
    "Agent, please!",
    "AGENT!!!",
    "human",
    "Representative",
    "operator pls",
    "Can I speak to someone about my invoice?",
    "I want a human",
    "I'd like to talk to an agent now",
    "We need to speak with your support team",
    "let me speak to your manager",
    "transfer me to a live agent",
    "Please connect me with a human being",
    "could I get a person to look at this",
    "is there a real person I can talk to?",
    "Stop the bot.",
    "I\u2019m done, no more bots",  # a curly apostrophe
    "not a bot, a person please",
    "I don't want to talk to a robot",
    "Enough with the chatbot, get me an agent",
    "This is useless. Human please.",
]

DOES_NOT_ASK = [
    "",
    "the agent app crashed",
    "Our human resources team needs access to the portal",
    "How do I add an agent to my team?",
    "I need an agent license for our new hire",
    "can the agent please check the logs",
    "Could our agent please get access to the reports?",
    "I talked to an agent yesterday and they fixed it",
    "Our agents can't talk to customers in the chat widget",
    "we need someone to fix the export",
    "How do I get an agent to see tickets of another team?",
    "I'm not a bot, but the captcha keeps failing",
    "This is not an AI issue, it is a network issue",
    "The person who set up our account left the company",
    "How do I reset my password?",
    "Who is the operator of this data center?",
    "Is the representative sample in the report correct?",
]


@pytest.mark.parametrize("text", ASKS_FOR_A_PERSON)
def test_explicit_requests_for_a_person_are_recognised(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize("text", DOES_NOT_ASK)
def test_mentions_of_agents_and_humans_are_not_requests(text: str) -> None:
    assert not wants_human(text)


def test_a_request_inside_a_longer_message_counts() -> None:
    text = (
        "I tried the reset link three times and it expired each time. The docs did not help. "
        "Can I please talk to someone from support?"
    )
    assert wants_human(text)


NEUTRAL = [
    "How do I reset my password?",
    "I can't log in, I get error 500 when I try.",
    "The export to CSV is missing the email column.",
    "I want to cancel my subscription at the end of the month.",
    "Where can I download last month's invoice?",
    "Thanks, that worked!",
    "Our API key stopped working after the SSO change.",
]
STRONGLY_NEGATIVE = [
    "This is the worst service ever, I'm furious!!!",
    "I'm going to sue you",
    "If this isn't fixed today I'm filing a chargeback",
    "THIS IS RIDICULOUS. FIX IT NOW!!!",
    "What the hell, this is the third time I'm asking. I'm fed up",
    "fucking useless piece of garbage",
    "Absolutely unacceptable. You people are incompetent and I will cancel.",
]


@pytest.mark.parametrize("text", NEUTRAL)
def test_problem_reports_and_calm_requests_are_not_negative(text: str) -> None:
    assert negativity(text) < 0.3


@pytest.mark.parametrize("text", STRONGLY_NEGATIVE)
def test_anger_threats_and_profanity_cross_the_default_threshold(text: str) -> None:
    assert negativity(text) >= 0.75


def test_mild_complaints_sit_between() -> None:
    for text in ("I'm very disappointed", "still not working after 3 days", "I'm not happy"):
        assert 0.1 < negativity(text) < 0.75, text


def test_intensifiers_negations_caps_and_exclamations_move_the_score() -> None:
    assert negativity("I am very frustrated") > negativity("I am frustrated")
    assert negativity("not bad at all") < negativity("bad")
    assert negativity("I am not happy") > negativity("I am happy")
    assert negativity("THIS IS TERRIBLE") > negativity("this is terrible")
    assert negativity("this is terrible!!!") > negativity("this is terrible")
    assert negativity("I'll cancel if this goes on") > negativity("How do I cancel?")


def test_negativity_is_deterministic() -> None:
    text = STRONGLY_NEGATIVE[0]
    assert negativity(text) == negativity(text)


@pytest.mark.parametrize(
    ("text", "vague"),
    [
        ("help", True),
        ("it doesn't work", True),
        ("Hi, I have a question", True),
        ("billing problem", True),
        ("my account", True),
        ("How do I reset my password?", False),
        ("Where can I download invoices?", False),
        (" ".join(["word"] * 40), False),  # long messages are never vague
    ],
)
def test_vagueness(text: str, vague: bool) -> None:
    assert is_vague(text) is vague


def test_content_words_drop_filler() -> None:
    assert content_words("Hi, my export is broken please help") == ["export"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2_000))
def test_signals_accept_any_text(text: str) -> None:
    score = negativity(text)
    assert 0.0 <= score <= 1.0
    assert isinstance(wants_human(text), bool)
    assert isinstance(is_vague(text), bool)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([*STRONGLY_NEGATIVE, *NEUTRAL, "!!!", "NO", "not"]), max_size=30))
def test_negativity_stays_bounded_on_stacked_complaints(parts: list[str]) -> None:
    assert 0.0 <= negativity(" ".join(parts)) <= 1.0


def test_huge_input_is_cut_not_crashed() -> None:
    text = "agent please " + "x" * (MAX_CHARS * 5)
    assert wants_human(text)
    assert 0.0 <= negativity("terrible " * 100_000) <= 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yes, thanks!", True),
        ("yes it worked", True),
        ("That worked, thank you so much", True),
        ("problem solved", True),
        ("no", False),
        ("No, it didn't work.", False),
        ("still broken", False),
        ("not really, the link expires", False),
        ("Yes but now I have another question about invoices and exports", None),
        ("how do I export data?", None),
        ("", None),
        ("yes " * 20, None),
    ],
)
def test_confirmation_reads_plain_yes_and_no(text: str, expected: bool | None) -> None:
    assert signals.confirmation(text) is expected
