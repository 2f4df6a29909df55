"""Analytics dashboards (/app/analytics): overview, AI performance, agents, knowledge base.

Staff only (owners, admins and agents see the same dashboards; customers get the 403 page).
Every figure comes from `analytics.service`; this module only formats numbers for people and
lays out charts. Filters are plain GET parameters (`from`, `to`, `team`), so every view can be
bookmarked; htmx swaps just the board when the filter form changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from deskpilot.analytics import charts, service
from deskpilot.analytics.ai_metrics import expected_calibration_error
from deskpilot.analytics.tables import Table
from deskpilot.core.errors import NotFound, ValidationFailed
from deskpilot.core.ids import parse_id
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import StaffPage
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

BOARDS = (
    ("overview", "Overview", "/app/analytics"),
    ("ai", "AI performance", "/app/analytics/ai"),
    ("agents", "Agents", "/app/analytics/agents"),
    ("kb", "Knowledge base", "/app/analytics/kb"),
)
RATE_WORDS = ("rate", "ratio", "attainment", "coverage", "risk", "accuracy", "helpfulness")
DURATION_COLUMNS = frozenset({"mean", "median", "p90"})


@dataclass(frozen=True)
class Tab:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str


@dataclass(frozen=True)
class DisplayTable:
    name: str
    title: str
    description: str
    columns: list[str]
    rows: list[list[str]]
    csv_url: str


@dataclass(kw_only=True)
class AnalyticsPage(PageContext):
    board: str
    heading: str
    path: str
    tabs: list[Tab]
    start: str
    end: str
    team: str
    teams: list[tuple[str, str]]
    timezone: str
    rolled_up_at: datetime | None
    kpis: list[Kpi] = field(default_factory=list)
    tables: dict[str, DisplayTable] = field(default_factory=dict)
    line_charts: dict[str, charts.LineChart] = field(default_factory=dict)
    bar_charts: dict[str, charts.BarChart] = field(default_factory=dict)
    calibration_error: str = "-"
    nav: str = "analytics"


# --- formatting ----------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def format_value(column: str, value: Any) -> str:
    """A figure as people read it: durations, percentages, money, plain counts."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, int | float):
        return str(value)
    if column.endswith("_seconds") or column in DURATION_COLUMNS:
        return _duration(value)
    if column.endswith("_usd"):
        return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"
    if any(word in column for word in RATE_WORDS):
        return f"{value:.1%}"
    if column in ("csat_average", "satisfaction", "average_confidence", "mean_confidence"):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def _label(name: str) -> str:
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _display(table: Table, csv_url: str) -> DisplayTable:
    metric_rows = table.columns == ["metric", "value"]
    rows = []
    for row in table.rows:
        if metric_rows:
            rows.append([_label(str(row[0])), format_value(str(row[0]), row[1])])
        else:
            rows.append([format_value(c, v) for c, v in zip(table.columns, row, strict=True)])
    columns = [_label(c) for c in table.columns]
    if "user_id" in table.columns or "article_id" in table.columns:
        columns, rows = columns[1:], [r[1:] for r in rows]
    return DisplayTable(table.name, table.title, table.description, columns, rows, csv_url)


def _ece(table: Table | None) -> str:
    value = expected_calibration_error(table) if table is not None else None
    return "-" if value is None else f"{value:.3f}"


def _kpis(table: Table, names: tuple[str, ...]) -> list[Kpi]:
    values = {str(r[0]): r[1] for r in table.rows}
    return [Kpi(_label(n), format_value(n, values.get(n))) for n in names if n in values]


# --- charts --------------------------------------------------------------------------------------


def _short_day(value: Any) -> str:
    return value.strftime("%d %b") if isinstance(value, date) else str(value)


def _charts(board: str, tables: dict[str, Table]) -> tuple[dict[str, Any], dict[str, Any]]:
    lines: dict[str, charts.LineChart] = {}
    bars: dict[str, charts.BarChart] = {}
    if board == "overview":
        t = tables["volume_by_day"]
        lines["volume"] = charts.line_chart(
            "chart-volume",
            "Tickets per day",
            "Tickets created and resolved each day in the range.",
            [_short_day(d) for d in t.column("day")],
            [("Created", t.column("created")), ("Resolved", t.column("resolved"))],
        )
        for name, title in (("volume_by_channel", "Tickets by channel"),
                            ("volume_by_type", "Tickets by type")):  # fmt: skip
            t = tables[name]
            bars[name] = charts.bar_chart(
                f"chart-{name}", title, f"{title}, most first.",
                [(str(r[0]), float(r[1])) for r in t.rows],
            )  # fmt: skip
        t = tables["csat_distribution"]
        bars["csat"] = charts.bar_chart(
            "chart-csat",
            "Satisfaction ratings",
            "Number of ratings per score from 1 (bad) to 5 (great).",
            [(f"{r[0]} / 5", float(r[1])) for r in t.rows],
        )
    elif board == "ai":
        t = tables["ai_by_day"]
        lines["ai_daily"] = charts.line_chart(
            "chart-ai-daily",
            "AI decisions per day",
            "AI decisions, automatic resolutions and escalations each day.",
            [_short_day(d) for d in t.column("day")],
            [
                ("Decisions", t.column("decisions")),
                ("Resolutions", t.column("resolutions")),
                ("Escalations", t.column("escalations")),
            ],
        )
        t = tables["reliability"]
        lines["reliability"] = charts.line_chart(
            "chart-reliability",
            "Reliability",
            "Observed share of right answers against mean confidence per confidence bin; "
            "the diagonal is perfect calibration.",
            t.column("confidence"),
            [("Observed accuracy", t.column("observed_accuracy"))],
            unit_square=True,
            x_values=t.column("mean_confidence"),
            x_label="Mean confidence",
            y_label="Observed accuracy",
        )
        t = tables["risk_coverage"]
        lines["risk_coverage"] = charts.line_chart(
            "chart-risk-coverage",
            "Risk-coverage",
            "Share of wrong answers (risk) against the share of questions answered (coverage) "
            "when the AI answers only above each confidence threshold.",
            [str(x) for x in t.column("threshold")],
            [("Risk", t.column("risk"))],
            unit_square=True,
            x_values=t.column("coverage"),
            x_label="Coverage",
            y_label="Risk",
        )
        t = tables["confidence_histogram"]
        bars["confidence"] = charts.bar_chart(
            "chart-confidence",
            "Confidence distribution",
            "AI decisions per confidence bin, highest confidence first.",
            [(str(r[0]), float(r[1])) for r in reversed(t.rows)],
            limit=20,
        )
        t = tables["escalation_reasons"]
        bars["escalations"] = charts.bar_chart(
            "chart-escalations",
            "Escalations by reason",
            "Hand-offs to people per reason.",
            [(str(r[0]), float(r[1])) for r in t.rows],
        )
    elif board == "agents":
        t = tables["agents"]
        bars["handled"] = charts.bar_chart(
            "chart-handled",
            "Tickets handled",
            "Tickets each agent replied to publicly in the range.",
            [(str(r[1]), float(r[2])) for r in t.rows],
        )
    elif board == "kb":
        t = tables["kb_searches"]
        lines["searches"] = charts.line_chart(
            "chart-searches",
            "Searches per day",
            "Knowledge-base searches, searches with no result and deflections each day.",
            [_short_day(d) for d in t.column("day")],
            [
                ("Searches", t.column("searches")),
                ("No results", t.column("zero_results")),
                ("Deflected", t.column("deflected")),
            ],
        )
    return lines, bars


# --- routes --------------------------------------------------------------------------------------

KPIS = {
    "overview": (
        "ticket_summary",
        ("tickets_created", "tickets_resolved", "tickets_open", "reopen_rate",
         "sla_attainment", "csat_average", "csat_response_rate"),
    ),
    "ai": (
        "ai_summary",
        ("deflection_rate", "assist_rate", "escalation_rate", "outcome_confirmed_rate",
         "outcome_reopened_rate", "cost_per_ticket_usd", "cost_per_ai_resolution_usd"),
    ),
    "kb": (
        "kb_summary",
        ("article_views", "searches", "deflection_rate", "helpfulness_ratio",
         "zero_result_searches", "ai_references"),
    ),
}  # fmt: skip


def _parse_date(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationFailed(
            f"{value!r} is not a date (YYYY-MM-DD)",
            details=[{"field": name, "message": "use YYYY-MM-DD"}],
        ) from exc


def _parse_team(value: str) -> int | None:
    value = value.strip()
    return parse_id(value)


def _board(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    board: str,
    start: str,
    end: str,
    team: str,
) -> Response:
    ctx = auth.ctx
    filters = service.filters_for(
        session,
        ctx,
        start=_parse_date(start, "from"),
        end=_parse_date(end, "to"),
        team_id=_parse_team(team),
    )
    data = service.get_dashboard(session, ctx, board, filters)
    query = filters.query()
    tables = {
        name: _display(
            t, f"/api/v1/analytics/tables/{name}?{urlencode({**query, 'format': 'csv'})}"
        )
        for name, t in data.tables.items()
    }
    lines, bars = _charts(board, data.tables)
    kpis: list[Kpi] = []
    if board in KPIS:
        source, names = KPIS[board]
        kpis = _kpis(data.tables[source], names)
    heading = next(label for key, label, _ in BOARDS if key == board)
    page = AnalyticsPage(
        title=f"Analytics: {heading}",
        viewer=auth.viewer,
        board=board,
        heading=heading,
        path=next(url for key, _, url in BOARDS if key == board),
        tabs=[Tab(label, f"{url}?{urlencode(query)}", key == board) for key, label, url in BOARDS],
        start=filters.start.isoformat(),
        end=filters.end.isoformat(),
        team=str(filters.team_id or ""),
        teams=[(str(i), n) for i, n in data.teams],
        timezone=data.timezone,
        rolled_up_at=data.rolled_up_at,
        kpis=kpis,
        tables=tables,
        line_charts=lines,
        bar_charts=bars,
        calibration_error=_ece(data.tables.get("reliability")),
    )
    return render(
        request, f"analytics/{board}.html", page, partial=f"analytics/_{board}_board.html"
    )


Day = Annotated[str, Query(alias="from", max_length=10)]
ToDay = Annotated[str, Query(alias="to", max_length=10)]
TeamParam = Annotated[str, Query(max_length=20)]


@router.get("/app/analytics")
def overview(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    start: Day = "",
    end: ToDay = "",
    team: TeamParam = "",
) -> Response:
    return _board(request, session, auth, "overview", start, end, team)


@router.get("/app/analytics/{board}")
def board_page(
    board: Annotated[str, Path(max_length=20)],
    request: Request,
    session: DbSession,
    auth: StaffPage,
    start: Day = "",
    end: ToDay = "",
    team: TeamParam = "",
) -> Response:
    """AI performance, agents and knowledge base (`/app/analytics` is the overview)."""
    if board == "overview" or board not in {key for key, _, _ in BOARDS}:
        raise NotFound("No such dashboard")
    return _board(request, session, auth, board, start, end, team)
