"""Inbound email through the real SMTP listener: throughput, and no lost or doubled tickets.

    python bench/email_inbound.py                         # SQLite (temp file)
    python bench/email_inbound.py --messages 2000 --clients 8 --json out.json
    python bench/email_inbound.py --database-url postgresql://postgres@127.0.0.1:5432/bench_mail

Builds a fresh database (PostgreSQL: the schema `public` is DROPPED and re-migrated, so point it
at a scratch database), one workspace with mail settings, and starts the listener that
`deskpilot smtp` runs (aiosmtpd on a loopback port, one transaction per message, AI pipeline
off so the figures are the email path's own). Clients are `smtplib` connections in threads, each
sending its share of messages over one connection. Messages are the parser test fixtures (Gmail,
Outlook, Apple Mail, HTML-only, charsets, attachments) with a fresh Message-ID and sender each,
so every one creates a ticket.

1. throughput: --messages new messages; messages parsed and stored per second.
2. redelivery: a batch of --batch new messages is delivered twice *at the same time* (two
   client pools, each in its own order, so copies race each other), then a third time. Every
   SMTP transaction must get 250, and the batch must leave exactly --batch tickets and inbound
   rows: zero lost, zero doubled.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import smtplib
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from deskpilot.db.engine import Database
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.email.smtp_listener import make_controller
from deskpilot.settings import Settings
from deskpilot.tickets.models import Ticket
from deskpilot.workspaces.models import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import fresh_database

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "email" / "fixtures"
# Fixtures that are machine mail (ignored by design) are left out: each message is a ticket.
HUMAN = [
    "apple_reply.eml", "bad_utf8.eml", "big_attachment.eml", "forwarded.eml", "gmail_reply.eml",
    "html_only.eml", "inline_image.eml", "iso2022jp.eml", "latin1.eml", "new_request.eml",
    "original_message.eml", "outlook_reply.eml",
]  # fmt: skip
SUPPORT = "support@bench.example"


def fresh_workspace(url: str | None, workdir: Path) -> tuple[Database, Settings, int]:
    db, settings = fresh_database(url, workdir / "data", pool_size=12, ai_pipeline=False)
    with db.session(write=True) as s:
        ws = Workspace(slug="bench", name="Bench")
        s.add(ws)
        s.flush()
        s.add(MailSettings(workspace_id=ws.id, support_address=SUPPORT))
        s.commit()
        return db, settings, ws.id


def make_batch(prefix: str, count: int) -> list[bytes]:
    # Fixture files use LF; on the wire SMTP lines end in CRLF (smtplib sends bytes as given).
    templates = [(FIXTURES / name).read_bytes().replace(b"\n", b"\r\n") for name in HUMAN]
    batch = []
    for n in range(count):
        raw = templates[n % len(templates)]
        raw = re.sub(rb"(?im)^Message-I[dD]:.*$", f"Message-ID: <{prefix}-{n}@bench.example>".encode(), raw, count=1)  # fmt: skip
        raw = re.sub(rb"(?m)^From:.*$", f"From: Customer {n} <c{n}.{prefix}@client.example>".encode(), raw, count=1)  # fmt: skip
        batch.append(raw)
    return batch


def send_all(port: int, messages: list[bytes], clients: int, codes: list[int]) -> None:
    """Send over `clients` connections; record each transaction's final SMTP code."""
    lock = threading.Lock()

    def worker(share: list[bytes]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for raw in share:
                try:
                    client.sendmail("bench@client.example", [SUPPORT], raw)
                    code = 250
                except smtplib.SMTPResponseException as exc:
                    code = exc.smtp_code
                    client.rset()
                with lock:
                    codes.append(code)

    threads = [
        threading.Thread(target=worker, args=(messages[i::clients],)) for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def counts(db: Database, ws: int) -> tuple[int, int]:
    with db.session(write=False) as s:
        tickets = s.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.workspace_id == ws)
        )
        rows = s.scalar(
            select(func.count())
            .select_from(EmailMessage)
            .where(EmailMessage.workspace_id == ws, EmailMessage.direction == "inbound")
        )
        return tickets or 0, rows or 0


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mail-") as tmp:
        db, settings, ws = fresh_workspace(args.database_url, Path(tmp))
        controller = make_controller(db, settings, port=0)
        controller.start()
        try:
            # Warm-up (imports, connection pool), not measured; these tickets are subtracted.
            send_all(controller.port, make_batch("warm", 24), 2, [])
            base_tickets, base_rows = counts(db, ws)

            codes: list[int] = []
            started = time.perf_counter()
            send_all(controller.port, make_batch("tp", args.messages), args.clients, codes)
            elapsed = time.perf_counter() - started
            tickets, rows = counts(db, ws)
            throughput = {
                "messages": args.messages,
                "clients": args.clients,
                "seconds": round(elapsed, 2),
                "messages_per_second": round(args.messages / elapsed, 1),
                "accepted": codes.count(250),
                "tickets_created": tickets - base_tickets,
                "inbound_rows": rows - base_rows,
            }
            before = (tickets, rows)

            batch = make_batch("dup", args.batch)
            shuffled = batch[:]
            random.Random(7).shuffle(shuffled)
            race_codes: list[int] = []
            pools = [
                threading.Thread(target=send_all, args=(controller.port, b, args.clients, race_codes))
                for b in (batch, shuffled)
            ]  # fmt: skip
            started = time.perf_counter()
            for p in pools:
                p.start()
            for p in pools:
                p.join()
            race_seconds = time.perf_counter() - started
            again_codes: list[int] = []
            send_all(controller.port, batch, args.clients, again_codes)
            tickets, rows = counts(db, ws)
            redelivery = {
                "batch": args.batch,
                "deliveries": len(race_codes) + len(again_codes),
                "accepted_250": (race_codes + again_codes).count(250),
                "concurrent_pair_seconds": round(race_seconds, 2),
                "tickets": tickets - before[0],
                "inbound_rows": rows - before[1],
                "lost": max(args.batch - (tickets - before[0]), 0),
                "duplicated": max((tickets - before[0]) - args.batch, 0),
            }
        finally:
            controller.stop()
            db.dispose()
    return {
        "database": "postgresql" if args.database_url else "sqlite",
        "throughput": throughput,
        "redelivery": redelivery,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL scratch DB (dropped!)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    report = run(args)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    red = report["redelivery"]
    ok = red["lost"] == 0 and red["duplicated"] == 0 and red["accepted_250"] == red["deliveries"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
