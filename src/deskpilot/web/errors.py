"""One error body everywhere: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from deskpilot.core.errors import DomainError
from deskpilot.web.page_deps import LoginRequired, login_url
from deskpilot.web.templating import PageContext, render_template

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or (str(loc[0]) if loc else "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.next_url, exc.workspace_slug), status_code=303)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if wants_html(request):
            if exc.status == 401:
                return RedirectResponse(login_url(request.url.path), status_code=303)
            return error_page(request, exc.status, exc.message)
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if wants_html(request):
            fields = ", ".join(sorted({_field_path(tuple(e.get("loc", ()))) for e in exc.errors()}))
            return error_page(request, 422, f"Some values were not accepted: {fields}.")
        details = [
            {
                "field": _field_path(tuple(err.get("loc", ()))),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return error_response(422, "validation_error", "Request validation failed", details)

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (out of range, bad encoding) is the client's input.
        log.warning("database rejected a value: %s", str(exc.orig).splitlines()[0])
        return error_response(422, "validation_error", "A value was rejected by the database")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request):
            return error_page(request, exc.status_code, "")
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        if wants_html(request):
            return error_page(request, 500, "")
        return error_response(500, "internal_error", "Internal server error")


JSON_PREFIXES = ("/api/", "/health", "/ready", "/metrics", "/static/", "/widget.js")
_ERROR_PAGES = {
    403: ("You can't open this page", "Your account does not have access to it."),
    404: ("Page not found", "It may have been moved, or it belongs to another workspace."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    409: ("That change is not possible", ""),
    413: ("That upload is too large", ""),
    422: ("Please check what you entered", ""),
    429: ("Too many attempts", "Please wait a moment and try again."),
    500: ("Something went wrong", "The error was logged. Please try again in a moment."),
}


def wants_html(request: Request) -> bool:
    """API clients get JSON errors; people in a browser get a page in the product's style."""
    return not request.url.path.startswith(JSON_PREFIXES)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    heading, default_message = _ERROR_PAGES.get(status, ("Something went wrong", ""))
    if status >= 500 or not message:
        message = default_message
    help_center = request.url.path.startswith("/help/")
    back_url = "/".join(request.url.path.split("/")[:3]) if help_center else "/"
    html = render_template(
        "errors/error.html",
        PageContext(title=heading),
        status_code=status,
        heading=heading,
        message=message,
        back_url=back_url,
        back_label="Back to the help center" if help_center else "Go to the start page",
    )
    return HTMLResponse(html, status_code=status)
