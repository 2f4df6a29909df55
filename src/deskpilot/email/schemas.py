"""Mail settings as the API shows and accepts them. Passwords are never stored, only `env:NAME`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

EnvRef = Annotated[str, StringConstraints(pattern=r"^env:[A-Za-z_][A-Za-z0-9_]{0,190}$")]
Host = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Port = Annotated[int, Field(ge=1, le=65535)]
Folder = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _check_subject_tag(value: str) -> str:
    if value.count("{number}") != 1:
        raise ValueError("must contain {number} exactly once")
    return value


class MailSettingsWrite(BaseModel):
    """PUT replaces the whole configuration; omitted fields take their defaults."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    support_address: EmailStr
    from_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    own_addresses: Annotated[list[EmailStr], Field(max_length=50)] = []
    subject_tag: Annotated[str, StringConstraints(min_length=9, max_length=40)] = "[#{number}]"
    closed_reply_policy: Literal["reopen", "follow_up"] = "reopen"
    outbound_backend: Literal["smtp", "outbox"] = "outbox"
    smtp_host: Host | None = None
    smtp_port: Port = 587
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: Annotated[str, StringConstraints(max_length=320)] | None = None
    smtp_password_ref: EnvRef | None = None
    imap_host: Host | None = None
    imap_port: Port = 993
    imap_security: Literal["none", "starttls", "tls"] = "tls"
    imap_username: Annotated[str, StringConstraints(max_length=320)] | None = None
    imap_password_ref: EnvRef | None = None
    imap_folder: Folder = "INBOX"
    imap_processed_folder: Folder | None = None
    max_replies_per_sender_per_hour: Annotated[int, Field(ge=0, le=1000)] = 10
    notifications: dict[Annotated[str, StringConstraints(max_length=32)], bool] = {}

    _tag = field_validator("subject_tag")(_check_subject_tag)

    @field_validator("support_address", "own_addresses", mode="after")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list):
            return sorted({str(v).lower() for v in value})
        return str(value).lower()


class MailSettingsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    configured: bool
    enabled: bool
    support_address: str | None
    from_name: str
    own_addresses: list[str]
    subject_tag: str
    closed_reply_policy: str
    outbound_backend: str
    smtp_host: str | None
    smtp_port: int
    smtp_security: str
    smtp_username: str | None
    smtp_password_ref: str | None
    imap_host: str | None
    imap_port: int
    imap_security: str
    imap_username: str | None
    imap_password_ref: str | None
    imap_folder: str
    imap_processed_folder: str | None
    max_replies_per_sender_per_hour: int
    notifications: dict[str, Any]
    updated_at: datetime | None


class InboundResult(BaseModel):
    """What happened to one received email."""

    email_id: int | None
    status: Literal["stored", "ignored", "duplicate"]
    reason: str | None = None
    ticket_id: int | None = None
    ticket_number: int | None = None
    message_id: int | None = None
    action: Literal["created", "replied", "noted", "follow_up", "none"] = "none"
    matched_by: str | None = None
