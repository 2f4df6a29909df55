#!/usr/bin/env python
"""AI pipeline latency: ticket created over the HTTP API -> AI reply stored, embedded queue.

    python bench/ai_pipeline.py                          # SQLite, 200 tickets at 2/s
    python bench/ai_pipeline.py --tickets 100 --rate 2 --rate 5 --json out.json
    python bench/ai_pipeline.py --database-url postgresql://postgres@127.0.0.1:5432/bench_ai --reset

Steps: create and migrate a fresh database, seed the demo workspace (its KB is indexed by the jobs
the seeding queues, run immediately here), train the default ticket models into DATA_DIR, issue an
API token for a demo agent, then start the real server (`deskpilot serve`, one process, embedded
job consumer) and wait for /ready. After a few warm-up tickets, each run creates N tickets with
`POST /api/v1/tickets` at a steady open-loop rate and measures, per ticket:

  server  ticket `created_at` -> `ai.ran_at` (both stamped by the server, inside the transactions
          that create the ticket and store the AI's reply)
  client  201 received -> the first `GET /api/v1/tickets/{id}` that shows `ai` set (each pending
          ticket is polled every --poll-interval, at most --max-polls requests in flight)
  engine  the decision's own `latency_ms` (classify, retrieve, answer, decide), for the breakdown

Tickets without an AI verdict after --timeout seconds count as failures. Prints a table and, with
--json, writes the report there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_load
import loadgen
import serverctl
from deskpilot.auth import service as auth_service
from deskpilot.bootstrap import configure_runtime
from deskpilot.core.context import Context
from deskpilot.db import migrate
from deskpilot.db.engine import Database, open_database
from deskpilot.demo import seed
from deskpilot.kb.models import KbChunk
from deskpilot.kb.tasks import reindex_workspace
from deskpilot.settings import Settings

AGENT_EMAIL = "sam@acmecloud.example.com"  # an `agent` of the demo workspace
SECRET_KEY = "bench-" + "k" * 40  # the key serverctl gives the server
TARGET_P95_S = 1.0
MEASURES = (
    ("server", "server"),
    ("client", "client"),
    ("engine only", "engine"),
    ("queue + write", "outside_engine"),
    ("create (201)", "create_201"),
)
KEEP_ALIVE_S = 4.0  # below uvicorn's 5 s keep-alive timeout
SLOW_POLL_AFTER_S = 2.0  # pending this long: poll 4x less often (the answer is late anyway)

# --- the questions ---------------------------------------------------------------------------------
# Answerable ones paraphrase what the demo KB covers (src/deskpilot/demo/articles.jsonl); the others
# ask for things it does not cover, so the engine should clarify or escalate them.
ANSWERABLE = [
    ("Can't log in", "I forgot my password and can't get into Acme Cloud. How do I reset it?"),
    ("Password reset email missing", "I requested a password reset twice but no email arrived."),
    ("Locked out", "I'm locked out of my account after too many attempts, how do I get back in?"),
    ("Turn on 2FA", "How do I set up two-factor authentication for my account?"),
    ("Lost phone with authenticator", "I lost the phone with my 2FA codes. How can I sign in?"),
    ("Okta SSO", "We want our team to sign in with Okta. How do we configure single sign-on?"),
    ("SAML setup", "Which SAML settings do we need to enter in Okta for Acme Cloud SSO?"),
    ("Change credit card", "Our company card expired. How do I update the payment method?"),
    ("Payment failed", "We got an email that our payment failed. What should we do?"),
    ("Invoice download", "Where can I download our invoices and receipts for accounting?"),
    ("VAT on invoice", "How do I add our VAT number to the invoices?"),
    ("Charged twice", "I was charged twice for this month's subscription. Can I get a refund?"),
    ("Refund request", "We'd like a refund for the annual plan we bought by mistake yesterday."),
    ("Cancel plan", "How do I cancel our subscription at the end of the billing period?"),
    ("Export everything", "How can I export all of our data before the contract ends?"),
    ("429 errors", "Our integration keeps getting HTTP 429 Too Many Requests. What is the limit?"),
    ("API limits", "How many API requests per minute does a token get on the Enterprise plan?"),
    ("Webhooks", "How do I receive events with webhooks, and how do I verify the signature?"),
    ("Add colleagues", "How do I invite team members and give one of them the admin role?"),
    ("Is it down?", "Acme Cloud is not loading for me right now. Is there an outage?"),
    ("Status page", "Where can I see the service status and past incidents?"),
    ("Slack integration", "How do we connect Slack so notifications show up in our channel?"),
    ("Mobile not syncing", "The mobile app is not syncing my changes from the web app."),
    ("Sync error 42", "My phone shows Sync error 42 in the Acme Cloud app. How do I fix it?"),
]
UNANSWERABLE = [
    (
        "Custom domain",
        "Can we serve our Acme Cloud workspace from our own domain with our TLS cert?",
    ),
    ("DPA request", "Our legal team needs a signed data processing agreement. Who can send one?"),
    ("Dark mode", "Feature request: please add a dark mode to the dashboard."),
    ("Nonprofit pricing", "Do you offer a discount for registered charities and nonprofits?"),
    ("Delete my data", "Under GDPR I want all of my personal data deleted. Please confirm."),
    ("Partnership", "We'd like to resell Acme Cloud to our customers. Who handles partnerships?"),
    ("Suspicious login", "Someone logged into our admin account from another country last night."),
    ("Report is wrong", "The revenue total in the Q3 report doesn't match our spreadsheet."),
    ("Production down", "URGENT: every request to our workspace returns 500 since 10:02 UTC."),
    ("Data residency", "Can our data be stored only in the EU region? We need it for compliance."),
    ("Onboarding call", "Could someone walk our new team through the product on a call next week?"),
    (
        "Contract change",
        "We want to move from monthly to annual billing with a PO and net-60 terms.",
    ),
    ("Calendar sync", "Does Acme Cloud sync with Outlook calendars? Events are missing for me."),
    ("Printer", "The office printer jams whenever I print the weekly summary. Any ideas?"),
]
GREETINGS = ["", "Hi, ", "Hello team, ", "Good morning! ", "Hey there. "]
DETAILS = [
    "",
    " This started today.",
    " It's blocking my whole team.",
    " I'm on the Business plan.",
    " Thanks in advance for your help.",
    " We're on the web app in Chrome.",
]
FIRST = ["alex", "maria", "chen", "fatima", "lukas", "sofia", "omar", "yuki", "noah", "ana"]


@dataclass
class Probe:
    """One measured ticket."""

    answerable: bool
    due: float  # perf_counter when the create was due (open loop)
    ticket_id: int = 0
    created_201: float = 0.0
    server_created_at: datetime | None = None
    seen: float = 0.0  # perf_counter of the first poll showing `ai`
    ran_at: datetime | None = None
    decision: str | None = None
    engine_ms: float | None = None
    error: str | None = None


def make_ticket(rng: random.Random, contacts: list[str]) -> tuple[dict[str, Any], bool]:
    answerable = rng.random() < 0.65
    subject, question = rng.choice(ANSWERABLE if answerable else UNANSWERABLE)
    if rng.random() < 0.5 and contacts:
        email = rng.choice(contacts)
    else:
        email = (
            f"{rng.choice(FIRST)}.{uuid.uuid4().hex[:8]}@customer{rng.randint(1, 40)}.example.com"
        )
    body = {
        "subject": subject,
        "description": rng.choice(GREETINGS) + question + rng.choice(DETAILS),
        "channel": rng.choice(["api", "email", "email", "portal"]),
        "requester": {"email": email, "name": email.split("@")[0].replace(".", " ").title()},
    }
    return body, answerable


# --- setup ----------------------------------------------------------------------------------------


def setup_workspace(settings: Settings, db: Database) -> tuple[str, list[str], dict[str, Any]]:
    """Seed the demo, index its KB, train the ticket models; return (token, contacts, facts)."""
    from deskpilot.ai import ticket_models

    # Immediate mode, as the CLI: the index jobs the seeding queues run right after its commit.
    configure_runtime(settings, db, queue_mode="immediate")
    started = time.perf_counter()
    with db.session(write=True) as s:
        summary = seed.seed_demo(s)
        s.commit()
    workspace_id = summary.workspace_id
    # Whatever those jobs left stale (none, normally) is indexed now, in batches like `kb reindex`.
    late = reindex_workspace(db, workspace_id, only_stale=True)
    with db.session(write=True) as s:
        user = auth_service.get_user_by_email(s, AGENT_EMAIL)
        assert user is not None, AGENT_EMAIL
        token = auth_service.issue_token(
            s, Context.system(workspace_id), user_id=user.id, name="ai-bench"
        ).secret
        chunks = s.scalar(
            select(func.count()).select_from(KbChunk).where(KbChunk.workspace_id == workspace_id)
        )
        s.commit()
    seeded_s = time.perf_counter() - started
    # Trained into DATA_DIR/models, which the server loads instead of training on ticket one.
    started = time.perf_counter()
    ticket_models.warm_up()
    contacts = [c["email"] for c in seed.directory()["contacts"]]
    facts = {
        "articles": summary.articles,
        "kb_chunks": int(chunks or 0),
        "indexed_after_seed": late,
        "seed_s": round(seeded_s, 1),
        "ticket_models_warm_up_s": round(time.perf_counter() - started, 1),
    }
    return token, contacts, facts


# --- measuring ------------------------------------------------------------------------------------


class Client:
    """Keep-alive connections to the server, checked out one request at a time."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.idle: list[tuple[float, loadgen.Connection]] = []
        self.requests = 0
        self.retries = 0
        self.closing: list[loadgen.Connection] = []

    def _checkout(self) -> loadgen.Connection:
        while self.idle:
            last_used, conn = self.idle.pop()
            # uvicorn closes a connection idle for 5 s; reusing one it is closing fails.
            if time.monotonic() - last_used < KEEP_ALIVE_S:
                return conn
            self.closing.append(conn)
        return loadgen.Connection("127.0.0.1", self.port, self.token)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else b""
        # The key makes the one retry below safe for a create too.
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {}
        for attempt in (1, 2):
            conn = (
                self._checkout()
                if attempt == 1
                else loadgen.Connection("127.0.0.1", self.port, self.token)
            )
            try:
                status, raw = await conn.send(method, path, payload, headers)
                break
            except (OSError, asyncio.IncompleteReadError):
                await conn.close()
                if attempt == 2:
                    raise
                self.retries += 1
        self.requests += 1
        self.idle.append((time.monotonic(), conn))
        return status, json.loads(raw) if raw else None

    async def close(self) -> None:
        for conn in [c for _, c in self.idle] + self.closing:
            await conn.close()


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def follow(client: Client, probe: Probe, polls: asyncio.Semaphore, args: Any) -> None:
    """Poll the ticket until its AI verdict shows up (or the timeout)."""
    deadline = probe.created_201 + args.timeout
    while time.perf_counter() < deadline:
        slow = time.perf_counter() - probe.created_201 > SLOW_POLL_AFTER_S
        await asyncio.sleep(args.poll_interval * (4 if slow else 1))
        async with polls:
            status, data = await client.call("GET", f"/api/v1/tickets/{probe.ticket_id}")
        if status != 200:
            probe.error = f"GET {status}"
            return
        ai = data.get("ai") or {}
        if ai.get("ran_at"):
            probe.seen = time.perf_counter()
            probe.ran_at = parse_time(ai["ran_at"])
            probe.decision = ai.get("decision")
            return
    probe.error = "timeout"


async def create_and_follow(
    client: Client, body: dict[str, Any], probe: Probe, polls: asyncio.Semaphore, args: Any
) -> None:
    await asyncio.sleep(max(0.0, probe.due - time.perf_counter()))
    try:
        status, data = await client.call("POST", "/api/v1/tickets", body)
        probe.created_201 = time.perf_counter()
        if status not in (200, 201):  # 200: the replay of a create retried on a new connection
            probe.error = f"POST {status}"
            return
        probe.ticket_id = int(data["id"])
        probe.server_created_at = parse_time(data["created_at"])
        await follow(client, probe, polls, args)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        probe.error = f"{type(exc).__name__}: {exc}"


async def add_engine_latency(client: Client, probes: list[Probe]) -> None:
    """After the run (so it does not load the server during it): the decision log entries."""
    for probe in probes:
        if probe.seen:
            status, rows = await client.call(
                "GET", f"/api/v1/tickets/{probe.ticket_id}/ai-decisions"
            )
            if status == 200 and rows:
                probe.engine_ms = float(rows[0]["latency_ms"])


async def run_batch(
    port: int,
    token: str,
    count: int,
    rate: float,
    rng: random.Random,
    contacts: list[str],
    args: Any,
) -> tuple[list[Probe], float, int, int]:
    """The probes, the seconds the run took, its HTTP requests and its connection retries."""
    client = Client(port, token)
    polls = asyncio.Semaphore(args.max_polls)
    start = time.perf_counter() + 0.05
    tasks, probes = [], []
    for i in range(count):
        body, answerable = make_ticket(rng, contacts)
        probe = Probe(answerable=answerable, due=start + i / rate)
        probes.append(probe)
        tasks.append(asyncio.create_task(create_and_follow(client, body, probe, polls, args)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    requests, retries = client.requests, client.retries  # the look-ups below are not the run's
    await add_engine_latency(client, probes)
    await client.close()
    return probes, elapsed, requests, retries


def pct(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": loadgen.percentile(ordered, 50),
        "p95_ms": loadgen.percentile(ordered, 95),
        "p99_ms": loadgen.percentile(ordered, 99),
        "max_ms": ordered[-1] if ordered else float("nan"),
    }


def summarize(
    probes: list[Probe],
    rate: float,
    elapsed: float,
    requests: int,
    server_cpu: float,
    machine_busy_pct: float,
) -> dict[str, Any]:
    done = [p for p in probes if p.seen and p.ran_at and p.server_created_at]
    server = [1000 * (p.ran_at - p.server_created_at).total_seconds() for p in done]  # type: ignore[operator]
    client = [1000 * (p.seen - p.created_201) for p in done]
    create = [1000 * (p.created_201 - p.due) for p in probes if p.created_201]
    engine = [p.engine_ms for p in done if p.engine_ms is not None]
    # Server time outside the engine: waiting for a job thread to poll the queue, loading the
    # ticket, and the write transaction that stores the reply.
    outside = [
        ms - p.engine_ms for ms, p in zip(server, done, strict=True) if p.engine_ms is not None
    ]
    cores = os.cpu_count() or 1
    row: dict[str, Any] = {
        "rate_per_s": rate,
        "tickets": len(probes),
        "triaged": len(done),
        "failures": len(probes) - len(done),
        "failure_kinds": dict(Counter(p.error or "no verdict" for p in probes if p not in done)),
        "server": pct(server),
        "client": pct(client),
        "engine": pct(engine),
        "outside_engine": pct(outside),
        "create_201": pct(create),
        "decisions": dict(Counter(p.decision for p in done)),
        "decisions_answerable": dict(Counter(p.decision for p in done if p.answerable)),
        "decisions_unanswerable": dict(Counter(p.decision for p in done if not p.answerable)),
        "elapsed_s": round(elapsed, 1),
        "http_requests": requests,
        "polls_per_ticket": round((requests - len(probes)) / max(len(probes), 1), 1),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_ms_per_ticket": round(1000 * server_cpu / max(len(probes), 1), 1),
        "server_cpu_pct_of_machine": round(100 * server_cpu / elapsed / cores, 1),
        "machine_busy_pct": round(machine_busy_pct, 1),
    }
    row["meets_target"] = (
        bool(done)
        and row["failures"] == 0
        and (
            row["server"]["p95_ms"] <= 1000 * TARGET_P95_S
            and row["client"]["p95_ms"] <= 1000 * TARGET_P95_S
        )
    )
    return row


async def measure(
    port: int, pid: int, token: str, contacts: list[str], args: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = random.Random(args.seed)
    warm, *_ = await run_batch(port, token, args.warmup, 1.0, rng, contacts, args)
    warm_row = {
        "tickets": len(warm),
        "triaged": sum(1 for p in warm if p.seen),
        "client_ms": [round(1000 * (p.seen - p.created_201)) for p in warm if p.seen],
    }
    print(f"warm-up: {warm_row['triaged']}/{len(warm)} triaged, client ms {warm_row['client_ms']}")
    rows = []
    for rate in args.rate:
        pids = serverctl.process_tree(pid)
        cpu0, (busy0, total0) = serverctl.cpu_times(pids), serverctl.machine_cpu()
        client0 = time.process_time()
        probes, elapsed, requests, retries = await run_batch(
            port, token, args.tickets, rate, rng, contacts, args
        )
        server_cpu = serverctl.cpu_delta(cpu0, serverctl.cpu_times(pids))
        client_cpu = time.process_time() - client0
        busy1, total1 = serverctl.machine_cpu()
        busy = 100 * (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
        rows.append(summarize(probes, rate, elapsed, requests, server_cpu, busy))
        rows[-1]["connection_retries"] = retries
        # Everything else on the machine (other jobs on a shared box disturb the figures).
        cores = os.cpu_count() or 1
        rows[-1]["client_cpu_pct_of_machine"] = round(100 * client_cpu / elapsed / cores, 1)
        rows[-1]["other_cpu_pct_of_machine"] = round(
            max(
                0.0,
                busy - rows[-1]["server_cpu_pct_of_machine"] - 100 * client_cpu / elapsed / cores,
            ),
            1,
        )
        r = rows[-1]
        print(
            f"rate {rate:g}/s: {r['triaged']}/{r['tickets']} triaged, server p95 "
            f"{r['server']['p95_ms']:.0f} ms, client p95 {r['client']['p95_ms']:.0f} ms",
            flush=True,
        )
    return warm_row, rows


# --- report ---------------------------------------------------------------------------------------


def print_table(report: dict[str, Any]) -> None:
    env = report["environment"]
    print(
        f"\n{env['database']}, {env['cpu_count']} cores, 1 server process + embedded consumer "
        f"({env['embedded_worker_threads']} job threads, {env['ai_threads']} AI thread), "
        f"builtin provider; target p95 <= {TARGET_P95_S * 1000:.0f} ms"
    )
    warm = report["warmup"]["client_ms"]
    print(f"cold start (warm-up tickets, first AI run in the fresh server process): {warm} ms")
    head = (
        f"{'rate':>6} {'tickets':>7} {'fail':>4}  {'measure':<14} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7}"
    )
    print(head)
    print("-" * len(head))
    for row in report["runs"]:
        for i, (name, key) in enumerate(MEASURES):
            lead = (
                f"{row['rate_per_s']:>4g}/s {row['tickets']:>7} {row['failures']:>4}"
                if i == 0
                else " " * 19
            )
            v = row[key]
            print(
                f"{lead}  {name:<14} {v['p50_ms']:>7.0f} {v['p95_ms']:>7.0f} {v['p99_ms']:>7.0f} "
                f"{v['max_ms']:>7.0f}"
            )
        mix = ", ".join(f"{k} {v}" for k, v in sorted(row["decisions"].items(), key=str))
        print(
            f"{'':>19}  decisions: {mix}; server CPU {row['server_cpu_ms_per_ticket']:.0f} ms/ticket "
            f"(incl. {row['polls_per_ticket']:g} polls), machine busy {row['machine_busy_pct']:.0f}% "
            f"(server {row['server_cpu_pct_of_machine']:.0f}%, other {row['other_cpu_pct_of_machine']:.0f}%)"
            f"; target {'met' if row['meets_target'] else 'NOT met'}"
        )


def server_log_problems(path: Path) -> dict[str, Any]:
    """Tracebacks in the server log: a failing pipeline shows up here, not in the HTTP answers."""
    try:
        log = path.read_text(errors="replace")
    except OSError:
        return {"tracebacks": 0}
    starts = [m.start() for m in re.finditer(r"Traceback \(most recent call last\)", log)]
    first = log[max(0, starts[0] - 400) : starts[0] + 4000] if starts else None
    return {"tracebacks": len(starts), "first_traceback": first, "log_bytes": len(log)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench/ai_pipeline.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tickets", type=int, default=200, help="tickets per run (default: 200)")
    p.add_argument(
        "--rate",
        type=float,
        action="append",
        help="open-loop tickets/s; repeat for more runs on the same server (default: 2)",
    )
    p.add_argument("--json", type=Path, help="also write the report to this file")
    p.add_argument(
        "--database-url", help="default: a temp SQLite file; PostgreSQL: a database to (re)create"
    )
    p.add_argument("--reset", action="store_true", help="drop the named database if it exists")
    p.add_argument("--warmup", type=int, default=3, help="unmeasured tickets first (default: 3)")
    p.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before a ticket fails (default: 30)"
    )
    p.add_argument("--poll-interval", type=float, default=0.025, help="seconds (default: 0.025)")
    p.add_argument("--max-polls", type=int, default=8, help="polls in flight at most (default: 8)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--keep", action="store_true", help="keep the work dir (server.log, data)")
    args = p.parse_args(argv)
    args.rate = args.rate or [2.0]
    args.reuse = False  # api_load.prepare_database's option; this benchmark always starts afresh
    if args.tickets < 1 or any(r <= 0 for r in args.rate):
        p.error("--tickets and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The server inherits these: the pipeline on, one inference thread (the embedded default).
    os.environ["DESKPILOT_AI_PIPELINE"] = "true"
    os.environ.setdefault("DESKPILOT_AI_THREADS", "1")
    workdir = Path(tempfile.mkdtemp(prefix="deskpilot-ai-bench-"))
    try:
        # A fresh database: the temp SQLite file, or the one named (--reset drops it first).
        url = api_load.prepare_database(args, workdir)
        settings = Settings(
            env="prod", data_dir=workdir / "data", secret_key=SECRET_KEY, database_url=url
        )
        settings.data_dir.mkdir(parents=True)
        migrate.upgrade(url)
        db = open_database(url, pool_size=2)
        try:
            kind = api_load.database_version(db)
            print(f"database: {kind}; seeding the demo workspace and indexing its KB", flush=True)
            token, contacts, facts = setup_workspace(settings, db)
        finally:
            db.dispose()
        print(f"setup: {facts}", flush=True)
        with serverctl.running_server(url, workdir, workers=1) as (port, proc):
            print(f"server up on :{port} (pid {proc.pid})", flush=True)
            warm, runs = asyncio.run(measure(port, proc.pid, token, contacts, args))
        problems = server_log_problems(workdir / "server.log")
        report: dict[str, Any] = {
            "benchmark": "ai_pipeline",
            "started_at": datetime.now(UTC).isoformat(),
            "environment": {
                "cpu_count": os.cpu_count(),
                "loadavg_1m_at_end": os.getloadavg()[0],
                "platform": platform.platform(),
                "python": platform.python_version(),
                "database": kind,
                "server_workers": 1,
                "embedded_worker_threads": settings.embedded_worker_threads,
                "ai_threads": int(os.environ["DESKPILOT_AI_THREADS"]),
                "poll_interval_s": args.poll_interval,
                "max_polls_in_flight": args.max_polls,
                "timeout_s": args.timeout,
            },
            "setup": facts,
            "warmup": warm,
            "runs": runs,
            "server_log": problems,
        }
        print_table(report)
        if problems["tracebacks"]:
            print(f"\nserver log has {problems['tracebacks']} traceback(s); the first:")
            print(problems["first_traceback"])
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2, default=str))
            print(f"results: {args.json}")
        return 0 if all(r["failures"] == 0 for r in runs) else 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
