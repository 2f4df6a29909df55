"""Token and cost accounting: this month's spend (for the budget) and usage reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Integer, event, func, select
from sqlalchemy.orm import Mapper, Session, object_session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.db.hooks import after_commit
from deskpilot.llm.models import AiProviderSettings, AiUsage
from deskpilot.observability import metrics


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_tokens_used(session: Session, ctx: Context) -> int:
    """Tokens (input + output) recorded for the workspace since the start of this UTC month."""
    total = session.scalar(
        select(func.coalesce(func.sum(AiUsage.input_tokens + AiUsage.output_tokens), 0)).where(
            AiUsage.workspace_id == ctx.workspace_id,
            AiUsage.created_at >= month_start(utcnow()),
        )
    )
    return int(total or 0)


@event.listens_for(AiUsage, "after_insert")
def _count_usage_after_commit(_mapper: Mapper[AiUsage], _conn: Connection, row: AiUsage) -> None:
    """Every AiUsage row, whoever adds it (`compose_answer`, or a job that saved the row its
    read-only phase prepared), feeds the provider metrics once its transaction commits."""
    session = object_session(row)
    if session is None:
        return
    record = partial(
        metrics.record_llm_call,
        provider=row.provider,
        model=row.model,
        status=row.status,
        latency_ms=row.latency_ms or 0.0,
        input_tokens=row.input_tokens or 0,
        output_tokens=row.output_tokens or 0,
        cost_usd=row.cost_usd or 0.0,
    )
    after_commit(session, record)


MAX_SUMMARY_DAYS = 366


@dataclass(frozen=True)
class UsageBucket:
    key: str  # "YYYY-MM-DD" (by day) or "provider/model" (by model)
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    avg_latency_ms: float
    fallbacks: int
    errors: int
    over_budget: int


@dataclass(frozen=True)
class UsageSummary:
    since: datetime
    until: datetime
    group_by: str
    items: list[UsageBucket]
    totals: UsageBucket
    month_tokens_used: int
    monthly_token_budget: int | None


def _day_key(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", AiUsage.created_at), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", AiUsage.created_at)  # SQLite stores naive UTC


def usage_summary(
    session: Session,
    ctx: Context,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: str = "day",
) -> UsageSummary:
    """Calls, tokens and cost per UTC day or per provider/model in [since, until).

    Defaults: from the start of this UTC month until now.
    """
    ctx.require_staff()
    until = until or utcnow()
    since = since or month_start(until)
    errors = []
    if group_by not in ("day", "model"):
        errors.append({"field": "group_by", "message": "day or model"})
    if since.tzinfo is None or until.tzinfo is None:
        errors.append({"field": "since", "message": "give times with a timezone (e.g. Z)"})
    elif since >= until:
        errors.append({"field": "since", "message": "must be before until"})
    elif (until - since).days > MAX_SUMMARY_DAYS:
        errors.append({"field": "since", "message": f"at most {MAX_SUMMARY_DAYS} days"})
    if errors:
        raise ValidationFailed("Invalid usage range", details=errors)
    key = _day_key(session) if group_by == "day" else AiUsage.provider + "/" + AiUsage.model

    def count(status: str) -> Any:
        return func.coalesce(func.sum(func.cast(AiUsage.status == status, Integer)), 0)

    measures = (
        func.count(AiUsage.id),
        func.coalesce(func.sum(AiUsage.input_tokens), 0),
        func.coalesce(func.sum(AiUsage.output_tokens), 0),
        func.coalesce(func.sum(AiUsage.cost_usd), 0.0),
        func.coalesce(func.avg(AiUsage.latency_ms), 0.0),
        count("fallback"),
        count("error"),
        count("over_budget"),
    )
    window = (
        AiUsage.workspace_id == ctx.workspace_id,
        AiUsage.created_at >= since,
        AiUsage.created_at < until,
    )

    def bucket(name: str, values: Any) -> UsageBucket:
        calls, tokens_in, tokens_out, cost, latency, fallbacks, failed, over = values
        return UsageBucket(
            key=name,
            calls=int(calls),
            input_tokens=int(tokens_in),
            output_tokens=int(tokens_out),
            cost_usd=round(float(cost), 6),
            avg_latency_ms=round(float(latency), 1),
            fallbacks=int(fallbacks),
            errors=int(failed),
            over_budget=int(over),
        )

    grouped = session.execute(
        select(key.label("key"), *measures).where(*window).group_by(key).order_by(key)
    ).all()
    total = session.execute(select(*measures).where(*window)).one()
    budget = session.scalar(
        select(AiProviderSettings.monthly_token_budget).where(
            AiProviderSettings.workspace_id == ctx.workspace_id
        )
    )
    return UsageSummary(
        since=since,
        until=until,
        group_by=group_by,
        items=[bucket(str(r[0]), r[1:]) for r in grouped],
        totals=bucket("total", total),
        month_tokens_used=month_tokens_used(session, ctx),
        monthly_token_budget=budget,
    )
