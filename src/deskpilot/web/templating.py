"""Jinja2 rendering for the HTML pages: one environment, typed page contexts, partial renders.

Every page route builds a dataclass context (a subclass of `PageContext`) from service results and
hands it to `render`. Templates receive that object as `page` and nothing that can reach the
database, so a template cannot lazy-load or query. A request sent by htmx (`HX-Request`) gets the
route's partial template instead of the full page, so one route serves both.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from deskpilot import __version__
from deskpilot.core.markdown import render_markdown, without_remote_images

PACKAGE_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _template_dirs() -> list[str]:
    """`web/templates` first, then each domain's `templates/` folder (names are `<domain>/x.html`)."""
    dirs = [str(Path(__file__).resolve().parent / "templates")]
    dirs += sorted(
        str(path)
        for path in PACKAGE_DIR.glob("*/templates")
        if path.is_dir() and path.parent.name != "web"
    )
    return dirs


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as pages see them (never an ORM object)."""

    user_id: int
    name: str
    email: str
    role: str
    workspace_id: int
    workspace_slug: str
    workspace_name: str
    csrf_token: str
    contact_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in ("owner", "admin", "agent")

    @property
    def is_admin(self) -> bool:
        return self.role in ("owner", "admin")

    @property
    def initials(self) -> str:
        parts = [p for p in (self.name or self.email).replace("@", " ").split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


@dataclass(frozen=True)
class Flash:
    message: str
    kind: str = "info"  # info | success | error


@dataclass
class Branding:
    """Help-center look for a workspace (name, logo and accent colour set by its admins)."""

    name: str
    slug: str
    logo_url: str = ""
    color: str = "#2f5bea"


@dataclass(kw_only=True)
class PageContext:
    """Fields every page has. Pages subclass it with their own typed fields."""

    title: str
    viewer: Viewer | None = None
    nav: str = ""
    flashes: list[Flash] = field(default_factory=list)
    branding: Branding | None = None

    @property
    def csrf_token(self) -> str:
        return self.viewer.csrf_token if self.viewer else ""


def _markdown(source: str | None) -> Markup:
    # render_markdown sanitizes its output (nh3), so marking it safe is sound.
    return Markup(render_markdown(source or ""))  # noqa: S704


def _customer_markdown(source: str | None) -> Markup:
    """Markdown a customer wrote: images become links, so opening a ticket loads nothing remote."""
    return Markup(without_remote_images(render_markdown(source or "")))  # noqa: S704


def _datetime(value: datetime | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime(fmt)


def _timeago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    return f"{sign}{minutes}m"


def label(value: str | None) -> str:
    """`waiting_customer` -> `Waiting customer` for enum values shown to people."""
    if not value:
        return ""
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


def _tojson_attr(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def build_environment() -> Environment:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()]),
        autoescape=select_autoescape(["html", "xml", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        markdown=_markdown,
        customer_markdown=_customer_markdown,
        dt=_datetime,
        timeago=_timeago,
        duration=_duration,
        label=label,
        tojson_attr=_tojson_attr,
    )
    env.globals.update(static=static_url, app_version=__version__)
    return env


def static_url(path: str) -> str:
    """Cache-busted URL of a file under `web/static` (or `vendor/...` from the npm install)."""
    return f"/static/{path}?v={__version__}"


_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = build_environment()
    return _env


def is_partial_request(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )


def render_template(name: str, page: PageContext, **extra: Any) -> str:
    return environment().get_template(name).render(page=page, **extra)


def render(
    request: Request,
    template: str,
    page: PageContext,
    *,
    partial: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The full page, or `partial` when htmx asked for a fragment."""
    name = partial if partial is not None and is_partial_request(request) else template
    if not page.flashes:
        page.flashes = read_flashes(request)
    response = HTMLResponse(
        render_template(name, page, request_path=request.url.path),
        status_code=status_code,
        headers=headers,
    )
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Vary", "HX-Request")
    return response


FLASH_COOKIE = "deskpilot_flash"


def read_flashes(request: Request) -> list[Flash]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
        flashes = [Flash(str(message)[:300], _kind(kind)) for kind, message in items]
    except (ValueError, TypeError):
        return []
    return flashes[:5]


def _kind(kind: object) -> str:
    return kind if kind in ("info", "success", "error") else "info"


def encode_flashes(flashes: list[Flash]) -> str:
    data = json.dumps([[f.kind, f.message] for f in flashes])
    return base64.urlsafe_b64encode(data.encode()).decode()
