"""Pure parts: visitor tokens, the rate limiter, origin rules and the streaming helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskpilot.chat import present
from deskpilot.chat.limits import RateLimiter
from deskpilot.chat.service import chat_settings
from deskpilot.chat.tokens import Visitor, VisitorTokens
from deskpilot.core.errors import Unauthorized
from deskpilot.workspaces.models import Workspace

SECRET = "unit-secret-" + "z" * 32


def test_tokens_round_trip_and_reject_tampering() -> None:
    tokens = VisitorTokens(SECRET)
    visitor = Visitor(3, 42, 7)
    token = tokens.issue(visitor)
    assert tokens.read(token) == visitor
    for bad in (
        None,
        "",
        token + "x",
        "abc.def.ghi",
        VisitorTokens("other-" + "q" * 32).issue(visitor),
    ):
        with pytest.raises(Unauthorized):
            tokens.read(bad)


def test_tokens_expire() -> None:
    token = VisitorTokens(SECRET).issue(Visitor(1, 2, 3))
    with pytest.raises(Unauthorized):
        VisitorTokens(SECRET, max_age_seconds=-1).read(token)


def test_the_limiter_counts_a_sliding_window() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.hit("k", limit=2, per_seconds=60) for _ in range(2)] == [0, 0]
    assert limiter.hit("k", limit=2, per_seconds=60) == 60
    assert limiter.hit("other", limit=2, per_seconds=60) == 0
    now[0] += 30
    assert limiter.hit("k", limit=2, per_seconds=60) == 30
    now[0] += 30.5
    assert limiter.hit("k", limit=2, per_seconds=60) == 0


def test_origin_rules() -> None:
    default = chat_settings(Workspace(slug="a", name="A", settings={}))
    assert default.allows_origin("https://anything.example")
    strict = chat_settings(
        Workspace(slug="a", name="A", settings={"chat_allowed_origins": ["https://Shop.example/"]})
    )
    assert strict.allows_origin("https://shop.example")
    assert strict.allows_origin(None)  # not a browser page
    assert not strict.allows_origin("https://shop.example.evil.test")
    assert not strict.allows_origin("http://shop.example")
    assert strict.allows_origin("https://desk.example", own_origin="https://desk.example/")


def test_links_are_made_absolute() -> None:
    html = '<p><a href="/help/acme/articles/x">X</a> <a href="https://o.example/">o</a></p>'
    assert present.absolute(html, "https://desk.example/") == (
        '<p><a href="https://desk.example/help/acme/articles/x">X</a> '
        '<a href="https://o.example/">o</a></p>'
    )
    assert present.absolute_url("//cdn.example/x", "https://d") == "//cdn.example/x"


def test_plain_text_drops_markdown_link_targets() -> None:
    text = "Choose **Forgot password**.\n\n- [Reset your password](/help/acme/articles/reset)"
    assert present.plain_text(text) == "Choose Forgot password.\n\n- Reset your password"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=6))
def test_word_chunks_add_up_to_the_text(text: str, size: int) -> None:
    chunks = present.word_chunks(text, size)
    assert "".join(chunks) == text
    assert all(len(c.split()) <= size for c in chunks)
