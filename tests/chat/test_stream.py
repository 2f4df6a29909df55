"""The live stream: AI replies streamed in chunks with citations, agents' replies live, hand-off
keeping the AI out, and the loop waking on commits instead of waiting for its poll."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.chat import stream as chat_stream
from deskpilot.chat.live import notifier
from deskpilot.chat.tokens import VisitorTokens
from deskpilot.db.engine import Database
from deskpilot.tickets.models import Message
from deskpilot.triage.models import AiDecision
from tests.chat.conftest import CHAT, auth, read_stream, start
from tests.conftest import TEST_SECRET
from tests.factories import Personas
from tests.triage.conftest import ALWAYS_RESOLVE, ARTICLES, publish, set_policy


@pytest.fixture
def acme_help(db: Database, personas: Personas) -> dict[str, int]:
    return publish(db, personas.acme_admin, ARTICLES)


def agent_reply(
    client: TestClient, personas: Personas, ticket_id: int, body: str, **extra: Any
) -> None:
    r = client.post(
        f"/api/v1/tickets/{ticket_id}/messages",
        json={"body": body, **extra},
        headers=personas.ann.headers,
    )
    assert r.status_code == 201, r.text


def ticket_id_of(token: str) -> int:
    return VisitorTokens(TEST_SECRET).read(token).ticket_id


@pytest.mark.usefixtures("ai_pipeline", "acme_help")
def test_the_ai_reply_is_streamed_in_chunks_with_cited_articles(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    started = start(client, message="How do I reset my password? No reset link arrived.")
    events = read_stream(client, started["token"])
    kinds = [kind for kind, _, _ in events]
    assert kinds[0] == "ai_start"
    deltas = [data["text"] for kind, data, _ in events if kind == "ai_delta"]
    assert len(deltas) > 3, "the reply must arrive in several chunks"
    _kind, final, event_id = next(e for e in events if e[0] == "message")
    assert final["author"] == "ai"
    assert event_id == str(final["id"])
    # The chunks add up to the reply as text; links show as their titles while streaming.
    streamed = "".join(deltas)
    assert "Forgot password" in streamed
    assert "](/help/" not in streamed
    assert streamed.strip().startswith(final["body"].split()[0])
    # Citations and links point at the help center, absolute (the widget is on another site).
    assert final["citations"][0]["title"] == "Reset your password"
    assert final["citations"][0]["url"].startswith("http://testserver/help/acme/articles/")
    assert 'href="http://testserver/help/acme/articles/' in final["html"]
    state = [data for kind, data, _ in events if kind == "state"][-1]
    assert state == {"status": "resolved", "handed_off": False}
    # Resuming after that message sends nothing again.
    later = read_stream(client, started["token"], after=final["id"])
    assert [k for k, _, _ in later if k != "state"] == []


@pytest.mark.usefixtures("ai_pipeline", "acme_help")
def test_after_hand_off_the_ai_stays_out_and_agent_replies_arrive(
    client: TestClient, db: Database, personas: Personas
) -> None:
    set_policy(db, personas.acme_admin, **ALWAYS_RESOLVE)
    started = start(client, message="How do I reset my password?")
    token = started["token"]
    ticket_id = ticket_id_of(token)
    first = [e for e in read_stream(client, token) if e[0] == "message"]
    assert [data["author"] for _, data, _ in first] == ["ai"]
    handed = client.post(f"{CHAT}/conversation/handoff", headers=auth(token))
    assert handed.json()["state"]["handed_off"] is True
    r = client.post(
        f"{CHAT}/conversation/messages",
        json={"body": "How do I reset my password again?"},
        headers=auth(token),
    )
    assert r.status_code == 201
    with db.session(write=False) as s:
        ai_replies = s.scalars(
            select(Message).where(Message.ticket_id == ticket_id, Message.author_type == "ai")
        ).all()
        decisions = s.scalars(select(AiDecision).where(AiDecision.ticket_id == ticket_id)).all()
    assert len(ai_replies) == 1
    assert len(decisions) == 1
    agent_reply(client, personas, ticket_id, "Hi, Ann here. I reset it for you.")
    agent_reply(client, personas, ticket_id, "acme-internal note", visibility="internal")
    events = read_stream(client, token, after=first[0][1]["id"])
    shown = [(data["author"], data["body"]) for kind, data, _ in events if kind == "message"]
    assert shown == [
        ("customer", "How do I reset my password again?"),
        ("agent", "Hi, Ann here. I reset it for you."),
    ]
    assert "acme-internal" not in str(events)
    assert [d for k, d, _ in events if k == "state"][-1]["handed_off"] is True


def test_the_stream_resumes_after_last_event_id(client: TestClient, personas: Personas) -> None:
    started = start(client)
    ticket_id = ticket_id_of(started["token"])
    agent_reply(client, personas, ticket_id, "one")
    agent_reply(client, personas, ticket_id, "two")
    everything = [d["body"] for k, d, _ in read_stream(client, started["token"]) if k == "message"]
    assert everything == ["one", "two"]
    first_id = next(i for k, _, i in read_stream(client, started["token"]) if k == "message")
    r = client.get(
        f"{CHAT}/conversation/stream",
        params={"token": started["token"], "once": "1"},
        headers={"Last-Event-ID": str(first_id)},
    )
    assert "two" in r.text
    assert '"body":"one"' not in r.text


def test_the_stream_needs_a_valid_token(client: TestClient, personas: Personas) -> None:
    r = client.get(f"{CHAT}/conversation/stream", params={"token": "nope", "once": "1"})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == "*"
    assert client.get(f"{CHAT}/conversation/stream").status_code == 422


def test_a_commit_wakes_the_stream_before_its_poll_interval(
    app: FastAPI, client: TestClient, db: Database, personas: Personas
) -> None:
    """The loop waits on the in-process notifier; with a poll interval of an hour, only the
    commit's wake-up can deliver the agent's reply (the test's own timeout is a safety net)."""
    started = start(client)
    visitor = VisitorTokens(TEST_SECRET).read(started["token"])

    async def scenario() -> list[str]:
        gone = False

        async def disconnected() -> bool:
            return gone

        events = chat_stream.conversation_events(
            db,
            visitor,
            after_id=0,
            base_url="http://testserver",
            disconnected=disconnected,
            poll_seconds=3600,
        )
        chunks = [await anext(events)]  # retry hint
        chunks.append(await anext(events))  # initial state
        assert visitor.ticket_id in notifier.watched({visitor.ticket_id})
        writer = threading.Thread(
            target=agent_reply, args=(client, personas, visitor.ticket_id, "Woken up!")
        )
        writer.start()
        chunks.append(await asyncio.wait_for(anext(events), timeout=60))
        writer.join()
        gone = True
        await events.aclose()
        return chunks

    chunks = asyncio.run(scenario())
    assert chunks[0].startswith("retry:")
    assert chunks[1].startswith("event: state")
    assert "event: message" in chunks[2]
    assert "Woken up!" in chunks[2]
    # The generator unsubscribed when it closed.
    assert notifier.watched({visitor.ticket_id}) == set()
