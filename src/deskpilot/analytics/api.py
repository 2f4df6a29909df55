"""Analytics JSON and CSV routes (staff; recompute is for admins).

    GET  /api/v1/analytics/dashboards/{overview|ai|agents|kb}   every table of a dashboard
    GET  /api/v1/analytics/tables/{table_name}[?format=csv]           one table, as JSON or CSV
    POST /api/v1/analytics/rollup                               recompute a date range (admins)

Filters on the GETs: `from`, `to` (local dates, inclusive; default the last 30 days), `team`,
`agent` (a user id), `channel`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from deskpilot.analytics import rollups, service
from deskpilot.analytics.periods import Filters
from deskpilot.tickets.lifecycle import Channel
from deskpilot.web.deps import AdminContext, DbSession, StaffContext
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"], route_class=TransactionalRoute)

FromQuery = Annotated[date | None, Query(alias="from")]
ToQuery = Annotated[date | None, Query(alias="to")]
TeamQuery = Annotated[int | None, Query(alias="team", ge=1)]
AgentQuery = Annotated[int | None, Query(alias="agent", ge=1)]
ChannelQuery = Annotated[Channel | None, Query()]
DashboardName = Literal["overview", "ai", "agents", "kb"]


def _filters(
    session: DbSession,
    ctx: StaffContext,
    start: FromQuery = None,
    end: ToQuery = None,
    team: TeamQuery = None,
    agent: AgentQuery = None,
    channel: ChannelQuery = None,
) -> Filters:
    return service.filters_for(
        session,
        ctx,
        start=start,
        end=end,
        team_id=team,
        agent_id=agent,
        channel=channel.value if channel else None,
    )


def _filters_json(f: Filters) -> dict[str, Any]:
    return {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "team": f.team_id,
        "agent": f.agent_id,
        "channel": f.channel,
    }


@router.get("/dashboards/{dashboard}")
def get_dashboard(
    dashboard: DashboardName,
    session: DbSession,
    ctx: StaffContext,
    start: FromQuery = None,
    end: ToQuery = None,
    team: TeamQuery = None,
    agent: AgentQuery = None,
    channel: ChannelQuery = None,
) -> dict[str, Any]:
    f = _filters(session, ctx, start, end, team, agent, channel)
    board = service.get_dashboard(session, ctx, dashboard, f)
    return {
        "dashboard": board.name,
        "filters": _filters_json(f),
        "timezone": board.timezone,
        "rolled_up_at": board.rolled_up_at.isoformat() if board.rolled_up_at else None,
        "tables": {n: t.as_dict() for n, t in board.tables.items()},
    }


@router.get("/tables/{table_name}", response_model=None)
def get_table(
    table_name: Annotated[str, Field(max_length=64)],
    session: DbSession,
    ctx: StaffContext,
    start: FromQuery = None,
    end: ToQuery = None,
    team: TeamQuery = None,
    agent: AgentQuery = None,
    channel: ChannelQuery = None,
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | Response:
    f = _filters(session, ctx, start, end, team, agent, channel)
    table = service.get_table(session, ctx, table_name, f)
    if format == "csv":
        filename = f"{table.name}_{f.start.isoformat()}_{f.end.isoformat()}.csv"
        return Response(
            table.to_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return {"filters": _filters_json(f), **table.as_dict()}


class RollupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")


@router.post("/rollup")
def recompute(data: RollupRequest, session: DbSession, ctx: AdminContext) -> dict[str, Any]:
    result = rollups.recompute(session, ctx, data.start, data.end)
    return {
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "tickets": result.tickets,
        "agent_rows": result.agent_rows,
        "model_rows": result.model_rows,
        "kb_rows": result.kb_rows,
    }
