"""Seed the `demo` workspace: a SaaS support desk ("Acme Cloud") with a month of realistic tickets.

Everything goes through the domain services with the context of whoever would really act (the
agent replying, the customer writing, the system routing), so the demo exercises the same write
paths, audit events and status rules as production. The clock is moved for each action to spread
the history over the last 30 days; the caller commits.
"""

from __future__ import annotations

import json
import zlib
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.analytics import rollups as analytics_rollups
from deskpilot.auth import service as auth_service
from deskpilot.core.clock import set_clock, utcnow
from deskpilot.core.context import Context, Role
from deskpilot.customers import service as customers_service
from deskpilot.customers.schemas import ContactCreate, OrganizationCreate
from deskpilot.demo.operations import configure_operations
from deskpilot.kb.importer import import_path
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.lifecycle import TRANSITIONS, Status
from deskpilot.tickets.schemas import MessageCreate, TicketCreate, TicketUpdate
from deskpilot.triage import pipeline
from deskpilot.workspaces import service as workspaces_service
from deskpilot.workspaces.models import Workspace
from deskpilot.workspaces.schemas import TeamCreate

DEMO_SLUG = "demo"
ARTICLES = "articles.jsonl"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - documented sign-in for the local demo
HISTORY_DAYS = 31
# How long after the last activity an implicit status change happens (closing waits for the
# customer, everything else follows the agent's last action closely).
TRANSITION_DELAY = {Status.closed: timedelta(days=4), Status.triage: timedelta(minutes=3)}
DEFAULT_TRANSITION_DELAY = timedelta(hours=1)
ROUTING_DELAY = timedelta(minutes=2)
MAX_TIME_OF_DAY_JITTER_MINUTES = 300


def _load(name: str) -> Any:
    return json.loads(resources.files("deskpilot.demo").joinpath(name).read_text(encoding="utf-8"))


def directory() -> dict[str, Any]:
    """Staff, teams, organizations and contacts of the demo workspace."""
    data: dict[str, Any] = _load("directory.json")
    return data


def ticket_specs() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _load("tickets.json")
    return data


@dataclass(frozen=True)
class DemoSummary:
    workspace_id: int
    members: int
    teams: int
    organizations: int
    contacts: int
    tickets: int
    articles: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def any_workspace_exists(session: Session) -> bool:
    return session.scalars(select(Workspace.id).limit(1)).first() is not None


def credentials_text(base_url: str) -> str:
    people = directory()
    logins = [(p["email"], p["role"]) for p in people["staff"]] + [
        (c["email"], "customer (portal)") for c in people["contacts"] if c.get("portal")
    ]
    width = max(len(email) for email, _ in logins)
    lines = [
        f"Demo sign-in: workspace {DEMO_SLUG!r}, password {DEMO_PASSWORD!r} for everyone below.",
        *(f"  {email:<{width}}  {role}" for email, role in logins),
        f"API docs: {base_url.rstrip('/')}/docs",
        "API token: deskpilot token create --workspace demo --email " + logins[0][0],
    ]
    return "\n".join(lines)


def status_path(current: Status, target: Status) -> list[Status]:
    """The shortest chain of legal transitions from `current` to `target` (empty if equal)."""
    previous: dict[Status, Status | None] = {current: None}
    todo = deque([current])
    while todo:
        status = todo.popleft()
        if status == target:
            break
        for nxt in sorted(TRANSITIONS[status]):
            if nxt not in previous:
                previous[nxt] = status
                todo.append(nxt)
    if target not in previous:
        raise ValueError(f"no legal path from {current} to {target}")
    path: list[Status] = []
    step: Status | None = target
    while step is not None and step != current:
        path.append(step)
        step = previous[step]
    return path[::-1]


def seed_demo(session: Session, *, now: datetime | None = None) -> DemoSummary:
    """Create the demo workspace and everything in it. Raises Conflict if it already exists."""
    seeder = _Seeder(session, now or utcnow())
    # The sample tickets are history, already handled by the demo's agents: the AI stays out.
    with pipeline.suspended():
        try:
            return seeder.run()
        finally:
            set_clock(None)


class _Seeder:
    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.latest = now - timedelta(minutes=1)
        self.system: Context
        self.staff: dict[str, Context] = {}
        self.contacts: dict[str, int] = {}
        self.portal: dict[str, Context] = {}
        self.teams: dict[str, int] = {}
        self.tickets: dict[str, int] = {}
        self.last_activity: dict[str, datetime] = {}

    def at(self, when: datetime) -> datetime:
        moment = min(when, self.latest)
        set_clock(lambda: moment)
        return moment

    def run(self) -> DemoSummary:
        people = directory()
        self.at(self.now - timedelta(days=HISTORY_DAYS))
        ws = workspaces_service.create_workspace(
            self.session, slug=people["workspace"]["slug"], name=people["workspace"]["name"]
        )
        self.system = Context.system(ws.id)
        self._add_staff(people["staff"])
        self._add_teams(people["teams"])
        orgs = self._add_organizations(people["organizations"])
        self._add_contacts(people["contacts"], orgs)
        specs = ticket_specs()
        for spec in sorted(specs, key=self.created_at):
            self._add_ticket(spec)
        for spec in specs:
            if spec.get("merge_into"):
                self._merge(spec)
        self.at(self.now - timedelta(days=HISTORY_DAYS - 1))
        # The help-center articles go in through the normal importer; they are indexed by jobs
        # once the demo's transaction commits.
        articles = Path(str(resources.files("deskpilot.demo").joinpath(ARTICLES)))
        imported = import_path(self.session, self.system, articles)
        staff_ids = [ctx.user_id for ctx in self.staff.values() if ctx.user_id is not None]
        configure_operations(self.session, self.system, self.teams, staff_ids)
        set_clock(None)
        # The periodic roll-up covers yesterday and today; the demo's month of history is rolled
        # up once here so its dashboards are full from the start.
        today = self.now.date()
        analytics_rollups.recompute(
            self.session, self.system, today - timedelta(days=HISTORY_DAYS), today
        )
        return DemoSummary(
            workspace_id=ws.id,
            members=len(self.staff) + len(self.portal),
            teams=len(self.teams),
            organizations=len(orgs),
            contacts=len(self.contacts),
            tickets=len(self.tickets),
            articles=imported.imported,
        )

    # --- directory -------------------------------------------------------------------------------

    def _add_staff(self, staff: list[dict[str, Any]]) -> None:
        for person in staff:
            role = Role(person["role"])
            membership = auth_service.add_member(
                self.session,
                self.system,
                email=person["email"],
                role=role,
                name=person["name"],
                password=DEMO_PASSWORD,
            )
            self.staff[person["key"]] = Context(
                workspace_id=self.system.workspace_id, user_id=membership.user_id, role=role
            )

    def _add_teams(self, teams: list[dict[str, Any]]) -> None:
        for spec in teams:
            team = workspaces_service.create_team(
                self.session,
                self.system,
                TeamCreate(name=spec["name"], description=spec["description"]),
            )
            self.teams[spec["name"]] = team.id
            for key in spec["members"]:
                user_id = self.staff[key].user_id
                assert user_id is not None
                workspaces_service.add_team_member(self.session, self.system, team.id, user_id)

    def _add_organizations(self, organizations: list[dict[str, Any]]) -> dict[str, int]:
        ids: dict[str, int] = {}
        for spec in organizations:
            org = customers_service.create_organization(
                self.session,
                self.system,
                OrganizationCreate(
                    name=spec["name"],
                    domain=spec["domain"],
                    tier=spec["tier"],
                    mrr=Decimal(spec["mrr"]),
                    external_id=spec["external_id"],
                    crm_id=spec["crm_id"],
                ),
            )
            ids[spec["name"]] = org.id
        return ids

    def _add_contacts(self, contacts: list[dict[str, Any]], orgs: dict[str, int]) -> None:
        for spec in contacts:
            contact = customers_service.create_contact(
                self.session,
                self.system,
                ContactCreate(
                    email=spec["email"],
                    name=spec["name"],
                    phone=spec["phone"],
                    organization_id=orgs[spec["organization"]] if spec["organization"] else None,
                ),
            )
            self.contacts[spec["email"]] = contact.id
            if spec.get("portal"):
                membership = auth_service.add_member(
                    self.session,
                    self.system,
                    email=spec["email"],
                    role=Role.customer,
                    name=spec["name"],
                    password=DEMO_PASSWORD,
                )
                self.portal[spec["email"]] = Context(
                    workspace_id=self.system.workspace_id,
                    user_id=membership.user_id,
                    role=Role.customer,
                    contact_id=membership.contact_id,
                )

    # --- tickets ---------------------------------------------------------------------------------

    def _customer(self, email: str) -> Context:
        """The requester acting: their portal login if they have one, else the contact itself."""
        if email in self.portal:
            return self.portal[email]
        return Context(
            workspace_id=self.system.workspace_id,
            user_id=None,
            role=Role.customer,
            contact_id=self.contacts[email],
        )

    def created_at(self, spec: dict[str, Any]) -> datetime:
        # A stable per-ticket offset so tickets do not all arrive at the same time of day.
        jitter = zlib.crc32(spec["key"].encode()) % MAX_TIME_OF_DAY_JITTER_MINUTES
        return min(self.now - timedelta(days=float(spec["days_ago"]), minutes=jitter), self.latest)

    def _actor(self, spec: dict[str, Any]) -> Context:
        key = spec.get("assignee")
        return self.staff[key] if key else self.system

    def _add_ticket(self, spec: dict[str, Any]) -> None:
        created = self.at(self.created_at(spec))
        fields: dict[str, Any] = {
            "subject": spec["subject"],
            "description": spec["description"],
            "channel": spec["channel"],
            "type": spec["type"],
            "priority": spec["priority"],
            "impact": spec.get("impact", "single_user"),
            "tags": spec.get("tags", []),
        }
        routing = {
            "team_id": self.teams[spec["team"]] if spec.get("team") else None,
            "assignee_id": self.staff[spec["assignee"]].user_id if spec.get("assignee") else None,
        }
        routing = {k: v for k, v in routing.items() if v is not None}
        if spec["channel"] == "portal":
            ctx = self._customer(spec["requester"])
        else:
            ctx = self.staff[spec["created_by"]] if spec.get("created_by") else self.system
            fields["requester"] = {"email": spec["requester"]}
            fields.update(routing)
        ticket, _ = tickets_service.create_ticket(
            self.session, ctx, TicketCreate.model_validate(fields)
        )
        key = spec["key"]
        self.tickets[key] = ticket.id
        when = created
        if spec["channel"] == "portal" and routing:
            when = self.at(created + ROUTING_DELAY)
            tickets_service.update_ticket(
                self.session, self.system, ticket.id, TicketUpdate.model_validate(routing)
            )
        for step in spec.get("steps", []):
            when = self.at(max(created + timedelta(hours=float(step["h"])), when))
            self._step(ticket.id, spec, step)
        if spec.get("status"):
            when = self._finish(ticket.id, spec, Status(spec["status"]), when)
        self.last_activity[key] = when

    def _step(self, ticket_id: int, spec: dict[str, Any], step: dict[str, Any]) -> None:
        if "customer" in step:
            tickets_service.add_message(
                self.session,
                self._customer(spec["requester"]),
                ticket_id,
                MessageCreate(body=step["customer"]),
            )
            return
        agent = self.staff[step["agent"]]
        if "status" in step:
            self._move(ticket_id, agent, Status(step["status"]))
        elif "reply" in step:
            # An agent answering takes the ticket into work first, as they would in the UI.
            self._move(ticket_id, agent, Status.in_progress, only_from=(Status.new, Status.triage))
            tickets_service.add_message(
                self.session, agent, ticket_id, MessageCreate(body=step["reply"])
            )
        else:
            tickets_service.add_message(
                self.session,
                agent,
                ticket_id,
                MessageCreate(body=step["note"], visibility="internal"),
            )

    def _move(
        self,
        ticket_id: int,
        ctx: Context,
        target: Status,
        *,
        only_from: tuple[Status, ...] | None = None,
    ) -> None:
        current = Status(tickets_service.get_ticket(self.session, ctx, ticket_id).status)
        if only_from is not None and current not in only_from:
            return
        for status in status_path(current, target):
            tickets_service.update_ticket(self.session, ctx, ticket_id, TicketUpdate(status=status))

    def _finish(
        self, ticket_id: int, spec: dict[str, Any], target: Status, when: datetime
    ) -> datetime:
        ctx = self._actor(spec)
        current = Status(tickets_service.get_ticket(self.session, ctx, ticket_id).status)
        for status in status_path(current, target):
            when = self.at(when + TRANSITION_DELAY.get(status, DEFAULT_TRANSITION_DELAY))
            tickets_service.update_ticket(self.session, ctx, ticket_id, TicketUpdate(status=status))
        return when

    def _merge(self, spec: dict[str, Any]) -> None:
        target_key = spec["merge_into"]
        when = max(self.last_activity[spec["key"]], self.last_activity[target_key])
        self.at(when + timedelta(minutes=10))
        tickets_service.merge_tickets(
            self.session,
            self.staff[spec["merged_by"]],
            self.tickets[spec["key"]],
            self.tickets[target_key],
        )
