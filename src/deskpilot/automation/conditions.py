"""Rule conditions: a validated model and a pure evaluator over a ticket's facts.

A condition is `{"field", "op", "value"}`; a rule matches when `all` (or `any`) of its conditions
hold. One level of grouping is allowed: `{"match": "any", "conditions": [...]}` inside a rule's
list, so "category outage OR type bug, AND impact site_down" is one rule. Facts are a plain
mapping (field -> value) built by the engine; nothing here touches the database.

Regular expressions are user input: patterns are length-capped, patterns that nest quantifiers
(`(a+)+`, the classic catastrophic backtracking shape) are refused, and the text they run on is
cut to `MAX_TEXT` characters, which bounds the work of whatever gets through.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deskpilot.tickets.lifecycle import Channel, Impact, Priority, Status, TicketType

MAX_TEXT = 10_000
"""Characters of a text field that text operators look at."""
MAX_PATTERN = 500
MAX_VALUE_LENGTH = 1000
MAX_LIST = 100
MAX_CONDITIONS = 50


class FieldName(StrEnum):
    status = "status"
    priority = "priority"
    impact = "impact"
    channel = "channel"
    type = "type"
    category = "category"
    tags = "tags"
    subject = "subject"
    description = "description"
    latest_message = "latest_message"
    organization_tier = "organization_tier"
    assignee_id = "assignee_id"
    team_id = "team_id"
    ai_type = "ai_type"
    ai_category = "ai_category"
    ai_confidence = "ai_confidence"
    hours_since_update = "hours_since_update"
    hours_since_created = "hours_since_created"
    hours_in_status = "hours_in_status"
    requester_email = "requester_email"
    requester_name = "requester_name"


class Op(StrEnum):
    eq = "eq"
    ne = "ne"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    not_contains = "not_contains"
    matches = "matches"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    is_set = "is_set"
    not_set = "not_set"
    has_tag = "has_tag"


F = FieldName
TEXT_FIELDS = frozenset({F.subject, F.description, F.latest_message, F.requester_name})
KEYWORD_FIELDS = frozenset(
    {
        F.status,
        F.priority,
        F.impact,
        F.channel,
        F.type,
        F.category,
        F.organization_tier,
        F.ai_type,
        F.ai_category,
        F.requester_email,
    }
)
NUMBER_FIELDS = frozenset(
    {F.ai_confidence, F.hours_since_update, F.hours_since_created, F.hours_in_status}
)
ID_FIELDS = frozenset({F.assignee_id, F.team_id})
RANKED: dict[FieldName, list[str]] = {
    F.priority: [p.value for p in Priority],
    F.impact: [i.value for i in Impact],
}
"""Keyword fields with an order, so `priority gte high` means high or urgent."""
ENUMS: dict[FieldName, list[str]] = {
    F.status: [s.value for s in Status],
    F.priority: [p.value for p in Priority],
    F.impact: [i.value for i in Impact],
    F.channel: [c.value for c in Channel],
    F.type: [t.value for t in TicketType],
    F.ai_type: [t.value for t in TicketType],
}
"""Fields whose values are a closed set: a typo in a rule is a 422, not a rule that never fires."""

PRESENCE = frozenset({Op.is_set, Op.not_set})
EQUALITY = frozenset({Op.eq, Op.ne, Op.in_, Op.not_in})
TEXTUAL = frozenset({Op.contains, Op.not_contains, Op.matches})
ORDERING = frozenset({Op.gt, Op.gte, Op.lt, Op.lte})


def allowed_ops(field: FieldName) -> frozenset[Op]:
    if field in TEXT_FIELDS:
        return PRESENCE | EQUALITY | TEXTUAL
    if field in KEYWORD_FIELDS:
        ops = PRESENCE | EQUALITY | TEXTUAL
        return ops | ORDERING if field in RANKED else ops
    if field in NUMBER_FIELDS:
        return PRESENCE | ORDERING | {Op.eq, Op.ne}
    if field in ID_FIELDS:
        return PRESENCE | EQUALITY
    # tags: a list of strings
    return PRESENCE | {Op.has_tag, Op.contains, Op.not_contains, Op.in_, Op.not_in, Op.matches}


# Quantified group that itself contains a quantifier: (a+)+, (a*)*, (\w+\s?)*, (a|b+){2,}.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,)")


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a user pattern (case-insensitive) or raise ValueError saying why not."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"pattern longer than {MAX_PATTERN} characters")
    if _NESTED_QUANTIFIER.search(pattern):
        raise ValueError(
            "nested quantifiers such as (a+)+ are not allowed (catastrophic backtracking)"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from exc


Scalar = str | int | float | bool | None


class Condition(BaseModel):
    """One comparison of a ticket fact with a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: FieldName
    op: Op
    value: Scalar | list[Scalar] = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        if self.op not in allowed_ops(self.field):
            ops = sorted(o.value for o in allowed_ops(self.field))
            raise ValueError(
                f"operator {self.op.value!r} does not apply to {self.field.value}; use {ops}"
            )
        value = self.value
        if self.op in PRESENCE:
            if value is not None:
                raise ValueError(f"{self.op.value} takes no value")
            return self
        if self.op in (Op.in_, Op.not_in):
            if not isinstance(value, list) or not value or len(value) > MAX_LIST:
                raise ValueError(f"{self.op.value} needs a list of 1 to {MAX_LIST} values")
            for item in value:
                self._check_one(item)
            return self
        if isinstance(value, list):
            raise ValueError(f"{self.op.value} takes a single value, not a list")
        if self.op in TEXTUAL or self.op == Op.has_tag:
            if not isinstance(value, str) or not value or len(value) > MAX_VALUE_LENGTH:
                raise ValueError(
                    f"{self.op.value} needs a text of 1 to {MAX_VALUE_LENGTH} characters"
                )
            if self.op == Op.matches:
                compile_pattern(value)
            return self
        self._check_one(value)
        if self.op in ORDERING and self.field in NUMBER_FIELDS and value is None:
            raise ValueError(f"{self.op.value} needs a number")
        return self

    def _check_one(self, value: Scalar) -> None:
        field = self.field
        if field in NUMBER_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                if value is None and self.op in (Op.eq, Op.ne):
                    return
                raise ValueError(f"{field.value} compares with numbers")
            return
        if field in ID_FIELDS:
            if value is None and self.op in (Op.eq, Op.ne):
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{field.value} compares with ids (positive integers)")
            return
        if value is None and self.op in (Op.eq, Op.ne) and field not in (F.status, F.priority):
            return
        if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            raise ValueError(f"{field.value} compares with texts of at most {MAX_VALUE_LENGTH}")
        if field in ENUMS and value not in ENUMS[field]:
            raise ValueError(f"unknown {field.value} {value!r}; one of {ENUMS[field]}")


class ConditionGroup(BaseModel):
    """A nested all/any list (one level deep) inside a rule's conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Literal["all", "any"] = "any"
    conditions: list[Condition] = Field(min_length=1, max_length=MAX_CONDITIONS)


ConditionItem = Annotated[Condition | ConditionGroup, Field(union_mode="left_to_right")]


@dataclass(frozen=True)
class Outcome:
    """Each top-level item's result, for the dry-run API and the run record."""

    matched: bool
    results: list[bool]


def evaluate(
    match: str, conditions: Sequence[Condition | ConditionGroup], facts: Mapping[str, Any]
) -> Outcome:
    """Whether the conditions hold for the facts. No conditions always match."""
    results = [_holds_item(item, facts) for item in conditions]
    if not results:
        return Outcome(True, [])
    return Outcome(all(results) if match == "all" else any(results), results)


def _holds_item(item: Condition | ConditionGroup, facts: Mapping[str, Any]) -> bool:
    if isinstance(item, ConditionGroup):
        inner = [holds(c, facts) for c in item.conditions]
        return all(inner) if item.match == "all" else any(inner)
    return holds(item, facts)


def holds(condition: Condition, facts: Mapping[str, Any]) -> bool:
    actual = facts.get(condition.field.value)
    op, expected = condition.op, condition.value
    if op == Op.is_set:
        return _is_set(actual)
    if op == Op.not_set:
        return not _is_set(actual)
    if condition.field == F.tags:
        return _tags_hold(op, expected, [str(t).lower() for t in actual or []])
    if op in TEXTUAL:
        return _text_holds(op, expected, actual)
    if op == Op.eq:
        return _same(actual, expected)
    if op == Op.ne:
        return not _same(actual, expected)
    if op == Op.in_:
        return any(_same(actual, item) for item in expected or [])  # type: ignore[union-attr]
    if op == Op.not_in:
        return not any(_same(actual, item) for item in expected or [])  # type: ignore[union-attr]
    return _compare(condition.field, op, actual, expected)


def _is_set(value: Any) -> bool:
    return value not in (None, "", [])


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.casefold() == expected.casefold()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return bool(actual == expected)


def _text_holds(op: Op, expected: Any, actual: Any) -> bool:
    text = "" if actual is None else str(actual)[:MAX_TEXT]
    if op == Op.matches:
        return compile_pattern(str(expected)).search(text) is not None
    found = str(expected).casefold() in text.casefold()
    return found if op == Op.contains else not found


def _tags_hold(op: Op, expected: Any, tags: list[str]) -> bool:
    if op in (Op.has_tag, Op.contains):
        return str(expected).lower() in tags
    if op == Op.not_contains:
        return str(expected).lower() not in tags
    if op == Op.in_:
        return any(str(e).lower() in tags for e in expected)
    if op == Op.not_in:
        return not any(str(e).lower() in tags for e in expected)
    pattern = compile_pattern(str(expected))
    return any(pattern.search(t) for t in tags)  # matches: any tag


def _compare(field: FieldName, op: Op, actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return False  # an unknown value is neither above nor below anything
    if field in RANKED:
        order = RANKED[field]
        if actual not in order or expected not in order:
            return False
        actual, expected = order.index(actual), order.index(expected)
    elif isinstance(actual, str) or isinstance(expected, str):
        return False
    if op == Op.gt:
        return bool(actual > expected)
    if op == Op.gte:
        return bool(actual >= expected)
    if op == Op.lt:
        return bool(actual < expected)
    return bool(actual <= expected)
