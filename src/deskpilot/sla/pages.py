"""Admin pages for SLA policies (/admin/sla): the overview in match order, create, edit, delete.

Business-hours calendars have their own module (`hours_pages`), included into this router. Every
write goes through `sla.service`, the functions behind `/api/v1/sla-policies`, so validation,
audit and tenancy stay in one place; this module only turns form text into the API's schemas
and the service's errors into inline messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import DomainError
from deskpilot.sla import service
from deskpilot.sla.hours_pages import (
    Refused,
    all_business_hours,
    all_policies,
    hours_rows,
    save_form,
)
from deskpilot.sla.hours_pages import router as hours_router
from deskpilot.sla.models import SlaPolicy
from deskpilot.sla.schemas import SlaPolicyCreate, SlaPolicyUpdate
from deskpilot.tickets.lifecycle import Channel, Priority, TicketType
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import FormText, IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, is_partial_request, render
from deskpilot.workspaces.team_pages import all_team_names, field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
router.include_router(hours_router)

METRICS = (
    ("first_response", "First response"),
    ("next_response", "Next response"),
    ("resolution", "Resolution"),
)
UNITS = (("minutes", "minutes"), ("hours", "hours"))
MAX_TARGET_MINUTES = 525_600  # the bound of `schemas.TargetMinutes`: one year
CONDITION_LABELS = {
    "priority": "Priority",
    "organization_tier": "Organization tier",
    "channel": "Channel",
    "type": "Type",
    "category": "Category",
}
NOTIFY_ACTIONS = (
    ("notify_assignee", "Notify the assignee (internal note)"),
    ("notify_team", "Notify the ticket's team (internal note)"),
    ("raise_priority", "Raise the priority one step"),
)
# The service reports these schema fields; the form shows them under other names.
FORM_NAMES = {f"{metric}_minutes": metric for metric, _ in METRICS} | {
    "business_hours_id": "hours",
    "breach_actions": "assign_team_id",
}
FORM_FIELDS = (
    *("name", "position", "conditions", "hours", "at_risk_percent", "assign_team_id"),
    *(metric for metric, _ in METRICS),
)


# --- reading -------------------------------------------------------------------------------------


def describe_minutes(minutes: int | None) -> str:
    """90 -> '1 h 30 min'; None -> 'No target'. Never days: a 'day' of business hours is vague."""
    if minutes is None:
        return "No target"
    hours, rest = divmod(minutes, 60)
    parts = ([f"{hours:,} h"] if hours else []) + ([f"{rest} min"] if rest else [])
    return " ".join(parts)


@dataclass(frozen=True)
class PolicyRow:
    id: int
    name: str
    position: int
    enabled: bool
    conditions: list[tuple[str, str]]
    targets: list[tuple[str, str]]
    hours: str
    actions: list[str]


def _condition_summary(conditions: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (CONDITION_LABELS.get(name, name), ", ".join(str(v).replace("_", " ") for v in values))
        for name, values in conditions.items()
        if values
    ]


def _action_summary(actions: list[dict[str, Any]], teams: dict[int, str]) -> list[str]:
    labels = dict(NOTIFY_ACTIONS)
    out = []
    for action in actions:
        if action.get("type") == "assign_team":
            team_id = int(action.get("team_id", 0))
            out.append(f"Assign to team {teams.get(team_id, f'#{team_id}')}")
        else:
            out.append(labels.get(str(action.get("type")), str(action.get("type"))))
    return out


def _hours_label(policy: SlaPolicy, calendars: dict[int, str]) -> str:
    if policy.business_hours_id is None:
        return "Calendar hours (24/7)"
    return calendars.get(policy.business_hours_id, f"Business hours #{policy.business_hours_id}")


def policy_rows(session: Session, ctx: Context, policies: list[SlaPolicy]) -> list[PolicyRow]:
    calendars = {h.id: h.name for h in all_business_hours(session, ctx)}
    teams = dict(all_team_names(session, ctx))
    return [
        PolicyRow(
            id=p.id,
            name=p.name,
            position=p.position,
            enabled=p.enabled,
            conditions=_condition_summary(p.conditions or {}),
            targets=[
                (label, describe_minutes(getattr(p, f"{metric}_minutes")))
                for metric, label in METRICS
            ],
            hours=_hours_label(p, calendars),
            actions=_action_summary(p.breach_actions or [], teams),
        )
        for p in policies
    ]


# --- the overview --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class SlaOverviewPage(PageContext):
    policies: list[PolicyRow]
    calendars: list[Any]
    nav: str = "admin"


def _overview(request: Request, session: Session, auth: AdminPage) -> Response:
    ctx = auth.ctx
    policies = all_policies(session, ctx)
    page = SlaOverviewPage(
        title="SLAs",
        viewer=auth.viewer,
        policies=policy_rows(session, ctx, policies),
        calendars=hours_rows(session, ctx, policies),
    )
    return render(request, "sla/admin_sla.html", page, partial="sla/_policy_table.html")


@router.get("/admin/sla")
def sla_overview(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _overview(request, session, auth)


@router.post("/admin/sla/policies/{policy_id}/enabled")
def set_policy_enabled(
    policy_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    enabled: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The list's on/off switch: htmx swaps the policy table, a plain post reloads the page.

    `enabled` reads like a checkbox: present means on, absent means off. It is plain text, not a
    strict boolean, so a missing or odd value switches the policy instead of ending on a bare
    422 page; "false" still means off for a list rendered before the switch posted this way."""
    turn_on = bool(enabled.strip()) and enabled.strip().lower() != "false"
    update = SlaPolicyUpdate(enabled=turn_on)
    policy = service.update_policy(session, auth.ctx, policy_id, update)
    if is_partial_request(request):
        return _overview(request, session, auth)
    state = "enabled" if policy.enabled else "disabled"
    return redirect(request, "/admin/sla", flash=f"Policy {policy.name} {state}.")


# --- the policy form -----------------------------------------------------------------------------


@dataclass
class PolicyForm:
    """The policy as the form shows it: numbers as typed, lists as ticked boxes or text (tiers
    and categories one per line, as a value may itself contain a comma)."""

    name: str = ""
    position: str = "0"
    enabled: bool = True
    priority: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    organization_tier: str = ""
    category: str = ""
    targets: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {metric: ("", "hours") for metric, _ in METRICS}
    )
    hours: str = "calendar"
    pause_when_waiting_customer: bool = True
    at_risk_percent: str = "80"
    notify: list[str] = field(default_factory=list)
    assign_team_id: str = ""


def _target_fields(minutes: int | None) -> tuple[str, str]:
    if minutes is None:
        return "", "hours"
    if minutes % 60 == 0:
        return str(minutes // 60), "hours"
    return str(minutes), "minutes"


def policy_form(policy: SlaPolicy) -> PolicyForm:
    conditions = policy.conditions or {}
    actions = policy.breach_actions or []
    assign = next((a for a in actions if a.get("type") == "assign_team"), None)
    return PolicyForm(
        name=policy.name,
        position=str(policy.position),
        enabled=policy.enabled,
        priority=[str(v) for v in conditions.get("priority") or []],
        channel=[str(v) for v in conditions.get("channel") or []],
        type=[str(v) for v in conditions.get("type") or []],
        organization_tier="\n".join(conditions.get("organization_tier") or []),
        category="\n".join(conditions.get("category") or []),
        targets={m: _target_fields(getattr(policy, f"{m}_minutes")) for m, _ in METRICS},
        hours="calendar" if policy.business_hours_id is None else str(policy.business_hours_id),
        pause_when_waiting_customer=policy.pause_when_waiting_customer,
        at_risk_percent=str(policy.at_risk_percent),
        notify=[str(a["type"]) for a in actions if a.get("type") != "assign_team"],
        assign_team_id="" if assign is None else str(assign.get("team_id", "")),
    )


LongText = Annotated[str, Form(max_length=10_000)]
Picks = Annotated[list[str] | None, Form()]


def read_policy_form(
    name: FormText = "",
    position: FormText = "0",
    enabled: FormText = "",
    priority: Picks = None,
    channel: Picks = None,
    type: Picks = None,  # the condition's name in the API
    organization_tier: LongText = "",
    category: LongText = "",
    first_response: FormText = "",
    first_response_unit: FormText = "hours",
    next_response: FormText = "",
    next_response_unit: FormText = "hours",
    resolution: FormText = "",
    resolution_unit: FormText = "hours",
    hours: FormText = "calendar",
    pause_when_waiting_customer: FormText = "",
    at_risk_percent: FormText = "80",
    notify: Picks = None,
    assign_team_id: FormText = "",
) -> PolicyForm:
    """Unticked boxes are absent from a form post: they read as off."""
    return PolicyForm(
        name=name,
        position=position,
        enabled=bool(enabled),
        priority=priority or [],
        channel=channel or [],
        type=type or [],
        organization_tier=organization_tier,
        category=category,
        targets={
            "first_response": (first_response, first_response_unit),
            "next_response": (next_response, next_response_unit),
            "resolution": (resolution, resolution_unit),
        },
        hours=hours,
        pause_when_waiting_customer=bool(pause_when_waiting_customer),
        at_risk_percent=at_risk_percent,
        notify=notify or [],
        assign_team_id=assign_team_id,
    )


SubmittedPolicy = Annotated[PolicyForm, Depends(read_policy_form)]


def parse_target(amount: str, unit: str) -> int | None:
    """'1.5' hours -> 90; blank -> None (no clock for that metric). ValueError with a message."""
    text = amount.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError("enter a number, e.g. 30 or 1.5") from exc
    # Bounded before the multiplication: 1e999999 hours would overflow Decimal's exponent.
    if not value.is_finite():
        raise ValueError("enter a number, e.g. 30 or 1.5")
    if value <= 0:
        raise ValueError("must be more than zero (leave blank for no target)")
    if value > MAX_TARGET_MINUTES:
        raise ValueError("at most one year (8,760 hours)")
    minutes = value * 60 if unit == "hours" else value
    if minutes != minutes.to_integral_value() or minutes < 1:
        raise ValueError("that is not a whole number of minutes")
    if minutes > MAX_TARGET_MINUTES:
        raise ValueError("at most one year (8,760 hours)")
    return int(minutes)


def _split_lines(text: str) -> list[str] | None:
    """One value per line, commas kept: "billing, invoices" is one category."""
    values = [v.strip() for v in text.splitlines() if v.strip()]
    return values or None


def policy_payload(form: PolicyForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The API body the form stands for, and the errors found before the schema sees it."""
    errors: dict[str, str] = {}
    conditions = {
        "priority": form.priority or None,
        "channel": form.channel or None,
        "type": form.type or None,
        "organization_tier": _split_lines(form.organization_tier),
        "category": _split_lines(form.category),
    }
    data: dict[str, Any] = {
        "name": form.name,
        "position": form.position.strip() or "0",
        "enabled": form.enabled,
        "conditions": conditions,
        "pause_when_waiting_customer": form.pause_when_waiting_customer,
        "at_risk_percent": form.at_risk_percent.strip(),
        "breach_actions": [{"type": kind} for kind in form.notify],
    }
    for metric, (amount, unit) in form.targets.items():
        try:
            data[f"{metric}_minutes"] = parse_target(amount, unit)
        except ValueError as exc:
            errors[metric] = str(exc)
    if form.assign_team_id.strip():
        data["breach_actions"].append({"type": "assign_team", "team_id": form.assign_team_id})
    if form.hours in ("calendar", "default"):  # the service resolves the default when saving
        data.update(hours=form.hours, business_hours_id=None)
    else:
        data.update(hours="business", business_hours_id=form.hours)
    return data, errors


def _errors_of(exc: ValidationError | DomainError) -> dict[str, str]:
    """Errors keyed by the form's field names (a condition's own box, not just `conditions`)."""
    if isinstance(exc, ValidationError):
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = err["loc"]
            if len(loc) > 1 and loc[0] == "conditions" and loc[1] in CONDITION_LABELS:
                errors.setdefault(str(loc[1]), err["msg"])
        errors.update(
            (k, v) for k, v in schema_errors(exc).items() if k != "conditions" or not errors
        )
    else:
        errors = field_errors(exc, (*FORM_FIELDS, *FORM_NAMES), "name")
    return {FORM_NAMES.get(name, name): message for name, message in errors.items()}


@dataclass(kw_only=True)
class PolicyPage(PageContext):
    policy_id: int | None
    form: PolicyForm
    errors: dict[str, str] = field(default_factory=dict)
    hours_options: list[tuple[str, str]] = field(default_factory=list)
    teams: list[tuple[str, str]] = field(default_factory=list)
    metrics: tuple[tuple[str, str], ...] = METRICS
    units: tuple[tuple[str, str], ...] = UNITS
    notify_actions: tuple[tuple[str, str], ...] = NOTIFY_ACTIONS
    priorities: list[str] = field(default_factory=lambda: [p.value for p in Priority])
    channels: list[str] = field(default_factory=lambda: [c.value for c in Channel])
    types: list[str] = field(default_factory=lambda: [t.value for t in TicketType])
    nav: str = "admin"


def _hours_options(session: Session, ctx: Context) -> list[tuple[str, str]]:
    calendars = all_business_hours(session, ctx)
    default = next((h for h in calendars if h.is_default), None)
    default_label = (
        f"Workspace default ({default.name})" if default else "Workspace default (none set)"
    )
    options = [("calendar", "Calendar hours (24/7)"), ("default", default_label)]
    return options + [(str(h.id), f"Business hours: {h.name} ({h.timezone})") for h in calendars]


def _team_options(session: Session, ctx: Context, chosen: str) -> list[tuple[str, str]]:
    """The workspace's teams, plus the chosen one if it was deleted since: shown (and sent back)
    as it is, so saving reports the missing team instead of silently dropping the action."""
    options = [(str(team_id), name) for team_id, name in all_team_names(session, ctx)]
    chosen = chosen.strip()
    if chosen and chosen not in {value for value, _ in options}:
        options.append((chosen, f"Team #{chosen} (no longer exists)"))
    return options


def _policy_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    policy: SlaPolicy | None = None,
    form: PolicyForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = auth.ctx
    page_form = form or (policy_form(policy) if policy else PolicyForm())
    page = PolicyPage(
        title=f"SLA policy {policy.name}" if policy else "New SLA policy",
        viewer=auth.viewer,
        policy_id=policy.id if policy else None,
        form=page_form,
        errors=errors or {},
        hours_options=_hours_options(session, ctx),
        teams=_team_options(session, ctx, page_form.assign_team_id),
    )
    return render(request, "sla/admin_policy.html", page, status_code=status_code)


@router.get("/admin/sla/policies/new")
def new_policy(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _policy_page(request, session, auth)


@router.post("/admin/sla/policies")
def create_policy(
    request: Request, session: DbSession, auth: AdminPage, form: SubmittedPolicy
) -> Response:
    data, found = policy_payload(form)
    policy = save_form(
        session,
        SlaPolicyCreate,
        data,
        found,
        save=lambda body: service.create_policy(session, auth.ctx, body)[0],
        errors_of=_errors_of,
    )
    if isinstance(policy, Refused):
        return _policy_page(
            request, session, auth, form=form, errors=policy.errors, status_code=policy.status_code
        )
    flash = f"Policy {policy.name} created."
    return redirect(request, f"/admin/sla/policies/{policy.id}", flash=flash)


@router.get("/admin/sla/policies/{policy_id}")
def policy_detail(
    policy_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    policy = service.get_policy(session, auth.ctx, policy_id)
    return _policy_page(request, session, auth, policy=policy)


@router.post("/admin/sla/policies/{policy_id}")
def update_policy(
    policy_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    form: SubmittedPolicy,
) -> Response:
    """The form always sends every field, so the whole policy is replaced by what it shows."""
    current = service.get_policy(session, auth.ctx, policy_id)
    data, found = policy_payload(form)
    policy = save_form(
        session,
        SlaPolicyUpdate,
        data,
        found,
        save=lambda body: service.update_policy(session, auth.ctx, current.id, body),
        errors_of=_errors_of,
    )
    if isinstance(policy, Refused):
        errors, status_code = policy.errors, policy.status_code
        # Reloaded: the refused save was rolled back, its changes must not show as saved.
        unchanged = service.get_policy(session, auth.ctx, policy_id)
        return _policy_page(
            request,
            session,
            auth,
            policy=unchanged,
            form=form,
            errors=errors,
            status_code=status_code,
        )
    return redirect(request, f"/admin/sla/policies/{policy.id}", flash="Policy saved.")


@router.post("/admin/sla/policies/{policy_id}/delete")
def delete_policy(
    policy_id: IdPath, request: Request, session: DbSession, auth: AdminPage
) -> Response:
    policy = service.get_policy(session, auth.ctx, policy_id)
    name = policy.name
    service.delete_policy(session, auth.ctx, policy.id)
    return redirect(request, "/admin/sla", flash=f"Policy {name} deleted.")
