"""AI metrics from the roll-ups: deflection, assist, escalations, accuracy, calibration, cost.

Definitions (full text in docs/analytics.md):

- deflection rate: cohort tickets (created in the range) resolved by the AI with no public agent
  message and never reopened, over all cohort tickets;
- assist rate: public agent replies in the range whose message records an inserted AI draft
  (`ai_meta.assisted_by_decision_id`), over all public agent replies in the range;
- escalation rate by reason: hand-offs created in the range per reason, over cohort tickets;
- accuracy proxies: outcomes of AI answers recorded in the range (confirmed, said no, reopened,
  escalated), each over all recorded outcomes;
- calibration: per 0.05 confidence bin, mean confidence versus the share of labelled answers that
  were right (labels as in `triage.calibration`); the risk-coverage curve answers "if the AI only
  answered at or above this confidence, what share would it answer and how many would be wrong?";
- cost per ticket / per AI resolution: AI decision cost of cohort tickets over cohort tickets the
  AI worked on / over cohort tickets the AI resolved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.analytics.metrics import F, _cohort, _count_if, team_member_ids
from deskpilot.analytics.models import (
    AgentDailyStats,
    ConfidenceDailyStats,
    EscalationDailyStats,
    ModelDailyStats,
)
from deskpilot.analytics.periods import Filters
from deskpilot.analytics.rollups import BINS
from deskpilot.analytics.tables import Table, ratio
from deskpilot.core.context import Context

M = ModelDailyStats
_MODEL_SUMS = (
    "requests",
    "resolutions",
    "confirmations",
    "clarifications",
    "escalations",
    "confidence_sum",
    "high_confidence",
    "low_confidence",
    "outcome_confirmed",
    "outcome_rejected",
    "outcome_reopened",
    "outcome_escalated",
    "calls",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "satisfaction_sum",
    "satisfaction_count",
)


def _model_totals(session: Session, ctx: Context, f: Filters) -> list[dict[str, Any]]:
    stmt = (
        select(M.provider, M.model, *(func.sum(getattr(M, c)) for c in _MODEL_SUMS))
        .where(M.workspace_id == ctx.workspace_id, M.day >= f.start, M.day <= f.end)
        .group_by(M.provider, M.model)
        .order_by(M.provider, M.model)
    )
    return [
        {"provider": r[0], "model": r[1], **{c: (r[i + 2] or 0) for i, c in enumerate(_MODEL_SUMS)}}
        for r in session.execute(stmt)
    ]


def ai_summary(session: Session, ctx: Context, f: Filters) -> Table:
    """Headline AI figures (one row per metric)."""
    ctx.require_staff()
    cohort = session.execute(
        _cohort(
            ctx,
            f,
            func.count(),
            _count_if(F.ai_deflected),
            _count_if(F.resolved_by == "ai"),
            _count_if(F.ai_decisions > 0),
            func.coalesce(func.sum(F.ai_cost_usd), 0.0),
            func.coalesce(func.sum(F.ai_tokens), 0),
        )
    ).one()
    created, deflected, ai_resolved, ai_worked = (int(v) for v in cohort[:4])
    cost, tokens = float(cohort[4]), int(cohort[5])
    replies, assisted = _assist_counts(session, ctx, f)
    escalations = sum(n for _, n in _escalations_by_reason(session, ctx, f))
    totals = _model_totals(session, ctx, f)
    outcomes = {
        k: sum(int(t[f"outcome_{k}"]) for t in totals)
        for k in ("confirmed", "rejected", "reopened", "escalated")
    }
    labelled = sum(outcomes.values())
    requests = sum(int(t["requests"]) for t in totals)
    metrics: list[list[Any]] = [
        ["tickets_created", created],
        ["ai_deflected", deflected],
        ["deflection_rate", ratio(deflected, created)],
        ["assist_rate", ratio(assisted, replies)],
        ["assisted_replies", assisted],
        ["agent_replies", replies],
        ["escalation_rate", ratio(escalations, created)],
        ["ai_decisions", requests],
        ["average_confidence", ratio(sum(float(t["confidence_sum"]) for t in totals), requests)],
        ["outcome_confirmed_rate", ratio(outcomes["confirmed"], labelled)],
        ["outcome_rejected_rate", ratio(outcomes["rejected"], labelled)],
        ["outcome_reopened_rate", ratio(outcomes["reopened"], labelled)],
        ["outcome_escalated_rate", ratio(outcomes["escalated"], labelled)],
        ["ai_cost_usd", round(cost, 6)],
        ["ai_tokens", tokens],
        ["cost_per_ticket_usd", ratio(cost, ai_worked)],
        ["cost_per_ai_resolution_usd", ratio(cost, ai_resolved)],
        ["tokens_per_ticket", ratio(tokens, ai_worked)],
    ]
    return Table("ai_summary", "AI summary", ["metric", "value"], metrics)


def _assist_counts(session: Session, ctx: Context, f: Filters) -> tuple[int, int]:
    a = AgentDailyStats
    stmt = select(func.sum(a.replies), func.sum(a.assisted_replies)).where(
        a.workspace_id == ctx.workspace_id, a.day >= f.start, a.day <= f.end
    )
    if f.agent_id is not None:
        stmt = stmt.where(a.user_id == f.agent_id)
    if f.team_id is not None:
        stmt = stmt.where(a.user_id.in_(team_member_ids(session, ctx, f.team_id)))
    replies, assisted = session.execute(stmt).one()
    return int(replies or 0), int(assisted or 0)


def _escalations_by_reason(session: Session, ctx: Context, f: Filters) -> list[tuple[str, int]]:
    e = EscalationDailyStats
    stmt = (
        select(e.reason, func.sum(e.escalations))
        .where(e.workspace_id == ctx.workspace_id, e.day >= f.start, e.day <= f.end)
        .group_by(e.reason)
        .order_by(e.reason)
    )
    if f.team_id is not None:
        stmt = stmt.where(e.team_id == f.team_id)
    return [(reason, int(n or 0)) for reason, n in session.execute(stmt)]


def escalation_reasons(session: Session, ctx: Context, f: Filters) -> Table:
    ctx.require_staff()
    created = int(session.scalar(_cohort(ctx, f, func.count())) or 0)
    pairs = sorted(_escalations_by_reason(session, ctx, f), key=lambda p: (-p[1], p[0]))
    rows: list[list[Any]] = [[reason, n, ratio(n, created)] for reason, n in pairs]
    return Table(
        "escalation_reasons",
        "Escalations by reason",
        ["reason", "escalations", "rate_per_ticket"],
        rows,
    )


def models(session: Session, ctx: Context, f: Filters) -> Table:
    """Per provider and model over the range."""
    ctx.require_staff()
    rows = []
    for t in _model_totals(session, ctx, f):
        requests, resolutions = int(t["requests"]), int(t["resolutions"])
        tokens = int(t["input_tokens"]) + int(t["output_tokens"])
        cost = float(t["cost_usd"])
        rows.append(
            [
                t["provider"],
                t["model"] or "(default)",
                requests,
                resolutions,
                int(t["escalations"]),
                ratio(float(t["confidence_sum"]), requests),
                int(t["high_confidence"]),
                int(t["low_confidence"]),
                int(t["calls"]),
                tokens,
                round(cost, 6),
                ratio(cost, requests),
                ratio(cost, resolutions),
                ratio(int(t["satisfaction_sum"]), int(t["satisfaction_count"])),
            ]
        )
    return Table(
        "models",
        "Models and providers",
        [
            "provider",
            "model",
            "requests",
            "resolutions",
            "escalations",
            "average_confidence",
            "high_confidence",
            "low_confidence",
            "calls",
            "tokens",
            "cost_usd",
            "cost_per_request_usd",
            "cost_per_resolution_usd",
            "satisfaction",
        ],
        rows,
    )


def model_daily(session: Session, ctx: Context, f: Filters) -> Table:
    """The raw model roll-up rows of the range (for export)."""
    ctx.require_staff()
    columns = [c.name for c in M.__table__.columns if c.name != "workspace_id"]
    stmt = (
        select(*(getattr(M, c) for c in columns))
        .where(M.workspace_id == ctx.workspace_id, M.day >= f.start, M.day <= f.end)
        .order_by(M.day, M.provider, M.model)
    )
    rows = [list(r) for r in session.execute(stmt)]
    return Table("model_daily", "Model roll-up per day", columns, rows)


def _bins(session: Session, ctx: Context, f: Filters) -> dict[int, tuple[int, int, int, float]]:
    c = ConfidenceDailyStats
    stmt = (
        select(
            c.bin,
            func.sum(c.decisions),
            func.sum(c.labelled),
            func.sum(c.correct),
            func.sum(c.labelled_confidence_sum),
        )
        .where(c.workspace_id == ctx.workspace_id, c.day >= f.start, c.day <= f.end)
        .group_by(c.bin)
    )
    return {
        int(b): (int(d or 0), int(n or 0), int(k or 0), float(s or 0.0))
        for b, d, n, k, s in session.execute(stmt)
    }


def _bin_label(b: int) -> str:
    return f"{b / BINS:.2f}-{(b + 1) / BINS:.2f}"


def confidence_histogram(session: Session, ctx: Context, f: Filters) -> Table:
    """AI decisions made in the range per confidence bin."""
    ctx.require_staff()
    bins = _bins(session, ctx, f)
    rows = [[_bin_label(b), bins.get(b, (0, 0, 0, 0.0))[0]] for b in range(BINS)]
    return Table(
        "confidence_histogram", "Confidence distribution", ["confidence", "decisions"], rows
    )


def reliability(session: Session, ctx: Context, f: Filters) -> Table:
    """Per bin with labelled answers: mean confidence against the observed share right."""
    ctx.require_staff()
    rows = []
    for b, (_, labelled, correct, conf_sum) in sorted(_bins(session, ctx, f).items()):
        if labelled:
            rows.append(
                [_bin_label(b), labelled, round(conf_sum / labelled, 4), ratio(correct, labelled)]
            )
    return Table(
        "reliability",
        "Reliability (calibration)",
        ["confidence", "answers", "mean_confidence", "observed_accuracy"],
        rows,
        description="A calibrated AI sits on the diagonal: answers given with confidence 0.8 "
        "are right about 80% of the time.",
    )


def expected_calibration_error(table: Table) -> float | None:
    """Answer-weighted mean gap between mean confidence and observed accuracy."""
    total = sum(int(r[1]) for r in table.rows)
    if not total:
        return None
    gap = sum(int(r[1]) * abs(float(r[2]) - float(r[3] or 0.0)) for r in table.rows)
    return round(gap / total, 4)


def risk_coverage(session: Session, ctx: Context, f: Filters) -> Table:
    """For each threshold (bin lower edge), the share of labelled answers at or above it
    (coverage) and the share of those that were wrong (risk)."""
    ctx.require_staff()
    bins = _bins(session, ctx, f)
    total = sum(v[1] for v in bins.values())
    rows = []
    covered = correct = 0
    for b in reversed(range(BINS)):
        _, labelled, right, _ = bins.get(b, (0, 0, 0, 0.0))
        covered += labelled
        correct += right
        if labelled:
            rows.append(
                [
                    round(b / BINS, 2),
                    covered,
                    ratio(covered, total),
                    ratio(covered - correct, covered),
                ]
            )
    return Table(
        "risk_coverage",
        "Risk-coverage",
        ["threshold", "answers", "coverage", "risk"],
        rows,
        description="Answering only at or above a threshold trades coverage for risk.",
    )


def ai_by_day(session: Session, ctx: Context, f: Filters) -> Table:
    """AI decisions and auto-resolutions per day."""
    ctx.require_staff()
    stmt = (
        select(M.day, func.sum(M.requests), func.sum(M.resolutions), func.sum(M.escalations))
        .where(M.workspace_id == ctx.workspace_id, M.day >= f.start, M.day <= f.end)
        .group_by(M.day)
    )
    by_day = {d: (int(r or 0), int(s or 0), int(e or 0)) for d, r, s, e in session.execute(stmt)}
    rows = [[d, *by_day.get(d, (0, 0, 0))] for d in f.days]
    return Table(
        "ai_by_day",
        "AI decisions per day",
        ["day", "decisions", "resolutions", "escalations"],
        rows,
    )
