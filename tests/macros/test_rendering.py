"""Macro placeholders are plain substitution: known names only, one pass, nothing evaluated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deskpilot.macros.rendering import VARIABLES, render, unknown_variables

VALUES = {name: f"<{name}>" for name in VARIABLES}


def test_known_variables_are_substituted_with_or_without_spaces() -> None:
    text = "Hi {{ requester.name }}, ticket #{{ticket.number}} ({{  ticket.subject }})."
    assert (
        render(text, VALUES) == "Hi <requester.name>, ticket #<ticket.number> (<ticket.subject>)."
    )
    assert unknown_variables(text) == []


def test_anything_else_between_braces_is_unknown_and_never_evaluated() -> None:
    text = "{{ 7*7 }} {{ requester.__class__ }} {{ config }} {{ requester.name | upper }} {{}}"
    assert unknown_variables(text) == sorted(
        {"7*7", "requester.__class__", "config", "requester.name | upper", ""}
    )
    assert render(text, VALUES) == text  # left as written, not computed


def test_values_that_look_like_placeholders_are_inserted_literally() -> None:
    values = VALUES | {"requester.name": "{{ agent.name }}"}
    assert render("Dear {{ requester.name }}", values) == "Dear {{ agent.name }}"


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=200))
def test_text_without_braces_is_unchanged(text: str) -> None:
    assert render(text, VALUES) == text
    assert unknown_variables(text) == []
