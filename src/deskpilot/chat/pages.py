"""The chat widget script (/widget.js) and its demo page (/widget-demo)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from deskpilot.chat import service as chat_service
from deskpilot.web.deps import DbSession
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces import service as workspaces_service

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
WIDGET_JS = Path(__file__).resolve().parent / "static" / "widget.js"
# Short: sites embed the script by a fixed URL, so a new release must reach them soon.
WIDGET_CACHE = "public, max-age=300"


@cache
def _widget_source() -> bytes:
    return WIDGET_JS.read_bytes()


@router.get("/widget.js")
def widget_js() -> Response:
    return Response(
        _widget_source(),
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": WIDGET_CACHE,
            # Loaded by other sites' pages: let them use it with crossorigin/SRI too.
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        },
    )


@dataclass(kw_only=True)
class DemoPage(PageContext):
    workspace_slug: str
    workspace_name: str
    color: str
    widget_url: str


@router.get("/widget-demo", response_class=HTMLResponse)
def widget_demo(
    request: Request,
    session: DbSession,
    workspace: Annotated[str | None, Query(max_length=63)] = None,
) -> HTMLResponse:
    """A made-up shop page with the widget embedded, to try the chat as a visitor would."""
    found = chat_service.demo_workspace(session, workspace)
    if found is None:
        page = DemoPage(
            title="Widget demo", workspace_slug="", workspace_name="", color="", widget_url=""
        )
        return render(request, "chat/demo.html", page, status_code=404)
    look = workspaces_service.help_center_look(found)
    page = DemoPage(
        title=f"Widget demo · {look.name}",
        workspace_slug=found.slug,
        workspace_name=look.name,
        color=look.color,
        widget_url=str(request.url_for("widget_js")),
    )
    return render(request, "chat/demo.html", page)
