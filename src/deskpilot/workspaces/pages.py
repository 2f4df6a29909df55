"""Admin home, workspace settings and teams (/admin).

Every route here is for owners and admins (`AdminPage`): agents and customers get the 403 page.
The team pages live in `team_pages.py` and are included into this module's router.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from deskpilot.auth import service as auth_service
from deskpilot.core.errors import ValidationFailed
from deskpilot.llm import service as llm_service
from deskpilot.triage import policy as policy_service
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.webhooks import service as webhooks_service
from deskpilot.workspaces import service
from deskpilot.workspaces.overview import WorkspaceCounts, workspace_counts
from deskpilot.workspaces.team_pages import field_errors
from deskpilot.workspaces.team_pages import router as team_router

__all__ = ["field_errors", "router"]

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
router.include_router(team_router)


# --- overview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AiStatus:
    provider: str
    model: str
    key_ok: bool
    auto_reply_enabled: bool


@dataclass(frozen=True)
class DisabledWebhook:
    url: str
    reason: str
    disabled_at: datetime | None


@dataclass(kw_only=True)
class OverviewPage(PageContext):
    workspace_name: str
    workspace_slug: str
    counts: WorkspaceCounts
    ai: AiStatus
    disabled_webhooks: list[DisabledWebhook] = field(default_factory=list)
    nav: str = "admin"


@router.get("/admin")
def overview(request: Request, session: DbSession, auth: AdminPage) -> Response:
    ctx = auth.ctx
    workspace = service.get_workspace(session, ctx)
    settings = llm_service.get_settings(session, ctx)
    policy = policy_service.get_policy(session, ctx)
    page = OverviewPage(
        title="Admin",
        viewer=auth.viewer,
        workspace_name=workspace.name,
        workspace_slug=workspace.slug,
        counts=workspace_counts(session, ctx),
        ai=AiStatus(
            provider=settings.provider,
            model=settings.model,
            # The builtin needs no key; outside providers are only ready with one.
            key_ok=settings.provider == "builtin" or llm_service.api_key_present(settings),
            auto_reply_enabled=policy.auto_reply_enabled,
        ),
        disabled_webhooks=[
            DisabledWebhook(e.url, e.disabled_reason or "", e.disabled_at)
            for e in webhooks_service.disabled_endpoints(session, ctx)
        ],
    )
    return render(request, "workspaces/admin_overview.html", page)


# --- workspace settings --------------------------------------------------------------------------

WORKSPACE_FIELDS = ("name", "title", "logo_url", "color")


@dataclass
class LookForm:
    name: str = ""
    title: str = ""
    logo_url: str = ""
    color: str = service.DEFAULT_BRAND_COLOR


@dataclass(kw_only=True)
class WorkspacePage(PageContext):
    form: LookForm
    workspace_slug: str
    preview: LookForm
    organization_tickets: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    nav: str = "admin"


def _preview(form: LookForm) -> LookForm:
    """What the help-center header would look like; invalid values show as the defaults."""
    color = form.color.strip().lower()
    logo = form.logo_url.strip()
    return LookForm(
        name=form.name.strip(),
        title=form.title.strip() or form.name.strip(),
        logo_url=logo if logo.startswith(("https://", "http://")) and " " not in logo else "",
        color=color if service.COLOR_RE.match(color) else service.DEFAULT_BRAND_COLOR,
    )


def _workspace_page(auth: AdminPage, slug: str, form: LookForm, **extra: object) -> WorkspacePage:
    return WorkspacePage(
        title="Workspace settings",
        viewer=auth.viewer,
        form=form,
        workspace_slug=slug,
        preview=_preview(form),
        **extra,  # type: ignore[arg-type]
    )


@router.get("/admin/workspace")
def workspace_form(request: Request, session: DbSession, auth: AdminPage) -> Response:
    workspace = service.get_workspace(session, auth.ctx)
    stored = (workspace.settings or {}).get("help_center") or {}
    look = service.help_center_look(workspace)
    form = LookForm(
        name=workspace.name,
        title=str(stored.get("title") or ""),
        logo_url=look.logo_url,
        color=look.color,
    )
    page = _workspace_page(
        auth,
        workspace.slug,
        form,
        organization_tickets=service.portal_shares_organization_tickets(workspace),
    )
    return render(request, "workspaces/admin_workspace.html", page)


TextField = Annotated[str, Form(max_length=1000)]


@router.post("/admin/workspace")
def save_workspace(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    name: TextField = "",
    title: TextField = "",
    logo_url: TextField = "",
    color: TextField = "",
) -> Response:
    form = LookForm(name=name, title=title, logo_url=logo_url, color=color)
    try:
        service.update_workspace_settings(
            session, auth.ctx, name=name, help_center_title=title, logo_url=logo_url, color=color
        )
    except ValidationFailed as exc:
        slug = auth.viewer.workspace_slug
        page = _workspace_page(auth, slug, form, errors=field_errors(exc, WORKSPACE_FIELDS, "name"))
        return render(request, "workspaces/admin_workspace.html", page, status_code=422)
    return redirect(request, "/admin/workspace", flash="Workspace settings saved.")


@router.post("/admin/workspace/portal")
def save_portal_sharing(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    organization_tickets: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    shared = bool(organization_tickets)
    service.set_portal_sharing(session, auth.ctx, organization_tickets=shared)
    # Cached API-token contexts carry the old visibility: drop them when this commits.
    auth_service.invalidate_cached_logins(session)
    note = (
        "Customers now see their organization's requests."
        if shared
        else ("Customers now see only their own requests.")
    )
    return redirect(request, "/admin/workspace", flash=note)


@router.post("/admin/workspace/preview")
def preview_workspace(
    request: Request,
    auth: AdminPage,
    name: TextField = "",
    title: TextField = "",
    logo_url: TextField = "",
    color: TextField = "",
) -> Response:
    """The live preview swatch (htmx, as the admin types); nothing is saved."""
    form = LookForm(name=name, title=title, logo_url=logo_url, color=color)
    page = _workspace_page(auth, auth.viewer.workspace_slug, form)
    return render(
        request,
        "workspaces/admin_workspace.html",
        page,
        partial="workspaces/_brand_preview.html",
    )
