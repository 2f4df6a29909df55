"""Authentication and membership: who a request is, and what role they hold in which workspace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.auth import web_sessions
from deskpilot.auth.models import ApiToken, Membership, User
from deskpilot.auth.passwords import MIN_PASSWORD_LENGTH, hash_password, verify_password
from deskpilot.auth.schemas import MemberCreate, MemberUpdate, ProfileUpdate
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
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.customers import service as customers_service
from deskpilot.db.hooks import after_commit
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency
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
    return _context(session, row[1])


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
    return _context(session, membership)


def _context(session: Session, membership: Membership) -> Context:
    role = Role(membership.role)
    organization_id = None
    if role == Role.customer and membership.contact_id is not None:
        organization_id = _shared_organization(session, membership)
    return Context(
        workspace_id=membership.workspace_id,
        user_id=membership.user_id,
        role=role,
        contact_id=membership.contact_id,
        organization_id=organization_id,
    )


def _shared_organization(session: Session, membership: Membership) -> int | None:
    """The customer's organization when the workspace lets customers see their organization's
    requests (`Workspace.settings["portal"]["organization_tickets"]`), else None."""
    settings = session.scalar(
        select(Workspace.settings).where(Workspace.id == membership.workspace_id)
    )
    if not ((settings or {}).get("portal") or {}).get("organization_tickets"):
        return None
    contact = customers_service.get_contact(
        session, Context.system(membership.workspace_id), membership.contact_id or 0
    )
    return contact.organization_id


@dataclass(frozen=True)
class ViewerProfile:
    name: str
    email: str
    workspace_slug: str
    workspace_name: str


def viewer_profile(session: Session, ctx: Context) -> ViewerProfile:
    """What the page chrome shows about the signed-in person and their workspace."""
    row = session.execute(
        select(User.name, User.email, Workspace.slug, Workspace.name)
        .join(Membership, Membership.user_id == User.id)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.workspace_id == ctx.workspace_id, User.id == ctx.user_id)
    ).one()
    return ViewerProfile(row[0], row[1], row[2], row[3])


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
    return _context(session, membership)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str
    """The raw token, shown once and never stored."""


def issue_token(session: Session, ctx: Context, *, user_id: int, name: str = "") -> IssuedToken:
    """Everyone may issue tokens for themselves. Admins may issue them for active agents and
    admins; only owners for owners. Nobody mints tokens for customers: a token acts as its user,
    so minting one for someone of higher rank, or for a customer, would be impersonation. The
    system context (the `deskpilot token create` command run by the operator) may issue any."""
    membership = get_membership(session, ctx, user_id)
    if user_id != ctx.user_id:
        ctx.require_admin()
    # The operator's CLI acts as the system (no user) and may issue any member's token.
    if user_id != ctx.user_id and ctx.user_id is not None:
        target = Role(membership.role)
        if target == Role.customer or not membership.is_active:
            raise PermissionDenied("Tokens can be issued for active agents and admins only")
        if target == Role.owner and ctx.role != Role.owner:
            raise PermissionDenied("Only owners can issue tokens for owners")
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


class _LoginGeneration:
    value = 0


login_generation = _LoginGeneration()
"""Bumped after any commit that revokes a token or changes a membership: the web layer's token
cache drops every entry made before it (within this process; others expire on their own TTL)."""


def invalidate_cached_logins(session: Session) -> None:
    def bump() -> None:
        login_generation.value += 1

    after_commit(session, bump)


def revoke_token(session: Session, ctx: Context, token_id: int) -> ApiToken:
    token = get_scoped(session, ctx, ApiToken, token_id, what="Token")
    if token.user_id != ctx.user_id and not ctx.is_admin:
        raise NotFound(f"Token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        invalidate_cached_logins(session)
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
    verified: bool = True,
) -> Membership:
    """Add a person to the workspace with a role, creating their identity on first sight.

    An identity that already exists elsewhere keeps its own password and name: a workspace admin
    can grant access, never take over an account. A new identity's email counts as verified
    (staff typed it) unless `verified` is False: portal sign-ups verify by following a link.
    """
    ctx.require_admin()
    if role == Role.owner and ctx.role != Role.owner and ctx.user_id is not None:
        raise PermissionDenied("Only owners can add owners")
    user = get_user_by_email(session, email) or _create_identity(
        session, email=email, name=name, password=password, verified=verified
    )
    existing = session.scalars(
        scoped(ctx, Membership).where(Membership.user_id == user.id)
    ).one_or_none()
    already_member = Conflict(f"{normalize_email(email)} is already a member of this workspace")
    if existing is not None:
        raise already_member
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
    try:
        # A concurrent add of the same person got there first (unique workspace + user).
        with session.begin_nested():
            session.add(membership)
    except IntegrityError:
        raise already_member from None
    return membership


def _create_identity(
    session: Session, *, email: str, name: str, password: str | None, verified: bool
) -> User:
    """A new login identity; a concurrent request creating the same email wins and is reused
    (its password and name stay, as for any identity that already exists)."""
    user = User(
        email=normalize_email(email),
        name=name,
        is_active=True,
        email_verified_at=utcnow() if verified else None,
    )
    if password is not None:
        set_password(user, password)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        existing = get_user_by_email(session, email)
        if existing is None:  # pragma: no cover - the violation implies the row exists
            raise
        return existing
    return user


# --- members: a person's access to one workspace -------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A membership with the identity it belongs to."""

    membership: Membership
    user: User

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> Role:
        return Role(self.membership.role)

    @property
    def is_active(self) -> bool:
        return self.membership.is_active

    @property
    def contact_id(self) -> int | None:
        return self.membership.contact_id

    @property
    def created_at(self) -> datetime:
        return self.membership.created_at


def list_members(
    session: Session,
    ctx: Context,
    *,
    role: Role | None = None,
    q: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Member], str | None]:
    """Members in user-id order; `q` matches email or name, case-insensitively."""
    ctx.require_staff()
    stmt = scoped(ctx, Membership).join(User, User.id == Membership.user_id).add_columns(User)
    if role is not None:
        stmt = stmt.where(Membership.role == role.value)
    if q:
        stmt = stmt.where(
            or_(User.email.icontains(q, autoescape=True), User.name.icontains(q, autoescape=True))
        )
    rows, next_cursor = keyset_page(
        session,
        stmt,
        Membership.user_id,
        limit=limit,
        cursor=cursor,
        scalars=False,
        last_id=lambda row: int(row[0].user_id),
    )
    return [Member(membership, user) for membership, user in rows], next_cursor


def get_member(session: Session, ctx: Context, user_id: int) -> Member:
    """Staff see every member; anyone may see themselves."""
    if user_id != ctx.user_id:
        ctx.require_staff()
    return _member(session, ctx, get_membership(session, ctx, user_id))


def _member(session: Session, ctx: Context, membership: Membership) -> Member:
    user = session.get(User, membership.user_id)
    if user is None:  # pragma: no cover - the foreign key guarantees the identity exists
        raise NotFound(f"User {membership.user_id} not found")
    return Member(membership, user)


def create_member(session: Session, ctx: Context, data: MemberCreate) -> Member:
    member, _ = create_member_with_key(session, ctx, data, idempotency_key=None)
    return member


def create_member_with_key(
    session: Session, ctx: Context, data: MemberCreate, *, idempotency_key: str | None
) -> tuple[Member, bool]:
    """Returns (member, created); a replayed Idempotency-Key returns the member added first."""
    ctx.require_admin()
    claim = idempotency.claim(
        session,
        ctx,
        scope="members.create",
        key=idempotency_key,
        # Keys are stored with a fast hash of the body; a password must not be in it.
        payload=data.model_dump(mode="json", exclude={"password"}),
    )
    if claim.existing_id is not None:
        return get_member(session, ctx, claim.existing_id), False
    membership = add_member(
        session,
        ctx,
        email=str(data.email),
        role=data.role,
        name=data.name,
        password=data.password,
    )
    claim.bind(membership.user_id)
    return _member(session, ctx, membership), True


def update_member(session: Session, ctx: Context, user_id: int, data: MemberUpdate) -> Member:
    """Change a member's role or access. Only owners grant or revoke owner; one owner must remain."""
    ctx.require_admin()
    changes = data.model_dump(exclude_unset=True)
    membership = get_membership(session, ctx, user_id)
    invalidate_cached_logins(session)
    if membership.role == Role.owner.value and membership.is_active:
        # Lock every active owner, in id order, before deciding whether one would be left:
        # two concurrent demotions of the last two owners must not both succeed.
        _lock_active_owners(session, ctx)
    membership = _lock_membership(session, ctx, user_id)
    old_role = Role(membership.role)
    new_role = Role(changes.get("role", old_role))
    new_active = bool(changes.get("is_active", membership.is_active))
    changed = new_role != old_role or new_active != membership.is_active
    if not changed:
        return _member(session, ctx, membership)
    if Role.owner in (old_role, new_role) and ctx.role != Role.owner and ctx.user_id is not None:
        raise PermissionDenied("Only owners can grant or revoke owner access")
    losing_owner = (
        old_role == Role.owner
        and membership.is_active
        and (new_role != Role.owner or not new_active)
    )
    if losing_owner and not _other_active_owners(session, ctx, membership.user_id):
        raise Conflict(
            "The last active owner cannot be demoted or deactivated; make someone else owner first",
            details=[
                {
                    "field": "role" if new_role != Role.owner else "is_active",
                    "message": "last owner",
                }
            ],
        )
    if new_role == Role.customer and membership.contact_id is None:
        user = _member(session, ctx, membership).user
        membership.contact_id = customers_service.find_or_create_contact(
            session, ctx, email=user.email, name=user.name
        ).id
    membership.role = new_role.value
    membership.is_active = new_active
    session.flush()
    return _member(session, ctx, membership)


def deactivate_member(session: Session, ctx: Context, user_id: int) -> Member:
    """Remove a member's access to this workspace; their identity and history stay."""
    return update_member(session, ctx, user_id, MemberUpdate(is_active=False))


def _lock_membership(session: Session, ctx: Context, user_id: int) -> Membership:
    membership = session.scalars(
        scoped(ctx, Membership)
        .where(Membership.user_id == user_id)
        .with_for_update()
        # Re-read the row under the lock: the copy loaded before may be stale.
        .execution_options(populate_existing=True)
    ).one_or_none()
    if membership is None:
        raise NotFound(f"User {user_id} not found")
    return membership


def _lock_active_owners(session: Session, ctx: Context) -> None:
    session.scalars(
        scoped(ctx, Membership)
        .where(Membership.role == Role.owner.value, Membership.is_active.is_(True))
        .order_by(Membership.id)
        .with_for_update()
    ).all()


def _other_active_owners(session: Session, ctx: Context, user_id: int) -> int:
    return len(
        session.scalars(
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.workspace_id == ctx.workspace_id,
                Membership.role == Role.owner.value,
                Membership.is_active.is_(True),
                User.is_active.is_(True),
                Membership.user_id != user_id,
            )
        ).all()
    )


def update_profile(session: Session, ctx: Context, data: ProfileUpdate) -> Member:
    """A signed-in person changes their own name or password (the latter needs the current one)."""
    if ctx.user_id is None:
        raise PermissionDenied("Only a signed-in person has a profile")
    member = get_member(session, ctx, ctx.user_id)
    changes = data.model_dump(exclude_unset=True)
    if "password" in changes:
        current = changes.get("current_password") or ""
        if not verify_password(member.user.password_hash, current):
            raise ValidationFailed(
                "Current password is incorrect",
                details=[{"field": "current_password", "message": "does not match"}],
            )
        set_password(member.user, changes["password"])
        # A changed password must lock out whoever else may hold a session cookie.
        web_sessions.end_all_for_user(session, member.user.id)
    if "name" in changes:
        member.user.name = changes["name"]
    session.flush()
    return member
