"""Roll-up idempotency and range recompute, the API (filters, CSV, roles), tenancy, dashboards."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.analytics import rollups, tasks
from deskpilot.analytics.models import AgentDailyStats, ModelDailyStats, TicketFact
from deskpilot.core.context import Context
from deskpilot.db.engine import Database
from deskpilot.tickets.lifecycle import Status
from tests.analytics.histories import Built, at, build_acme, say
from tests.clock import FrozenClock
from tests.factories import Personas, make_ticket
from tests.pages import HTMX, sign_in

MONDAY = date(2025, 3, 3)
RANGE = {"from": "2025-03-03", "to": "2025-03-09"}


@pytest.fixture
def built(session: Session, personas: Personas, clock: FrozenClock):  # type: ignore[no-untyped-def]
    result = build_acme(session, personas, clock)
    # globex has one ticket of its own that acme must never count.
    clock.now = at(3, 15)
    gina = personas.gina.ctx
    other = make_ticket(session, gina, subject="Globex secret")
    say(session, gina, other.id, "On it.")
    for p in (personas.ann, personas.gina):
        rollups.recompute(session, Context.system(p.workspace_id), MONDAY, MONDAY)
    session.commit()
    return result


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        int(session.scalar(select(func.count()).select_from(m)) or 0)
        for m in (TicketFact, AgentDailyStats, ModelDailyStats)
    )


def test_recompute_is_idempotent(session: Session, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    before = _counts(session)
    facts = [
        f.resolution_seconds
        for f in session.scalars(select(TicketFact).order_by(TicketFact.ticket_id))
    ]
    ctx = Context.system(personas.ann.workspace_id)
    rollups.recompute(session, ctx, MONDAY, MONDAY)
    rollups.recompute(session, ctx, MONDAY, MONDAY)
    session.commit()
    session.expire_all()
    assert _counts(session) == before
    assert [
        f.resolution_seconds
        for f in session.scalars(select(TicketFact).order_by(TicketFact.ticket_id))
    ] == facts
    assert before[0] == 4  # three acme tickets + one globex ticket


def test_range_recompute_picks_up_late_changes(
    session: Session,
    personas: Personas,
    clock: FrozenClock,
    built: Built,
) -> None:
    ann = personas.ann.ctx
    clock.now = at(5, 10)  # Wednesday: ann resolves the reopened ticket
    say(session, ann, built.reopened, "Really fixed now.", then_status=Status.resolved)
    session.commit()
    rollups.recompute(session, Context.system(ann.workspace_id), date(2025, 3, 4), date(2025, 3, 5))
    session.commit()
    fact = session.scalars(select(TicketFact).where(TicketFact.ticket_id == built.reopened)).one()
    assert fact.resolved_day == date(2025, 3, 5)
    assert fact.resolution_seconds is not None
    wednesday = session.scalars(
        select(AgentDailyStats).where(AgentDailyStats.day == date(2025, 3, 5))
    ).one()
    assert (wednesday.user_id, wednesday.resolved) == (ann.user_id, 1)
    # Monday's rows were outside the range and are untouched.
    assert (
        session.scalar(
            select(func.count())
            .select_from(AgentDailyStats)
            .where(AgentDailyStats.day == MONDAY, AgentDailyStats.workspace_id == ann.workspace_id)
        )
        == 2
    )


def test_periodic_job_rolls_up_every_workspace(
    session: Session, personas: Personas, clock: FrozenClock
) -> None:
    make_ticket(session, personas.ann.ctx)
    make_ticket(session, personas.gina.ctx)
    session.commit()
    tasks.rollup_recent(session)
    session.commit()
    workspaces = session.scalars(select(TicketFact.workspace_id).order_by(TicketFact.workspace_id))
    assert list(workspaces) == sorted({personas.ann.workspace_id, personas.gina.workspace_id})


def test_cli_rollup(db: Database, personas: Personas, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from deskpilot.cli import main

    monkeypatch.setenv("DESKPILOT_DATABASE_URL", db.url)
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DESKPILOT_SECRET_KEY", "x" * 40)
    result = CliRunner().invoke(
        main,
        [
            "analytics",
            "rollup",
            "--workspace",
            "acme",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-03",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Rolled up 'acme' from 2025-03-01 to 2025-03-03" in result.output
    bad = CliRunner().invoke(main, ["analytics", "rollup", "--workspace", "acme", "--from", "nope"])
    assert bad.exit_code != 0
    assert "not a date" in bad.output


# --- API -----------------------------------------------------------------------------------------


def test_api_dashboard_and_filters(client: TestClient, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    r = client.get(
        "/api/v1/analytics/dashboards/overview", params=RANGE, headers=personas.ann.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    summary = dict(body["tables"]["ticket_summary"]["rows"])
    assert summary["tickets_created"] == 3  # globex's ticket is not counted
    team = personas.teams["acme_support"]
    r = client.get(
        "/api/v1/analytics/tables/ticket_summary",
        params={**RANGE, "team": team},
        headers=personas.ann.headers,
    )
    assert dict(r.json()["rows"])["tickets_created"] == 1
    r = client.get(
        "/api/v1/analytics/tables/volume_by_channel",
        params={**RANGE, "channel": "email"},
        headers=personas.acme_admin.headers,
    )
    assert r.json()["rows"] == [["email", 1]]
    r = client.get(
        "/api/v1/analytics/tables/agents",
        params={**RANGE, "agent": personas.bob.user_id},
        headers=personas.ann.headers,
    )
    assert [row[1] for row in r.json()["rows"]] == ["Bob"]
    bad = client.get(
        "/api/v1/analytics/tables/agents",
        params={"from": "2025-03-09", "to": "2025-03-03"},
        headers=personas.ann.headers,
    )
    assert bad.status_code == 422


def test_api_csv_export(client: TestClient, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    r = client.get(
        "/api/v1/analytics/tables/agents",
        params={**RANGE, "format": "csv"},
        headers=personas.ann.headers,
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "agents_2025-03-03_2025-03-09.csv" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:3] == ["user_id", "name", "handled"]
    assert {row[1] for row in rows[1:]} == {"Ann", "Bob"}


def test_api_roles_and_tenancy(client: TestClient, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    url = "/api/v1/analytics/dashboards/overview"
    assert client.get(url, params=RANGE).status_code == 401
    assert client.get(url, params=RANGE, headers=personas.carol.headers).status_code == 403
    globex = client.get(url, params=RANGE, headers=personas.gina.headers).json()
    assert dict(globex["tables"]["ticket_summary"]["rows"])["tickets_created"] == 1
    agents = client.get(
        "/api/v1/analytics/tables/agents", params=RANGE, headers=personas.gina.headers
    ).json()
    assert [row[1] for row in agents["rows"]] == ["Gina"]
    # Another workspace's team is a 404, not an empty answer.
    foreign = client.get(
        url, params={**RANGE, "team": personas.teams["acme_support"]}, headers=personas.gina.headers
    )
    assert foreign.status_code == 404
    unknown = client.get("/api/v1/analytics/tables/nope", headers=personas.ann.headers)
    assert unknown.status_code == 404


def test_api_recompute_is_for_admins(client: TestClient, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    body = {"from": "2025-03-03", "to": "2025-03-03"}
    denied = client.post("/api/v1/analytics/rollup", json=body, headers=personas.ann.headers)
    assert denied.status_code == 403
    ok = client.post("/api/v1/analytics/rollup", json=body, headers=personas.acme_admin.headers)
    assert ok.status_code == 200
    assert ok.json()["tickets"] == 3


# --- pages ---------------------------------------------------------------------------------------

PAGES = ["/app/analytics", "/app/analytics/ai", "/app/analytics/agents", "/app/analytics/kb"]


@pytest.mark.parametrize("url", PAGES)
def test_dashboard_pages_for_staff(client: TestClient, personas: Personas, built, url: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, personas.ann)
    r = client.get(url, params=RANGE)
    assert r.status_code == 200
    html = r.text
    assert "<h1>Analytics</h1>" in html
    assert 'aria-current="page"' in html
    assert "/api/v1/analytics/tables/" in html
    assert "format=csv" in html
    partial = client.get(url, params=RANGE, headers=HTMX)
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert "analytics-tabs" in partial.text


def test_overview_page_content(client: TestClient, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, personas.acme_admin)
    html = client.get("/app/analytics", params=RANGE).text
    assert "<svg" in html
    assert "<desc" in html
    assert "Tickets per day" in html
    assert "Globex secret" not in html
    ai = client.get("/app/analytics/ai", params=RANGE).text
    assert 'id="chart-reliability-title"' in ai
    assert 'id="chart-risk-coverage-title"' in ai
    assert "Expected calibration error: <strong>0.200</strong>" in ai
    agents = client.get("/app/analytics/agents", params=RANGE).text
    assert "Ann" in agents
    assert "Gina" not in agents


def test_dashboard_permissions(client: TestClient, personas: Personas, built) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/app/analytics", follow_redirects=False)
    assert r.status_code in (302, 303)
    assert "/login" in r.headers["location"]
    sign_in(client, personas.carol)
    assert client.get("/app/analytics").status_code == 403
    client.cookies.clear()
    sign_in(client, personas.gina)
    foreign_team = client.get("/app/analytics", params={"team": personas.teams["acme_support"]})
    assert foreign_team.status_code == 404
    own = client.get("/app/analytics", params=RANGE).text
    assert "Globex secret" not in own
    assert client.get("/app/analytics", params={"from": "junk"}).status_code == 422
