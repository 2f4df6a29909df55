"""Server render time of the agent console's main pages over a large help desk.

Builds a fresh database (SQLite by default, or `--database-url postgresql://...`, whose `public`
schema is wiped), bulk-inserts `--tickets` tickets with `bench/prefill.py`, adds one ticket with
`--messages` messages, starts `deskpilot serve` as its own process, signs in an agent through the
real `/login` form and times, one request at a time:

- the queue page `/app` (50 tickets per page) for several views and filters,
- the same page as an htmx partial (what a filter change or live refresh fetches),
- the ticket page `/app/tickets/{number}` of the ticket with `--messages` messages.

Targets (issue 5): queue page p95 <= 100 ms with 100k tickets; ticket page p95 <= 80 ms with 50
messages. Times are measured at the client over loopback, so they include HTTP overhead.

    python bench/ui_render.py [--tickets 100000] [--messages 50] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdb import fresh_database
from deskpilot.auth import service as auth_service
from deskpilot.core.context import Context, Role
from deskpilot.db.engine import Database
from deskpilot.tickets import service as tickets_service
from deskpilot.tickets.schemas import MessageCreate, TicketCreate
from prefill import analyze, prefill
from serverctl import running_server

PASSWORD = "bench-password-123"
AGENT_EMAIL = "render-agent@bench.example.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="default: a SQLite file")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def add_agent_and_long_ticket(db: Database, workspace_id: int, messages: int) -> int:
    """An agent who can sign in, and a ticket with `messages` messages; returns its number."""
    with db.session(write=True) as session:
        system = Context.system(workspace_id)
        member = auth_service.add_member(
            session, system, email=AGENT_EMAIL, role=Role.agent, name="Render Agent",
            password=PASSWORD,
        )  # fmt: skip
        agent = Context(workspace_id=workspace_id, user_id=member.user_id, role=Role.agent)
        ticket, _ = tickets_service.create_ticket(
            session,
            agent,
            TicketCreate.model_validate(
                {
                    "subject": "Export to CSV drops the last column",
                    "description": "When I export the monthly report the last column is empty.",
                    "requester": {"email": "long.thread@customer.example.com", "name": "Lee"},
                }
            ),
        )
        for i in range(messages - 1):
            body = (
                f"Message {i}: we looked at the export again. **Steps** tried so far:\n\n"
                "- cleared the cache\n- re-ran the export\n\nThe column is still missing."
            )
            tickets_service.add_message(
                session,
                agent,
                ticket.id,
                MessageCreate(body=body, visibility="internal" if i % 5 == 4 else "public"),
            )
        number = ticket.number
        session.commit()
    return number


def sign_in(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    form = urllib.parse.urlencode(
        {"workspace": "bench", "email": AGENT_EMAIL, "password": PASSWORD}
    )
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    cookie = response.getheader("set-cookie") or ""
    if response.status != 303 or not cookie:
        raise SystemExit(f"sign-in failed: {response.status}")
    return cookie.split(";", 1)[0]


def time_page(
    port: int, cookie: str, path: str, requests: int, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Cookie": cookie, **(headers or {})}
    samples: list[float] = []
    size = 0
    for i in range(requests + 5):
        start = time.perf_counter()
        conn.request("GET", path, headers=sent)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise SystemExit(f"GET {path} -> {response.status}: {body[:300]!r}")
        if i >= 5:  # the first requests warm caches (templates, the KB index)
            samples.append(elapsed)
        size = len(body)
    samples.sort()
    return {
        "path": path,
        "partial": bool(headers),
        "requests": len(samples),
        "bytes": size,
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 1),
        "max_ms": round(samples[-1], 1),
    }


def rows_on_page(port: int, cookie: str, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    html = conn.getresponse().read().decode()
    return len(re.findall(r"data-nav-row", html))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="deskpilot-ui-bench-") as tmp:
        workdir = Path(tmp)
        db, settings = fresh_database(args.database_url, workdir / "data")
        started = time.perf_counter()
        fixture = prefill(db, args.tickets, log=lambda *_: None)
        number = add_agent_and_long_ticket(db, fixture.workspace_id, args.messages)
        analyze(db)  # what autovacuum does after a bulk load (PostgreSQL)
        prefill_seconds = time.perf_counter() - started
        url = settings.resolved_database_url
        db.dispose()
        pages = [
            ("/app", None),
            ("/app?view=all", None),
            ("/app?view=unassigned&priority=high", None),
            ("/app?view=all&sort=-updated_at", None),
            ("/app?view=all", {"HX-Request": "true"}),
            (f"/app/tickets/{number}", None),
        ]
        results = []
        with running_server(url, workdir, extra_env={"DESKPILOT_AI_PIPELINE": "false"}) as (
            port,
            _process,
        ):
            cookie = sign_in(port)
            rows = rows_on_page(port, cookie, "/app?view=all")
            for path, headers in pages:
                results.append(time_page(port, cookie, path, args.requests, headers))
    report = {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "tickets": args.tickets,
        "messages_on_ticket_page": args.messages,
        "rows_on_queue_page": rows,
        "prefill_seconds": round(prefill_seconds, 1),
        "pages": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"{report['database']}: {args.tickets:,} tickets, queue page shows {rows} rows, "
        f"ticket page has {args.messages} messages (prefill {report['prefill_seconds']} s)"
    )
    print(f"{'page':<46} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  bytes")
    for r in results:
        label = r["path"] + (" (partial)" if r["partial"] else "")
        print(
            f"{label:<46} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7} {r['max_ms']:>7}"
            f"  {r['bytes']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
