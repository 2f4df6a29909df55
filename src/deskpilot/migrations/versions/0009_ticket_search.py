"""ticket full-text search: FTS5 on SQLite, tsvector GIN indexes on PostgreSQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 14:00:00

The search structures live outside the SQLAlchemy models (an FTS5 virtual table has no model,
and a GIN index on an expression is database-specific), so `deskpilot db check` skips every
name starting with `ticket_search` / `ix_ticket_search` (see `deskpilot.db.migrate`).

SQLite: two external-content FTS5 tables index tickets (subject, description) and messages
(body) by rowid; triggers keep them in step with every insert, update and delete, whoever
writes. PostgreSQL: expression GIN indexes, maintained by the database itself. The query side
(`deskpilot.tickets.search`) must use exactly these expressions.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE ticket_search_tickets USING fts5(
        subject, description, content='tickets', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE VIRTUAL TABLE ticket_search_messages USING fts5(
        body, content='messages', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER ticket_search_tickets_ai AFTER INSERT ON tickets BEGIN
        INSERT INTO ticket_search_tickets(rowid, subject, description)
        VALUES (new.id, new.subject, new.description);
    END""",
    """CREATE TRIGGER ticket_search_tickets_ad AFTER DELETE ON tickets BEGIN
        INSERT INTO ticket_search_tickets(ticket_search_tickets, rowid, subject, description)
        VALUES ('delete', old.id, old.subject, old.description);
    END""",
    """CREATE TRIGGER ticket_search_tickets_au AFTER UPDATE OF subject, description ON tickets
    BEGIN
        INSERT INTO ticket_search_tickets(ticket_search_tickets, rowid, subject, description)
        VALUES ('delete', old.id, old.subject, old.description);
        INSERT INTO ticket_search_tickets(rowid, subject, description)
        VALUES (new.id, new.subject, new.description);
    END""",
    """CREATE TRIGGER ticket_search_messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO ticket_search_messages(rowid, body) VALUES (new.id, new.body);
    END""",
    """CREATE TRIGGER ticket_search_messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO ticket_search_messages(ticket_search_messages, rowid, body)
        VALUES ('delete', old.id, old.body);
    END""",
    """CREATE TRIGGER ticket_search_messages_au AFTER UPDATE OF body ON messages BEGIN
        INSERT INTO ticket_search_messages(ticket_search_messages, rowid, body)
        VALUES ('delete', old.id, old.body);
        INSERT INTO ticket_search_messages(rowid, body) VALUES (new.id, new.body);
    END""",
    # Index what is already there.
    "INSERT INTO ticket_search_tickets(ticket_search_tickets) VALUES ('rebuild')",
    "INSERT INTO ticket_search_messages(ticket_search_messages) VALUES ('rebuild')",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS ticket_search_messages_au",
    "DROP TRIGGER IF EXISTS ticket_search_messages_ad",
    "DROP TRIGGER IF EXISTS ticket_search_messages_ai",
    "DROP TRIGGER IF EXISTS ticket_search_tickets_au",
    "DROP TRIGGER IF EXISTS ticket_search_tickets_ad",
    "DROP TRIGGER IF EXISTS ticket_search_tickets_ai",
    "DROP TABLE IF EXISTS ticket_search_messages",
    "DROP TABLE IF EXISTS ticket_search_tickets",
]

POSTGRES_UP = [
    """CREATE INDEX ix_ticket_search_tickets ON tickets
        USING gin (to_tsvector('simple', subject || ' ' || description))""",
    "CREATE INDEX ix_ticket_search_messages ON messages USING gin (to_tsvector('simple', body))",
]

POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_ticket_search_messages",
    "DROP INDEX IF EXISTS ix_ticket_search_tickets",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_UP)
    elif dialect == "postgresql":
        _run(POSTGRES_UP)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_DOWN)
    elif dialect == "postgresql":
        _run(POSTGRES_DOWN)
