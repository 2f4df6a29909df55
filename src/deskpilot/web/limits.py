"""Body size limits enforced before a handler reads the body (413 otherwise)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from deskpilot.web.asgi import BodyTooLarge, read_body, replay, send_json_error
from deskpilot.web.templating import PageContext, render_template


class BodySizeLimitMiddleware:
    """Rejects bodies over `max_bytes` (or `upload_max_bytes` on upload paths) with a 413.

    A declared Content-Length is checked up front; a chunked body is read up to the limit first
    and replayed to the app, so memory never exceeds the limit either way.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int, upload_paths: tuple[str, ...]
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.upload_max_bytes if path.startswith(self.upload_paths) else self.max_bytes
        declared = _content_length(scope)
        if declared is not None:
            if declared > limit:
                await _send_413(send, limit, path)
                return
            await self.app(scope, receive, send)
            return
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge:
            await _send_413(send, limit, path)
            return
        if body is not None:
            await self.app(scope, replay(body, receive), send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int, path: str) -> None:
    if not path.startswith("/api/"):
        # A person submitting a form gets a page, not JSON.
        megabytes = max(1, limit // 1_048_576)
        html = render_template(
            "errors/error.html",
            PageContext(title="Too large"),
            status_code=413,
            heading="That upload is too large",
            message=f"Files and forms may be up to {megabytes} MB. Go back and try a smaller file.",
            back_url="/",
            back_label="Go to the start page",
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(html)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": html})
        return
    await send_json_error(
        send,
        413,
        "payload_too_large",
        f"Request body exceeds the limit of {limit} bytes",
        {"limit_bytes": limit},
    )
