"""Threading rules, and 100 replies across 20 tickets landing where they belong."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.email.threads import normalize_subject, split_address, tag_regex
from deskpilot.tickets.models import Message, Ticket
from tests.email.conftest import make_email


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Cannot log in", "cannot log in"),
        ("RE: Fwd: AW: SV: WG: cannot  LOG in", "cannot log in"),
        ("Re: [#42] Cannot log in", "cannot log in"),
        ("Re[2]: Cannot log in", "cannot log in"),
        ("[Ticket #9] Re: Cannot log in", "[ticket #9] re: cannot log in"),
        ("Réponse", "réponse"),
    ],
)
def test_normalize_subject(subject: str, expected: str) -> None:
    assert normalize_subject(subject) == expected


def test_custom_subject_tag() -> None:
    pattern = tag_regex("[Acme {number}]")
    assert pattern.search("Re: [Acme 17] hi").group(1) == "17"  # type: ignore[union-attr]
    assert normalize_subject("Re: [Acme 17] hi", "[Acme {number}]") == "hi"


def test_split_address() -> None:
    assert split_address("Support+T42@Acme.Example") == ("support", "t42", "acme.example")
    assert split_address("support@acme.example") == ("support", None, "acme.example")


def test_hundred_replies_across_twenty_tickets(deliver: Any, session: Session) -> None:
    rng = random.Random(6)
    tickets: list[dict[str, Any]] = []
    for n in range(20):
        sender = f"customer{n}@client{n % 7}.example"
        subject = f"Problem number {n} with the {['api', 'app', 'bill'][n % 3]}"
        mid = f"<first-{n}@client.example>"
        result = deliver(make_email(sender=sender, subject=subject, message_id=mid))
        assert result.action == "created"
        tickets.append({"sender": sender, "subject": subject, "ids": [mid], "id": result.ticket_id,
                        "number": result.ticket_number, "replies": 0})  # fmt: skip
    styles = ["header", "references", "subject_tag", "plus_address", "fallback"]
    for i in range(100):
        t = tickets[i % 20]
        style = styles[(i // 20 + rng.randrange(5)) % 5]
        mid = f"<reply-{i}@client.example>"
        kwargs: dict[str, Any] = {"sender": t["sender"], "message_id": mid,
                                  "body": f"reply {i}", "subject": "no subject match"}  # fmt: skip
        if style == "header":
            kwargs["in_reply_to"] = rng.choice(t["ids"])
        elif style == "references":
            kwargs["references"] = " ".join(["<noise@elsewhere.example>", *t["ids"][-3:]])
        elif style == "subject_tag":
            kwargs["subject"] = f"Re: [#{t['number']}] anything"
        elif style == "plus_address":
            kwargs["to"] = f"Support <support+t{t['number']}@acme.example>"
        else:
            kwargs["subject"] = "RE: Fwd: " + t["subject"].upper()
        result = deliver(make_email(**kwargs))
        expected = {"references": "header"}.get(style, style)
        assert (result.ticket_id, result.matched_by) == (t["id"], expected), (i, style)
        t["ids"].append(mid)
        t["replies"] += 1
    assert session.scalar(select(func.count()).select_from(Ticket)) == 20
    for t in tickets:
        bodies = session.scalars(
            select(Message.body).where(Message.ticket_id == t["id"]).order_by(Message.id)
        ).all()
        assert len(bodies) == t["replies"] == 5
        assert all(body.startswith("reply ") for body in bodies)
