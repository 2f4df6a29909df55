#!/usr/bin/env python
"""API load benchmark: the real server over HTTP, concurrent keep-alive clients, 100k tickets.

    python bench/api_load.py                       # SQLite in a temp dir, 100k tickets
    python bench/api_load.py --prefill 10000 --duration 10
    python bench/api_load.py --database-url postgresql://postgres@127.0.0.1:5432/bench_pg --reset
    python bench/api_load.py --server-workers 2 --rate creates=500

Steps: create and migrate a fresh database, create a workspace, admin and API token through the
services, bulk-insert N tickets (with contacts, tags, messages and audit events), start the server
(`deskpilot serve`) as a subprocess, wait for /ready, then run each phase for a fixed duration:

  creates  POST /api/v1/tickets with a unique Idempotency-Key per request
  reads    GET /api/v1/tickets/{id} for random ids
  lists    GET /api/v1/tickets?limit=50 with filter/sort variants, following next_cursor

Afterwards it checks that the tickets added to the database equal the 201s received, with no
duplicate numbers. Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.db import migrate
from deskpilot.db.engine import Database, open_database
from deskpilot.settings import normalize_database_url
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces import service as workspaces_service

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen
import prefill as prefill_mod
import report as reporting
import serverctl

try:
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson ships with the server's dependencies
    loads = json.loads

RESULTS_DIR = Path(__file__).resolve().parent / "results"
MAX_PHASE_SECONDS = 30.0
PHASES = ("creates", "reads", "lists")
LIST_VARIANTS = {
    "newest": "",
    "open_work": "&status=new&status=in_progress&status=waiting_internal",
    "recently_updated_high": "&priority=high&priority=urgent&sort=-updated_at",
    "by_assignee": "&assignee_id={agent}",
    "by_tag": "&tag={tag}",
    "waiting_customer": "&status=waiting_customer&sort=updated_at",
    "requester_history": "&requester_id={contact}",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench/api_load.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--database-url",
        help="SQLite file or PostgreSQL database to create and fill (default: a temp SQLite file)",
    )
    p.add_argument("--reset", action="store_true", help="drop that database first if it exists")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="use that database as left by an earlier run (no migration, no prefill)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp directory afterwards")
    p.add_argument(
        "--with-ai",
        action="store_true",
        help="leave the AI pipeline on (it triages every created ticket in the server)",
    )
    p.add_argument(
        "--prefill", type=int, default=100_000, help="tickets inserted first (default: %(default)s)"
    )
    p.add_argument(
        "-c", "--concurrency", type=int, default=16, help="connections (default: %(default)s)"
    )
    p.add_argument(
        "-d",
        "--duration",
        type=float,
        default=15.0,
        help=f"seconds per phase, at most {MAX_PHASE_SECONDS:g} (default: %(default)s)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="unmeasured seconds per phase (default: %(default)s)",
    )
    p.add_argument(
        "--phases", default=",".join(PHASES), help="comma-separated phases (default: %(default)s)"
    )
    p.add_argument(
        "--rate",
        action="append",
        default=[],
        metavar="PHASE=R",
        help="open-loop arrival rate in requests/s for a phase, e.g. creates=500 "
        "(default: closed loop, i.e. maximum throughput at the given concurrency)",
    )
    p.add_argument(
        "--pages",
        type=int,
        default=3,
        help="pages followed per list request (default: %(default)s)",
    )
    p.add_argument(
        "--server-workers", type=int, default=1, help="uvicorn processes (default: %(default)s)"
    )
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--profile", choices=PHASES, help="record the server with py-spy in this phase")
    p.add_argument(
        "--profile-mode",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: threads holding the GIL (where CPU goes); wall: waiting threads too "
        "(default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    p.add_argument("--output", type=Path, help="JSON file (default: bench/results/<name>.json)")
    args = p.parse_args(argv)
    if not 0 < args.duration <= MAX_PHASE_SECONDS:
        p.error(f"--duration must be in (0, {MAX_PHASE_SECONDS:g}]")
    args.phase_list = [x for x in args.phases.split(",") if x]
    unknown = set(args.phase_list) - set(PHASES)
    if unknown:
        p.error(f"unknown phases: {sorted(unknown)}")
    rates = {}
    for item in args.rate:
        phase, _, value = item.partition("=")
        if phase not in PHASES or not value:
            p.error(f"--rate expects PHASE=R with PHASE in {PHASES}")
        rates[phase] = float(value)
    args.rates = rates
    return args


# --- database ------------------------------------------------------------------------------------


def prepare_database(args: argparse.Namespace, workdir: Path) -> str:
    """Return a SQLAlchemy URL for a database that does not exist yet (or was reset/reused)."""
    if not args.database_url:
        return f"sqlite:///{workdir / 'deskpilot.db'}"
    url = normalize_database_url(args.database_url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if path.exists() and not args.reuse:
            if not args.reset:
                raise SystemExit(f"{path} exists: pass --reset to replace it or --reuse")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return url
    name = parsed.database
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists and args.reuse:
                return url
            if exists and not args.reset:
                raise SystemExit(f"database {name} exists: pass --reset to drop it, or --reuse")
            if exists:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url


def database_version(db: Database) -> str:
    with db.read_engine.connect() as conn:
        if db.is_sqlite:
            return "SQLite " + str(conn.scalar(text("select sqlite_version()")))
        return str(conn.scalar(text("show server_version"))).join(("PostgreSQL ", ""))


def load_fixture(db: Database, args: argparse.Namespace) -> prefill_mod.Fixture:
    """Reuse: the data is there already; only a fresh token is needed (tokens are stored hashed)."""
    from deskpilot.auth.models import Membership
    from deskpilot.customers.models import Contact
    from deskpilot.workspaces.models import Team

    with db.session(write=True) as s:
        ws = workspaces_service.require_workspace_by_slug(s, "bench")
        agent_ids = list(
            s.scalars(select(Membership.user_id).where(Membership.workspace_id == ws.id))
        )
        owner = s.scalars(
            select(Membership).where(Membership.workspace_id == ws.id, Membership.role == "owner")
        ).first()
        assert owner is not None
        ctx = Context(workspace_id=ws.id, user_id=owner.user_id, role=Role.owner)
        token = auth_service.issue_token(s, ctx, user_id=owner.user_id, name="bench").secret
        contacts = s.execute(
            select(Contact.id, Contact.email).where(Contact.workspace_id == ws.id)
        ).all()
        teams = list(s.scalars(select(Team.id).where(Team.workspace_id == ws.id)))
        low, high, count = s.execute(
            select(func.min(Ticket.id), func.max(Ticket.id), func.count()).where(
                Ticket.workspace_id == ws.id
            )
        ).one()
        s.commit()
    return prefill_mod.Fixture(
        workspace_id=ws.id,
        token=token,
        agent_ids=agent_ids,
        team_ids=teams,
        contact_emails=[c[1] for c in contacts],
        contact_ids=[c[0] for c in contacts],
        tickets=int(count),
        min_ticket_id=int(low or 0),
        max_ticket_id=int(high or 0),
    )


# --- workload ------------------------------------------------------------------------------------


class Workload:
    def __init__(self, fixture: prefill_mod.Fixture, seed: int, pages: int) -> None:
        self.f = fixture
        self.rng = random.Random(seed)
        self.pages = pages
        self.created_ids: list[int] = []
        self.created_numbers: list[int] = []
        self.replays = 0

    def create(self) -> loadgen.Request:
        rng = self.rng
        if rng.random() < 0.9 and self.f.contact_emails:
            email = rng.choice(self.f.contact_emails)
        else:
            email = f"new-{uuid.uuid4().hex[:12]}@newcustomer.example.com"
        body: dict[str, Any] = {
            "subject": prefill_mod.subject(rng),
            "description": prefill_mod.description(rng),
            "priority": rng.choice(["low", "normal", "normal", "normal", "high", "urgent"]),
            "channel": rng.choice(["api", "portal", "email"]),
            "tags": rng.sample(prefill_mod.TAGS, k=rng.choice((0, 1, 2))),
            "requester": {"email": email, "name": "Load Test"},
        }
        if rng.random() < 0.3:
            body["team_id"] = rng.choice(self.f.team_ids)
            body["assignee_id"] = rng.choice(self.f.agent_ids)
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return ("POST", "/api/v1/tickets", json.dumps(body).encode(), headers, "create")

    def on_create(self, _request: loadgen.Request, status: int, payload: bytes) -> None:
        if status == 201:
            data = loads(payload)
            self.created_ids.append(data["id"])
            self.created_numbers.append(data["number"])
        elif status == 200:
            self.replays += 1

    def read(self) -> loadgen.Request:
        if self.created_ids and self.rng.random() < 0.1:
            ticket_id = self.rng.choice(self.created_ids)
        else:
            ticket_id = self.rng.randint(self.f.min_ticket_id, self.f.max_ticket_id)
        return ("GET", f"/api/v1/tickets/{ticket_id}", b"", {}, "read")

    def list_page(self) -> loadgen.Request:
        name = self.rng.choice(list(LIST_VARIANTS))
        query = LIST_VARIANTS[name].format(
            agent=self.rng.choice(self.f.agent_ids),
            tag=self.rng.choice(prefill_mod.TAGS),
            contact=self.rng.choice(self.f.contact_ids),
        )
        return ("GET", f"/api/v1/tickets?limit=50{query}", b"", {}, f"{name}|1")

    def next_page(self, request: loadgen.Request, payload: bytes) -> loadgen.Request | None:
        method, path, body, headers, label = request
        name, _, page = label.partition("|")
        if int(page) >= self.pages:
            return None
        at = payload.rfind(b'"next_cursor":')
        raw = payload[at + 14 :].strip(b"} \n")
        if at < 0 or raw == b"null":
            return None
        cursor = raw.strip(b'"').decode()
        base = path.split("&cursor=")[0]
        return (method, f"{base}&cursor={cursor}", body, headers, f"{name}|{int(page) + 1}")


# --- main ----------------------------------------------------------------------------------------


async def run_phases(
    port: int,
    proc: subprocess.Popen[bytes],
    work: Workload,
    args: argparse.Namespace,
    workdir: Path,
    db: Database,
) -> list[dict[str, Any]]:
    phases: dict[str, dict[str, Any]] = {
        "creates": {"make_request": work.create, "expect": 201, "on_response": work.on_create},
        "reads": {"make_request": work.read, "expect": 200},
        "lists": {"make_request": work.list_page, "expect": 200, "follow": work.next_page},
    }
    common = {
        "host": "127.0.0.1",
        "port": port,
        "token": work.f.token,
        "concurrency": args.concurrency,
    }
    rows = []
    for name in args.phase_list:
        if args.warmup > 0:
            await loadgen.run_phase(
                f"{name}-warmup", duration=args.warmup, **common, **phases[name]
            )
        rate = args.rates.get(name, 0.0)
        profiler = start_profiler(proc.pid, name, args, workdir) if args.profile == name else None
        pids, db_pids = serverctl.process_tree(proc.pid), serverctl.database_pids(db)
        cpu0, db_cpu0 = serverctl.cpu_times(pids), serverctl.cpu_times(db_pids)
        (busy0, total0), load0 = serverctl.machine_cpu(), os.getloadavg()[0]
        result = await loadgen.run_phase(
            name, duration=args.duration, rate=rate, **common, **phases[name]
        )
        server_cpu = serverctl.cpu_delta(cpu0, serverctl.cpu_times(pids))
        db_cpu = serverctl.cpu_delta(db_cpu0, serverctl.cpu_times(db_pids))
        busy1, total1 = serverctl.machine_cpu()
        if profiler is not None:
            profiler.wait()
        rows.append(reporting.phase_report(result, server_cpu, rate))
        machine = 100 * (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
        rows[-1]["machine_busy_pct"] = machine
        rows[-1]["database_cpu_pct_of_machine"] = (
            100 * db_cpu / result.elapsed / (os.cpu_count() or 1)
        )
        # Everything else on the machine during the phase (other jobs disturb the numbers).
        rows[-1]["other_cpu_pct_of_machine"] = max(
            0.0,
            machine
            - rows[-1]["server_cpu_pct_of_machine"]
            - rows[-1]["client_cpu_pct_of_machine"]
            - rows[-1]["database_cpu_pct_of_machine"],
        )
        rows[-1]["loadavg_1m_before"] = load0
        print(
            f"  {name}: {rows[-1]['requests']} requests, {rows[-1]['ops_per_s']:.0f}/s, p95 {rows[-1]['p95_ms']:.1f} ms, errors {rows[-1]['errors']}"
        )
    return rows


def start_profiler(
    pid: int, phase: str, args: argparse.Namespace, workdir: Path
) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS_DIR / f"profile-{phase}-{args.profile_mode}-{stamp}.txt"
    cmd = [py_spy, "record", "--pid", str(pid), "--subprocesses", "--duration", str(int(args.duration)),
           "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
    if args.profile_mode == "cpu":
        cmd.append("--gil")
    print(f"  profiling the server with py-spy -> {out}")
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=(workdir / "py-spy.log").open("wb")
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="deskpilot-bench-"))
    try:
        url = prepare_database(args, workdir)
        db = open_database(url, pool_size=2)
        try:
            kind = database_version(db)
            print(f"database: {kind} ({make_url(url).render_as_string(hide_password=True)})")
            if args.reuse and has_bench_workspace(db):
                fixture = load_fixture(db, args)
                print(f"reusing {fixture.tickets} tickets")
            else:
                t0 = time.perf_counter()
                migrate.upgrade(url)
                print(
                    f"migrated in {time.perf_counter() - t0:.1f}s; prefilling {args.prefill} tickets"
                )
                fixture = prefill_mod.prefill(db, args.prefill, seed=args.seed)
                prefill_mod.analyze(db)
            baseline = count_tickets(db, fixture.workspace_id)
            work = Workload(fixture, args.seed, args.pages)
            # The API alone by default: with the AI pipeline on, every created ticket also runs
            # the engine in the server's job consumer (measured by bench/ai_pipeline.py).
            ai_env = {"DESKPILOT_AI_PIPELINE": "true" if args.with_ai else "false"}
            with serverctl.running_server(
                url, workdir, workers=args.server_workers, port=args.port, extra_env=ai_env
            ) as (port, proc):
                print(
                    f"server up on :{port} (pid {proc.pid}, {args.server_workers} worker(s)); running phases"
                )
                rows = run_async(run_phases(port, proc, work, args, workdir, db))
            check = prefill_mod.verify(db, fixture.workspace_id, work.created_ids, baseline)
        finally:
            db.dispose()
        report = {
            "benchmark": "api_load",
            "started_at": datetime.now(UTC).isoformat(),
            "environment": {
                "cpu_count": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "database": kind,
                "server_workers": args.server_workers,
                "concurrency": args.concurrency,
                "prefill": fixture.tickets,
                "duration_s": args.duration,
                "server_command": " ".join(serverctl.server_command(args.server_workers, 0)[2:]),
            },
            "phases": rows,
            "verification": {
                **check.__dict__,
                "baseline": baseline,
                "replays_200": work.replays,
                "duplicate_numbers_returned": len(work.created_numbers)
                - len(set(work.created_numbers)),
                "ok": check.ok and len(set(work.created_numbers)) == len(work.created_numbers),
            },
        }
        report["targets"] = reporting.judge(report)
        reporting.print_table(report)
        out = (
            args.output
            or RESULTS_DIR
            / f"api_load-{'sqlite' if url.startswith('sqlite') else 'postgresql'}-w{args.server_workers}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str))
        print(f"results: {out}")
        return 0 if report["verification"]["ok"] else 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_async(coro: Any) -> Any:
    """uvloop keeps the load generator's own CPU use low; plain asyncio works too."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def has_bench_workspace(db: Database) -> bool:
    try:
        with db.session(write=False) as s:
            return workspaces_service.get_workspace_by_slug(s, "bench") is not None
    except Exception:  # no schema yet
        return False


def count_tickets(db: Database, workspace_id: int) -> int:
    with db.session(write=False) as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.workspace_id == workspace_id)
            )
            or 0
        )


if __name__ == "__main__":
    sys.exit(main())
