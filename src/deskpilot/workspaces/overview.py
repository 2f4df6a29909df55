"""The admin home's numbers: people by role, teams, customers and open tickets, in one place.

Read-only counts across several domains' tables. Each is a single scoped COUNT, so the admin
page costs a handful of indexed queries however large the workspace is; going through each
domain's list functions would page through every row instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from deskpilot.auth.models import Membership
from deskpilot.core.context import Context, Role
from deskpilot.customers.models import Contact
from deskpilot.tickets.lifecycle import OPEN_STATUSES
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces.models import Team


@dataclass(frozen=True)
class WorkspaceCounts:
    owners: int
    admins: int
    agents: int
    portal_customers: int
    """Customers with a help-center account (active memberships)."""
    contacts: int
    """Every customer the workspace knows, with or without an account."""
    teams: int
    open_tickets: int

    @property
    def staff(self) -> int:
        return self.owners + self.admins + self.agents


def workspace_counts(session: Session, ctx: Context) -> WorkspaceCounts:
    ctx.require_admin()
    by_role = dict(
        session.execute(
            select(Membership.role, func.count(Membership.id))
            .where(Membership.workspace_id == ctx.workspace_id, Membership.is_active.is_(True))
            .group_by(Membership.role)
        ).all()
    )

    def count(model: type[Team] | type[Contact] | type[Ticket], *where: ColumnElement[bool]) -> int:
        stmt = select(func.count(model.id)).where(model.workspace_id == ctx.workspace_id, *where)
        return int(session.scalar(stmt) or 0)

    open_statuses = sorted(status.value for status in OPEN_STATUSES)
    return WorkspaceCounts(
        owners=int(by_role.get(Role.owner.value, 0)),
        admins=int(by_role.get(Role.admin.value, 0)),
        agents=int(by_role.get(Role.agent.value, 0)),
        portal_customers=int(by_role.get(Role.customer.value, 0)),
        contacts=count(Contact),
        teams=count(Team),
        open_tickets=count(Ticket, Ticket.status.in_(open_statuses)),
    )
