"""Reject U+0000 and unpaired UTF-16 surrogates in query strings and JSON bodies with a 422.

PostgreSQL cannot store NUL in text while SQLite can; refusing it at the edge gives the same
answer on every database instead of a driver error deep inside a transaction.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from deskpilot.web.asgi import read_body, replay, send_json_error

# A JSON \u0000 escape, i.e. one not itself preceded by an escaping backslash.
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or the reverse: half a character,
# which no database can store as text.
_HIGH = rb"\\u[dD][89abAB][0-9a-fA-F]{2}"
_LOW = rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}"
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*(?:" + _HIGH + rb"(?!" + _LOW + rb")|(?<!" + _HIGH[2:] + rb")" + _LOW + rb")"
)
_QUERY_NUL = re.compile(rb"%00|\x00")


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _QUERY_NUL.search(scope.get("query_string", b"")) or "\x00" in scope["path"]:
            await _reject(send, "query")
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        if b"\x00" in body or _JSON_NUL.search(body) or _LONE_SURROGATE.search(body):
            await _reject(send, "body")
            return
        await self.app(scope, replay(body, receive), send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _reject(send: Send, where: str) -> None:
    await send_json_error(
        send,
        422,
        "validation_error",
        "NUL characters and unpaired surrogates are not allowed in text",
        [{"field": where, "message": "contains a NUL (U+0000) or an unpaired surrogate"}],
    )
