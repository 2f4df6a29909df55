"""Signed visitor tokens: how a chat widget proves which conversation it is in.

The widget runs on other sites, where our cookies are third-party (blocked or partitioned by
browsers), so it authenticates with a token instead: issued when the conversation starts, kept by
the widget in localStorage and sent with every call. It is signed with the app's secret key
(itsdangerous) and names the workspace, the ticket and the visitor's contact; it grants nothing
beyond that one conversation.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from deskpilot.core.errors import Unauthorized

SALT = "deskpilot.chat.visitor"
MAX_AGE_SECONDS = 30 * 24 * 3600
"""A conversation can be resumed for 30 days; after that the widget starts a new one."""


@dataclass(frozen=True, slots=True)
class Visitor:
    workspace_id: int
    ticket_id: int
    contact_id: int


class VisitorTokens:
    def __init__(self, secret_key: str, max_age_seconds: int = MAX_AGE_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SALT)
        self.max_age_seconds = max_age_seconds

    def issue(self, visitor: Visitor) -> str:
        return str(
            self._serializer.dumps([visitor.workspace_id, visitor.ticket_id, visitor.contact_id])
        )

    def read(self, token: str | None) -> Visitor:
        """The visitor a token names; 401 when it is missing, forged, malformed or expired."""
        if not token:
            raise Unauthorized("A chat token is required (X-Chat-Token header)")
        try:
            workspace_id, ticket_id, contact_id = self._serializer.loads(
                token, max_age=self.max_age_seconds
            )
            return Visitor(int(workspace_id), int(ticket_id), int(contact_id))
        except (BadSignature, ValueError, TypeError) as exc:
            raise Unauthorized("Invalid or expired chat token") from exc
