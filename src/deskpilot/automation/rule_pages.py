"""The rule editor (/admin/automation/rules/...) and the dry run against one ticket.

Included into `automation.pages.router`. The form posts every row (blank ones too), so a button
that adds a row just renders the same form with one more; "Save" validates each row with the
engine's models (`rule_forms.parse_rows`), the whole rule with `RuleCreate`/`RuleUpdate`, and
saves through `automation.service`, whose own checks (teams and agents named by actions must
exist here) come back next to the row they are about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.automation import service
from deskpilot.automation.actions import MAX_ACTIONS
from deskpilot.automation.conditions import MAX_CONDITIONS
from deskpilot.automation.rule_forms import (
    Choices,
    Parsed,
    RuleForm,
    describe_action,
    describe_condition,
    form_from_post,
    parse_rows,
)
from deskpilot.automation.rule_values import Directory
from deskpilot.automation.schemas import RuleCreate, RuleUpdate
from deskpilot.core.errors import NotFound, ValidationFailed
from deskpilot.core.ids import parse_id
from deskpilot.tickets import service as tickets_service
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import FormText, IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.team_pages import field_errors, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

RULE_FIELDS = ("name", "description", "trigger", "match", "enabled", "stop_processing",
               "conditions", "actions")  # fmt: skip
DRY_RUN_PARTIAL = "automation/_rule_test.html"


# --- what the pages show -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionCheck:
    """One condition of the dry run: what it says, whether it held, the ticket's value."""

    text: str
    held: bool
    actual: str
    inner: list[ConditionCheck] = field(default_factory=list)


@dataclass(frozen=True)
class DryRunOutcome:
    ticket_number: int
    ticket_subject: str
    matched: bool
    checks: list[ConditionCheck]
    actions: list[str]
    stop_processing: bool


@dataclass
class DryRunBox:
    ticket: str = ""
    outcome: DryRunOutcome | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleRun:
    id: int
    ticket_number: int | None
    created_at: Any
    actions: list[tuple[str, bool]]
    error: str | None


@dataclass(kw_only=True)
class RulePage(PageContext):
    rule_id: int | None
    form: RuleForm
    choices: Choices
    errors: dict[str, str] = field(default_factory=dict)
    focus: str = ""
    test: DryRunBox = field(default_factory=DryRunBox)
    runs: list[RuleRun] = field(default_factory=list)
    max_conditions: int = MAX_CONDITIONS
    max_actions: int = MAX_ACTIONS
    nav: str = "admin"

    @property
    def action_url(self) -> str:
        base = "/admin/automation/rules"
        return base if self.rule_id is None else f"{base}/{self.rule_id}"


def _rule_runs(
    session: Session, auth: AdminPage, rule_id: int, directory: Directory
) -> list[RuleRun]:
    runs, _ = service.list_runs(session, auth.ctx, rule_id=rule_id, limit=10)
    numbers = tickets_service.ticket_numbers(session, auth.ctx, sorted({r.ticket_id for r in runs}))
    return [
        RuleRun(
            run.id,
            numbers.get(run.ticket_id),
            run.created_at,
            [(describe_action(a, directory), bool(a.get("ok", True))) for a in run.actions_applied],
            run.error,
        )
        for run in runs
    ]


def _rule_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    rule_id: int | None,
    *,
    form: RuleForm | None = None,
    errors: dict[str, str] | None = None,
    focus: str = "",
    test: DryRunBox | None = None,
    status_code: int = 200,
    partial: str | None = None,
) -> Response:
    ctx = auth.ctx
    directory = Directory.load(session, ctx)
    runs: list[RuleRun] = []
    if rule_id is not None:
        rule = service.get_rule(session, ctx, rule_id)
        form = form or RuleForm.of_rule(rule, directory)
        title = f"Rule {rule.name}"
        runs = _rule_runs(session, auth, rule.id, directory)
    else:
        form = form or RuleForm.blank()
        title = "New automation rule"
    page = RulePage(
        title=title,
        viewer=auth.viewer,
        rule_id=rule_id,
        form=form,
        choices=Choices.build(directory),
        errors=errors or {},
        focus=focus,
        test=test or DryRunBox(),
        runs=runs,
    )
    return render(
        request, "automation/admin_rule.html", page, partial=partial, status_code=status_code
    )


# --- the posted form -----------------------------------------------------------------------------

LongText = Annotated[str, Form(max_length=20_000)]
Rows = Annotated[list[str] | None, Form()]


@dataclass(frozen=True)
class Posted:
    form: RuleForm
    intent: str


def posted_rule(
    name: FormText = "",
    description: LongText = "",
    trigger: FormText = "",
    match: FormText = "all",
    enabled: FormText = "",
    stop_processing: FormText = "",
    intent: Annotated[Literal["save", "add_condition", "add_action"], Form()] = "save",
    cond_field: Rows = None,
    cond_op: Rows = None,
    cond_value: Rows = None,
    cond_group: Rows = None,
    action_type: Rows = None,
    action_setting: Rows = None,
    action_text: Rows = None,
    group_match: Rows = None,
) -> Posted:
    form = form_from_post(
        name=name,
        description=description,
        trigger=trigger,
        match=match,
        enabled=bool(enabled),
        stop_processing=bool(stop_processing),
        cond_field=cond_field or [],
        cond_op=cond_op or [],
        cond_value=cond_value or [],
        cond_group=cond_group or [],
        action_type=action_type or [],
        action_setting=action_setting or [],
        action_text=action_text or [],
        group_match=group_match or [],
    )
    return Posted(form, intent)


PostedRule = Annotated[Posted, Depends(posted_rule)]


def _rule_data(form: RuleForm, parsed: Parsed) -> dict[str, Any]:
    return {
        "name": form.name,
        "description": form.description,
        "trigger": form.trigger,
        "match": form.match,
        "enabled": form.enabled,
        "stop_processing": form.stop_processing,
        "conditions": parsed.conditions,
        "actions": parsed.actions,
    }


def _merge_errors(schema: dict[str, str], parsed: Parsed) -> dict[str, str]:
    """Row errors win over what they cause in the whole rule (e.g. "at least 1 action")."""
    errors = {**schema, **parsed.errors}
    for section in ("conditions", "actions"):
        if any(key.startswith(f"{section}.") for key in parsed.errors):
            errors.pop(section, None)
    return errors


def _service_errors(exc: ValidationFailed, parsed: Parsed) -> dict[str, str]:
    """`actions.2.team_id` from the service names the 3rd saved action: put it on its form row."""
    errors: dict[str, str] = {}
    details = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        parts = str(detail.get("field", "")).split(".")
        if parts[0] == "actions" and len(parts) > 1 and parts[1].isdecimal():
            index = int(parts[1])
            if index < len(parsed.action_rows):
                errors[f"actions.{parsed.action_rows[index]}"] = str(detail.get("message", ""))
    return errors or field_errors(exc, RULE_FIELDS, "name")


def _add_row(
    request: Request, session: Session, auth: AdminPage, rule_id: int | None, posted: Posted
) -> Response:
    """The same form with one more blank row (and focus on it); nothing is saved."""
    form = posted.form
    if posted.intent == "add_condition":
        added, focus = form.add_condition_row(), f"conditions.{len(form.conditions) - 1}"
        errors = {} if added else {"conditions": f"A rule has at most {MAX_CONDITIONS} conditions"}
    else:
        added, focus = form.add_action_row(), f"actions.{len(form.actions) - 1}"
        errors = {} if added else {"actions": f"A rule has at most {MAX_ACTIONS} actions"}
    return _rule_page(request, session, auth, rule_id, form=form, errors=errors, focus=focus)


# --- routes --------------------------------------------------------------------------------------


@router.get("/admin/automation/rules/new")
def new_rule(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _rule_page(request, session, auth, None)


@router.post("/admin/automation/rules")
def create_rule(
    request: Request, session: DbSession, auth: AdminPage, posted: PostedRule
) -> Response:
    if posted.intent != "save":
        return _add_row(request, session, auth, None, posted)
    form = posted.form
    parsed = parse_rows(form, Directory.load(session, auth.ctx))
    try:
        data = RuleCreate.model_validate(_rule_data(form, parsed))
    except ValidationError as exc:
        errors = _merge_errors(schema_errors(exc), parsed)
        return _rule_page(request, session, auth, None, form=form, errors=errors, status_code=422)
    if parsed.errors:
        return _rule_page(
            request, session, auth, None, form=form, errors=parsed.errors, status_code=422
        )
    try:
        rule, _ = service.create_rule(session, auth.ctx, data)
    except ValidationFailed as exc:
        errors = _service_errors(exc, parsed)
        return _rule_page(
            request, session, auth, None, form=form, errors=errors, status_code=exc.status
        )
    return redirect(
        request, f"/admin/automation/rules/{rule.id}", flash=f"Rule {rule.name} created."
    )


@router.get("/admin/automation/rules/{rule_id}")
def edit_rule(rule_id: IdPath, request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _rule_page(request, session, auth, rule_id)


@router.post("/admin/automation/rules/{rule_id}")
def update_rule(
    rule_id: IdPath, request: Request, session: DbSession, auth: AdminPage, posted: PostedRule
) -> Response:
    ctx = auth.ctx
    rule = service.get_rule(session, ctx, rule_id)  # 404 before anything else
    if posted.intent != "save":
        return _add_row(request, session, auth, rule.id, posted)
    form = posted.form
    parsed = parse_rows(form, Directory.load(session, ctx))
    try:
        data = RuleUpdate.model_validate(_rule_data(form, parsed))
    except ValidationError as exc:
        errors = _merge_errors(schema_errors(exc), parsed)
        return _rule_page(
            request, session, auth, rule.id, form=form, errors=errors, status_code=422
        )
    if parsed.errors:
        return _rule_page(
            request, session, auth, rule.id, form=form, errors=parsed.errors, status_code=422
        )
    try:
        saved = service.update_rule(session, ctx, rule.id, data)
    except ValidationFailed as exc:
        errors = _service_errors(exc, parsed)
        return _rule_page(
            request, session, auth, rule.id, form=form, errors=errors, status_code=exc.status
        )
    return redirect(request, f"/admin/automation/rules/{saved.id}", flash="Rule saved.")


def _shown(value: Any, field_name: str, directory: Directory) -> str:
    """The ticket's value as the dry run shows it."""
    if value is None or value in ("", []):
        return "not set"
    if field_name == "team_id":
        return directory.team_name(value)
    if field_name == "assignee_id":
        return directory.person_name(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _outcome(
    result: dict[str, Any], number: int, subject: str, directory: Directory
) -> DryRunOutcome:
    checks = []
    for entry in result["conditions"]:
        condition = entry["condition"]
        inner = [
            ConditionCheck(
                text=describe_condition(c, directory),
                held=bool(check["result"]),
                actual=_shown(check["actual"], check["field"], directory),
            )
            for c, check in zip(
                condition.get("conditions", []), entry.get("inner", []), strict=False
            )
        ]
        actual = "" if inner else _shown(entry.get("actual"), condition.get("field", ""), directory)
        checks.append(
            ConditionCheck(
                describe_condition(condition, directory), bool(entry["result"]), actual, inner
            )
        )
    return DryRunOutcome(
        ticket_number=number,
        ticket_subject=subject,
        matched=bool(result["matched"]),
        checks=checks,
        actions=[describe_action(a, directory) for a in result["actions"]],
        stop_processing=bool(result["stop_processing"]),
    )


@router.post("/admin/automation/rules/{rule_id}/test")
def dry_run_rule(
    rule_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    ticket: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """A dry run of the saved rule on one ticket (by its number); changes nothing.

    htmx swaps only the test box (an unknown ticket is a 422, which htmx is set to swap)."""
    ctx = auth.ctx
    rule = service.get_rule(session, ctx, rule_id)
    number = parse_id(ticket.strip().removeprefix("#"))
    box = DryRunBox(ticket=ticket)
    try:
        if number is None:
            raise NotFound("Ticket not found")
        found = tickets_service.get_ticket_by_number(session, ctx, number)
        result = service.test_rule(session, ctx, rule.id, found.id)
    except (NotFound, ValidationFailed):
        box.errors = {"ticket": "No ticket with this number in this workspace."}
        return _rule_page(
            request, session, auth, rule.id, test=box, status_code=422, partial=DRY_RUN_PARTIAL
        )
    box.outcome = _outcome(result, found.number, found.subject, Directory.load(session, ctx))
    return _rule_page(request, session, auth, rule.id, test=box, partial=DRY_RUN_PARTIAL)


__all__ = ["router"]
