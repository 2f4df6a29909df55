"""Customer account pages: sign-up, email verification, password reset (under /help/{slug}).

A new customer is signed in right after sign-up and may use the portal before verifying the
address; the ticket pages show a banner with a "resend" button until they do. The reset request
form answers the same whether or not an account exists, so it reveals nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from pydantic.networks import EmailStr

from deskpilot.auth.passwords import MIN_PASSWORD_LENGTH
from deskpilot.core.errors import Conflict
from deskpilot.portal import accounts
from deskpilot.portal.page_common import (
    HelpPage,
    HelpSite,
    SlugPath,
    help_site,
    page_fields,
    require_customer,
    write_session,
)
from deskpilot.web.deps import DbSession, get_settings, start_browser_session
from deskpilot.web.page_deps import OptionalPageAuth, check_same_site, login_url, redirect
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)
TokenPath = Annotated[str, Path(max_length=500)]
RESET_SENT = (
    "If an account exists for that address, we sent a link to reset the password. "
    "It is valid for one hour."
)


@dataclass(kw_only=True)
class AccountPage(HelpPage):
    name: str = ""
    email: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    min_password: int = MIN_PASSWORD_LENGTH
    token: str = ""
    link_error: str = ""


def _page(site: HelpSite, title: str, **values: Any) -> AccountPage:
    return AccountPage(title=title, **page_fields(site), **values)


def _valid_email(value: str) -> bool:
    try:
        EMAIL.validate_python(value)
    except ValidationError:
        return False
    return True


# --- sign-up ------------------------------------------------------------------------------------


@router.get("/help/{workspace_slug}/signup")
def signup_form(
    workspace_slug: SlugPath, request: Request, session: DbSession, auth: OptionalPageAuth
) -> Response:
    site = help_site(session, workspace_slug, auth)
    if site.customer is not None:
        return redirect(request, site.url("/tickets"))
    return render(request, "portal/signup.html", _page(site, "Create an account"))


@router.post("/help/{workspace_slug}/signup")
def signup(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    check_same_site(request)
    site = help_site(session, workspace_slug, auth)
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Please enter your name"
    if not _valid_email(email.strip()):
        errors["email"] = "Please enter a valid email address"
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"At least {MIN_PASSWORD_LENGTH} characters"
    result = None
    if not errors:
        try:
            result = accounts.sign_up(
                session, site.workspace_id, name=name, email=email.strip(), password=password
            )
        except Conflict:
            errors["email"] = "An account with this email already exists. Sign in instead."
    if result is None:
        page = _page(site, "Create an account", name=name, email=email, errors=errors)
        return render(request, "portal/signup.html", page, status_code=422)
    if not result.new_identity:
        # The address already has a Deskpilot identity with its own password: use that one.
        return redirect(
            request,
            login_url(site.url("/tickets"), site.slug),
            flash="You already have an account with this address. Sign in with its password.",
            kind="info",
        )
    response = redirect(
        request,
        site.url("/tickets"),
        flash="Welcome! We sent you an email to confirm your address.",
    )
    start_browser_session(
        request,
        session,
        response,
        user_id=result.user_id,
        workspace_id=site.workspace_id,
        remember=False,
    )
    return response


# --- email verification -------------------------------------------------------------------------


@router.get("/help/{workspace_slug}/verify")
def verify_email(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    token: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """The link from the verification mail (a write of its own: GETs are read-only)."""
    site = help_site(session, workspace_slug, auth)
    try:
        with write_session(request) as writer:
            accounts.verify_email(writer, get_settings(request), site.workspace_id, token)
    except accounts.InvalidLink as exc:
        page = _page(site, "Link not valid", link_error=exc.message)
        return render(request, "portal/link_invalid.html", page, status_code=400)
    target = site.url("/tickets") if site.customer is not None else site.url("")
    return redirect(request, target, flash="Thanks, your email address is confirmed.")


@router.post("/help/{workspace_slug}/verify/resend")
def resend_verification(
    workspace_slug: SlugPath, request: Request, session: DbSession, auth: OptionalPageAuth
) -> Response:
    site = help_site(session, workspace_slug, auth)
    customer = require_customer(request, site)
    accounts.resend_verification(session, site.workspace_id, customer.viewer.user_id)
    back = request.headers.get("referer", "")
    target = back if back.startswith(str(request.base_url).rstrip("/") + site.url("/")) else ""
    return redirect(
        request,
        target or site.url("/tickets"),
        flash=f"We sent a new confirmation link to {customer.viewer.email}.",
    )


# --- password reset -----------------------------------------------------------------------------


@router.get("/help/{workspace_slug}/password-reset")
def reset_request_form(
    workspace_slug: SlugPath, request: Request, session: DbSession, auth: OptionalPageAuth
) -> Response:
    site = help_site(session, workspace_slug, auth)
    return render(request, "portal/password_reset.html", _page(site, "Reset your password"))


@router.post("/help/{workspace_slug}/password-reset")
def reset_request(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    check_same_site(request)
    site = help_site(session, workspace_slug, auth)
    if not _valid_email(email.strip()):
        page = _page(
            site,
            "Reset your password",
            email=email,
            errors={"email": "Please enter a valid email address"},
        )
        return render(request, "portal/password_reset.html", page, status_code=422)
    accounts.request_password_reset(session, site.workspace_id, email.strip())
    return redirect(request, site.url("/password-reset"), flash=RESET_SENT, kind="info")


def _reset_page(site: HelpSite, token: str, **values: Any) -> AccountPage:
    return _page(site, "Choose a new password", token=token, **values)


@router.get("/help/{workspace_slug}/password-reset/{token}")
def reset_form(
    workspace_slug: SlugPath,
    token: TokenPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
) -> Response:
    site = help_site(session, workspace_slug, auth)
    try:
        user = accounts.check_reset_token(session, get_settings(request), site.workspace_id, token)
    except accounts.InvalidLink as exc:
        page = _page(site, "Link not valid", link_error=exc.message)
        return render(request, "portal/link_invalid.html", page, status_code=400)
    page = _reset_page(site, token, email=user.email)
    return render(request, "portal/password_new.html", page)


@router.post("/help/{workspace_slug}/password-reset/{token}")
def reset_password(
    workspace_slug: SlugPath,
    token: TokenPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    check_same_site(request)
    site = help_site(session, workspace_slug, auth)
    settings = get_settings(request)
    try:
        user = accounts.check_reset_token(session, settings, site.workspace_id, token)
        if len(password) < MIN_PASSWORD_LENGTH:
            page = _reset_page(
                site,
                token,
                email=user.email,
                errors={"password": f"At least {MIN_PASSWORD_LENGTH} characters"},
            )
            return render(request, "portal/password_new.html", page, status_code=422)
        accounts.reset_password(session, settings, site.workspace_id, token, password)
    except accounts.InvalidLink as exc:
        page = _page(site, "Link not valid", link_error=exc.message)
        return render(request, "portal/link_invalid.html", page, status_code=400)
    return redirect(
        request,
        login_url(site.url("/tickets"), site.slug),
        flash="Your password was changed. Sign in with the new one.",
    )
