"""Rebuild the analytics roll-ups of one workspace for a range of days, idempotently.

`recompute(session, ctx, start, end)` is the only write path. For the range it:

1. rebuilds the fact row of every ticket touched since `start` (created before the range ends
   and `updated_at` on or after its first instant; every message, status change and rating bumps
   `updated_at`), reading each batch's messages, events, SLA clocks, escalations and AI decisions
   through their per-ticket indexes, so the work grows with the tickets touched, not the table;
2. deletes and re-inserts the per-day rows (agents, models, confidence bins, escalations, KB
   searches) of every day in the range from the activity that happened on those days.

Running it twice gives the same rows. On PostgreSQL a transaction-scoped advisory lock per
workspace serialises concurrent runs (the periodic job and a CLI recompute, say).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from deskpilot.analytics import facts as fx
from deskpilot.analytics.models import (
    AgentDailyStats,
    ConfidenceDailyStats,
    EscalationDailyStats,
    KbDailyStats,
    ModelDailyStats,
    RollupState,
    TicketFact,
)
from deskpilot.analytics.periods import Reporting, reporting_for
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.db.upsert import insert_for
from deskpilot.escalations.models import Escalation
from deskpilot.kb.models import SearchLog
from deskpilot.kb.search_log import LOW_DENSE
from deskpilot.llm.models import AiUsage
from deskpilot.sla.models import TicketSla
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.triage.calibration import RIGHT, SETTLED_AFTER, WRONG
from deskpilot.triage.models import AiDecision

BATCH = 500
BINS = 20
HIGH_CONFIDENCE = 0.8
LOW_CONFIDENCE = 0.5
OUTCOME_LOOKBACK = timedelta(days=60)
"""Outcomes are counted on the day they are recorded, for decisions made up to this long before."""
MAX_RANGE_DAYS = 3660
EVENT_KINDS = (
    "status_changed",
    "resolved",
    "closed",
    "reopened",
    "first_response",
    "csat_received",
)
ANSWERS = ("resolve", "confirm")
_LOCK_BASE = 0x616E_0000_0000


@dataclass(frozen=True)
class RollupResult:
    workspace_id: int
    start: date
    end: date
    tickets: int
    agent_rows: int
    model_rows: int
    kb_rows: int


def recompute(session: Session, ctx: Context, start: date, end: date) -> RollupResult:
    """Rebuild the roll-ups of `ctx`'s workspace for local days start..end (inclusive)."""
    ctx.require_admin()
    if start > end:
        raise ValidationFailed("The start date is after the end date")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise ValidationFailed(f"Recompute at most {MAX_RANGE_DAYS} days at a time")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_BASE + ctx.workspace_id}
        )
    reporting = reporting_for(session, ctx)
    lo, hi = reporting.window(start, end)
    now = utcnow()
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    acc = _Accumulator(reporting, lo, hi)
    tickets = 0
    for batch in _batched(_touched_ticket_ids(session, ctx, lo, hi), BATCH):
        tickets += _rebuild_facts(session, ctx, batch, reporting, now, acc)
    _collect_escalations(session, ctx, lo, hi, acc)
    _collect_decisions(session, ctx, lo, hi, now, acc)
    _collect_usage(session, ctx, lo, hi, acc)
    _collect_searches(session, ctx, lo, hi, acc)
    ws = ctx.workspace_id
    for model in (
        AgentDailyStats,
        ModelDailyStats,
        ConfidenceDailyStats,
        EscalationDailyStats,
        KbDailyStats,
    ):
        session.execute(delete(model).where(model.workspace_id == ws, model.day.in_(days)))
    agent_rows = acc.agent_rows(ws)
    model_rows = acc.model_rows(ws)
    kb_rows = acc.kb_rows(ws)
    _insert(session, AgentDailyStats, agent_rows)
    _insert(session, ModelDailyStats, model_rows)
    _insert(session, ConfidenceDailyStats, acc.confidence_rows(ws))
    _insert(session, EscalationDailyStats, acc.escalation_rows(ws))
    _insert(session, KbDailyStats, kb_rows)
    state = {"last_run_at": now, "last_from": start, "last_to": end, "tickets": tickets}
    session.execute(
        insert_for(session, RollupState)
        .values(workspace_id=ws, **state)
        .on_conflict_do_update(index_elements=["workspace_id"], set_=state)
    )
    session.flush()
    return RollupResult(ws, start, end, tickets, len(agent_rows), len(model_rows), len(kb_rows))


def recompute_recent(session: Session, ctx: Context) -> RollupResult:
    """Yesterday and today (local): what the periodic job refreshes."""
    today = reporting_for(session, ctx).today()
    return recompute(session, ctx, today - timedelta(days=1), today)


def last_run(session: Session, ctx: Context) -> RollupState | None:
    return session.get(RollupState, ctx.workspace_id)


# --- collection ----------------------------------------------------------------------------------


def _batched(items: Iterable[int], size: int) -> Iterator[list[int]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _touched_ticket_ids(session: Session, ctx: Context, lo: datetime, hi: datetime) -> list[int]:
    stmt = (
        select(Ticket.id)
        .where(Ticket.workspace_id == ctx.workspace_id, Ticket.updated_at >= lo)
        .where(Ticket.created_at < hi)
        .order_by(Ticket.id)
    )
    return list(session.scalars(stmt))


def _insert(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in _batched(range(len(rows)), 1000):
        session.execute(insert(model), [rows[i] for i in chunk])


class _Accumulator:
    """Per-day counters filled while reading, turned into rows at the end."""

    def __init__(self, reporting: Reporting, lo: datetime, hi: datetime) -> None:
        self.reporting = reporting
        self.lo, self.hi = lo, hi
        self.agents: dict[tuple[date, int], Counter[str]] = defaultdict(Counter)
        self.handled: dict[tuple[date, int], set[int]] = defaultdict(set)
        self.models: dict[tuple[date, str, str], Counter[str]] = defaultdict(Counter)
        self.model_floats: dict[tuple[date, str, str], dict[str, float]] = defaultdict(
            lambda: defaultdict(float)
        )
        self.bins: dict[tuple[date, int], Counter[str]] = defaultdict(Counter)
        self.bin_confidence: dict[tuple[date, int], float] = defaultdict(float)
        self.escalations: Counter[tuple[date, str, int]] = Counter()
        self.searches: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
        # Ratings of AI-resolved tickets, credited to the model of the last answer.
        self.ai_ratings: list[tuple[datetime, int, int]] = []  # (at, score, ticket_id)
        self.last_answer_model: dict[int, tuple[str, str]] = {}

    def inside(self, at: datetime) -> bool:
        return self.lo <= at < self.hi

    def day(self, at: datetime) -> date:
        return self.reporting.day_of(at)

    def agent_rows(self, ws: int) -> list[dict[str, Any]]:
        rows = []
        for (day, user_id), c in sorted(self.agents.items()):
            rows.append(
                {
                    "workspace_id": ws,
                    "day": day,
                    "user_id": user_id,
                    "handled": len(self.handled.get((day, user_id), ())),
                    "replies": c["reply"] + c["assisted_reply"],
                    "assisted_replies": c["assisted_reply"],
                    "resolved": c["resolved"],
                    "escalated": c["escalated"],
                    "first_response_seconds_sum": c["first_response_seconds"],
                    "first_response_count": c["first_response"],
                    "resolution_seconds_sum": c["resolved_seconds"],
                    "resolution_count": c["resolved"],
                    "csat_sum": c["csat_score_sum"],
                    "csat_count": c["csat"],
                }
            )
        return rows

    def model_rows(self, ws: int) -> list[dict[str, Any]]:
        keys = sorted(set(self.models) | set(self.model_floats))
        return [
            {
                "workspace_id": ws,
                "day": day,
                "provider": provider,
                "model": model,
                **{name: self.models[(day, provider, model)][name] for name in _MODEL_COUNTS},
                "confidence_sum": self.model_floats[(day, provider, model)]["confidence"],
                "cost_usd": self.model_floats[(day, provider, model)]["cost"],
            }
            for day, provider, model in keys
        ]

    def confidence_rows(self, ws: int) -> list[dict[str, Any]]:
        return [
            {
                "workspace_id": ws,
                "day": day,
                "bin": b,
                "decisions": c["decisions"],
                "labelled": c["labelled"],
                "correct": c["correct"],
                "labelled_confidence_sum": self.bin_confidence[(day, b)],
            }
            for (day, b), c in sorted(self.bins.items())
        ]

    def escalation_rows(self, ws: int) -> list[dict[str, Any]]:
        return [
            {"workspace_id": ws, "day": d, "reason": r, "team_id": t, "escalations": n}
            for (d, r, t), n in sorted(self.escalations.items())
        ]

    def kb_rows(self, ws: int) -> list[dict[str, Any]]:
        return [
            {"workspace_id": ws, "day": day, "source": source, **{k: c[k] for k in _KB_COUNTS}}
            for (day, source), c in sorted(self.searches.items())
        ]


_MODEL_COUNTS = (
    "requests",
    "resolutions",
    "confirmations",
    "clarifications",
    "escalations",
    "high_confidence",
    "low_confidence",
    "outcome_confirmed",
    "outcome_rejected",
    "outcome_reopened",
    "outcome_escalated",
    "calls",
    "input_tokens",
    "output_tokens",
    "satisfaction_sum",
    "satisfaction_count",
)
_KB_COUNTS = ("searches", "zero_results", "low_confidence", "clicked", "tickets_filed", "deflected")


def _histories(session: Session, ctx: Context, ids: list[int]) -> dict[int, fx.History]:
    ws = ctx.workspace_id
    t = Ticket
    rows = session.execute(
        select(
            t.id, t.created_at, t.status, t.priority, t.channel, t.type, t.category,
            t.organization_id, t.team_id, t.assignee_id, t.first_response_at, t.resolved_at,
            t.reopened_count, t.csat_score,
        ).where(t.workspace_id == ws, t.id.in_(ids))
    ).all()  # fmt: skip
    histories = {int(r[0]): fx.History(fx.TicketRow(*r)) for r in rows}  # type: ignore[call-arg]
    m = Message
    for r in session.execute(
        select(m.ticket_id, m.author_type, m.author_user_id, m.visibility, m.ai_meta, m.created_at)
        .where(m.ticket_id.in_(ids), m.workspace_id == ws)
        .order_by(m.ticket_id, m.created_at, m.id)
    ):
        histories[r.ticket_id].messages.append(fx.MessageRow(*r[1:]))
    e = TicketEvent
    for r in session.execute(
        select(
            e.ticket_id, e.kind, e.actor_type, e.actor_user_id, e.old_value, e.new_value,
            e.created_at,
        )
        .where(e.ticket_id.in_(ids), e.workspace_id == ws, e.kind.in_(EVENT_KINDS))
        .order_by(e.ticket_id, e.id)
    ):  # fmt: skip
        histories[r.ticket_id].events.append(fx.EventRow(*r[1:]))
    for r in session.execute(
        select(TicketSla.ticket_id, TicketSla.metric, TicketSla.cycle, TicketSla.state).where(
            TicketSla.ticket_id.in_(ids), TicketSla.workspace_id == ws
        )
    ):
        histories[r.ticket_id].clocks.append(fx.ClockRow(*r[1:]))
    for ticket_id, n in session.execute(
        select(Escalation.ticket_id, func.count())
        .where(Escalation.workspace_id == ws, Escalation.ticket_id.in_(ids))
        .group_by(Escalation.ticket_id)
    ):
        histories[ticket_id].escalations = int(n)
    return histories


def _rebuild_facts(
    session: Session,
    ctx: Context,
    ids: list[int],
    reporting: Reporting,
    now: datetime,
    acc: _Accumulator,
) -> int:
    ws = ctx.workspace_id
    histories = _histories(session, ctx, ids)
    d = AiDecision
    for r in session.execute(
        select(
            d.ticket_id, d.decision, d.provider, d.model, d.input_tokens, d.output_tokens,
            d.cost_usd,
        )
        .where(d.workspace_id == ws, d.ticket_id.in_(ids), d.source != "dry_run")
        .order_by(d.ticket_id, d.id)
    ):  # fmt: skip
        h = histories[r.ticket_id]
        h.ai_decisions += 1
        h.ai_tokens += int(r.input_tokens) + int(r.output_tokens)
        h.ai_cost_usd += float(r.cost_usd)
        if r.decision in ANSWERS:
            acc.last_answer_model[r.ticket_id] = (r.provider, r.model)
    rows = []
    calendar = reporting.calendar
    for ticket_id in sorted(histories):
        h = histories[ticket_id]
        fact = fx.ticket_fact(h, calendar, now)
        resolved_at = h.ticket.resolved_at if fact["resolution_seconds"] is not None else None
        rows.append(
            {
                **fact,
                "workspace_id": ws,
                "created_day": reporting.day_of(h.ticket.created_at),
                "resolved_day": reporting.day_of(resolved_at) if resolved_at else None,
                "computed_at": now,
            }
        )
        _collect_agent_activity(h, calendar, now, acc)
        if fact["resolved_by"] == "ai":
            for event in h.events:
                if event.kind == "csat_received" and isinstance(event.new_value, int):
                    acc.ai_ratings.append((event.created_at, event.new_value, ticket_id))
    session.execute(delete(TicketFact).where(TicketFact.ticket_id.in_(ids)))
    _insert(session, TicketFact, rows)
    _credit_ratings(acc)
    return len(rows)


def _collect_agent_activity(h: fx.History, calendar: Any, now: datetime, acc: _Accumulator) -> None:
    for a in fx.agent_activity(h, calendar, now):
        if not acc.inside(a.at):
            continue
        key = (acc.day(a.at), a.user_id)
        counters = acc.agents[key]
        counters[a.kind] += 1
        if a.kind in ("reply", "assisted_reply"):
            acc.handled[key].add(a.ticket_id)
        elif a.kind == "resolved":
            counters["resolved_seconds"] += a.seconds
        elif a.kind == "first_response":
            counters["first_response_seconds"] += a.seconds
        elif a.kind == "csat":
            counters["csat_score_sum"] += a.seconds  # the score, summed


def _credit_ratings(acc: _Accumulator) -> None:
    for at, score, ticket_id in acc.ai_ratings:
        model = acc.last_answer_model.get(ticket_id)
        if model is None or not acc.inside(at):
            continue
        counters = acc.models[(acc.day(at), *model)]
        counters["satisfaction_sum"] += score
        counters["satisfaction_count"] += 1
    acc.ai_ratings.clear()


def _collect_escalations(
    session: Session, ctx: Context, lo: datetime, hi: datetime, acc: _Accumulator
) -> None:
    rows = session.execute(
        select(
            Escalation.created_at,
            Escalation.reason,
            Escalation.team_id,
            Escalation.created_by_user_id,
        )
        .where(Escalation.workspace_id == ctx.workspace_id)
        .where(Escalation.created_at >= lo, Escalation.created_at < hi)
    )
    for created_at, reason, team_id, user_id in rows:
        day = acc.day(created_at)
        acc.escalations[(day, reason, team_id or 0)] += 1
        if user_id is not None:
            acc.agents[(day, user_id)]["escalated"] += 1


def confidence_bin(confidence: float) -> int:
    return min(max(int(confidence * BINS), 0), BINS - 1)


def _collect_decisions(
    session: Session, ctx: Context, lo: datetime, hi: datetime, now: datetime, acc: _Accumulator
) -> None:
    d = AiDecision
    rows = session.execute(
        select(
            d.created_at, d.decision, d.confidence, d.provider, d.model, d.outcome, d.outcome_at,
            d.source,
        )
        .where(d.workspace_id == ctx.workspace_id, d.source != "dry_run")
        .where(d.created_at >= lo - OUTCOME_LOOKBACK - SETTLED_AFTER, d.created_at < hi)
    )  # fmt: skip
    for r in rows:
        key_model = (r.provider, r.model)
        if acc.inside(r.created_at):
            day = acc.day(r.created_at)
            c = acc.models[(day, *key_model)]
            c["requests"] += 1
            c[_DECISION_COUNTER.get(r.decision, "requests_other")] += 1
            c["high_confidence"] += int(r.confidence >= HIGH_CONFIDENCE)
            c["low_confidence"] += int(r.confidence < LOW_CONFIDENCE)
            acc.model_floats[(day, *key_model)]["confidence"] += r.confidence
            acc.bins[(day, confidence_bin(r.confidence))]["decisions"] += 1
        if r.decision not in ANSWERS or r.source != "ticket":
            continue
        label_at, right = _label(r.decision, r.outcome, r.outcome_at, r.created_at, now)
        if r.outcome is not None and r.outcome_at is not None and acc.inside(r.outcome_at):
            acc.models[(acc.day(r.outcome_at), *key_model)][f"outcome_{r.outcome}"] += 1
        if label_at is None or right is None or not acc.inside(label_at):
            continue
        key = (acc.day(label_at), confidence_bin(r.confidence))
        acc.bins[key]["labelled"] += 1
        acc.bins[key]["correct"] += int(right)
        acc.bin_confidence[key] += float(r.confidence)


_DECISION_COUNTER = {
    "resolve": "resolutions",
    "confirm": "confirmations",
    "clarify": "clarifications",
    "escalate": "escalations",
}


def _label(
    decision: str,
    outcome: str | None,
    outcome_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> tuple[datetime | None, bool | None]:
    """When an answer's right/wrong label became known, and the label (the calibration rules of
    `triage.calibration`: confirmed is right, rejected/reopened/escalated wrong, an auto-resolve
    that stood for SETTLED_AFTER right)."""
    if outcome in RIGHT and outcome_at is not None:
        return outcome_at, True
    if outcome in WRONG and outcome_at is not None:
        return outcome_at, False
    settled = created_at + SETTLED_AFTER
    if outcome is None and decision == "resolve" and settled <= now:
        return settled, True
    return None, None


def _collect_usage(
    session: Session, ctx: Context, lo: datetime, hi: datetime, acc: _Accumulator
) -> None:
    u = AiUsage
    rows = session.execute(
        select(u.created_at, u.provider, u.model, u.input_tokens, u.output_tokens, u.cost_usd)
        .where(u.workspace_id == ctx.workspace_id)
        .where(u.created_at >= lo, u.created_at < hi)
    )
    for at, provider, model, tokens_in, tokens_out, cost in rows:
        key = (acc.day(at), provider, model)
        c = acc.models[key]
        c["calls"] += 1
        c["input_tokens"] += int(tokens_in)
        c["output_tokens"] += int(tokens_out)
        acc.model_floats[key]["cost"] += float(cost)


def _collect_searches(
    session: Session, ctx: Context, lo: datetime, hi: datetime, acc: _Accumulator
) -> None:
    s = SearchLog
    rows = session.execute(
        select(
            s.created_at, s.source, s.results_count, s.top_dense, s.clicked_article_id, s.ticket_id
        )
        .where(s.workspace_id == ctx.workspace_id)
        .where(s.created_at >= lo, s.created_at < hi)
    )
    for at, source, results, dense, clicked, ticket_id in rows:
        c = acc.searches[(acc.day(at), source)]
        c["searches"] += 1
        c["zero_results"] += results == 0
        c["low_confidence"] += results > 0 and (dense or 0.0) < LOW_DENSE
        c["clicked"] += clicked is not None
        c["tickets_filed"] += ticket_id is not None
        c["deflected"] += source == "portal" and ticket_id is None
