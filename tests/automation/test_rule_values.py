"""The rule editor's value box: quoting, lists and numbers read back exactly what was shown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskpilot.automation.rule_forms import MAX_GROUPS, ConditionRow, RuleForm, group_number
from deskpilot.automation.rule_values import (
    QUOTING_HELP,
    list_item_text,
    number_text,
    parse_number,
    single_text,
    split_values,
    unquote,
)


@pytest.mark.parametrize(
    ("typed", "values"),
    [
        ("new, open", ["new", "open"]),
        ("  a ,, b ,", ["a", "b"]),
        ('"billing, invoices", x', ["billing, invoices", "x"]),
        ('" padded ", "", "say ""hi"""', [" padded ", "", 'say "hi"']),
        ("", []),
    ],
)
def test_split_values(typed: str, values: list[str]) -> None:
    assert split_values(typed) == values


@pytest.mark.parametrize("typed", ['"open', 'a, 5" screen', '"a"b', '"a" "b"'])
def test_split_values_refuses_bad_quoting_saying_how(typed: str) -> None:
    with pytest.raises(ValueError, match="in double quotes") as raised:
        split_values(typed)
    assert str(raised.value) == QUOTING_HELP


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_every_list_reads_back_as_shown(values: list[str]) -> None:
    assert split_values(", ".join(list_item_text(v) for v in values)) == values


@given(st.text(min_size=1))
def test_every_single_value_reads_back_as_shown(value: str) -> None:
    assert unquote(single_text(value)) == value


def test_single_values_are_quoted_only_when_needed() -> None:
    assert single_text("billing, invoices") == "billing, invoices"
    assert single_text("") == '""'  # a blank box means "no value"
    assert single_text(" x") == '" x"'
    assert single_text('"x"') == '"""x"""'


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_read_back_exactly_with_their_type(number: float) -> None:
    parsed = parse_number(number_text(number))
    assert parsed == number
    assert type(parsed) is type(number)


def test_numbers_that_are_not_numbers() -> None:
    assert parse_number("nan") is None
    assert parse_number("1e999") is None
    assert parse_number("9" * 5000) is None  # beyond int()'s digit limit and float's range
    assert parse_number("²") is None
    assert number_text(0.1 + 0.2) == "0.30000000000000004"


def test_group_numbers_are_bounded_before_int() -> None:
    assert group_number("1") == 1
    assert group_number(str(MAX_GROUPS)) == MAX_GROUPS
    for text in ("", "0", str(MAX_GROUPS + 1), "01000", "9" * 5000, "²", "-1", " 1"):
        assert group_number(text) is None, text
    form = RuleForm(conditions=[ConditionRow("status", "eq", "new", "100000000")])
    form.pad_groups()
    assert len(form.group_matches) == 2
