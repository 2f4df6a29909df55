"""Sign-in and sign-out pages for every role, and the start page that sends each role home."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from deskpilot.auth import service, throttle
from deskpilot.core.context import Role
from deskpilot.core.errors import Unauthorized
from deskpilot.web.deps import DbSession, end_browser_session, start_browser_session
from deskpilot.web.page_deps import OptionalPageAuth, check_same_site, redirect, safe_next
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import Flash, PageContext, render
from deskpilot.workspaces import service as workspaces_service

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)


@dataclass(kw_only=True)
class LoginPage(PageContext):
    workspace: str = ""
    workspace_fixed: bool = False
    email: str = ""
    next_url: str = ""
    remember: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    signup_url: str = ""


def home_for(role: str, workspace_slug: str) -> str:
    return f"/help/{workspace_slug}/tickets" if role == Role.customer.value else "/app"


def _login_page(session: DbSession, workspace: str, next_url: str, **values: object) -> LoginPage:
    slug = workspace.strip().lower()
    if not slug:
        only = workspaces_service.only_workspace_slug(session)
        slug = only or ""
    fixed = bool(slug) and workspaces_service.get_workspace_by_slug(session, slug) is not None
    return LoginPage(
        title="Sign in",
        workspace=slug,
        workspace_fixed=fixed,
        next_url=next_url,
        signup_url=f"/help/{slug}/signup" if fixed else "",
        **values,  # type: ignore[arg-type]
    )


@router.get("/")
def start(auth: OptionalPageAuth) -> Response:
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(auth.viewer.role, auth.viewer.workspace_slug), 303)


@router.get("/login")
def login_form(
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    next: str = "",
    workspace: str = "",
) -> Response:
    if auth is not None and (not workspace or auth.viewer.workspace_slug == workspace):
        default = home_for(auth.viewer.role, auth.viewer.workspace_slug)
        return RedirectResponse(safe_next(next, default), status_code=303)
    return render(request, "auth/login.html", _login_page(session, workspace, next))


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    workspace: Annotated[str, Form(max_length=63)] = "",
    remember: Annotated[str, Form(max_length=10)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """No session yet, so no CSRF token: cross-site posts are refused by origin instead (a forged
    sign-in would put a visitor into an account the forger controls)."""
    check_same_site(request)
    values = {"email": email, "remember": bool(remember)}
    if not email.strip() or not password or not workspace.strip():
        page = _login_page(session, workspace, next, **values)
        page.errors = {
            k: "Required"
            for k, v in (("email", email), ("password", password), ("workspace", workspace))
            if not v.strip()
        }
        return render(request, "auth/login.html", page, status_code=422)
    client = request.client.host if request.client else "unknown"
    keys = [throttle.account_key(workspace, email), throttle.address_key(client)]
    wait = throttle.seconds_locked(session, keys)
    if wait:
        page = _login_page(session, workspace, next, **values)
        page.flashes = [Flash(f"Too many failed attempts. Try again in {wait} seconds.", "error")]
        return render(
            request, "auth/login.html", page, status_code=429, headers={"Retry-After": str(wait)}
        )
    try:
        ctx = service.authenticate(session, workspace.strip().lower(), email, password)
    except Unauthorized:
        throttle.record_failure(session, keys)
        page = _login_page(session, workspace, next, **values)
        page.flashes = [Flash("That email and password don't match an account here.", "error")]
        return render(request, "auth/login.html", page, status_code=401)
    throttle.clear(session, keys[0])
    assert ctx.user_id is not None
    response = redirect(
        request, safe_next(next, home_for(ctx.role.value, workspace.strip().lower()))
    )
    start_browser_session(
        request,
        session,
        response,
        user_id=ctx.user_id,
        workspace_id=ctx.workspace_id,
        remember=bool(remember),
    )
    return response


@router.get("/logout")
def logout_form(request: Request, auth: OptionalPageAuth) -> Response:
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/logout.html", PageContext(title="Sign out", viewer=auth.viewer))


@router.post("/logout")
def logout(request: Request, session: DbSession, auth: OptionalPageAuth) -> Response:
    """Ends the browser's session (the CSRF check ran in `OptionalPageAuth`)."""
    target = "/login"
    if auth is not None and auth.viewer.role == Role.customer.value:
        target = f"/help/{auth.viewer.workspace_slug}"
    response = redirect(request, target, flash="You are signed out.", kind="info")
    end_browser_session(request, session, response)
    return response
