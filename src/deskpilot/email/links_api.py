"""The one-click links in notification emails: "did this solve it?" and the 1-5 rating.

Opening a link (GET) shows a small page with one button; only pressing it (POST to the same
address) acts. Mail scanners and link previewers open every link in a message: if GET acted,
they would answer "yes" and "no" and rate 1 to 5 for the customer. The token is the only
credential (signed, 14 days, see `email/notifications.py`); it acts as the ticket's requester.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, SignatureExpired
from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import DomainError
from deskpilot.email import notifications
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import SatisfactionCreate
from deskpilot.triage import service as triage_service
from deskpilot.web.deps import DbSession, get_settings
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/email", tags=["email"], route_class=TransactionalRoute)
Token = Annotated[str, Path(max_length=1000)]


def _page(title: str, text: str, *, status: int = 200, button: str | None = None) -> HTMLResponse:
    form = (
        f'<form method="post"><button type="submit">{html.escape(button)}</button></form>'
        if button
        else ""
    )
    body = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _payload(request: Request, salt: str, token: str) -> dict[str, Any] | HTMLResponse:
    try:
        return notifications.read(get_settings(request), salt, token)
    except SignatureExpired:
        return _page(
            "Link expired", "This link has expired. Please reply to the email.", status=410
        )
    except BadSignature:
        return _page("Link not valid", "This link is not valid.", status=404)


def _requester(payload: dict[str, Any]) -> Context:
    return Context(
        workspace_id=int(payload["w"]), user_id=None, role=Role.customer, contact_id=payload["c"]
    )


def _failed(session: Session, error: DomainError) -> HTMLResponse:
    session.rollback()
    if error.status in (403, 404):
        return _page("Link not valid", "This request no longer exists.", status=404)
    if error.status == 409:
        return _page("Already answered", error.message, status=409)
    return _page("Not possible", error.message, status=error.status)


@router.get("/confirm/{token}", include_in_schema=False)
def confirm_page(token: Token, request: Request) -> HTMLResponse:
    payload = _payload(request, notifications.CONFIRM_SALT, token)
    if isinstance(payload, HTMLResponse):
        return payload
    if payload.get("s"):
        return _page("Problem solved?", "Confirm that the answer solved it.", button="Yes, solved")
    return _page("Still need help?", "A person will take over.", button="I need a person")


@router.post("/confirm/{token}", include_in_schema=False)
def confirm(token: Token, request: Request, session: DbSession) -> HTMLResponse:
    payload = _payload(request, notifications.CONFIRM_SALT, token)
    if isinstance(payload, HTMLResponse):
        return payload
    try:
        triage_service.confirm_answer(
            session, _requester(payload), int(payload["t"]), solved=bool(payload.get("s"))
        )
    except DomainError as error:
        return _failed(session, error)
    if payload.get("s"):
        return _page("Thank you", "We marked your request as solved.")
    return _page("Thank you", "A member of our team will get back to you.")


@router.get("/rate/{token}", include_in_schema=False)
def rate_page(token: Token, request: Request) -> HTMLResponse:
    payload = _payload(request, notifications.RATE_SALT, token)
    if isinstance(payload, HTMLResponse):
        return payload
    score = int(payload["r"])
    return _page("Rate our help", f"Your rating: {score} of 5.", button=f"Send {score} of 5")


@router.post("/rate/{token}", include_in_schema=False)
def rate(token: Token, request: Request, session: DbSession) -> HTMLResponse:
    payload = _payload(request, notifications.RATE_SALT, token)
    if isinstance(payload, HTMLResponse):
        return payload
    try:
        tickets_service.rate_ticket(
            session,
            _requester(payload),
            int(payload["t"]),
            SatisfactionCreate(score=int(payload["r"])),
        )
    except DomainError as error:
        return _failed(session, error)
    return _page("Thank you", "Thank you for your rating.")
