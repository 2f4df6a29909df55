"""Tenant-scoped reads. Every query on a workspace-owned table starts here."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound
from deskpilot.db.base import WorkspaceScoped

M = TypeVar("M", bound=WorkspaceScoped)


def scoped(ctx: Context, model: type[M]) -> Select[M]:
    return select(model).where(model.workspace_id == ctx.workspace_id)


def get_scoped(
    session: Session,
    ctx: Context,
    model: type[M],
    object_id: Any,
    *,
    for_update: bool = False,
    what: str | None = None,
) -> M:
    """Fetch by primary key inside the caller's workspace; other workspaces' rows are 404."""
    stmt = scoped(ctx, model).where(model.id == object_id)  # type: ignore[attr-defined]
    if for_update:
        stmt = stmt.with_for_update()
    obj = session.scalars(stmt).one_or_none()
    if obj is None:
        raise NotFound(f"{what or model.__name__} {object_id} not found")
    return obj
