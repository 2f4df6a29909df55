"""Workspaces and teams: queries and commands."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.db.scoped import get_scoped
from deskpilot.workspaces.models import Team, Workspace

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
