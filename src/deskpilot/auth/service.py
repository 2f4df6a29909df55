"""Authentication and membership: who a request is, and what role they hold in which workspace."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.auth.models import ApiToken, Membership, User
from deskpilot.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthorized,
    ValidationFailed,
)
from deskpilot.core.ids import hash_token, new_api_token
from deskpilot.customers import service as customers_service
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.workspaces.models import Workspace


def normalize_email(email: str) -> str:
    return email.strip().lower()


def context_for_token(session: Session, raw_token: str) -> Context:
    """Resolve a bearer token to a context; unknown, revoked or inactive all answer 401."""
    row = session.execute(
        select(ApiToken, Membership)
        .join(
            Membership,
            (Membership.user_id == ApiToken.user_id)
            & (Membership.workspace_id == ApiToken.workspace_id),
        )
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == hash_token(raw_token),
            ApiToken.revoked_at.is_(None),
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized("Invalid or revoked API token")
    return _context(row[1])


def context_for_user(session: Session, workspace_id: int, user_id: int) -> Context:
    membership = session.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.workspace_id == workspace_id,
            Membership.user_id == user_id,
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    ).one_or_none()
    if membership is None:
        raise Unauthorized("Session is no longer valid")
    return _context(membership)


def _context(membership: Membership) -> Context:
    return Context(
        workspace_id=membership.workspace_id,
        user_id=membership.user_id,
        role=Role(membership.role),
        contact_id=membership.contact_id,
    )


def authenticate(session: Session, workspace_slug: str, email: str, password: str) -> Context:
    """Check a password login. Takes one argon2 verification whatever the outcome."""
    row = session.execute(
        select(User, Membership)
        .join(Membership, Membership.user_id == User.id)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Workspace.slug == workspace_slug, User.email == normalize_email(email))
    ).one_or_none()
    user, membership = row if row is not None else (None, None)
    ok = verify_password(user.password_hash if user else None, password)
    if (
        not ok
        or user is None
        or membership is None
        or not user.is_active
        or not membership.is_active
    ):
        raise Unauthorized("Invalid email or password")
    return _context(membership)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str
    """The raw token, shown once and never stored."""


def issue_token(session: Session, ctx: Context, *, user_id: int, name: str = "") -> IssuedToken:
    """Admins may issue tokens for any member; everyone else only for themselves."""
    if user_id != ctx.user_id:
        ctx.require_admin()
    get_membership(session, ctx, user_id)
    secret = new_api_token()
    token = ApiToken(
        workspace_id=ctx.workspace_id,
        user_id=user_id,
        name=name,
        token_hash=hash_token(secret),
        display_prefix=secret[:10],
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def list_tokens(session: Session, ctx: Context) -> list[ApiToken]:
    stmt = scoped(ctx, ApiToken).order_by(ApiToken.id)
    if not ctx.is_admin:
        stmt = stmt.where(ApiToken.user_id == ctx.user_id)
    return list(session.scalars(stmt))


def revoke_token(session: Session, ctx: Context, token_id: int) -> ApiToken:
    token = get_scoped(session, ctx, ApiToken, token_id, what="Token")
    if token.user_id != ctx.user_id and not ctx.is_admin:
        raise NotFound(f"Token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token


def get_membership(session: Session, ctx: Context, user_id: int) -> Membership:
    membership = session.scalars(
        scoped(ctx, Membership).where(Membership.user_id == user_id)
    ).one_or_none()
    if membership is None:
        raise NotFound(f"User {user_id} not found")
    return membership


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            "Password too short",
            details=[
                {"field": "password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"}
            ],
        )


def set_password(user: User, password: str) -> None:
    validate_password(password)
    user.password_hash = hash_password(password)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()


def add_member(
    session: Session,
    ctx: Context,
    *,
    email: str,
    role: Role,
    name: str = "",
    password: str | None = None,
) -> Membership:
    """Add a person to the workspace with a role, creating their identity on first sight.

    An identity that already exists elsewhere keeps its own password and name: a workspace admin
    can grant access, never take over an account.
    """
    ctx.require_admin()
    if role == Role.owner and ctx.role != Role.owner and ctx.user_id is not None:
        raise PermissionDenied("Only owners can add owners")
    user = get_user_by_email(session, email)
    if user is None:
        user = User(email=normalize_email(email), name=name, is_active=True)
        if password is not None:
            set_password(user, password)
        session.add(user)
        session.flush()
    existing = session.scalars(
        scoped(ctx, Membership).where(Membership.user_id == user.id)
    ).one_or_none()
    if existing is not None:
        raise Conflict(f"{normalize_email(email)} is already a member of this workspace")
    contact_id = None
    if role == Role.customer:
        contact_id = customers_service.find_or_create_contact(
            session, ctx, email=email, name=name
        ).id
    membership = Membership(
        workspace_id=ctx.workspace_id,
        user_id=user.id,
        role=role.value,
        is_active=True,
        contact_id=contact_id,
    )
    session.add(membership)
    session.flush()
    return membership
