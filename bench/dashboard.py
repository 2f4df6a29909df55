"""Analytics dashboard latency over a large help desk (issue 8: p95 <= 300 ms per widget).

Builds a fresh database (SQLite by default, or `--database-url postgresql://...`, whose `public`
schema is wiped), bulk-inserts `--tickets` tickets with `bench/prefill.py`, tops the messages up
to `--messages` with Core inserts (alternating customer and agent replies, some marked as
AI-assisted), adds AI decisions with outcomes, escalations and status events for a share of the
tickets, runs the full roll-up (`analytics.rollups.recompute` over the whole year), then times:

- every widget's service call (each table of each dashboard), for the last 30 days and the last
  365 days, `--repeat` times each;
- each dashboard page (`/app/analytics...`) rendered in-process through the real app, signed in
  as an agent.

    python bench/dashboard.py [--tickets 100000] [--messages 1000000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("DESKPILOT_AI_PIPELINE", "false")

from sqlalchemy import select

from benchdb import fresh_database
from deskpilot.analytics import rollups, service
from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.db.engine import Database
from deskpilot.escalations.models import Escalation
from deskpilot.tickets.models import Message, Ticket, TicketEvent
from deskpilot.triage.models import AiDecision
from prefill import _insert, analyze, prefill

PASSWORD = "bench-password-123"
AGENT_EMAIL = "dash-agent@bench.example.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: a SQLite file")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per widget")
    return parser.parse_args(argv)


def top_up(db: Database, ws: int, agent_ids: list[int], target: int, seed: int = 11) -> None:
    """Messages up to `target`, plus AI decisions, escalations and status events."""
    rng = random.Random(seed)
    with db.session(write=False) as session:
        tickets = session.execute(
            select(Ticket.id, Ticket.created_at, Ticket.status).where(Ticket.workspace_id == ws)
        ).all()
        have = len(session.scalars(select(Message.id).where(Message.workspace_id == ws)).all())
    per_ticket = max(0, (target - have) // max(1, len(tickets)))
    extra = max(0, target - have - per_ticket * len(tickets))

    def messages() -> Iterator[dict[str, Any]]:
        for i, (ticket_id, created, _) in enumerate(tickets):
            for n in range(per_ticket + (1 if i < extra else 0)):
                agent = n % 2 == 0
                yield {
                    "workspace_id": ws,
                    "ticket_id": ticket_id,
                    "author_type": "agent" if agent else "customer",
                    "author_user_id": rng.choice(agent_ids) if agent else None,
                    "visibility": "public",
                    "channel": "email",
                    "body": "Thanks, looking into it.",
                    "body_html": "<p>Thanks, looking into it.</p>",
                    "ai_meta": {"assisted_by_decision_id": 1}
                    if agent and rng.random() < 0.2
                    else None,
                    "created_at": created + timedelta(hours=2 + n),
                }

    def decisions() -> Iterator[dict[str, Any]]:
        for ticket_id, created, _status in tickets:
            if rng.random() < 0.4:
                confidence = rng.random()
                right = rng.random() < confidence
                yield {
                    "workspace_id": ws, "ticket_id": ticket_id, "source": "ticket", "query": "q",
                    "decision": "resolve" if confidence > 0.7 else "escalate",
                    "confidence": confidence, "rule": "threshold", "reasons": [], "inputs": {},
                    "citations": [], "provider": "builtin", "model": "extractive",
                    "prompt_version": "", "calibrator": "", "input_tokens": 400,
                    "output_tokens": 120, "cost_usd": 0.0004, "latency_ms": 50.0,
                    "outcome": ("confirmed" if right else "reopened") if confidence > 0.7 else None,
                    "outcome_at": created + timedelta(hours=3) if confidence > 0.7 else None,
                    "created_at": created + timedelta(minutes=1),
                }  # fmt: skip

    def escalations() -> Iterator[dict[str, Any]]:
        reasons = ["low_confidence", "user_requested", "policy", "sentiment", "sla"]
        for ticket_id, created, _ in tickets:
            if rng.random() < 0.15:
                yield {
                    "workspace_id": ws, "ticket_id": ticket_id, "reason": rng.choice(reasons),
                    "attempted": {}, "summary": "", "status": "resolved",
                    "created_by_user_id": rng.choice(agent_ids), "created_at": created + timedelta(minutes=5),
                }  # fmt: skip

    def events() -> Iterator[dict[str, Any]]:
        for ticket_id, created, status in tickets:
            if status in ("resolved", "closed"):
                yield {
                    "workspace_id": ws, "ticket_id": ticket_id, "kind": "resolved",
                    "actor_type": "user", "actor_user_id": rng.choice(agent_ids),
                    "field": "status", "old_value": "in_progress", "new_value": "resolved",
                    "meta": {}, "created_at": created + timedelta(hours=6),
                }  # fmt: skip

    with db.session(write=True) as session:
        n_messages = _insert(session, Message.__table__, messages())  # type: ignore[arg-type]
        n_decisions = _insert(session, AiDecision.__table__, decisions())  # type: ignore[arg-type]
        n_escalations = _insert(session, Escalation.__table__, escalations())  # type: ignore[arg-type]
        n_events = _insert(session, TicketEvent.__table__, events())  # type: ignore[arg-type]
        session.commit()
    print(
        f"  +{n_messages} messages ({have + n_messages} in all), {n_decisions} AI decisions, "
        f"{n_escalations} escalations, {n_events} resolved events"
    )


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="deskpilot-dash-"))
    db, settings = fresh_database(args.database_url, tmp)
    print(f"database: {db.url.split('@')[-1]}  cores: {os.cpu_count()}")
    fixture = prefill(db, args.tickets, log=lambda m: print(m))
    ws = fixture.workspace_id
    t0 = time.perf_counter()
    top_up(db, ws, fixture.agent_ids[1:], args.messages)
    print(f"  top-up {time.perf_counter() - t0:.1f}s")
    analyze(db)
    ctx = Context.system(ws)
    with db.session(write=True) as session:
        today = datetime.now(UTC).date()
        t0 = time.perf_counter()
        result = rollups.recompute(session, ctx, today - timedelta(days=366), today)
        session.commit()
    print(f"full roll-up of {result.tickets} tickets: {time.perf_counter() - t0:.1f}s")
    with db.session(write=True) as session:
        t0 = time.perf_counter()
        rollups.recompute_recent(session, ctx)
        session.commit()
    print(f"periodic roll-up (yesterday + today): {(time.perf_counter() - t0) * 1000:.0f} ms")
    analyze(db)

    with db.session(write=True) as session:
        member = auth_service.add_member(
            session, ctx, email=AGENT_EMAIL, role=Role.agent, name="Dash Agent", password=PASSWORD
        )
        session.commit()
    agent = Context(workspace_id=ws, user_id=member.user_id, role=Role.agent)
    print(f"\n{'widget':<28}{'range':>7}{'p50 ms':>10}{'p95 ms':>10}")
    worst = 0.0
    with db.session(write=False) as session:
        for days in (30, 365):
            filters = service.filters_for(
                session, agent, start=today - timedelta(days=days - 1), end=today
            )
            for name, builder in service.TABLES.items():
                p50, p95 = timed(lambda b=builder, f=filters: b(session, agent, f), args.repeat)
                worst = max(worst, p95)
                print(f"{name:<28}{days:>6}d{p50:>10.1f}{p95:>10.1f}")
    print(f"worst widget p95: {worst:.1f} ms (target 300 ms)")

    from fastapi.testclient import TestClient

    from deskpilot.main import create_app

    app = create_app(settings, db=db, queue_mode="immediate", start_worker=False)
    with TestClient(app) as client:
        r = client.post(
            "/login",
            data={"workspace": "bench", "email": AGENT_EMAIL, "password": PASSWORD},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        print(f"\n{'page':<28}{'p50 ms':>10}{'p95 ms':>10}")
        for url in (
            "/app/analytics",
            "/app/analytics/ai",
            "/app/analytics/agents",
            "/app/analytics/kb",
        ):
            p50, p95 = timed(
                lambda u=url: client.get(u).raise_for_status(), max(5, args.repeat // 2)
            )
            print(f"{url:<28}{p50:>10.1f}{p95:>10.1f}")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
