"""Conditions: validation (what a 422 is made of) and evaluation, with property tests."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from deskpilot.automation.conditions import (
    MAX_TEXT,
    Condition,
    ConditionItem,
    compile_pattern,
    evaluate,
    holds,
)

items = TypeAdapter(list[ConditionItem])

FACTS: dict[str, Any] = {
    "status": "waiting_customer",
    "priority": "high",
    "impact": "site_down",
    "channel": "email",
    "type": None,
    "category": "Outage",
    "tags": ["vip", "billing"],
    "subject": "Checkout is DOWN for everyone",
    "description": "Since 9am nobody can pay.",
    "latest_message": "Please issue a refund",
    "organization_tier": "enterprise",
    "assignee_id": 7,
    "team_id": None,
    "ai_type": "bug",
    "ai_category": "payments",
    "ai_confidence": 0.82,
    "hours_since_update": 49.5,
    "hours_since_created": 100.0,
    "hours_in_status": 80.0,
    "requester_email": "Dave@Customer.example.com",
    "requester_name": "Dave",
}


def cond(field: str, op: str, value: Any = None) -> Condition:
    return Condition.model_validate({"field": field, "op": op, "value": value})


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("status", "eq", "waiting_customer", True),
        ("status", "ne", "waiting_customer", False),
        ("status", "in", ["new", "waiting_customer"], True),
        ("status", "not_in", ["new", "triage"], True),
        ("status", "contains", "waiting", True),
        ("priority", "gte", "high", True),
        ("priority", "gt", "high", False),
        ("priority", "lt", "urgent", True),
        ("impact", "gte", "multiple_users", True),
        ("category", "eq", "outage", True),  # keywords compare without case
        ("type", "not_set", None, True),
        ("type", "is_set", None, False),
        ("type", "eq", None, True),
        ("tags", "has_tag", "VIP", True),
        ("tags", "contains", "billing", True),
        ("tags", "not_contains", "stale", True),
        ("tags", "in", ["x", "vip"], True),
        ("tags", "not_in", ["x", "vip"], False),
        ("tags", "matches", "^bil", True),
        ("subject", "contains", "down", True),
        ("subject", "not_contains", "refund", True),
        ("subject", "matches", r"\bdown\b", True),
        ("latest_message", "matches", r"refund(s|ed)?$", True),
        ("organization_tier", "in", ["enterprise", "premium"], True),
        ("assignee_id", "eq", 7, True),
        ("assignee_id", "in", [1, 2], False),
        ("team_id", "not_set", None, True),
        ("ai_type", "eq", "bug", True),
        ("ai_confidence", "gte", 0.8, True),
        ("ai_confidence", "lt", 0.8, False),
        ("hours_since_update", "gt", 48, True),
        ("hours_in_status", "lte", 72, False),
        ("requester_email", "eq", "dave@customer.example.com", True),
        ("requester_email", "matches", r"@customer\.example\.com$", True),
    ],
)
def test_operators(field: str, op: str, value: Any, expected: bool) -> None:
    assert holds(cond(field, op, value), FACTS) is expected


def test_numbers_compare_false_when_the_fact_is_unknown() -> None:
    facts = {**FACTS, "ai_confidence": None}
    assert not holds(cond("ai_confidence", "gte", 0.1), facts)
    assert not holds(cond("ai_confidence", "lt", 0.1), facts)


def test_all_any_and_one_level_of_groups() -> None:
    parsed = items.validate_python(
        [
            {"field": "impact", "op": "eq", "value": "site_down"},
            {
                "match": "any",
                "conditions": [
                    {"field": "category", "op": "eq", "value": "billing"},
                    {"field": "ai_type", "op": "eq", "value": "bug"},
                ],
            },
        ]
    )
    assert evaluate("all", parsed, FACTS).matched
    assert evaluate("all", parsed, {**FACTS, "ai_type": "question"}).results == [True, False]
    assert evaluate("any", parsed, {**FACTS, "ai_type": "question"}).matched
    assert evaluate("all", [], FACTS).matched
    assert evaluate("any", [], FACTS).matched
    with pytest.raises(ValidationError):  # groups do not nest
        items.validate_python(
            [{"match": "any", "conditions": [{"match": "all", "conditions": []}]}]
        )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"field": "subject", "op": "gt", "value": "a"}, "does not apply"),
        ({"field": "status", "op": "eq", "value": "done"}, "unknown status"),
        ({"field": "priority", "op": "in", "value": ["high", "p1"]}, "unknown priority"),
        ({"field": "hours_since_update", "op": "gte", "value": "two days"}, "numbers"),
        ({"field": "hours_since_update", "op": "gte"}, "number"),
        ({"field": "assignee_id", "op": "eq", "value": "ann"}, "ids"),
        ({"field": "status", "op": "in", "value": []}, "list of 1"),
        ({"field": "status", "op": "eq", "value": ["new"]}, "single value"),
        ({"field": "type", "op": "is_set", "value": "bug"}, "takes no value"),
        ({"field": "subject", "op": "matches", "value": "(a+)+$"}, "nested quantifiers"),
        ({"field": "subject", "op": "matches", "value": r"(\w+\s?)*x"}, "nested quantifiers"),
        ({"field": "subject", "op": "matches", "value": "([a-z]"}, "invalid regular expression"),
        ({"field": "subject", "op": "matches", "value": "a" * 501}, "longer than"),
        ({"field": "nope", "op": "eq", "value": 1}, "field"),
        ({"field": "subject", "op": "eq", "value": "x", "extra": 1}, "extra"),
    ],
)
def test_invalid_conditions_say_why(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Condition.model_validate(raw)
    assert message.lower() in str(caught.value).lower()


def test_regexes_only_look_at_the_first_10k_characters() -> None:
    text = "a" * MAX_TEXT + "needle"
    assert not holds(cond("description", "matches", "needle"), {"description": text})
    assert holds(cond("description", "contains", "aaa"), {"description": text})


@given(st.text(max_size=200), st.text(min_size=1, max_size=20))
def test_contains_and_not_contains_are_opposites(text: str, needle: str) -> None:
    facts = {"subject": text}
    assert holds(cond("subject", "contains", needle), facts) != holds(
        cond("subject", "not_contains", needle), facts
    )
    assert holds(cond("subject", "contains", needle), facts) == (
        needle.casefold() in text.casefold()
    )


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e6, 1e6))
def test_number_ordering_is_consistent(actual: float, bound: float) -> None:
    facts = {"hours_since_update": actual}
    gt, lte = (holds(cond("hours_since_update", op, bound), facts) for op in ("gt", "lte"))
    lt, gte = (holds(cond("hours_since_update", op, bound), facts) for op in ("lt", "gte"))
    assert gt != lte
    assert lt != gte
    assert gt == (actual > bound)


@given(
    st.sampled_from(["low", "normal", "high", "urgent"]),
    st.sampled_from(["low", "normal", "high", "urgent"]),
)
def test_priority_ranks(actual: str, bound: str) -> None:
    order = ["low", "normal", "high", "urgent"]
    facts = {"priority": actual}
    assert holds(cond("priority", "gte", bound), facts) == (
        order.index(actual) >= order.index(bound)
    )
    assert holds(cond("priority", "in", [bound]), facts) == (actual == bound)


@given(st.lists(st.booleans(), max_size=8), st.sampled_from(["all", "any"]))
def test_match_all_is_and_any_is_or(flags: list[bool], match: str) -> None:
    conditions = [cond("tags", "has_tag", "yes" if f else "no") for f in flags]
    outcome = evaluate(match, conditions, {"tags": ["yes"]})
    expected = all(flags) if match == "all" else any(flags)
    assert outcome.matched == (expected if flags else True)


@given(st.text(max_size=50))
def test_accepted_patterns_compile_and_run(pattern: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except ValueError:
        return
    assert isinstance(compiled, re.Pattern)
    compiled.search("x" * 1000)
