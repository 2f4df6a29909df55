"""Workspaces and teams: queries and commands."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.workspaces.models import Team, TeamMember, Workspace
from deskpilot.workspaces.schemas import TeamCreate, TeamUpdate

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def create_workspace(session: Session, *, slug: str, name: str) -> Workspace:
    """Workspaces are created by operators (CLI), not through a tenant's API."""
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            "Invalid workspace slug",
            details=[{"field": "slug", "message": "lowercase letters, digits and dashes"}],
        )
    if get_workspace_by_slug(session, slug) is not None:
        raise Conflict(f"Workspace {slug!r} already exists")
    workspace = Workspace(slug=slug, name=name, ticket_seq=0, settings={})
    session.add(workspace)
    session.flush()
    return workspace


def get_workspace_by_slug(session: Session, slug: str) -> Workspace | None:
    return session.scalars(select(Workspace).where(Workspace.slug == slug)).one_or_none()


DEFAULT_BRAND_COLOR = "#2f5bea"


@dataclass(frozen=True)
class HelpCenterLook:
    """What a workspace's public help center looks like (kept in `Workspace.settings`)."""

    workspace_id: int
    slug: str
    name: str
    logo_url: str
    color: str


def help_center_look(workspace: Workspace) -> HelpCenterLook:
    look = (workspace.settings or {}).get("help_center") or {}
    return HelpCenterLook(
        workspace_id=workspace.id,
        slug=workspace.slug,
        name=str(look.get("title") or workspace.name),
        logo_url=str(look.get("logo_url") or ""),
        color=str(look.get("color") or DEFAULT_BRAND_COLOR),
    )


MAX_WORKSPACE_NAME = 200
MAX_HELP_CENTER_TITLE = 200
MAX_LOGO_URL = 500
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _logo_url_error(url: str) -> str | None:
    parts = urlsplit(url)
    if (
        len(url) > MAX_LOGO_URL
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username
        or parts.password
        or any(ch.isspace() for ch in url)
    ):
        return f"an http(s) address of at most {MAX_LOGO_URL} characters, e.g. https://example.com/logo.png"
    return None


def update_workspace_settings(
    session: Session,
    ctx: Context,
    *,
    name: str,
    help_center_title: str,
    logo_url: str,
    color: str,
) -> Workspace:
    """Rename the workspace and set its help-center look (owners and admins).

    Blank title and logo mean "use the workspace name" and "no logo"; a blank colour is the
    default accent. Every field is checked before anything changes, and all problems are
    reported together."""
    ctx.require_admin()
    name, title = name.strip(), help_center_title.strip()
    logo_url, color = logo_url.strip(), color.strip().lower()
    errors: list[dict[str, str]] = []
    if not name or len(name) > MAX_WORKSPACE_NAME:
        errors.append({"field": "name", "message": f"1-{MAX_WORKSPACE_NAME} characters"})
    if len(title) > MAX_HELP_CENTER_TITLE:
        errors.append({"field": "title", "message": f"at most {MAX_HELP_CENTER_TITLE} characters"})
    logo_error = _logo_url_error(logo_url) if logo_url else None
    if logo_error:
        errors.append({"field": "logo_url", "message": logo_error})
    if color and not COLOR_RE.match(color):
        errors.append({"field": "color", "message": "a colour such as #2f5bea"})
    if errors:
        raise ValidationFailed("Invalid workspace settings", details=errors)
    workspace = session.get(Workspace, ctx.workspace_id, with_for_update=True)
    if workspace is None:  # pragma: no cover - a context always points at a workspace
        raise NotFound("Workspace not found")
    workspace.name = name
    # A new dict, not an in-place edit: the JSON column only notices assignment.
    workspace.settings = {
        **(workspace.settings or {}),
        "help_center": {
            "title": title,
            "logo_url": logo_url,
            "color": color or DEFAULT_BRAND_COLOR,
        },
    }
    session.flush()
    return workspace


def portal_shares_organization_tickets(workspace: Workspace) -> bool:
    return bool(((workspace.settings or {}).get("portal") or {}).get("organization_tickets"))


def set_portal_sharing(session: Session, ctx: Context, *, organization_tickets: bool) -> Workspace:
    """Whether customers see (and may reply to) their organization's requests, not only their
    own (admins only). Takes effect at each customer's next request."""
    ctx.require_admin()
    workspace = session.get(Workspace, ctx.workspace_id, with_for_update=True)
    if workspace is None:  # pragma: no cover - a context always points at a workspace
        raise NotFound("Workspace not found")
    portal = {**((workspace.settings or {}).get("portal") or {})}
    portal["organization_tickets"] = organization_tickets
    workspace.settings = {**(workspace.settings or {}), "portal": portal}
    session.flush()
    return workspace


def only_workspace_slug(session: Session) -> str | None:
    """The slug when this installation has exactly one workspace (the sign-in page then needs
    no workspace field)."""
    slugs = session.scalars(select(Workspace.slug).order_by(Workspace.id).limit(2)).all()
    return slugs[0] if len(slugs) == 1 else None


def require_workspace_by_slug(session: Session, slug: str) -> Workspace:
    workspace = get_workspace_by_slug(session, slug)
    if workspace is None:
        raise NotFound(f"Workspace {slug!r} not found")
    return workspace


def get_workspace(session: Session, ctx: Context) -> Workspace:
    workspace = session.get(Workspace, ctx.workspace_id)
    if workspace is None:  # pragma: no cover - a context always points at a workspace
        raise NotFound("Workspace not found")
    return workspace


def next_ticket_number(session: Session, ctx: Context) -> int:
    """Atomically allocate the next per-workspace ticket number (row lock held to commit)."""
    number = session.execute(
        update(Workspace)
        .where(Workspace.id == ctx.workspace_id)
        .values(ticket_seq=Workspace.ticket_seq + 1)
        .returning(Workspace.ticket_seq)
    ).scalar_one()
    return int(number)


def get_team(session: Session, ctx: Context, team_id: int) -> Team:
    return get_scoped(session, ctx, Team, team_id, what="Team")


# --- teams ---------------------------------------------------------------------------------------


def list_teams(
    session: Session,
    ctx: Context,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Team], str | None]:
    """Teams in id order, one keyset page at a time."""
    ctx.require_staff()
    return keyset_page(session, scoped(ctx, Team), Team.id, limit=limit, cursor=cursor)


def create_team(session: Session, ctx: Context, data: TeamCreate) -> Team:
    team, _ = create_team_with_key(session, ctx, data, idempotency_key=None)
    return team


def create_team_with_key(
    session: Session, ctx: Context, data: TeamCreate, *, idempotency_key: str | None
) -> tuple[Team, bool]:
    """Returns (team, created); a replayed Idempotency-Key returns the first team."""
    ctx.require_admin()
    claim = idempotency.claim(
        session, ctx, scope="teams.create", key=idempotency_key, payload=data.model_dump()
    )
    if claim.existing_id is not None:
        return get_team(session, ctx, claim.existing_id), False
    _check_name_free(session, ctx, data.name)
    team = Team(workspace_id=ctx.workspace_id, name=data.name, description=data.description)
    try:
        with session.begin_nested():
            session.add(team)
    except IntegrityError as exc:
        raise _name_taken(data.name) from exc
    claim.bind(team.id)
    return team, True


def update_team(session: Session, ctx: Context, team_id: int, data: TeamUpdate) -> Team:
    ctx.require_admin()
    team = get_scoped(session, ctx, Team, team_id, for_update=True, what="Team")
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        _check_name_free(session, ctx, changes["name"], exclude_id=team.id)
    try:
        with session.begin_nested():
            for field, value in changes.items():
                setattr(team, field, value)
    except IntegrityError as exc:
        raise _name_taken(str(changes.get("name", ""))) from exc
    return team


def delete_team(session: Session, ctx: Context, team_id: int) -> None:
    """Its tickets stay, unrouted; its memberships go with it."""
    ctx.require_admin()
    team = get_scoped(session, ctx, Team, team_id, for_update=True, what="Team")
    session.execute(
        delete(TeamMember).where(
            TeamMember.workspace_id == ctx.workspace_id, TeamMember.team_id == team.id
        )
    )
    session.delete(team)
    session.flush()


def _check_name_free(
    session: Session, ctx: Context, name: str, *, exclude_id: int | None = None
) -> None:
    # Case-insensitive on purpose: "Billing" and "billing" would be the same team to a person.
    existing = session.scalars(
        scoped(ctx, Team).where(func.lower(Team.name) == name.lower()).limit(1)
    ).first()
    if existing is not None and existing.id != exclude_id:
        raise _name_taken(name)


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"A team named {name!r} already exists",
        details=[{"field": "name", "message": "already used by another team"}],
    )


# --- team members --------------------------------------------------------------------------------


def add_team_member(session: Session, ctx: Context, team_id: int, user_id: int) -> TeamMember:
    """Put an active staff member on a team; adding someone already there changes nothing."""
    ctx.require_admin()
    team = get_team(session, ctx, team_id)
    try:
        membership = auth_service.get_membership(session, ctx, user_id)
    except NotFound:
        membership = None
    if membership is None or not membership.is_active or membership.role == Role.customer.value:
        raise ValidationFailed(
            "Only active agents and admins can join a team",
            details=[{"field": "user_id", "message": "no active staff member with this id"}],
        )
    existing = _find_team_member(session, ctx, team.id, user_id)
    if existing is not None:
        return existing
    member = TeamMember(workspace_id=ctx.workspace_id, team_id=team.id, user_id=user_id)
    try:
        with session.begin_nested():
            session.add(member)
    except IntegrityError:
        # A concurrent request added the same member first: same outcome.
        existing = _find_team_member(session, ctx, team.id, user_id)
        if existing is None:  # pragma: no cover - the violation implies the row exists
            raise
        return existing
    return member


def remove_team_member(session: Session, ctx: Context, team_id: int, user_id: int) -> None:
    """Take someone off a team; removing someone who is not there changes nothing."""
    ctx.require_admin()
    team = get_team(session, ctx, team_id)
    session.execute(
        delete(TeamMember).where(
            TeamMember.workspace_id == ctx.workspace_id,
            TeamMember.team_id == team.id,
            TeamMember.user_id == user_id,
        )
    )
    session.flush()


def list_team_member_ids(session: Session, ctx: Context, team_id: int) -> list[int]:
    team = get_team(session, ctx, team_id)
    return member_ids_by_team(session, ctx, [team.id])[team.id]


def member_ids_by_team(
    session: Session, ctx: Context, team_ids: Sequence[int]
) -> dict[int, list[int]]:
    """User ids per team (sorted), for many teams in one query."""
    result: dict[int, list[int]] = {team_id: [] for team_id in team_ids}
    if not team_ids:
        return result
    rows = session.execute(
        select(TeamMember.team_id, TeamMember.user_id)
        .where(TeamMember.workspace_id == ctx.workspace_id, TeamMember.team_id.in_(team_ids))
        .order_by(TeamMember.team_id, TeamMember.user_id)
    )
    for team_id, user_id in rows:
        result[team_id].append(user_id)
    return result


def team_ids_by_user(
    session: Session, ctx: Context, user_ids: Sequence[int]
) -> dict[int, list[int]]:
    """Team ids per user (sorted), for many users in one query."""
    result: dict[int, list[int]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return result
    rows = session.execute(
        select(TeamMember.user_id, TeamMember.team_id)
        .where(TeamMember.workspace_id == ctx.workspace_id, TeamMember.user_id.in_(user_ids))
        .order_by(TeamMember.user_id, TeamMember.team_id)
    )
    for user_id, team_id in rows:
        result[user_id].append(team_id)
    return result


def _find_team_member(
    session: Session, ctx: Context, team_id: int, user_id: int
) -> TeamMember | None:
    return session.scalars(
        scoped(ctx, TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    ).one_or_none()
