"""Full-text ticket search over subject, description and message bodies, on a real index.

SQLite uses the FTS5 tables and PostgreSQL the tsvector GIN expression indexes created by
migration 0009; the expressions below must stay identical to the indexed ones or PostgreSQL falls
back to a sequential scan. Every word the user types must match (as a prefix, so `refun` finds
"refund"), either in the ticket's subject and description or in one of its messages.
Results are always limited to the caller's workspace; customers only search public messages.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, column, select, table, text, union
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.tickets.models import Message, Ticket

MAX_TERMS = 8
MAX_TERM_LENGTH = 40
_WORD = re.compile(r"[^\W_]+")
_TICKET_NUMBER = re.compile(r"#?(\d{1,9})")

_ticket_fts = table("ticket_search_tickets", column("rowid"))
_message_fts = table("ticket_search_messages", column("rowid"))


def search_terms(query: str | None) -> list[str]:
    """The words of a query, lower-cased, without punctuation or query-syntax characters."""
    if not query:
        return []
    words = [w[:MAX_TERM_LENGTH] for w in _WORD.findall(query.lower())]
    return list(dict.fromkeys(words))[:MAX_TERMS]


def ticket_number_in(query: str | None) -> int | None:
    """`#123` or `123` on its own also finds ticket number 123."""
    match = _TICKET_NUMBER.fullmatch((query or "").strip())
    return int(match.group(1)) if match else None


def matching_ticket_ids(session: Session, ctx: Context, query: str) -> Select[Any] | None:
    """A select of the ids of the caller's workspace's tickets matching `query`, or None when the
    query has no searchable words."""
    terms = search_terms(query)
    if not terms:
        return None
    # Deskpilot runs on exactly these two databases (docs/architecture.md).
    if session.get_bind().dialect.name == "postgresql":
        return _postgres(ctx, terms)
    return _sqlite(ctx, terms)


def _message_scope(ctx: Context) -> list[Any]:
    conditions: list[Any] = [Message.workspace_id == ctx.workspace_id]
    if not ctx.is_staff:
        conditions.append(Message.visibility == "public")
    return conditions


def _sqlite(ctx: Context, terms: list[str]) -> Select[Any]:
    # Each term quoted (no FTS syntax can slip in) and prefix-matched; space means AND.
    fts_query = " ".join(f'"{term}"*' for term in terms)
    in_tickets = select(_ticket_fts.c.rowid).where(
        text("ticket_search_tickets MATCH :ticket_fts_query").bindparams(ticket_fts_query=fts_query)
    )
    in_messages = select(_message_fts.c.rowid).where(
        text("ticket_search_messages MATCH :message_fts_query").bindparams(
            message_fts_query=fts_query
        )
    )
    by_ticket = select(Ticket.id).where(
        Ticket.workspace_id == ctx.workspace_id, Ticket.id.in_(in_tickets)
    )
    by_message = select(Message.ticket_id).where(*_message_scope(ctx), Message.id.in_(in_messages))
    return select(union(by_ticket, by_message).subquery().c[0])


def _postgres(ctx: Context, terms: list[str]) -> Select[Any]:
    ts_query = " & ".join(f"{term}:*" for term in terms)
    # Written as SQL text so the expressions match the GIN index definitions exactly.
    by_ticket = select(Ticket.id).where(
        Ticket.workspace_id == ctx.workspace_id,
        text(
            "to_tsvector('simple', tickets.subject || ' ' || tickets.description)"
            " @@ to_tsquery('simple', :ticket_ts_query)"
        ).bindparams(ticket_ts_query=ts_query),
    )
    by_message = select(Message.ticket_id).where(
        *_message_scope(ctx),
        text(
            "to_tsvector('simple', messages.body) @@ to_tsquery('simple', :message_ts_query)"
        ).bindparams(message_ts_query=ts_query),
    )
    return select(union(by_ticket, by_message).subquery().c[0])
