"""Input limits on organization and contact bodies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from deskpilot.customers.schemas import (
    ContactCreate,
    ContactUpdate,
    OrganizationCreate,
    normalize_domain,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.example.com", "acme.example.com"),
        ("  ACME.Example.COM. ", "acme.example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("a-b.c-d.example", "a-b.c-d.example"),
    ],
)
def test_domain_is_normalized(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "localhost",
        "not a domain",
        "-bad.example.com",
        "bad-.example.com",
        "a..b.example",
        "https://acme.example.com",
        "acme.example.com/path",
        "user@acme.example.com",
        ("x" * 64) + ".example.com",
        ".".join(["abcdefghi"] * 26),
        "",
    ],
)
def test_bad_domains_are_rejected(raw: str) -> None:
    with pytest.raises(ValidationError) as exc:
        OrganizationCreate(name="x", domain=raw)
    assert exc.value.errors()[0]["loc"] == ("domain",)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"tier": "t" * 41}, "tier"),
        ({"mrr": "-1"}, "mrr"),
        ({"mrr": "1.234"}, "mrr"),
        ({"mrr": "12345678901.00"}, "mrr"),
        ({"external_id": "e" * 121}, "external_id"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_organization_limits(fields: dict[str, object], loc: str) -> None:
    with pytest.raises(ValidationError) as exc:
        OrganizationCreate.model_validate({"name": "ok", **fields})
    assert exc.value.errors()[0]["loc"] == (loc,)


def test_organization_name_is_stripped_and_200_chars_allowed() -> None:
    assert OrganizationCreate(name="  Acme  ").name == "Acme"
    assert len(OrganizationCreate(name="x" * 200).name) == 200


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b.test"}, "email"),
        ({"email": "a@example.com", "phone": "1" * 41}, "phone"),
        ({"email": "a@example.com", "name": "n" * 201}, "name"),
    ],
)
def test_contact_limits(fields: dict[str, object], loc: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ContactCreate.model_validate(fields)
    assert exc.value.errors()[0]["loc"] == (loc,)


def test_contact_update_cannot_null_required_columns() -> None:
    for name in ("email", "name"):
        with pytest.raises(ValidationError) as exc:
            ContactUpdate.model_validate({name: None})
        assert exc.value.errors()[0]["loc"] == (name,)
    assert ContactUpdate.model_validate({"phone": None}).model_dump(exclude_unset=True) == {
        "phone": None
    }
