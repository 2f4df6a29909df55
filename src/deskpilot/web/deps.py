"""Request dependencies: one transaction per request, and the acting context.

The session dependency uses FastAPI's function scope so the commit happens before the response is
sent: a client never sees a 201 for data that failed to commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context
from deskpilot.core.errors import PermissionDenied, Unauthorized
from deskpilot.db.engine import Database
from deskpilot.settings import Settings
from deskpilot.web.sessions import CSRF_HEADER, SESSION_COOKIE, SessionCodec

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session_codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.session_codec
    return codec


def get_db(request: Request) -> Iterator[Session]:
    db = get_database(request)
    session = db.session(write=request.method not in SAFE_METHODS)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_db, scope="function")]


def get_context(request: Request, session: DbSession) -> Context:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, raw = authorization.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("Use 'Authorization: Bearer <token>'")
        return auth_service.context_for_token(session, raw.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        data = get_session_codec(request).read(cookie)
        if data is None:
            raise Unauthorized("Session expired, please sign in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(sent, data.csrf_token):
                raise PermissionDenied("Missing or invalid CSRF token")
        return auth_service.context_for_user(session, data.workspace_id, data.user_id)
    raise Unauthorized("Authentication required")


CurrentContext = Annotated[Context, Depends(get_context)]


def require_staff(ctx: CurrentContext) -> Context:
    ctx.require_staff()
    return ctx


def require_admin(ctx: CurrentContext) -> Context:
    ctx.require_admin()
    return ctx


StaffContext = Annotated[Context, Depends(require_staff)]
AdminContext = Annotated[Context, Depends(require_admin)]
