"""Signed session cookies (HttpOnly, SameSite=Lax) carrying the user, workspace, a CSRF token and
the key of the server-side session (`auth.web_sessions`) that must still be live."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "deskpilot_session"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class SessionData:
    user_id: int
    workspace_id: int
    csrf_token: str
    key: str


class SessionCodec:
    def __init__(self, secret_key: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="deskpilot.session")
        self.max_age_seconds = max_age_seconds

    def issue(self, user_id: int, workspace_id: int, key: str) -> tuple[str, SessionData]:
        data = SessionData(user_id, workspace_id, secrets.token_urlsafe(24), key)
        value = self._serializer.dumps([data.user_id, data.workspace_id, data.csrf_token, key])
        return value, data

    def read(self, value: str) -> SessionData | None:
        try:
            user_id, workspace_id, csrf, key = self._serializer.loads(
                value, max_age=self.max_age_seconds
            )
        except (BadSignature, ValueError, TypeError):
            return None  # includes cookies from before server-side sessions (three fields)
        return SessionData(int(user_id), int(workspace_id), str(csrf), str(key))
