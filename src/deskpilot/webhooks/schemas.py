"""Request and response shapes of the webhook API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from deskpilot.webhooks.events import ALL_EVENTS, EVENTS

MAX_URL_LENGTH = 2000
MAX_EVENTS = 50


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs; endpoints authenticate deliveries by signature.
        raise ValueError("must not contain credentials (verify the signature instead)")
    if parts.fragment:
        raise ValueError("must not contain a fragment")
    try:
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    return value


def _check_events(values: list[str]) -> list[str]:
    unknown = [v for v in values if v != ALL_EVENTS and v not in EVENTS]
    if unknown:
        raise ValueError(
            f"unknown events: {', '.join(unknown)} (known: {', '.join(EVENTS)}, or {ALL_EVENTS!r})"
        )
    return list(dict.fromkeys(values))


EndpointUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL_LENGTH),
    AfterValidator(_check_url),
]
EventList = Annotated[
    list[str], Field(min_length=1, max_length=MAX_EVENTS), AfterValidator(_check_events)
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: EndpointUrl
    events: EventList
    description: Description = ""
    enabled: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: EndpointUrl | None = None
    events: EventList | None = None
    description: Description | None = None
    enabled: bool | None = None


class EndpointRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    consecutive_failures: int
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointRead):
    """Returned on creation and secret rotation only: the secret is never shown again."""

    secret: str


class EndpointList(BaseModel):
    items: list[EndpointRead]
    next_cursor: str | None


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: int
    event: str
    event_id: str
    status: str
    attempts: int
    response_status: int | None
    latency_ms: float | None
    error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None
