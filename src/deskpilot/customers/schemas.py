"""Request and response shapes for organizations and contacts."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from deskpilot.core.ids import MAX_DB_ID

OrganizationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
ExternalRef = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
Tier = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
ContactName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]
DomainInput = Annotated[str, StringConstraints(max_length=300)]
# Ids are BIGINT: a larger number cannot name a row, and would fail in the driver, not here.
RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
MAX_HOSTNAME_LENGTH = 253


def normalize_domain(value: str | None) -> str | None:
    """A bare hostname such as `acme.example.com`: lowercased, IDNA-encoded, no trailing dot."""
    if value is None:
        return None
    host = value.strip().rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError("not a valid domain name") from exc
    if len(host) > MAX_HOSTNAME_LENGTH or not _HOSTNAME_RE.match(host):
        raise ValueError("not a valid domain name, e.g. acme.example.com")
    return host


def _not_null(value: Any) -> Any:
    """Partial updates may omit a required column, but may not blank it with null."""
    if value is None:
        raise ValueError("may not be null")
    return value


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrganizationName
    external_id: ExternalRef | None = None
    crm_id: ExternalRef | None = None
    domain: DomainInput | None = None
    tier: Tier | None = None
    mrr: Money | None = None

    _domain = field_validator("domain")(normalize_domain)


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: OrganizationName | None = None
    external_id: ExternalRef | None = None
    crm_id: ExternalRef | None = None
    domain: DomainInput | None = None
    tier: Tier | None = None
    mrr: Money | None = None

    _domain = field_validator("domain")(normalize_domain)
    _required = field_validator("name")(_not_null)


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    external_id: str | None
    crm_id: str | None
    domain: str | None
    tier: str | None
    mrr: Decimal | None
    created_at: datetime
    updated_at: datetime


class OrganizationList(BaseModel):
    items: list[OrganizationRead]
    next_cursor: str | None


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: ContactName | None = None
    phone: Phone | None = None
    organization_id: RowId | None = None
    """Omit to join the organization whose domain matches the email; send null for none."""
    crm_id: ExternalRef | None = None


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    name: ContactName | None = None
    phone: Phone | None = None
    organization_id: RowId | None = None
    crm_id: ExternalRef | None = None

    _required = field_validator("email", "name")(_not_null)


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    phone: str | None
    organization_id: int | None
    crm_id: str | None
    created_at: datetime
    updated_at: datetime


class ContactList(BaseModel):
    items: list[ContactRead]
    next_cursor: str | None
