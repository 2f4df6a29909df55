"""Admin pages for webhook endpoints and deliveries (/admin/webhooks).

Owners and admins only (`AdminPage`). Every write goes through `webhooks.service`, the same
functions the JSON API (`/api/v1/webhooks`) calls, and input is validated by the API's schemas.
A signing secret appears once, in the response to the POST that created or rotated it, and is
never shown again (the API does the same).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.webhooks import service
from deskpilot.webhooks.events import ALL_EVENTS, EVENTS
from deskpilot.webhooks.models import WebhookDelivery, WebhookEndpoint
from deskpilot.webhooks.schemas import DeliveryStatus, EndpointCreate, EndpointUpdate
from deskpilot.workspaces.team_pages import field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

ENDPOINT_FIELDS = ("url", "description", "events", "enabled")
ALL_EVENTS_LABEL = "All events, including ones added later"
NO_EVENTS_MESSAGE = "Choose at least one event."


def event_options() -> list[tuple[str, str]]:
    """(value, help) for the event checkboxes: "*" first, then every event `events.py` defines."""
    # The descriptions are written for Markdown docs; the form shows them as plain text.
    described = [(name, text.replace("`", "")) for name, text in EVENTS.items()]
    return [(ALL_EVENTS, ALL_EVENTS_LABEL), *described]


# --- view models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRow:
    id: int
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

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryRow:
        return cls(
            id=delivery.id,
            event=delivery.event,
            event_id=delivery.event_id,
            status=delivery.status,
            attempts=delivery.attempts,
            response_status=delivery.response_status,
            latency_ms=delivery.latency_ms,
            error=delivery.error,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


@dataclass(frozen=True)
class EndpointRow:
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    consecutive_failures: int
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    last_delivery: DeliveryRow | None = None

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, last: WebhookDelivery | None = None) -> EndpointRow:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            events=list(endpoint.events),
            enabled=endpoint.enabled,
            consecutive_failures=endpoint.consecutive_failures,
            disabled_at=endpoint.disabled_at,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            last_delivery=DeliveryRow.of(last) if last is not None else None,
        )


@dataclass
class EndpointForm:
    url: str = ""
    description: str = ""
    events: list[str] = field(default_factory=list)
    enabled: bool = True


@dataclass(frozen=True)
class NewSecret:
    """A signing secret, shown once in the response that created or rotated it."""

    secret: str
    rotated: bool


@dataclass(kw_only=True)
class WebhooksPage(PageContext):
    endpoints: list[EndpointRow]
    next_url: str
    form: EndpointForm = field(default_factory=EndpointForm)
    errors: dict[str, str] = field(default_factory=dict)
    event_options: list[tuple[str, str]] = field(default_factory=event_options)
    all_events: str = ALL_EVENTS
    nav: str = "admin"


@dataclass(kw_only=True)
class EndpointPage(PageContext):
    endpoint: EndpointRow
    form: EndpointForm
    deliveries: list[DeliveryRow]
    deliveries_next_url: str
    status_filter: str
    event_filter: str
    errors: dict[str, str] = field(default_factory=dict)
    delivery_error: str = ""
    new_secret: NewSecret | None = None
    event_options: list[tuple[str, str]] = field(default_factory=event_options)
    status_options: list[tuple[str, str]] = field(
        default_factory=lambda: [(s.value, s.value.capitalize()) for s in DeliveryStatus]
    )
    event_filter_options: list[tuple[str, str]] = field(
        default_factory=lambda: [(name, name) for name in EVENTS]
    )
    all_events: str = ALL_EVENTS
    nav: str = "admin"


@dataclass(kw_only=True)
class DeliveryPage(PageContext):
    endpoint: EndpointRow
    delivery: DeliveryRow
    payload_json: str
    all_events: str = ALL_EVENTS
    nav: str = "admin"


# --- the endpoint list ---------------------------------------------------------------------------


def _webhooks_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    cursor: str | None = None,
    form: EndpointForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        endpoints, next_cursor = service.list_endpoints(
            session, auth.ctx, limit=DEFAULT_PAGE_SIZE, cursor=cursor
        )
    except ValidationFailed:  # a cursor that does not parse starts from the top, as elsewhere
        endpoints, next_cursor = service.list_endpoints(session, auth.ctx, limit=DEFAULT_PAGE_SIZE)
    latest = service.latest_deliveries(session, auth.ctx, [e.id for e in endpoints])
    page = WebhooksPage(
        title="Webhooks",
        viewer=auth.viewer,
        endpoints=[EndpointRow.of(e, latest.get(e.id)) for e in endpoints],
        next_url="/admin/webhooks?" + urlencode({"cursor": next_cursor}) if next_cursor else "",
        form=form or EndpointForm(),
        errors=errors or {},
    )
    return render(request, "webhooks/admin_webhooks.html", page, status_code=status_code)


CursorQuery = Annotated[str | None, Query(max_length=512)]


@router.get("/admin/webhooks")
def webhooks(
    request: Request, session: DbSession, auth: AdminPage, cursor: CursorQuery = None
) -> Response:
    return _webhooks_page(request, session, auth, cursor=cursor)


UrlField = Annotated[str, Form(max_length=4000)]
DescriptionField = Annotated[str, Form(max_length=5000)]
EventsField = Annotated[list[str] | None, Form(max_length=100)]
FlagField = Annotated[str, Form(max_length=10)]


def _form_errors(exc: ValidationError, events: list[str]) -> dict[str, str]:
    errors = schema_errors(exc)
    if not events:
        errors["events"] = NO_EVENTS_MESSAGE  # clearer than pydantic's "at least 1 item"
    return errors


@router.post("/admin/webhooks")
def create_webhook(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    url: UrlField = "",
    description: DescriptionField = "",
    events: EventsField = None,
    enabled: FlagField = "",
) -> Response:
    """Register an endpoint and show its new signing secret once (on the endpoint's page)."""
    form = EndpointForm(
        url=url, description=description, events=events or [], enabled=bool(enabled)
    )
    try:
        data = EndpointCreate(
            url=url, description=description, events=form.events, enabled=form.enabled
        )
        endpoint = service.create_endpoint(session, auth.ctx, data)
    except ValidationError as exc:
        errors = _form_errors(exc, form.events)
        return _webhooks_page(request, session, auth, form=form, errors=errors, status_code=422)
    except ValidationFailed as exc:
        errors = field_errors(exc, ENDPOINT_FIELDS, "url")
        return _webhooks_page(
            request, session, auth, form=form, errors=errors, status_code=exc.status
        )
    new_secret = NewSecret(endpoint.secret, rotated=False)
    return _endpoint_page(
        request, session, auth, endpoint.id, new_secret=new_secret, status_code=201
    )


# --- one endpoint --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    status: DeliveryStatus | None = None
    event: str | None = None
    cursor: str | None = None

    @classmethod
    def parse(cls, status: str, event: str, cursor: str | None) -> DeliveryFilter:
        """Unknown values mean "no filter", as on the other admin lists."""
        known_status = status in {s.value for s in DeliveryStatus}
        return cls(
            status=DeliveryStatus(status) if known_status else None,
            event=event if event in EVENTS else None,
            cursor=cursor or None,
        )

    def next_url(self, endpoint_id: int, cursor: str) -> str:
        params = {
            "status": self.status.value if self.status else "",
            "event": self.event or "",
            "cursor": cursor,
        }
        return f"/admin/webhooks/{endpoint_id}?" + urlencode(params)


def _endpoint_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    endpoint_id: int,
    *,
    deliveries: DeliveryFilter | None = None,
    form: EndpointForm | None = None,
    errors: dict[str, str] | None = None,
    delivery_error: str = "",
    new_secret: NewSecret | None = None,
    partial: str | None = None,
    status_code: int = 200,
) -> Response:
    ctx = auth.ctx
    endpoint = service.get_endpoint(session, ctx, endpoint_id)
    wanted = deliveries or DeliveryFilter()

    def deliveries_after(cursor: str | None) -> tuple[list[WebhookDelivery], str | None]:
        return service.list_deliveries(
            session,
            ctx,
            endpoint.id,
            status=wanted.status,
            event=wanted.event,
            limit=DEFAULT_PAGE_SIZE,
            cursor=cursor,
            newest_first=True,
        )

    try:
        rows, next_cursor = deliveries_after(wanted.cursor)
    except ValidationFailed:  # a cursor that does not parse starts from the newest, as elsewhere
        rows, next_cursor = deliveries_after(None)
    latest = service.latest_deliveries(session, ctx, [endpoint.id])
    page = EndpointPage(
        title=f"Webhook endpoint {endpoint.url}",
        viewer=auth.viewer,
        endpoint=EndpointRow.of(endpoint, latest.get(endpoint.id)),
        form=form
        or EndpointForm(
            endpoint.url, endpoint.description, list(endpoint.events), endpoint.enabled
        ),
        deliveries=[DeliveryRow.of(d) for d in rows],
        deliveries_next_url=wanted.next_url(endpoint.id, next_cursor) if next_cursor else "",
        status_filter=wanted.status.value if wanted.status else "",
        event_filter=wanted.event or "",
        errors=errors or {},
        delivery_error=delivery_error,
        new_secret=new_secret,
    )
    return render(
        request, "webhooks/admin_webhook.html", page, partial=partial, status_code=status_code
    )


@router.get("/admin/webhooks/{endpoint_id}")
def webhook_detail(
    endpoint_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    status: Annotated[str, Query(max_length=20)] = "",
    event: Annotated[str, Query(max_length=64)] = "",
    cursor: CursorQuery = None,
) -> Response:
    """The endpoint's settings and its delivery log; htmx gets only the log (filters, pages)."""
    wanted = DeliveryFilter.parse(status, event, cursor)
    return _endpoint_page(
        request, session, auth, endpoint_id, deliveries=wanted, partial="webhooks/_deliveries.html"
    )


@router.post("/admin/webhooks/{endpoint_id}")
def update_webhook(
    endpoint_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    url: UrlField = "",
    description: DescriptionField = "",
    events: EventsField = None,
) -> Response:
    """Change URL, description and events (switching on and off has its own buttons)."""
    current = service.get_endpoint(session, auth.ctx, endpoint_id)
    form = EndpointForm(url, description, events or [], current.enabled)
    try:
        data = EndpointUpdate(url=url, description=description, events=form.events)
        service.update_endpoint(session, auth.ctx, endpoint_id, data)
    except ValidationError as exc:
        errors = _form_errors(exc, form.events)
        return _endpoint_page(
            request, session, auth, endpoint_id, form=form, errors=errors, status_code=422
        )
    except ValidationFailed as exc:
        errors = field_errors(exc, ENDPOINT_FIELDS, "url")
        return _endpoint_page(
            request, session, auth, endpoint_id, form=form, errors=errors, status_code=exc.status
        )
    return redirect(request, f"/admin/webhooks/{endpoint_id}", flash="Endpoint saved.")


@router.post("/admin/webhooks/{endpoint_id}/enable")
def enable_webhook(
    endpoint_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    service.enable_endpoint(session, auth.ctx, endpoint_id)
    message = "Endpoint enabled; its failure count starts again from 0."
    return redirect(request, f"/admin/webhooks/{endpoint_id}", flash=message)


@router.post("/admin/webhooks/{endpoint_id}/disable")
def disable_webhook(
    endpoint_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    service.update_endpoint(session, auth.ctx, endpoint_id, EndpointUpdate(enabled=False))
    message = "Endpoint disabled; no new deliveries are queued for it."
    return redirect(request, f"/admin/webhooks/{endpoint_id}", flash=message, kind="info")


@router.post("/admin/webhooks/{endpoint_id}/rotate-secret")
def rotate_webhook_secret(
    endpoint_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    """A new secret, effective at once, shown on this response only."""
    endpoint = service.rotate_secret(session, auth.ctx, endpoint_id)
    new_secret = NewSecret(endpoint.secret, rotated=True)
    return _endpoint_page(request, session, auth, endpoint.id, new_secret=new_secret)


@router.post("/admin/webhooks/{endpoint_id}/delete")
def delete_webhook(
    endpoint_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    url = service.get_endpoint(session, auth.ctx, endpoint_id).url
    service.delete_endpoint(session, auth.ctx, endpoint_id)
    return redirect(request, "/admin/webhooks", flash=f"Endpoint {url} deleted.", kind="info")


# --- deliveries ----------------------------------------------------------------------------------


@router.get("/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}")
def delivery_detail(
    endpoint_id: IdPath, delivery_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    endpoint, delivery = service.get_delivery(session, auth.ctx, endpoint_id, delivery_id)
    page = DeliveryPage(
        title=f"Delivery {delivery.id}",
        viewer=auth.viewer,
        endpoint=EndpointRow.of(endpoint),
        delivery=DeliveryRow.of(delivery),
        payload_json=_pretty(delivery.payload),
    )
    return render(request, "webhooks/admin_delivery.html", page)


def _pretty(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@router.post("/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
def redeliver(
    endpoint_id: IdPath, delivery_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    """Send the event again as a new delivery; a disabled endpoint is refused (409)."""
    _, original = service.get_delivery(session, auth.ctx, endpoint_id, delivery_id)
    try:
        copy = service.redeliver(session, auth.ctx, original.id)
    except Conflict as exc:
        return _endpoint_page(
            request, session, auth, endpoint_id, delivery_error=exc.message, status_code=exc.status
        )
    message = f"{original.event} queued again as delivery {copy.id}."
    return redirect(request, f"/admin/webhooks/{endpoint_id}", flash=message)
