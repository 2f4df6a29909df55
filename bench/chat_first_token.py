#!/usr/bin/env python
"""Chat widget latency: customer message -> first streamed token of the AI's reply.

    python bench/chat_first_token.py                      # SQLite, 60 conversations at 1/s
    python bench/chat_first_token.py --conversations 100 --rate 2 --json out.json
    python bench/chat_first_token.py --database-url postgresql://postgres@127.0.0.1:5432/bench_chat --reset

Setup as `ai_pipeline.py`: a fresh database, the demo workspace seeded and its KB indexed, the
ticket models trained into DATA_DIR, then the real server (`deskpilot serve`, one process with the
embedded job consumer, builtin provider) started and waited for. The demo workspace's chat start
limit is raised so the benchmark's single address is not throttled.

Each conversation does what the widget does: `POST /api/v1/chat/conversations` with the question
(the first message), opens the SSE stream with the returned token, and waits for the first
`ai_delta` event; then it posts a follow-up message (`POST .../conversation/messages`) and waits
for that reply's first `ai_delta` too. Latency is measured in the client, from just before the
POST is sent to the arrival of the first streamed chunk (so it includes the API call, the job
queue, the engine, the commit, the stream noticing it, and opening the stream for first
messages). Questions the engine escalates get no AI reply: they are counted as hand-offs (with
the time until the stream reports it), not as latencies. Open loop: conversations start at
--rate per second whatever the server's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ai_pipeline
import api_load
import loadgen
import serverctl
from deskpilot.db import migrate
from deskpilot.db.engine import open_database
from deskpilot.settings import Settings
from deskpilot.workspaces.models import Workspace

TARGET_P95_MS = 500.0
FOLLOW_UPS = [
    "Thanks. And how do I turn on two-factor authentication?",
    "One more thing: where can I download our invoices?",
    "Also, how do I invite a colleague to our workspace?",
]


@dataclass
class Turn:
    kind: str  # "first" | "follow-up"
    sent: float = 0.0
    first_token_ms: float | None = None
    handed_off_ms: float | None = None
    stored_at: datetime | None = None  # the server's timestamp of the customer's message
    server_ms: float | None = None  # customer message stored -> AI reply stored (server clock)
    delivery_ms: float | None = None  # AI reply stored -> first chunk received (same machine)
    error: str | None = None


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)


def allow_many_starts(url: str) -> None:
    db = open_database(url, pool_size=1)
    try:
        with db.session(write=True) as s:
            ws = s.scalars(select(Workspace).where(Workspace.slug == "demo")).one()
            ws.settings = {**(ws.settings or {}), "chat_starts_per_minute": 1_000_000}
            s.commit()
    finally:
        db.dispose()


class StreamReader:
    """Reads one conversation's SSE stream in the background, timestamping AI chunks."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.token = client, token
        self.first_delta: dict[int, float] = {}
        self.first_delta_wall: dict[int, datetime] = {}
        self.stored: dict[int, datetime] = {}
        self.handed_off_at: float | None = None
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        params = {"token": self.token}
        async with self.client.stream(
            "GET", "/api/v1/chat/conversation/stream", params=params
        ) as r:
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "ai_delta":
                    message_id = json.loads(line[5:])["id"]
                    if message_id not in self.first_delta:
                        self.first_delta[message_id] = time.perf_counter()
                        self.first_delta_wall[message_id] = datetime.now(UTC)
                        self.changed.set()
                elif line.startswith("data:") and event == "message":
                    data = json.loads(line[5:])
                    self.stored[data["id"]] = datetime.fromisoformat(data["created_at"])
                elif (
                    line.startswith("data:")
                    and event == "state"
                    and json.loads(line[5:]).get("handed_off")
                    and self.handed_off_at is None
                ):
                    self.handed_off_at = time.perf_counter()
                    self.changed.set()

    async def wait_for_reply(self, known: set[int], turn: Turn, limit_s: float) -> None:
        deadline = turn.sent + limit_s
        while time.perf_counter() < deadline:
            fresh = sorted((t, m) for m, t in self.first_delta.items() if m not in known)
            if fresh:
                arrived, message_id = fresh[0]
                turn.first_token_ms = 1000 * (arrived - turn.sent)
                await self._stored(message_id, turn)
                return
            if self.handed_off_at is not None:
                turn.handed_off_ms = 1000 * (self.handed_off_at - turn.sent)
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(
                    self.changed.wait(), max(0.0, deadline - time.perf_counter())
                )
            except TimeoutError:
                break
        turn.error = "timeout"

    async def _stored(self, message_id: int, turn: Turn) -> None:
        """Split the latency at the reply's `created_at` once its `message` event arrives."""
        for _ in range(100):
            if message_id in self.stored:
                break
            await asyncio.sleep(0.02)
        stored = self.stored.get(message_id)
        if stored is not None and turn.stored_at is not None:
            turn.server_ms = 1000 * (stored - turn.stored_at).total_seconds()
            wall = self.first_delta_wall[message_id]
            turn.delivery_ms = 1000 * (wall - stored).total_seconds()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self.task


async def converse(
    client: httpx.AsyncClient, due: float, rng: random.Random, args: argparse.Namespace
) -> Conversation:
    await asyncio.sleep(max(0.0, due - time.perf_counter()))
    convo = Conversation()
    pool = ai_pipeline.ANSWERABLE if rng.random() < args.answerable else ai_pipeline.UNANSWERABLE
    _subject, question = rng.choice(pool)
    first = Turn("first", sent=time.perf_counter())
    convo.turns.append(first)
    body = {"workspace": "demo", "message": question, "name": "Bench Visitor"}
    r = await client.post("/api/v1/chat/conversations", json=body)
    if r.status_code != 201:
        first.error = f"start {r.status_code}"
        return convo
    token = r.json()["token"]
    first.stored_at = datetime.fromisoformat(r.json()["messages"][0]["created_at"])
    reader = StreamReader(client, token)
    try:
        await reader.wait_for_reply(set(), first, args.timeout)
        if first.first_token_ms is None:
            return convo  # handed off or timed out: the AI will not answer a follow-up
        known = set(reader.first_delta)
        await asyncio.sleep(args.think_time)
        follow = Turn("follow-up", sent=time.perf_counter())
        convo.turns.append(follow)
        r = await client.post(
            "/api/v1/chat/conversation/messages",
            json={"body": rng.choice(FOLLOW_UPS)},
            headers={"X-Chat-Token": token},
        )
        if r.status_code != 201:
            follow.error = f"message {r.status_code}"
            return convo
        follow.stored_at = datetime.fromisoformat(r.json()["created_at"])
        await reader.wait_for_reply(known, follow, args.timeout)
    finally:
        await reader.close()
    return convo


async def run(port: int, args: argparse.Namespace) -> list[Conversation]:
    rng = random.Random(args.seed)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=50)
    timeout = httpx.Timeout(args.timeout + 5)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=timeout
    ) as client:
        warm = [await converse(client, 0, rng, args) for _ in range(args.warmup)]
        print(f"warm-up: {len(warm)} conversations", flush=True)
        start = time.perf_counter() + 0.05
        tasks = [
            asyncio.create_task(converse(client, start + i / args.rate, rng, args))
            for i in range(args.conversations)
        ]
        return list(await asyncio.gather(*tasks))


def summarize(convos: list[Conversation]) -> dict[str, Any]:
    turns = [t for c in convos for t in c.turns]
    report: dict[str, Any] = {}
    for kind in ("first", "follow-up", "all"):
        chosen = [t for t in turns if kind == "all" or t.kind == kind]
        values = sorted(t.first_token_ms for t in chosen if t.first_token_ms is not None)
        report[kind] = {
            "messages": len(chosen),
            "answered": len(values),
            "handed_off": sum(1 for t in chosen if t.handed_off_ms is not None),
            "errors": sum(1 for t in chosen if t.error),
            "p50_ms": loadgen.percentile(values, 50),
            "p95_ms": loadgen.percentile(values, 95),
            "p99_ms": loadgen.percentile(values, 99),
            "max_ms": values[-1] if values else float("nan"),
        }
    for name in ("server_ms", "delivery_ms"):
        values = sorted(v for t in turns if (v := getattr(t, name)) is not None)
        report[name.removesuffix("_ms")] = {
            "p50_ms": loadgen.percentile(values, 50),
            "p95_ms": loadgen.percentile(values, 95),
        }
    handoffs = sorted(t.handed_off_ms for t in turns if t.handed_off_ms is not None)
    report["hand_off_notice"] = {
        "count": len(handoffs),
        "p50_ms": loadgen.percentile(handoffs, 50),
        "p95_ms": loadgen.percentile(handoffs, 95),
    }
    report["error_kinds"] = sorted({t.error for t in turns if t.error})
    report["meets_target"] = bool(report["all"]["answered"]) and (
        report["all"]["p95_ms"] <= TARGET_P95_MS and report["all"]["errors"] == 0
    )
    return report


def print_table(report: dict[str, Any], env: dict[str, Any]) -> None:
    print(
        f"\n{env['database']}, {env['cpu_count']} cores, 1 server process + embedded consumer, "
        f"builtin provider, {env['rate']:g} conversations/s; target p95 <= {TARGET_P95_MS:.0f} ms"
    )
    print(
        f"load average (1 min) at start {env['loadavg_1m_at_start']:.1f}, at end "
        f"{env['loadavg_1m_at_end']:.1f} (other work on the machine inflates every figure)"
    )
    head = f"{'message':<10} {'sent':>5} {'answered':>8} {'handoff':>7} {'err':>4} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}"
    print(head)
    print("-" * len(head))
    for kind in ("first", "follow-up", "all"):
        r = report[kind]
        print(
            f"{kind:<10} {r['messages']:>5} {r['answered']:>8} {r['handed_off']:>7} {r['errors']:>4} "
            f"{r['p50_ms']:>7.0f} {r['p95_ms']:>7.0f} {r['p99_ms']:>7.0f} {r['max_ms']:>7.0f}"
        )
    srv, dlv = report["server"], report["delivery"]
    print(
        f"breakdown: message stored -> AI reply stored p50 {srv['p50_ms']:.0f} / p95 "
        f"{srv['p95_ms']:.0f} ms; reply stored -> first chunk at the client p50 "
        f"{dlv['p50_ms']:.0f} / p95 {dlv['p95_ms']:.0f} ms"
    )
    h = report["hand_off_notice"]
    print(
        f"hand-offs noticed on the stream: {h['count']}, p50 {h['p50_ms']:.0f} ms, p95 {h['p95_ms']:.0f} ms"
    )
    print(f"target {'met' if report['meets_target'] else 'NOT met'}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python bench/chat_first_token.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--conversations", type=int, default=60, help="default: 60")
    p.add_argument("--rate", type=float, default=1.0, help="conversations started per second")
    p.add_argument("--answerable", type=float, default=0.8, help="share of KB questions (0.8)")
    p.add_argument("--think-time", type=float, default=0.5, help="s before the follow-up")
    p.add_argument("--timeout", type=float, default=20.0, help="s to wait for a reply")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--json", type=Path, help="also write the report here")
    p.add_argument("--database-url", help="default: a temp SQLite file")
    p.add_argument("--reset", action="store_true", help="drop the named database if it exists")
    p.add_argument("--keep", action="store_true", help="keep the work dir (server.log, data)")
    args = p.parse_args(argv)
    args.reuse = False
    if args.conversations < 1 or args.rate <= 0:
        p.error("--conversations and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["DESKPILOT_AI_PIPELINE"] = "true"
    os.environ.setdefault("DESKPILOT_AI_THREADS", "1")
    workdir = Path(tempfile.mkdtemp(prefix="deskpilot-chat-bench-"))
    try:
        url = api_load.prepare_database(args, workdir)
        settings = Settings(
            env="prod",
            data_dir=workdir / "data",
            secret_key=ai_pipeline.SECRET_KEY,
            database_url=url,
        )
        settings.data_dir.mkdir(parents=True)
        migrate.upgrade(url)
        db = open_database(url, pool_size=2)
        try:
            kind = api_load.database_version(db)
            print(f"database: {kind}; seeding the demo workspace and indexing its KB", flush=True)
            _token, _contacts, facts = ai_pipeline.setup_workspace(settings, db)
        finally:
            db.dispose()
        allow_many_starts(url)
        print(f"setup: {facts}", flush=True)
        with serverctl.running_server(url, workdir, workers=1) as (port, proc):
            print(f"server up on :{port} (pid {proc.pid})", flush=True)
            load_at_start = os.getloadavg()[0]
            convos = asyncio.run(run(port, args))
        report = summarize(convos)
        env = {
            "database": kind,
            "loadavg_1m_at_start": load_at_start,
            "cpu_count": os.cpu_count(),
            "rate": args.rate,
            "loadavg_1m_at_end": os.getloadavg()[0],
        }
        print_table(report, env)
        problems = ai_pipeline.server_log_problems(workdir / "server.log")
        if problems["tracebacks"]:
            print(f"\nserver log has {problems['tracebacks']} traceback(s); the first:")
            print(problems["first_traceback"])
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps({"environment": env, "setup": facts, **report}, indent=2)
            )
        return 0 if report["all"]["errors"] == 0 else 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
