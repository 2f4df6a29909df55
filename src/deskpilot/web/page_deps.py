"""Dependencies for HTML page routes: who is signed in, role checks, CSRF on forms, redirects.

Pages authenticate only by the session cookie (never a bearer token). A page that needs a
signed-in person raises `LoginRequired`, which the error handlers turn into a redirect to
`/login?next=...`; a signed-in person without the right role gets the 403 page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from deskpilot.auth import service as auth_service
from deskpilot.auth import web_sessions
from deskpilot.core.context import Context
from deskpilot.core.errors import DomainError, PermissionDenied
from deskpilot.web.deps import SAFE_METHODS, get_database, get_session_codec, get_settings
from deskpilot.web.sessions import CSRF_HEADER, SESSION_COOKIE
from deskpilot.web.templating import FLASH_COOKIE, Flash, Viewer, encode_flashes

CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    def __init__(self, next_url: str, workspace_slug: str | None = None) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.workspace_slug = workspace_slug


class CsrfRejected(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("Your form expired or came from another site. Reload and try again.")


@dataclass(frozen=True)
class PageAuth:
    """A signed-in page request: the service context and what the templates may show."""

    ctx: Context
    viewer: Viewer


def _viewer_for(session: Session, workspace_id: int, user_id: int, csrf: str) -> PageAuth | None:
    try:
        ctx = auth_service.context_for_user(session, workspace_id, user_id)
    except DomainError:
        return None
    profile = auth_service.viewer_profile(session, ctx)
    viewer = Viewer(
        user_id=user_id,
        name=profile.name,
        email=profile.email,
        role=ctx.role.value,
        workspace_id=ctx.workspace_id,
        workspace_slug=profile.workspace_slug,
        workspace_name=profile.workspace_name,
        csrf_token=csrf,
        contact_id=ctx.contact_id,
    )
    return PageAuth(ctx, viewer)


def _read_session(request: Request) -> PageAuth | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    data = get_session_codec(request).read(cookie)
    if data is None:
        return None
    with get_database(request).session(write=False) as session:
        if not web_sessions.is_live(
            session, data.key, workspace_id=data.workspace_id, user_id=data.user_id
        ):
            return None
        return _viewer_for(session, data.workspace_id, data.user_id, data.csrf_token)


async def optional_page_auth(request: Request) -> PageAuth | None:
    """The signed-in person, if any, with CSRF checked on unsafe methods."""
    auth: PageAuth | None = getattr(request.state, "page_auth", None)
    if auth is None:
        auth = await run_in_threadpool(_read_session, request)
        request.state.page_auth = auth
    if auth is not None and request.method not in SAFE_METHODS:
        await check_csrf(request, auth.viewer.csrf_token)
    return auth


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, expected):
        raise CsrfRejected()


def check_same_site(request: Request) -> None:
    """Forms posted before anyone is signed in (sign-in, sign-up, password reset) have no session
    CSRF token to check; refusing cross-site posts stops a site from signing a visitor into an
    account of its choosing. Modern browsers say where a post comes from in `Sec-Fetch-Site`;
    older ones send `Origin`, which must then be this site (its Host, or DESKPILOT_BASE_URL when
    a proxy rewrites Host)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site not in ("same-origin", "none"):
            raise CsrfRejected()
        return
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return
    ours = {request.headers.get("host", ""), urlsplit(get_settings(request).base_url).netloc}
    if urlsplit(origin).netloc not in ours:
        raise CsrfRejected()


def login_url(next_url: str, workspace_slug: str | None = None) -> str:
    url = f"/login?next={quote(next_url, safe='/')}"
    return f"{url}&workspace={quote(workspace_slug)}" if workspace_slug else url


def _current_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def page_auth(request: Request) -> PageAuth:
    auth = await optional_page_auth(request)
    if auth is None:
        raise LoginRequired(_current_path(request))
    return auth


async def staff_page(auth: Annotated[PageAuth, Depends(page_auth)]) -> PageAuth:
    auth.ctx.require_staff()
    return auth


async def admin_page(auth: Annotated[PageAuth, Depends(page_auth)]) -> PageAuth:
    auth.ctx.require_admin()
    return auth


OptionalPageAuth = Annotated[PageAuth | None, Depends(optional_page_auth)]
SignedInPage = Annotated[PageAuth, Depends(page_auth)]
StaffPage = Annotated[PageAuth, Depends(staff_page)]
AdminPage = Annotated[PageAuth, Depends(admin_page)]


def safe_next(url: str | None, default: str) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirects)."""
    if not url:
        return default
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//"):
        return default
    if "\\" in url:
        return default
    return url


def redirect(
    request: Request,
    url: str,
    *,
    flash: str | None = None,
    kind: str = "success",
) -> Response:
    """A POST-redirect-GET response, optionally carrying a one-time message to the next page.

    htmx follows plain redirects inside its XHR and would swap the whole next page into a
    fragment, so it gets `HX-Redirect` instead, which makes the browser navigate."""
    response: Response
    if request.headers.get("hx-request") == "true":
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            encode_flashes([Flash(flash, kind)]),
            max_age=60,
            httponly=True,
            samesite="lax",
            path="/",
        )
    return response
