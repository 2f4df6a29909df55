"""The demo's day-to-day setup: SLA targets, automation rules, routing, shared macros and the AI's
hand-off team.

Configured after the historical sample tickets are in, so those keep the story they tell; new
tickets then show the whole machine at work (a rule, an assignee, SLA clocks, the AI).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from deskpilot.automation.defaults import install_defaults
from deskpilot.core.context import Context
from deskpilot.macros import service as macros_service
from deskpilot.macros.schemas import MacroChanges, MacroCreate
from deskpilot.routing import service as routing_service
from deskpilot.routing.schemas import AgentStatusUpdate, Strategy
from deskpilot.sla import service as sla_service
from deskpilot.sla.schemas import BusinessHoursCreate, SlaPolicyCreate
from deskpilot.triage.policy import get_policy, update_policy

OFFICE_HOURS = {day: [["09:00", "17:30"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {
    "sat": [],
    "sun": [],
}


SHARED_MACROS = [
    MacroCreate(
        name="Ask for details",
        shared=True,
        body=(
            "Hi {{ requester.name }},\n\n"
            "thanks for getting in touch. To look into this, could you send us:\n\n"
            "- the exact error message or a screenshot,\n"
            "- the time it happened (with your time zone),\n"
            "- the project or resource name.\n\n"
            "{{ agent.name }}"
        ),
        changes=MacroChanges(status="waiting_customer"),
    ),
    MacroCreate(
        name="Known incident: we're on it",
        shared=True,
        body=(
            "Hi {{ requester.name }},\n\n"
            "this is part of an incident our engineers are working on right now. Follow "
            "progress on our status page; we will update this ticket (#{{ ticket.number }}) "
            "once it is resolved.\n\n{{ agent.name }}"
        ),
        changes=MacroChanges(status="waiting_internal", add_tags=["incident"]),
    ),
    MacroCreate(
        name="Escalate to engineering",
        shared=True,
        visibility="internal",
        body="Needs engineering: reproduced on our side, details above.",
        changes=MacroChanges(priority="high", add_tags=["engineering"]),
    ),
    MacroCreate(
        name="Solved: close the loop",
        shared=True,
        body=(
            "Hi {{ requester.name }},\n\n"
            "glad we could sort this out. If anything else comes up, just reply to this "
            "message and the ticket opens again.\n\n{{ agent.name }}"
        ),
        changes=MacroChanges(status="resolved"),
    ),
]


def configure_operations(
    session: Session, system: Context, teams: dict[str, int], agent_user_ids: Iterable[int]
) -> None:
    hours, _ = sla_service.create_business_hours(
        session,
        system,
        BusinessHoursCreate(
            name="Office hours",
            timezone="Europe/London",
            schedule=OFFICE_HOURS,
            holidays=["2026-12-25", "2026-12-26", "2027-01-01"],
            is_default=True,
        ),
    )
    sla_service.create_policy(
        session,
        system,
        SlaPolicyCreate(
            name="Urgent",
            position=0,
            conditions={"priority": ["urgent"]},
            first_response_minutes=30,
            next_response_minutes=60,
            resolution_minutes=4 * 60,
            breach_actions=[{"type": "notify_team"}, {"type": "notify_assignee"}],
        ),
    )
    sla_service.create_policy(
        session,
        system,
        SlaPolicyCreate(
            name="Standard (office hours)",
            position=10,
            first_response_minutes=4 * 60,
            next_response_minutes=8 * 60,
            resolution_minutes=3 * 8 * 60,
            business_hours_id=hours.id,
            breach_actions=[{"type": "raise_priority"}, {"type": "notify_assignee"}],
        ),
    )
    install_defaults(session, system)
    for macro in SHARED_MACROS:
        macros_service.create_macro(session, system, macro)
    for user_id in agent_user_ids:
        routing_service.set_agent_status(
            session, system, user_id, AgentStatusUpdate(availability="online", capacity=15)
        )
    routing_service.set_team_routing(session, system, teams["Support"], Strategy.least_load)
    policy = get_policy(session, system).model_dump()
    update_policy(session, system, policy | {"default_team_id": teams["Support"]})
