"""Body renderers for mail that is not about a ticket (e.g. the portal's account mail).

The `email.send` job renders a ticket reply or notification through `email.notifications`. Other
domains that need to send their own kind of mail record an outbound `EmailMessage` with their
`kind` and register a renderer for it here, so that one job (and one retry and delivery log)
sends every outbound mail. A renderer runs when the mail is built, so signed links are fresh on
every attempt; it returns None when what the mail was about is gone, which fails the mail.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from deskpilot.email.models import EmailMessage
from deskpilot.settings import Settings

BodyRenderer = Callable[[Session, EmailMessage, Settings], "tuple[str, str] | None"]
"""(session, outbound email, settings) -> (text, HTML), or None if it can no longer be sent."""

_renderers: dict[str, BodyRenderer] = {}


def register(kind: str, renderer: BodyRenderer) -> None:
    if _renderers.get(kind, renderer) is not renderer:
        raise ValueError(f"a body renderer for {kind!r} is already registered")
    _renderers[kind] = renderer


def renderer_for(kind: str) -> BodyRenderer | None:
    return _renderers.get(kind)
