"""The chat widget's public API (/api/v1/chat/...), called from customers' websites.

No cookies and no API tokens: a conversation is started anonymously and every later call sends
the signed visitor token it returned (`X-Chat-Token`; the stream takes `?token=` because
EventSource cannot set headers). Every answer, errors included, carries CORS headers, since the
widget runs on other origins; a workspace may restrict which ones (`chat_allowed_origins`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from deskpilot.chat import present
from deskpilot.chat import service as chat_service
from deskpilot.chat.limits import RateLimiter
from deskpilot.chat.schemas import (
    ChatMessageCreate,
    ChatMessageRead,
    ConversationRead,
    ConversationStart,
    ConversationStarted,
    HandoffRequest,
)
from deskpilot.chat.stream import conversation_events, ensure_readable
from deskpilot.chat.tokens import Visitor, VisitorTokens
from deskpilot.core.errors import DomainError
from deskpilot.core.ids import parse_id
from deskpilot.web.deps import DbSession, get_database, get_settings
from deskpilot.web.routing import TransactionalRoute

TOKEN_HEADER = "X-Chat-Token"  # noqa: S105 - a header name, not a secret
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": f"Content-Type, {TOKEN_HEADER}, Last-Event-ID",
    "Access-Control-Max-Age": "86400",
}
MESSAGES_PER_MINUTE = 20
HANDOFFS_PER_MINUTE = 5

limiter = RateLimiter()


class RateLimited(DomainError):
    code = "too_many_requests"
    status = 429


class ChatRoute(TransactionalRoute):
    """Adds the CORS headers to every answer, including the error ones: the app's exception
    handlers build those outside the route, where a header set here would be lost."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_cors(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                response = await _handled(request, exc)
            response.headers.update(CORS_HEADERS)
            return response

        return with_cors


async def _handled(request: Request, exc: Exception) -> Response:
    for cls in type(exc).__mro__:
        handler = request.app.exception_handlers.get(cls)
        if handler is not None:
            result = handler(request, exc)
            response: Response = await result if inspect.isawaitable(result) else result
            if isinstance(exc, RateLimited) and isinstance(exc.details, dict):
                response.headers["Retry-After"] = str(exc.details.get("retry_after_seconds", 1))
            return response
    raise exc


router = APIRouter(prefix="/api/v1/chat", tags=["chat"], route_class=ChatRoute)


def _tokens(request: Request) -> VisitorTokens:
    return VisitorTokens(get_settings(request).resolved_secret_key)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _visitor(request: Request, token: str | None) -> Visitor:
    return _tokens(request).read(token)


def _throttle(key: str, *, limit: int, per_seconds: float = 60.0) -> None:
    wait = limiter.hit(key, limit=limit, per_seconds=per_seconds)
    if wait:
        raise RateLimited(
            f"Too many requests; try again in {wait} seconds",
            details={"retry_after_seconds": wait},
        )


ChatToken = Annotated[str | None, Header(alias=TOKEN_HEADER, max_length=500)]


@router.options("/{path:path}", include_in_schema=False)
def preflight(path: str) -> Response:
    """CORS preflight for every chat route (JSON bodies and the token header need one)."""
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=PREFLIGHT_HEADERS)


@router.post(
    "/conversations", response_model=ConversationStarted, status_code=status.HTTP_201_CREATED
)
def start_conversation(
    request: Request, session: DbSession, data: ConversationStart
) -> ConversationStarted:
    """Start a conversation (a ticket with channel `chat`); returns its visitor token."""
    origin = request.headers.get("origin")
    workspace, config = chat_service.workspace_for_chat(
        session, data.workspace, origin=origin, own_origin=_base_url(request)
    )
    client = request.client.host if request.client else "unknown"
    _throttle(f"start:{workspace.id}:{client}", limit=config.starts_per_minute)
    visitor, conversation = chat_service.start_conversation(session, workspace, data)
    shown = present.conversation_read(conversation, _base_url(request))
    return ConversationStarted(**shown.model_dump(), token=_tokens(request).issue(visitor))


@router.get("/conversation", response_model=ConversationRead)
def get_conversation(
    request: Request, session: DbSession, token: ChatToken = None
) -> ConversationRead:
    """The transcript: the visitor's first message (id 0) and every public message since."""
    conversation = chat_service.get_conversation(session, _visitor(request, token))
    return present.conversation_read(conversation, _base_url(request))


@router.post(
    "/conversation/messages", response_model=ChatMessageRead, status_code=status.HTTP_201_CREATED
)
def post_message(
    request: Request, session: DbSession, data: ChatMessageCreate, token: ChatToken = None
) -> ChatMessageRead:
    """The visitor writes; the AI answers over the stream unless a person has taken over."""
    visitor = _visitor(request, token)
    _throttle(f"message:{visitor.workspace_id}:{visitor.ticket_id}", limit=MESSAGES_PER_MINUTE)
    message = chat_service.post_message(session, visitor, data.body)
    return present.message_read(message, _base_url(request))


@router.post("/conversation/handoff", response_model=ConversationRead)
def hand_off(
    request: Request,
    session: DbSession,
    data: HandoffRequest | None = None,
    token: ChatToken = None,
) -> ConversationRead:
    """ "Talk to a person": escalate to the agents; the AI stays out from now on."""
    visitor = _visitor(request, token)
    _throttle(f"handoff:{visitor.workspace_id}:{visitor.ticket_id}", limit=HANDOFFS_PER_MINUTE)
    conversation = chat_service.hand_off(session, visitor, data.note if data else None)
    return present.conversation_read(conversation, _base_url(request))


@router.get(
    "/conversation/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    request: Request,
    token: Annotated[str, Query(max_length=500)],
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    once: bool = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=30)] = None,
) -> StreamingResponse:
    """Server-Sent Events of the conversation: new messages, the AI's reply streamed in chunks,
    state changes. Resumes after `Last-Event-ID` (or `after`, a message id)."""
    visitor = _visitor(request, token)
    db = get_database(request)
    await run_in_threadpool(ensure_readable, db, visitor)  # a foreign conversation is a 404
    resume = (parse_id(last_event_id) or after) if last_event_id else after
    events = conversation_events(
        db,
        visitor,
        after_id=resume,
        base_url=_base_url(request),
        disconnected=request.is_disconnected,
        once=once,
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
