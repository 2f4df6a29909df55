"""Keyset pages in id order (or newest first): one row more than asked tells whether there is a
next page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from deskpilot.core.pagination import MAX_PAGE_SIZE, decode_id_cursor, encode_cursor


def keyset_page(
    session: Session,
    stmt: Select[Any],
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
    scalars: bool = True,
    last_id: Callable[[Any], int] = lambda row: int(row.id),
    newest_first: bool = False,
) -> tuple[list[Any], str | None]:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    seen = decode_id_cursor(cursor)
    if seen is not None:
        stmt = stmt.where(id_column < seen if newest_first else id_column > seen)
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column).limit(limit + 1)
    rows = list(session.scalars(stmt)) if scalars else list(session.execute(stmt).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([last_id(rows[-1])])
