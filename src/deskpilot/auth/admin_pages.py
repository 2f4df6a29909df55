"""Admin pages for users, roles and API tokens (/admin/users, /admin/tokens).

Owners and admins only (`AdminPage`). Everything goes through `auth.service`, which enforces the
membership rules (only owners grant owner; the last active owner stays). Secrets - a generated
first password, a new API token - appear once, in the response to the POST that made them,
and are never stored or shown again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.auth import service
from deskpilot.auth.schemas import MemberCreate, MemberUpdate
from deskpilot.core.context import Role
from deskpilot.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import FormText, IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.pages import field_errors
from deskpilot.workspaces.team_pages import Person, active_staff, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

ROLE_LABELS = {
    Role.owner.value: "Owner",
    Role.admin.value: "Admin",
    Role.agent.value: "Agent",
    Role.customer.value: "Customer",
}
MEMBER_FIELDS = ("email", "name", "role", "password")


def _role_options(viewer_role: str) -> list[tuple[str, str]]:
    """Roles this viewer may hand out: only owners make owners (the service says so too)."""
    roles = [Role.agent, Role.admin] + ([Role.owner] if viewer_role == Role.owner.value else [])
    return [(r.value, ROLE_LABELS[r.value]) for r in roles]


# --- users ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    user_id: int
    name: str
    email: str
    role: str
    is_active: bool
    is_self: bool


@dataclass
class MemberForm:
    email: str = ""
    name: str = ""
    role: str = Role.agent.value


@dataclass(frozen=True)
class NewPassword:
    """A generated first password, shown once to the admin who created the account."""

    email: str
    password: str


@dataclass(kw_only=True)
class UsersPage(PageContext):
    members: list[MemberRow]
    role_filter: str
    q: str
    next_url: str
    form: MemberForm = field(default_factory=MemberForm)
    errors: dict[str, str] = field(default_factory=dict)
    row_errors: dict[int, str] = field(default_factory=dict)
    role_options: list[tuple[str, str]] = field(default_factory=list)
    filter_options: list[tuple[str, str]] = field(default_factory=lambda: list(ROLE_LABELS.items()))
    role_labels: dict[str, str] = field(default_factory=lambda: dict(ROLE_LABELS))
    new_password: NewPassword | None = None
    nav: str = "admin"


def _users_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    role: str = "",
    q: str = "",
    cursor: str | None = None,
    status_code: int = 200,
    **extra: object,
) -> Response:
    role_filter = Role(role) if role in ROLE_LABELS else None
    members, next_cursor = service.list_members(
        session, auth.ctx, role=role_filter, q=q.strip() or None, cursor=cursor,
        limit=DEFAULT_PAGE_SIZE,
    )  # fmt: skip
    next_url = ""
    if next_cursor:
        params = {"role": role_filter.value if role_filter else "", "q": q, "cursor": next_cursor}
        next_url = "/admin/users?" + urlencode(params)
    page = UsersPage(
        title="Users",
        viewer=auth.viewer,
        members=[
            MemberRow(
                m.user_id, m.name, m.email, m.role.value, m.is_active, m.user_id == auth.ctx.user_id
            )
            for m in members
        ],
        role_filter=role_filter.value if role_filter else "",
        q=q,
        next_url=next_url,
        role_options=_role_options(auth.viewer.role),
        **extra,  # type: ignore[arg-type]
    )
    return render(
        request,
        "auth/admin_users.html",
        page,
        partial="auth/admin_users_list.html",
        status_code=status_code,
    )


@router.get("/admin/users")
def users(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    role: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _users_page(request, session, auth, role=role, q=q, cursor=cursor)


@router.post("/admin/users")
def create_user(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    email: FormText = "",
    name: FormText = "",
    role: FormText = Role.agent.value,
    password: FormText = "",
) -> Response:
    """Add an agent, admin or owner. A blank password is generated and shown once; someone who
    already has an identity (another workspace, a customer account) keeps their own password."""
    form = MemberForm(email=email, name=name, role=role)
    generated = not password
    existing = service.get_user_by_email(session, email) if email.strip() else None
    try:
        data = MemberCreate.model_validate(
            {
                "email": email.strip(),
                "name": name,
                "role": role,
                "password": secrets.token_urlsafe(12) if generated else password,
            }
        )
        member = service.create_member(session, auth.ctx, data)
    except ValidationError as exc:
        errors = schema_errors(exc)
        return _users_page(request, session, auth, form=form, errors=errors, status_code=422)
    except (Conflict, PermissionDenied) as exc:
        errors = field_errors(exc, MEMBER_FIELDS, "role" if exc.status == 403 else "email")
        return _users_page(request, session, auth, form=form, errors=errors, status_code=exc.status)
    except DomainError as exc:  # ValidationFailed from the password rules
        errors = field_errors(exc, MEMBER_FIELDS, "email")
        return _users_page(request, session, auth, form=form, errors=errors, status_code=exc.status)
    who = member.name or member.email
    if existing is not None:
        message = f"{who} added. They sign in with the password they already have."
        return redirect(request, "/admin/users", flash=message)
    if not generated:
        return redirect(request, "/admin/users", flash=f"{who} added.")
    assert data.password is not None
    return _users_page(
        request,
        session,
        auth,
        status_code=201,
        new_password=NewPassword(member.email, data.password),
    )


@router.post("/admin/users/{user_id}")
def update_user(
    user_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    role: Annotated[str | None, Form(max_length=20)] = None,
    is_active: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """Change one member's role, or deactivate/reactivate them. Refusals (last owner, owner
    rights) come back on the member's row."""
    changes: dict[str, object] = {}
    if role:
        changes["role"] = role
    if is_active is not None:
        changes["is_active"] = is_active in ("1", "true", "on")
    try:
        data = MemberUpdate.model_validate(changes)
        member = service.update_member(session, auth.ctx, user_id, data)
    except ValidationError as exc:
        message = "; ".join(schema_errors(exc).values())
        return _users_page(request, session, auth, row_errors={user_id: message}, status_code=422)
    except (Conflict, PermissionDenied) as exc:
        return _users_page(
            request, session, auth, row_errors={user_id: exc.message}, status_code=exc.status
        )
    state = "active" if member.is_active else "deactivated"
    label = ROLE_LABELS[member.role.value]
    return redirect(
        request, "/admin/users", flash=f"{member.name or member.email}: {label}, {state}."
    )


# --- API tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    prefix: str
    owner: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    name: str
    owner: str
    secret: str


@dataclass(kw_only=True)
class TokensPage(PageContext):
    mine: list[TokenRow]
    others: list[TokenRow]
    people: list[Person]
    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    new_token: NewToken | None = None
    nav: str = "admin"


def _owner_names(
    session: Session, auth: AdminPage, user_ids: set[int], staff: list[Person]
) -> dict[int, str]:
    names = {p.user_id: p.name or p.email for p in staff}
    for user_id in sorted(user_ids - set(names)):
        # Tokens of people no longer active staff (deactivated, customers): look them up.
        try:
            member = service.get_member(session, auth.ctx, user_id)
            names[user_id] = member.name or member.email
        except NotFound:
            names[user_id] = f"user {user_id}"
    return names


def _tokens_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    status_code: int = 200,
    **extra: object,
) -> Response:
    tokens = service.list_tokens(session, auth.ctx)
    staff = active_staff(session, auth.ctx)
    names = _owner_names(session, auth, {t.user_id for t in tokens}, staff)
    rows = [
        TokenRow(
            t.id,
            t.name,
            t.display_prefix,
            names[t.user_id],
            t.created_at,
            t.last_used_at,
            t.revoked_at,
        )
        for t in tokens
    ]
    mine_ids = {t.id for t in tokens if t.user_id == auth.ctx.user_id}
    page = TokensPage(
        title="API tokens",
        viewer=auth.viewer,
        mine=[r for r in rows if r.id in mine_ids],
        others=[r for r in rows if r.id not in mine_ids],
        people=staff,
        **extra,  # type: ignore[arg-type]
    )
    return render(request, "auth/admin_tokens.html", page, status_code=status_code)


@router.get("/admin/tokens")
def tokens(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _tokens_page(request, session, auth)


@router.post("/admin/tokens")
def create_token(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    name: FormText = "",
    user_id: Annotated[int | None, Form(ge=1, le=MAX_DB_ID)] = None,
) -> Response:
    """Issue a token (for yourself, or as an admin for another member) and show it once."""
    name = name.strip()
    if len(name) > 120:
        errors = {"name": "at most 120 characters"}
        return _tokens_page(request, session, auth, name=name, errors=errors, status_code=422)
    assert auth.ctx.user_id is not None
    issued = service.issue_token(session, auth.ctx, user_id=user_id or auth.ctx.user_id, name=name)
    owner = service.get_member(session, auth.ctx, issued.token.user_id)
    new_token = NewToken(issued.token.name, owner.name or owner.email, issued.secret)
    return _tokens_page(request, session, auth, new_token=new_token, status_code=201)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(
    token_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    token = service.revoke_token(session, auth.ctx, token_id)
    label = token.name or token.display_prefix
    return redirect(request, "/admin/tokens", flash=f"Token {label} revoked.", kind="info")
