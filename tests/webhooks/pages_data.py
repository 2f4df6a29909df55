"""Test data and HTML helpers shared by the webhook admin page tests."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.factories import Persona, Personas

from deskpilot.db.engine import Database
from deskpilot.webhooks import service
from deskpilot.webhooks.models import WebhookDelivery
from deskpilot.webhooks.schemas import EndpointCreate

HOOK_URL = "https://hooks.example.com/deskpilot"
RETRY_AT = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)

# --- test data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """An endpoint as the service reads it back."""

    url: str
    description: str
    events: list[str]
    enabled: bool
    secret: str
    consecutive_failures: int
    disabled_reason: str | None


def add_endpoint(
    db: Database,
    persona: Persona,
    url: str = HOOK_URL,
    events: list[str] | None = None,
    *,
    enabled: bool = True,
    description: str = "",
) -> int:
    data = EndpointCreate(
        url=url, events=events or ["ticket.created"], enabled=enabled, description=description
    )
    with db.session(write=True) as s:
        endpoint_id = service.create_endpoint(s, persona.ctx, data).id
        s.commit()
    return endpoint_id


def stored_endpoint(db: Database, persona: Persona, endpoint_id: int) -> Stored:
    with db.session(write=False) as s:
        e = service.get_endpoint(s, persona.ctx, endpoint_id)
        return Stored(
            e.url,
            e.description,
            list(e.events),
            e.enabled,
            e.secret,
            e.consecutive_failures,
            e.disabled_reason,
        )


def set_failures(db: Database, persona: Persona, endpoint_id: int, failures: int) -> None:
    with db.session(write=True) as s:
        service.get_endpoint(s, persona.ctx, endpoint_id).consecutive_failures = failures
        s.commit()


def add_delivery(
    db: Database,
    persona: Persona,
    endpoint_id: int,
    *,
    event: str = "ticket.created",
    status: str = "delivered",
    attempts: int = 1,
    response_status: int | None = 200,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> int:
    """A delivery row as the deliver job leaves it (no job runs: nothing is sent)."""
    event_id = f"evt_{event.replace('.', '_')}_{attempts}_{status}"
    body = payload or {"id": event_id, "event": event, "data": {"ticket": {"id": 7}}}
    with db.session(write=True) as s:
        row = WebhookDelivery(
            workspace_id=persona.workspace_id,
            endpoint_id=endpoint_id,
            event=event,
            event_id=event_id,
            payload=body,
            status=status,
            attempts=attempts,
            response_status=response_status,
            latency_ms=12.0 if response_status is not None else None,
            error=error,
            next_attempt_at=next_attempt_at,
        )
        s.add(row)
        s.flush()
        delivery_id = row.id
        s.commit()
    return delivery_id


def stored_deliveries(db: Database, persona: Persona, endpoint_id: int) -> list[WebhookDelivery]:
    with db.session(write=False) as s:
        rows, _ = service.list_deliveries(s, persona.ctx, endpoint_id, limit=100)
        s.expunge_all()
        return rows


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match, page[-3000:]
    return html.unescape(match.group(1))


def secret_on(page: str) -> str:
    match = re.search(r'id="new-secret"[^>]*value="([^"]+)"', page)
    assert match, page[-3000:]
    return match.group(1)


def table_row(page: str, row_id: str) -> str:
    return page.split(f'id="{row_id}"')[1].split("</tr>")[0]


def page_paths(db: Database, personas: Personas) -> list[str]:
    """Every page a GET reaches, for an acme endpoint with one delivery."""
    endpoint_id = add_endpoint(db, personas.acme_admin)
    delivery_id = add_delivery(db, personas.acme_admin, endpoint_id)
    return [
        "/admin/webhooks",
        f"/admin/webhooks/{endpoint_id}",
        f"/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}",
    ]


def post_paths(db: Database, personas: Personas) -> list[str]:
    """Every form target, for another acme endpoint with one delivery ([1] is the endpoint)."""
    endpoint_id = add_endpoint(db, personas.acme_admin)
    delivery_id = add_delivery(db, personas.acme_admin, endpoint_id)
    base = f"/admin/webhooks/{endpoint_id}"
    return [
        "/admin/webhooks",
        base,
        f"{base}/enable",
        f"{base}/disable",
        f"{base}/rotate-secret",
        f"{base}/delete",
        f"{base}/deliveries/{delivery_id}/redeliver",
    ]
