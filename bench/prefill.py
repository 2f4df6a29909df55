"""Prefill a migrated database with a realistic help desk: one workspace, agents, contacts, tickets.

The workspace, its people and the API token go through the services (the real write path); the
bulk of the data (contacts, tickets, tags, messages, audit events) is inserted with SQLAlchemy Core
in batches, because creating 100k tickets through the service would take longer than the benchmark.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.core.markdown import render_markdown
from deskpilot.customers.models import Contact, Organization
from deskpilot.db.engine import Database
from deskpilot.tickets.models import Message, Ticket, TicketEvent, TicketTag
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Team, Workspace

BATCH = 5_000
TAGS = [
    "billing", "login", "sso", "mobile", "android", "ios", "export", "import", "api",
    "webhooks", "performance", "outage", "refund", "invoice", "onboarding", "password",
    "2fa", "integrations", "slack", "email", "notifications", "reports", "dashboard",
    "permissions", "data-loss", "feature-request", "bug", "upgrade", "cancellation", "gdpr",
]  # fmt: skip
PRODUCTS = ["Dashboard", "Reports", "Billing portal", "Mobile app", "API", "Importer", "Inbox"]
SUBJECTS = [
    "Cannot log in to the {p}",
    "Invoice #{n} was charged twice",
    "{p} is very slow since the last update",
    "How do I export my data from the {p}?",
    "Error {code} when uploading an attachment",
    "Feature request: dark mode for the {p}",
    "Password reset email never arrives",
    "SSO login loops back to the sign-in page",
    "Webhook deliveries failing with {code}",
    "Please cancel my subscription",
    "Two-factor codes are rejected",
    "Numbers in the {p} do not match the CSV export",
    "Notifications stopped after changing my email",
    "Add a teammate to our account",
    "Refund for order {n}",
]
SENTENCES = [
    "This started happening this morning after the maintenance window.",
    "I already tried clearing the cache and signing in again.",
    "Several people on my team see the same thing.",
    "It worked fine last week with the same settings.",
    "We are on the Business plan if that matters.",
    "Screenshots are attached, the console shows a 500 error.",
    "Could you please look into this as soon as possible?",
    "This blocks our month-end close, so it is fairly urgent for us.",
    "I followed the steps in the help center article without success.",
    "Our admin says the permissions look correct.",
]
STATUS_WEIGHTS = {
    "new": 8, "triage": 4, "in_progress": 14, "waiting_customer": 9, "waiting_internal": 4,
    "pending_release": 2, "resolved": 30, "closed": 29,
}  # fmt: skip
PRIORITY_WEIGHTS = {"low": 20, "normal": 55, "high": 20, "urgent": 5}
CHANNEL_WEIGHTS = {"email": 50, "portal": 25, "chat": 12, "api": 8, "phone": 5}
TYPES = ["question", "bug", "feature_request", "billing", "cancellation", "account", "other"]


@dataclass
class Fixture:
    """What the load generator needs to know about the prefilled database."""

    workspace_id: int
    token: str
    agent_ids: list[int]
    team_ids: list[int]
    contact_emails: list[str]
    contact_ids: list[int]
    tickets: int
    min_ticket_id: int
    max_ticket_id: int
    timings: dict[str, float] = field(default_factory=dict)


def subject(rng: random.Random) -> str:
    return rng.choice(SUBJECTS).format(
        p=rng.choice(PRODUCTS), n=rng.randint(10_000, 99_999), code=rng.choice([400, 403, 500, 502])
    )


def description(rng: random.Random) -> str:
    return " ".join(rng.choices(SENTENCES, k=rng.randint(2, 6)))


def _weighted(rng: random.Random, weights: dict[str, int], k: int) -> list[str]:
    return rng.choices(list(weights), weights=list(weights.values()), k=k)


def _batches(rows: Iterator[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(session: Session, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    count = 0
    for batch in _batches(rows):
        session.execute(insert(table), batch)
        count += len(batch)
    return count


def create_people(session: Session, agents: int = 8) -> tuple[Workspace, str, list[int], list[int]]:
    workspace = workspaces_service.create_workspace(session, slug="bench", name="Bench Inc")
    system = Context.system(workspace.id)
    admin = auth_service.add_member(
        session, system, email="admin@bench.example.com", role=Role.owner, name="Bench Admin"
    )
    admin_ctx = Context(workspace_id=workspace.id, user_id=admin.user_id, role=Role.owner)
    token = auth_service.issue_token(session, admin_ctx, user_id=admin.user_id, name="bench")
    agent_ids = [admin.user_id]
    for i in range(agents):
        member = auth_service.add_member(
            session, system, email=f"agent{i}@bench.example.com", role=Role.agent, name=f"Agent {i}"
        )
        agent_ids.append(member.user_id)
    teams = [Team(workspace_id=workspace.id, name=n) for n in ("Support", "Billing", "Tier 2")]
    session.add_all(teams)
    session.flush()
    return workspace, token.secret, agent_ids, [t.id for t in teams]


def prefill(db: Database, tickets: int, *, seed: int = 7, log: Any = print) -> Fixture:
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with db.session(write=True) as session:
        workspace, token, agent_ids, team_ids = create_people(session)
        ws = workspace.id
        session.commit()
    timings["people"] = time.perf_counter() - start

    now = datetime.now(UTC)
    contacts = max(10, tickets // 10)
    organizations = max(1, contacts // 20)
    t0 = time.perf_counter()
    with db.session(write=True) as session:
        _insert(
            session,
            Organization.__table__,  # type: ignore[arg-type]
            (
                {
                    "workspace_id": ws,
                    "name": f"Customer {i} Ltd",
                    "domain": f"customer{i}.example.com",
                }
                for i in range(organizations)
            ),
        )
        org_ids = list(
            session.scalars(select(Organization.id).where(Organization.workspace_id == ws))
        )
        _insert(
            session,
            Contact.__table__,  # type: ignore[arg-type]
            (
                {
                    "workspace_id": ws,
                    "email": f"person{i}@customer{i % organizations}.example.com",
                    "name": f"Person {i}",
                    "organization_id": org_ids[i % organizations],
                }
                for i in range(contacts)
            ),
        )
        rows = session.execute(
            select(Contact.id, Contact.email, Contact.organization_id)
            .where(Contact.workspace_id == ws)
            .order_by(Contact.id)
        ).all()
        session.commit()
    contact_ids = [r[0] for r in rows]
    contact_emails = [r[1] for r in rows]
    contact_org = {r[0]: r[2] for r in rows}
    timings["contacts"] = time.perf_counter() - t0
    log(f"  {contacts} contacts in {organizations} organizations ({timings['contacts']:.1f}s)")

    t0 = time.perf_counter()
    statuses = _weighted(rng, STATUS_WEIGHTS, tickets)
    priorities = _weighted(rng, PRIORITY_WEIGHTS, tickets)
    channels = _weighted(rng, CHANNEL_WEIGHTS, tickets)
    # Tickets arrive over the past year, numbered in arrival order.
    offsets = sorted((rng.random() * 365 * 86400 for _ in range(tickets)), reverse=True)

    def ticket_rows() -> Iterator[dict[str, Any]]:
        for i in range(tickets):
            created = now - timedelta(seconds=offsets[i])
            status = statuses[i]
            finished = status in ("resolved", "closed")
            updated = created + timedelta(hours=rng.random() * (72 if finished else 24))
            requester = rng.choice(contact_ids)
            yield {
                "workspace_id": ws,
                "number": i + 1,
                "subject": subject(rng),
                "description": description(rng),
                "status": status,
                "priority": priorities[i],
                "impact": "single_user",
                "channel": channels[i],
                "type": rng.choice(TYPES) if rng.random() < 0.7 else None,
                "category": None,
                "custom_fields": {},
                "requester_id": requester,
                "organization_id": contact_org[requester],
                "assignee_id": rng.choice(agent_ids) if status != "new" else None,
                "team_id": rng.choice(team_ids) if rng.random() < 0.6 else None,
                "first_response_at": created + timedelta(minutes=30) if status != "new" else None,
                "resolved_at": updated if finished else None,
                "closed_at": updated if status == "closed" else None,
                "reopened_count": 0,
                "created_at": created,
                "updated_at": min(updated, now),
            }

    with db.session(write=True) as session:
        _insert(session, Ticket.__table__, ticket_rows())  # type: ignore[arg-type]
        ids = list(
            session.execute(
                select(Ticket.id, Ticket.created_at)
                .where(Ticket.workspace_id == ws)
                .order_by(Ticket.number)
            )
        )
        session.execute(update(Workspace).where(Workspace.id == ws).values(ticket_seq=tickets))
        session.commit()
    timings["tickets"] = time.perf_counter() - t0
    log(f"  {tickets} tickets ({timings['tickets']:.1f}s)")

    t0 = time.perf_counter()
    rendered = [(body, render_markdown(body)) for body in (description(rng) for _ in range(50))]

    def tag_rows() -> Iterator[dict[str, Any]]:
        for ticket_id, _ in ids:
            for tag in rng.sample(TAGS, k=rng.choice((0, 1, 1, 2, 2, 3))):
                yield {"workspace_id": ws, "ticket_id": ticket_id, "tag": tag}

    def message_rows() -> Iterator[dict[str, Any]]:
        for ticket_id, created in ids:
            for n in range(rng.choice((0, 1, 1, 2, 3))):
                body, html = rng.choice(rendered)
                agent = n % 2 == 1
                yield {
                    "workspace_id": ws,
                    "ticket_id": ticket_id,
                    "author_type": "agent" if agent else "customer",
                    "author_user_id": rng.choice(agent_ids) if agent else None,
                    "visibility": "public",
                    "channel": "email",
                    "body": body,
                    "body_html": html,
                    "created_at": created + timedelta(minutes=30 * (n + 1)),
                }

    def event_rows() -> Iterator[dict[str, Any]]:
        for number, (ticket_id, created) in enumerate(ids, start=1):
            yield {
                "workspace_id": ws,
                "ticket_id": ticket_id,
                "kind": "created",
                "actor_type": "system",
                "meta": {"channel": "email", "number": number},
                "created_at": created,
            }

    with db.session(write=True) as session:
        tags = _insert(session, TicketTag.__table__, tag_rows())  # type: ignore[arg-type]
        messages = _insert(session, Message.__table__, message_rows())  # type: ignore[arg-type]
        events = _insert(session, TicketEvent.__table__, event_rows())  # type: ignore[arg-type]
        session.commit()
    timings["children"] = time.perf_counter() - t0
    log(f"  {tags} tags, {messages} messages, {events} events ({timings['children']:.1f}s)")
    ticket_ids = [i for i, _ in ids]
    return Fixture(
        workspace_id=ws,
        token=token,
        agent_ids=agent_ids,
        team_ids=team_ids,
        contact_emails=contact_emails,
        contact_ids=contact_ids,
        tickets=tickets,
        min_ticket_id=min(ticket_ids, default=0),
        max_ticket_id=max(ticket_ids, default=0),
        timings=timings,
    )


def analyze(db: Database) -> None:
    """What autovacuum does shortly after a bulk load on PostgreSQL."""
    if db.is_sqlite:
        return
    with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


@dataclass
class Verification:
    """Tickets the database gained versus the 201s the clients received."""

    tickets_in_db: int
    new_tickets: int
    created_201: int
    duplicate_numbers: int
    missing_ids: int
    repeated_ids: int
    ticket_seq: int

    @property
    def ok(self) -> bool:
        return (
            self.new_tickets == self.created_201
            and self.duplicate_numbers == 0
            and self.missing_ids == 0
            and self.repeated_ids == 0
        )


def verify(
    db: Database, workspace_id: int, created_ids: Sequence[int], baseline: int
) -> Verification:
    """Count after the run minus the count before it must equal the 201s, with no duplicates."""
    unique_ids = sorted(set(created_ids))
    with db.session(write=False) as session:
        count = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.workspace_id == workspace_id)
        )
        duplicates = session.scalar(
            select(func.count()).select_from(
                select(Ticket.number)
                .where(Ticket.workspace_id == workspace_id)
                .group_by(Ticket.number)
                .having(func.count() > 1)
                .subquery()
            )
        )
        found = 0
        for i in range(0, len(unique_ids), 1000):
            chunk = unique_ids[i : i + 1000]
            found += (
                session.scalar(select(func.count()).select_from(Ticket).where(Ticket.id.in_(chunk)))
                or 0
            )
        seq = session.scalar(select(Workspace.ticket_seq).where(Workspace.id == workspace_id))
    return Verification(
        tickets_in_db=int(count or 0),
        new_tickets=int(count or 0) - baseline,
        created_201=len(created_ids),
        duplicate_numbers=int(duplicates or 0),
        missing_ids=len(unique_ids) - found,
        repeated_ids=len(created_ids) - len(unique_ids),
        ticket_seq=int(seq or 0),
    )
