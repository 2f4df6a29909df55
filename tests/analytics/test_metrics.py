"""Metric definitions on hand-built histories with known answers."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.analytics import ai_metrics, metrics, rollups
from deskpilot.analytics.models import AgentDailyStats, TicketFact
from deskpilot.analytics.periods import Filters
from deskpilot.core.context import Context
from tests.analytics.histories import at, berlin_hours, build_acme, say
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket

MONDAY = date(2025, 3, 3)
WEEK = Filters(date(2025, 3, 3), date(2025, 3, 9))


def _values(table: object) -> dict[str, object]:
    return {row[0]: row[1] for row in table.rows}  # type: ignore[attr-defined]


@pytest.fixture
def built(session: Session, personas: Personas, clock: FrozenClock):  # type: ignore[no-untyped-def]
    result = build_acme(session, personas, clock)
    rollups.recompute(session, Context.system(personas.ann.workspace_id), MONDAY, MONDAY)
    session.commit()
    return result


def _fact(session: Session, ticket_id: int) -> TicketFact:
    return session.scalars(select(TicketFact).where(TicketFact.ticket_id == ticket_id)).one()


def test_waiting_customer_time_is_not_resolution_time(session: Session, built) -> None:  # type: ignore[no-untyped-def]
    fact = _fact(session, built.waiting)
    assert fact.first_response_seconds == 1800
    assert fact.next_response_count == 1
    assert fact.next_response_seconds_sum == 1800
    assert fact.resolution_seconds == 3600  # 3 h open minus 2 h waiting on the customer
    assert fact.resolved_by == "agent"
    assert fact.csat_score == 4
    assert fact.assisted_replies == 1
    assert fact.agent_public_replies == 2


def test_reopen_is_counted_and_has_no_resolution_time(session: Session, built) -> None:  # type: ignore[no-untyped-def]
    fact = _fact(session, built.reopened)
    assert fact.reopened_count == 1
    assert fact.ever_resolved
    assert fact.is_open
    assert fact.resolution_seconds is None
    assert not fact.ai_deflected


def test_ticket_summary_and_times(session: Session, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    ctx = personas.ann.ctx
    summary = _values(metrics.ticket_summary(session, ctx, WEEK))
    assert summary["tickets_created"] == 3
    assert summary["tickets_resolved"] == 2
    assert summary["reopen_rate"] == 0.3333  # 1 of 3 ever-resolved tickets
    assert summary["csat_average"] == 4
    assert summary["csat_response_rate"] == 0.5  # 1 rating, 2 resolved tickets
    times = {(r[0], r[1]): r[2:] for r in metrics.ticket_times(session, ctx, WEEK).rows}
    # FRT: 30 min (waiting), 30 min (reopened), 5 min (AI): mean 1300, median 1800.
    assert times[("first_response", "calendar")] == [3, 1300.0, 1800.0, 1800.0]
    assert times[("resolution", "calendar")][0] == 2
    csat = dict(metrics.csat_distribution(session, ctx, WEEK).rows)
    assert csat == {1: 0, 2: 0, 3: 0, 4: 1, 5: 0}


def test_large_cohorts_get_percentiles_to_the_minute(
    session: Session,
    personas: Personas,
    built,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Above EXACT_PERCENTILES_UP_TO tickets, percentiles come from per-minute counts in SQL:
    the same cohort then reports the middle of the right minute, and the exact mean."""
    ctx = personas.ann.ctx
    monkeypatch.setattr(metrics, "EXACT_PERCENTILES_UP_TO", 0)
    times = {(r[0], r[1]): r[2:] for r in metrics.ticket_times(session, ctx, WEEK).rows}
    # FRT 30, 30 and 5 minutes: the median and p90 lie in minute 30 -> 30.5 min = 1830 s.
    assert times[("first_response", "calendar")] == [3, 1300.0, 1830.0, 1830.0]
    assert times[("resolution", "calendar")][0] == 2


def test_ai_metrics(session: Session, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    ctx = personas.ann.ctx
    summary = _values(ai_metrics.ai_summary(session, ctx, WEEK))
    assert summary["ai_deflected"] == 1
    assert summary["deflection_rate"] == 0.3333
    assert summary["assist_rate"] == 0.3333  # 1 of 3 public agent replies
    assert summary["escalation_rate"] == 0.3333
    assert summary["outcome_confirmed_rate"] == 0.5
    assert summary["outcome_reopened_rate"] == 0.5
    assert summary["cost_per_ai_resolution_usd"] == 0.02  # two decisions, one AI resolution
    reliability = ai_metrics.reliability(session, ctx, WEEK)
    assert reliability.rows == [["0.30-0.35", 1, 0.3, 0.0], ["0.90-0.95", 1, 0.9, 1.0]]
    assert ai_metrics.expected_calibration_error(reliability) == 0.2
    curve = ai_metrics.risk_coverage(session, ctx, WEEK)
    assert curve.rows == [[0.9, 1, 0.5, 0.0], [0.3, 2, 1.0, 0.5]]
    reasons = ai_metrics.escalation_reasons(session, ctx, WEEK).rows
    assert reasons == [["low_confidence", 1, 0.3333]]


def test_agent_daily_stats(session: Session, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    rows = {
        r.user_id: r
        for r in session.scalars(select(AgentDailyStats).where(AgentDailyStats.day == MONDAY))
    }
    ann, bob = rows[personas.ann.user_id], rows[personas.bob.user_id]
    assert (ann.handled, ann.replies, ann.assisted_replies, ann.resolved) == (1, 2, 1, 1)
    assert ann.resolution_seconds_sum == 3600
    assert ann.first_response_seconds_sum == 1800
    assert (ann.csat_sum, ann.csat_count) == (4, 1)
    assert (bob.handled, bob.resolved, bob.escalated) == (1, 1, 1)
    board = metrics.agent_leaderboard(session, personas.ann.ctx, WEEK).records()
    assert [r["name"] for r in board][:2] == ["Ann", "Bob"]


def test_business_hours_and_local_days(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    """Berlin hours: a Friday-evening ticket answered Monday morning took 30 business minutes;
    a ticket created Monday 23:30 UTC is a Tuesday ticket in Berlin."""
    berlin_hours(session, personas)
    ann = personas.ann.ctx
    clock.now = at(7, 16, 30)  # Friday 17:30 Berlin, after hours
    late = make_ticket(session, ann)
    clock.now = at(10, 8, 30)  # Monday 09:30 Berlin
    say(session, ann, late.id, "Morning!")
    clock.now = at(10, 23, 30)  # Tuesday 00:30 Berlin
    night = make_ticket(session, ann)
    rollups.recompute(
        session, Context.system(ann.workspace_id), date(2025, 3, 7), date(2025, 3, 11)
    )
    session.commit()
    fact = _fact(session, late.id)
    assert fact.first_response_seconds == 2 * 86400 + 16 * 3600
    assert fact.first_response_business_seconds == 1800
    assert _fact(session, night.id).created_day == date(2025, 3, 11)
    days = metrics.volume_by_day(session, ann, Filters(date(2025, 3, 10), date(2025, 3, 11)))
    assert days.rows == [[date(2025, 3, 10), 0, 0], [date(2025, 3, 11), 1, 0]]
