"""Language-model settings (admins change, staff read) and usage reports (staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from deskpilot.llm import service
from deskpilot.llm.schemas import (
    ProviderSettingsRead,
    ProviderSettingsUpdate,
    UsageBucketRead,
    UsageSummaryRead,
)
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/ai", tags=["ai"], route_class=TransactionalRoute)


def _read(settings: service.ProviderSettings) -> ProviderSettingsRead:
    return ProviderSettingsRead(
        provider=settings.provider,
        model=settings.model,
        base_url=settings.base_url,
        api_key_ref=settings.api_key_ref,
        api_key_present=service.api_key_present(settings),
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
        timeout_seconds=settings.timeout_seconds,
        max_retries=settings.max_retries,
        fallback=settings.fallback,
        input_price_per_mtok=settings.input_price_per_mtok,
        output_price_per_mtok=settings.output_price_per_mtok,
        monthly_token_budget=settings.monthly_token_budget,
        updated_at=settings.updated_at,
    )


@router.get("/settings", response_model=ProviderSettingsRead)
def get_settings(session: DbSession, ctx: StaffContext) -> ProviderSettingsRead:
    """The workspace's language-model settings (defaults: the offline builtin)."""
    return _read(service.get_settings(session, ctx))


@router.put("/settings", response_model=ProviderSettingsRead)
def update_settings(
    data: ProviderSettingsUpdate, session: DbSession, ctx: AdminContext
) -> ProviderSettingsRead:
    """Change the given fields; the others keep their values. Keys are referenced, never sent."""
    return _read(service.update_settings(session, ctx, data))


@router.get("/usage", response_model=UsageSummaryRead)
def usage(
    session: DbSession,
    ctx: StaffContext,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    group_by: Annotated[Literal["day", "model"], Query()] = "day",
) -> UsageSummaryRead:
    """Calls, tokens and cost per UTC day or per provider/model (default: this month)."""
    summary = service.usage_summary(session, ctx, since=since, until=until, group_by=group_by)
    return UsageSummaryRead(
        since=summary.since,
        until=summary.until,
        group_by=summary.group_by,
        items=[UsageBucketRead.model_validate(b) for b in summary.items],
        totals=UsageBucketRead.model_validate(summary.totals),
        month_tokens_used=summary.month_tokens_used,
        monthly_token_budget=summary.monthly_token_budget,
    )
