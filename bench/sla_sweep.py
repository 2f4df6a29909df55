"""Time the periodic SLA sweep over many open tickets and count the SQL statements it runs.

    python bench/sla_sweep.py                                   # SQLite, 10k and 100k tickets
    python bench/sla_sweep.py --database-url postgresql://postgres@127.0.0.1:5432/bench_sla

For each size it builds a fresh database (PostgreSQL: the schema `public` is DROPPED and
re-migrated, so point it at a scratch database) with open tickets, each with a running
resolution clock due 2-6 days ahead, bulk-inserted like `prefill.py` does. Then it times:

- `idle`: a sweep with nothing due (several runs, median);
- `1% due`: 1% of the clocks moved past due (and at risk), one sweep that breaches them
  (events recorded, no breach actions: the policy has none);
- `actions`: 20 more breaches under a policy with notify_assignee + raise_priority, to show the
  per-breached-ticket cost of actions.

Statements are counted with a `before_cursor_execute` listener: detection costs the same number
of statements at every size; only breached tickets (in pages of 1000) add statements.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdb import fresh_database
from deskpilot.core.clock import set_clock
from deskpilot.customers.models import Contact
from deskpilot.db.engine import Database
from deskpilot.sla.models import SlaPolicy, TicketSla
from deskpilot.sla.tasks import sweep
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces.models import Workspace
from prefill import _insert, create_people

RESOLUTION_MINUTES = 7 * 24 * 60


class StatementCounter:
    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.write_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def fill(db: Database, tickets: int, now: datetime, rng: random.Random) -> tuple[int, list[int]]:
    """Open tickets, each with a running resolution clock due 2-6 days from now."""
    with db.session(write=True) as session:
        workspace, _token, agent_ids, team_ids = create_people(session, agents=4)
        ws = workspace.id
        session.add(Contact(workspace_id=ws, email="someone@customer.example.com", name="C"))
        policy = SlaPolicy(
            workspace_id=ws, name="Standard", resolution_minutes=RESOLUTION_MINUTES,
            at_risk_percent=80, breach_actions=[],
        )  # fmt: skip
        session.add(policy)
        session.commit()
        policy_id = policy.id

    def ticket_rows() -> Iterator[dict[str, Any]]:
        for i in range(tickets):
            created = now - timedelta(minutes=rng.randint(1, 24 * 60))
            yield {
                "workspace_id": ws, "number": i + 1, "subject": f"Ticket {i}",
                "description": "", "status": rng.choice(["new", "in_progress", "triage"]),
                "priority": "normal", "impact": "single_user", "channel": "email",
                "custom_fields": {}, "assignee_id": rng.choice(agent_ids),
                "team_id": rng.choice(team_ids), "reopened_count": 0,
                "created_at": created, "updated_at": created,
            }  # fmt: skip

    with db.session(write=True) as session:
        _insert(session, Ticket.__table__, ticket_rows())  # type: ignore[arg-type]
        ids = list(session.scalars(select(Ticket.id).where(Ticket.workspace_id == ws)))
        session.execute(update(Workspace).where(Workspace.id == ws).values(ticket_seq=tickets))

        def clock_rows() -> Iterator[dict[str, Any]]:
            for ticket_id in ids:
                due = now + timedelta(minutes=rng.randint(2 * 24 * 60, 6 * 24 * 60))
                yield {
                    "workspace_id": ws, "ticket_id": ticket_id, "policy_id": policy_id,
                    "metric": "resolution", "cycle": 1, "target_minutes": RESOLUTION_MINUTES,
                    "state": "running", "started_at": now, "counted_at": now,
                    "elapsed_seconds": 0, "due_at": due,
                    "at_risk_at": due - timedelta(minutes=RESOLUTION_MINUTES // 5),
                }  # fmt: skip

        _insert(session, TicketSla.__table__, clock_rows())  # type: ignore[arg-type]
        session.commit()
    if not db.is_sqlite:
        with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return policy_id, ids


def timed_sweep(db: Database, counter: StatementCounter, now: datetime) -> dict[str, Any]:
    before = counter.count
    started = time.perf_counter()
    with db.session(write=True) as session:
        result = sweep(session, now=now)
        session.commit()
    return {
        "ms": round((time.perf_counter() - started) * 1000, 1),
        "statements": counter.count - before,
        "breached": result.breached,
        "at_risk": result.at_risk,
        "actions": result.actions,
    }


def make_due(
    db: Database, clock_ids: list[int], now: datetime, policy_id: int | None = None
) -> None:
    values: dict[str, Any] = {
        "due_at": now - timedelta(minutes=1),
        "at_risk_at": now - timedelta(minutes=30),
    }
    if policy_id is not None:
        values["policy_id"] = policy_id
    with db.session(write=True) as session:
        for start in range(0, len(clock_ids), 1000):
            chunk = clock_ids[start : start + 1000]
            session.execute(update(TicketSla).where(TicketSla.id.in_(chunk)).values(**values))
        session.commit()


def run_size(url: str | None, workdir: Path, size: int, runs: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    set_clock(lambda: now)
    db, _settings = fresh_database(url, workdir / f"data-{size}")
    started = time.perf_counter()
    _policy_id, _ticket_ids = fill(db, size, now, rng)
    fill_seconds = round(time.perf_counter() - started, 1)
    with db.session(write=False) as session:
        clock_ids = list(session.scalars(select(TicketSla.id).order_by(TicketSla.id)))
    counter = StatementCounter(db)
    idle = [timed_sweep(db, counter, now) for _ in range(runs)]

    due_ids = rng.sample(clock_ids, k=max(1, size // 100))
    make_due(db, due_ids, now)
    one_percent = timed_sweep(db, counter, now)
    idle_after = timed_sweep(db, counter, now)

    with db.session(write=True) as session:
        ws = session.scalar(select(SlaPolicy.workspace_id))
        acting = SlaPolicy(
            workspace_id=ws, name="Acting", resolution_minutes=RESOLUTION_MINUTES,
            breach_actions=[{"type": "notify_assignee"}, {"type": "raise_priority"}],
        )  # fmt: skip
        session.add(acting)
        session.commit()
        acting_id = acting.id
    remaining = sorted(set(clock_ids) - set(due_ids))
    make_due(db, rng.sample(remaining, k=20), now, policy_id=acting_id)
    actions = timed_sweep(db, counter, now)
    db.dispose()
    set_clock(None)
    return {
        "tickets": size,
        "fill_seconds": fill_seconds,
        "idle": {
            "median_ms": statistics.median(r["ms"] for r in idle),
            "statements": sorted({r["statements"] for r in idle}),
        },
        "one_percent_due": one_percent,
        "idle_after": idle_after,
        "twenty_breaches_with_actions": actions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--tickets", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=5, help="idle sweeps per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"database": (args.database_url or "sqlite").split(":")[0]}
    report["sizes"] = []
    with tempfile.TemporaryDirectory(prefix="deskpilot-sla-bench-") as tmp:
        for size in args.tickets:
            result = run_size(args.database_url, Path(tmp), size, args.runs, args.seed)
            report["sizes"].append(result)
            print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
