"""Raw ASGI middlewares: a request id on every request, and HTTP metrics plus an access log.

Both only watch the `http.response.start` message go by: they never read or buffer a body, so
streamed responses (Server-Sent Events, file downloads) pass through untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deskpilot.core.correlation import correlation_id
from deskpilot.observability import metrics

access_log = logging.getLogger("deskpilot.access")

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from a client or proxy: short, and safe to put in a header, a log and a column
# (`jobs.correlation_id` is 64 characters).
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,63}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID if it is well formed; otherwise None (and one is generated)."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _VALID_REQUEST_ID.fullmatch(text) else None
    return None


class RequestIdMiddleware:
    """Takes X-Request-ID (validated) or generates one, makes it the correlation id for the
    request (and so for the jobs it enqueues) and returns it in the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        token = correlation_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message.setdefault("headers", []))
                if REQUEST_ID_HEADER not in headers:
                    headers.append(REQUEST_ID_HEADER, request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Reset only on success. When the app raises, Starlette's outermost error middleware logs
        # the traceback after we return: the id must still be set then. Each request runs in its
        # own task with its own copy of the context, so nothing leaks into the next request.
        correlation_id.reset(token)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/tickets/{ticket_id}`), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else metrics.UNMATCHED_ROUTE


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in headers
    )


class MetricsMiddleware:
    """Latency histogram and request counter by route template, plus one access-log line.

    The latency of an event stream is the time to its headers: the stream itself stays open for
    minutes and would drown every percentile.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        headers_sent_at: float | None = None
        streaming = False

        async def watch(message: Message) -> None:
            nonlocal status, headers_sent_at, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers_sent_at = time.perf_counter()
                streaming = _is_event_stream(message.get("headers", []))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            ended = headers_sent_at if streaming and headers_sent_at else time.perf_counter()
            seconds = ended - started
            route = route_template(scope)
            method = scope.get("method", "GET")
            metrics.observe_http(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1fms",
                    method,
                    scope.get("path", ""),
                    status,
                    seconds * 1000.0,
                    extra={
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000.0, 2),
                    },
                )
