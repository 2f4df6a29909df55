"""Request dependencies: one transaction per request, and the acting context.

The session dependency uses FastAPI's function scope so the commit happens before the response is
sent: a client never sees a 201 for data that failed to commit.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from deskpilot.auth import service as auth_service
from deskpilot.auth import web_sessions
from deskpilot.core.context import Context
from deskpilot.core.errors import PermissionDenied, Unauthorized
from deskpilot.core.ids import hash_token
from deskpilot.db.engine import Database
from deskpilot.observability.logging import workspace_id as log_workspace_id
from deskpilot.settings import Settings
from deskpilot.web.sessions import CSRF_HEADER, SESSION_COOKIE, SessionCodec, SessionData

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_CACHE_TTL = 5.0


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_session_codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.session_codec
    return codec


def start_browser_session(
    request: Request,
    session: Session,
    response: Response,
    *,
    user_id: int,
    workspace_id: int,
    remember: bool,
) -> SessionData:
    """Sign a browser in: a server-side session plus the signed cookie that names it. Without
    "remember me" the cookie lasts until the browser closes; the session ends at the latest after
    `session_max_age_seconds` either way."""
    settings = get_settings(request)
    key = web_sessions.start(
        session,
        workspace_id=workspace_id,
        user_id=user_id,
        lifetime=timedelta(seconds=settings.session_max_age_seconds),
    )
    value, data = get_session_codec(request).issue(user_id, workspace_id, key)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings.session_max_age_seconds if remember else None,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
        path="/",
    )
    return data


def end_browser_session(request: Request, session: Session, response: Response) -> None:
    """Sign this browser out: its server-side session ends, so a copy of the cookie is useless."""
    cookie = request.cookies.get(SESSION_COOKIE)
    data = get_session_codec(request).read(cookie) if cookie else None
    if data is not None:
        web_sessions.end(session, data.key)
    response.delete_cookie(SESSION_COOKIE, path="/")


async def get_db(request: Request) -> AsyncIterator[Session]:
    """The request's session. Routes built with `web.routing.TransactionalRoute` commit it in
    their own worker thread; anything still open here is committed off the event loop."""
    db = get_database(request)
    session = db.session(write=request.method not in SAFE_METHODS)
    try:
        yield session
        if session.in_transaction():
            await run_in_threadpool(session.commit)
    except BaseException:
        if session.in_transaction():
            await run_in_threadpool(session.rollback)
        raise
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


DbSession = Annotated[Session, Depends(get_db, scope="function")]


async def get_context(request: Request) -> Context:
    ctx = await _authenticate(request)
    log_workspace_id.set(ctx.workspace_id)  # log lines of this request name the workspace
    return ctx


async def _authenticate(request: Request) -> Context:
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, raw = authorization.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("Use 'Authorization: Bearer <token>'")
        return await _token_context(request, raw.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        data = get_session_codec(request).read(cookie)
        if data is None:
            raise Unauthorized("Session expired, please sign in again")
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not secrets.compare_digest(sent, data.csrf_token):
                raise PermissionDenied("Missing or invalid CSRF token")
        return await run_in_threadpool(_lookup, request, _cookie_context, data)
    raise Unauthorized("Authentication required")


def _cookie_context(session: Session, data: SessionData) -> Context:
    if not web_sessions.is_live(
        session, data.key, workspace_id=data.workspace_id, user_id=data.user_id
    ):
        raise Unauthorized("Session ended, please sign in again")
    return auth_service.context_for_user(session, data.workspace_id, data.user_id)


def _lookup(request: Request, fn: Callable[..., Context], *args: Any) -> Context:
    with get_database(request).session(write=False) as session:
        return fn(session, *args)


async def _token_context(request: Request, raw_token: str) -> Context:
    """Token contexts are cached for a few seconds per process: most requests then need no
    authentication query. A revoked or deactivated token stops working within TOKEN_CACHE_TTL."""
    cache: TokenCache = request.app.state.token_cache
    cached = cache.get(raw_token)
    if cached is not None:
        return cached
    generation = auth_service.login_generation.value
    ctx = await run_in_threadpool(_lookup, request, auth_service.context_for_token, raw_token)
    cache.put(raw_token, ctx, generation)
    return ctx


class TokenCache:
    def __init__(self, ttl_seconds: float = TOKEN_CACHE_TTL, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, int, Context]] = {}

    def get(self, raw_token: str) -> Context | None:
        hit = self._entries.get(hash_token(raw_token))
        if hit is None:
            return None
        expires, generation, ctx = hit
        if expires < time.monotonic() or generation != auth_service.login_generation.value:
            return None
        return ctx

    def put(self, raw_token: str, ctx: Context, generation: int) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[hash_token(raw_token)] = (time.monotonic() + self.ttl, generation, ctx)

    def clear(self) -> None:
        self._entries.clear()


CurrentContext = Annotated[Context, Depends(get_context)]


async def require_staff(ctx: CurrentContext) -> Context:
    ctx.require_staff()
    return ctx


async def require_admin(ctx: CurrentContext) -> Context:
    ctx.require_admin()
    return ctx


StaffContext = Annotated[Context, Depends(require_staff)]
AdminContext = Annotated[Context, Depends(require_admin)]
