"""Web-layer pieces shared by the help-center pages (kb/pages.py) and the portal (portal/pages.py).

A request under `/help/{slug}` resolves the workspace (unknown slug: the styled 404 page), its
help-center look, and who is looking. A session for another workspace, or a staff session, is
treated as an anonymous visitor for what the portal shows and does; only a customer of this
workspace is "signed in" here. The session's viewer is still passed to templates so forms carry
its CSRF token (the page dependencies check it on every POST from a signed-in browser).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, TypedDict

from fastapi import Path, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import PermissionDenied
from deskpilot.kb.feedback import ANONYMOUS_KEY_RE
from deskpilot.portal.help_center import visitor_context
from deskpilot.web.deps import get_database
from deskpilot.web.page_deps import LoginRequired, PageAuth
from deskpilot.web.templating import Branding, PageContext, Viewer
from deskpilot.workspaces import service as workspaces_service

SlugPath = Annotated[str, Path(max_length=63)]
VISITOR_COOKIE = "deskpilot_visitor"
VISITOR_COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class HelpSite:
    workspace_id: int
    slug: str
    branding: Branding
    auth: PageAuth | None

    @property
    def viewer(self) -> Viewer | None:
        return self.auth.viewer if self.auth is not None else None

    @property
    def member(self) -> PageAuth | None:
        """The session, if it belongs to this workspace (any role)."""
        if self.auth is not None and self.auth.viewer.workspace_slug == self.slug:
            return self.auth
        return None

    @property
    def customer(self) -> PageAuth | None:
        member = self.member
        return member if member is not None and member.ctx.role == Role.customer else None

    @property
    def reader(self) -> Context:
        """Who reads the KB here: the signed-in customer, or an anonymous visitor."""
        customer = self.customer
        return customer.ctx if customer is not None else visitor_context(self.workspace_id)

    @property
    def is_staff_here(self) -> bool:
        return self.member is not None and self.member.ctx.is_staff

    def url(self, path: str = "") -> str:
        return f"/help/{self.slug}{path}"


def help_site(session: Session, slug: str, auth: PageAuth | None) -> HelpSite:
    workspace = workspaces_service.require_workspace_by_slug(session, slug)
    look = workspaces_service.help_center_look(workspace)
    branding = Branding(name=look.name, slug=look.slug, logo_url=look.logo_url, color=look.color)
    return HelpSite(workspace.id, workspace.slug, branding, auth)


def require_customer(request: Request, site: HelpSite) -> PageAuth:
    """The signed-in customer of this workspace; others sign in first (staff get a 403)."""
    customer = site.customer
    if customer is not None:
        return customer
    if site.is_staff_here:
        raise PermissionDenied("These pages are for customers. Agents work in the console at /app.")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise LoginRequired(path, site.slug)


@dataclass(kw_only=True)
class HelpPage(PageContext):
    """Fields every help-center and portal page has."""

    slug: str = ""
    signed_in: bool = False
    """True for a customer of this workspace (not for staff or other workspaces' sessions)."""
    search_query: str = ""
    crumbs: list[tuple[str, str]] = field(default_factory=list)


class PageFields(TypedDict):
    viewer: Viewer | None
    branding: Branding
    slug: str
    signed_in: bool


def page_fields(site: HelpSite) -> PageFields:
    return {
        "viewer": site.viewer,
        "branding": site.branding,
        "slug": site.slug,
        "signed_in": site.customer is not None,
    }


@contextmanager
def write_session(request: Request) -> Iterator[Session]:
    """A short write transaction of its own, for what a GET records (views, searches, clicks):
    GET requests run on a read-only session."""
    with get_database(request).session(write=True) as session:
        yield session
        session.commit()


def visitor_key(request: Request) -> tuple[str, bool]:
    """(key, is_new): the anonymous reader's random vote key from their cookie, or a new one."""
    current = request.cookies.get(VISITOR_COOKIE, "")
    if ANONYMOUS_KEY_RE.match(current):
        return current, False
    return secrets.token_urlsafe(18), True


def remember_visitor(response: Response, key: str) -> None:
    response.set_cookie(
        VISITOR_COOKIE,
        key,
        max_age=VISITOR_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        path="/help/",
    )
