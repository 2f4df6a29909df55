"""Admin pages for automation rules (/admin/automation): the rules by trigger, enabling,
ordering, deleting, the default rules and the log of recent runs.

Owners and admins only. Every write goes through `automation.service` (as the REST API under
`/api/v1/automation`) or `automation.defaults.install_defaults`. The rule editor and the dry run
live in `rule_pages.py`, included here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from deskpilot.automation import defaults, service
from deskpilot.automation.rule_forms import (
    TRIGGERS,
    describe_action,
    describe_conditions,
    trigger_words,
)
from deskpilot.automation.rule_pages import router as rule_router
from deskpilot.automation.rule_values import Directory
from deskpilot.automation.schemas import RuleUpdate
from deskpilot.core.errors import ValidationFailed
from deskpilot.core.pagination import MAX_PAGE_SIZE
from deskpilot.tickets import service as tickets_service
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, is_partial_request, render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)
router.include_router(rule_router)

LIST_URL = "/admin/automation"
RUN_LOG_SIZE = 25
RUN_COUNT_WINDOW = MAX_PAGE_SIZE
"""Per-rule run counts are taken over this many latest runs: one query, whatever the history."""


@dataclass(frozen=True)
class RuleRow:
    id: int
    name: str
    description: str
    enabled: bool
    stop_processing: bool
    conditions: str
    actions: list[str]
    recent_runs: int
    first: bool
    last: bool


@dataclass(frozen=True)
class TriggerGroup:
    trigger: str
    title: str
    rules: list[RuleRow]


@dataclass(frozen=True)
class RunRow:
    id: int
    rule_id: int
    rule_name: str
    ticket_number: int | None
    trigger: str
    created_at: datetime
    actions: list[tuple[str, bool]]  # (what, ok)
    error: str | None


@dataclass(kw_only=True)
class AutomationPage(PageContext):
    groups: list[TriggerGroup]
    rule_count: int
    missing_defaults: list[str]
    runs: list[RunRow]
    runs_cursor: str | None
    older_runs: str | None
    run_count_window: int = RUN_COUNT_WINDOW
    nav: str = "admin"


def run_rows(
    session: Session,
    auth: AdminPage,
    directory: Directory,
    names: dict[int, str],
    *,
    rule_id: int | None = None,
    cursor: str | None = None,
) -> tuple[list[RunRow], str | None]:
    """A page of the run log, newest first; a cursor that does not parse starts from the top."""
    try:
        runs, older = service.list_runs(
            session, auth.ctx, rule_id=rule_id, cursor=cursor, limit=RUN_LOG_SIZE
        )
    except ValidationFailed:
        runs, older = service.list_runs(session, auth.ctx, rule_id=rule_id, limit=RUN_LOG_SIZE)
    numbers = tickets_service.ticket_numbers(session, auth.ctx, sorted({r.ticket_id for r in runs}))
    rows = [
        RunRow(
            id=run.id,
            rule_id=run.rule_id,
            rule_name=names.get(run.rule_id, f"Rule {run.rule_id}"),
            ticket_number=numbers.get(run.ticket_id),
            trigger=run.trigger,
            created_at=run.created_at,
            actions=[
                (describe_action(a, directory), bool(a.get("ok", True)))
                for a in run.actions_applied
            ],
            error=run.error,
        )
        for run in runs
    ]
    return rows, older


def _automation_page(
    request: Request, session: Session, auth: AdminPage, *, runs_cursor: str | None = None
) -> Response:
    ctx = auth.ctx
    rules = service.list_rules(session, ctx)
    directory = Directory.load(session, ctx)
    window, _ = service.list_runs(session, ctx, limit=RUN_COUNT_WINDOW)
    counts = Counter(run.rule_id for run in window)
    groups = []
    for trigger in TRIGGERS:
        of_trigger = [r for r in rules if r.trigger == trigger]
        rows = [
            RuleRow(
                id=rule.id,
                name=rule.name,
                description=rule.description,
                enabled=rule.enabled,
                stop_processing=rule.stop_processing,
                conditions=describe_conditions(rule.match, rule.conditions, directory),
                actions=[describe_action(a, directory) for a in rule.actions],
                recent_runs=counts[rule.id],
                first=index == 0,
                last=index == len(of_trigger) - 1,
            )
            for index, rule in enumerate(of_trigger)
        ]
        groups.append(TriggerGroup(trigger, trigger_words(trigger), rows))
    names = {rule.id: rule.name for rule in rules}
    runs, older = run_rows(session, auth, directory, names, cursor=runs_cursor)
    page = AutomationPage(
        title="Automation",
        viewer=auth.viewer,
        groups=groups,
        rule_count=len(rules),
        missing_defaults=[
            str(spec["name"])
            for spec in defaults.DEFAULT_RULES
            if spec["name"] not in names.values()
        ],
        runs=runs,
        runs_cursor=runs_cursor,
        older_runs=older,
    )
    # htmx asks for the run log ("Older runs") by GET and for the rule list after a change.
    partial = "automation/_rule_list.html" if request.method == "POST" else "automation/_runs.html"
    return render(request, "automation/admin_rules.html", page, partial=partial)


@router.get("/admin/automation")
def automation(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    runs: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    return _automation_page(request, session, auth, runs_cursor=runs)


def _after_list_change(
    request: Request, session: Session, auth: AdminPage, message: str
) -> Response:
    """htmx swaps the rule list in place; without JavaScript the page reloads with a message."""
    if is_partial_request(request):
        return _automation_page(request, session, auth)
    return redirect(request, LIST_URL, flash=message)


@router.post("/admin/automation/rules/{rule_id}/enabled")
def set_enabled(
    rule_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    """Like a checkbox: any value enables, none (or an empty one) disables; never a 422."""
    rule = service.update_rule(session, auth.ctx, rule_id, RuleUpdate(enabled=bool(enabled)))
    state = "enabled" if rule.enabled else "disabled"
    return _after_list_change(request, session, auth, f"Rule {rule.name} {state}.")


@router.post("/admin/automation/rules/{rule_id}/move")
def move_rule(
    rule_id: IdPath,
    request: Request,
    session: DbSession,
    auth: AdminPage,
    direction: Annotated[Literal["up", "down"], Form()],
) -> Response:
    rule = service.move_rule(session, auth.ctx, rule_id, direction)
    return _after_list_change(request, session, auth, f"Rule {rule.name} moved {direction}.")


@router.post("/admin/automation/rules/{rule_id}/delete")
def delete_rule(rule_id: IdPath, request: Request, session: DbSession, auth: AdminPage) -> Response:
    name = service.get_rule(session, auth.ctx, rule_id).name
    service.delete_rule(session, auth.ctx, rule_id)
    return redirect(request, LIST_URL, flash=f"Rule {name} deleted.")


@router.post("/admin/automation/defaults")
def install_defaults(request: Request, session: DbSession, auth: AdminPage) -> Response:
    installed = defaults.install_defaults(session, auth.ctx)
    if installed.created:
        message = f"Installed {len(installed.created)} default rules."
    else:
        message = "Every default rule is already installed; nothing changed."
    reasons = sorted({item.rpartition(": ")[2] for item in installed.skipped_actions})
    if reasons:
        skipped = len(installed.skipped_actions)
        message += f" {skipped} team assignments were left out ({'; '.join(reasons)})."
    return redirect(request, LIST_URL, flash=message)


__all__ = ["router"]
