"""The workspace's AI decision policy: staff read it, owners and admins replace it."""

from __future__ import annotations

from fastapi import APIRouter

from deskpilot.triage import policy as policy_service
from deskpilot.triage.policy import DecisionPolicy
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=TransactionalRoute)


@router.get("/policy", response_model=DecisionPolicy)
def get_policy(session: DbSession, ctx: StaffContext) -> DecisionPolicy:
    """The rules that decide between resolve, confirm, clarify and escalate (defaults until an
    admin saves a policy)."""
    return policy_service.get_policy(session, ctx)


@router.put("/policy", response_model=DecisionPolicy)
def replace_policy(data: DecisionPolicy, session: DbSession, ctx: AdminContext) -> DecisionPolicy:
    """Replace the whole policy: omitted fields take their defaults. Team ids must be teams of
    this workspace."""
    return policy_service.update_policy(session, ctx, data)
