"""compose_answer: retries, fallback, budget, redaction and one usage row per call (real DB)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.ai.ports import AnswerRequest, Passage
from deskpilot.core.clock import set_clock
from deskpilot.llm import service
from deskpilot.llm.models import AiUsage
from deskpilot.llm.retry import MAX_DELAY, backoff_delay
from tests.factories import Persona, Personas, make_ticket
from tests.llm.recorded import Provider, Reply, password_request, timeout

KEY_ENV = "DESKPILOT_TEST_ANTHROPIC_KEY"


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def anthropic_workspace(
    session: Session, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> Persona:
    monkeypatch.setenv(KEY_ENV, "sk-ant-test-key")
    configure(session, personas.acme_owner)
    return personas.acme_owner


def configure(session: Session, owner: Persona, **changes: Any) -> None:
    values: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "api_key_ref": f"env:{KEY_ENV}",
        "max_retries": 2,
        "input_price_per_mtok": 3.0,
        "output_price_per_mtok": 15.0,
    }
    service.update_settings(session, owner.ctx, {**values, **changes})
    session.commit()


def compose(
    session: Session,
    owner: Persona,
    provider: Provider,
    request: AnswerRequest | None = None,
    **kwargs: Any,
) -> service.ComposeResult:
    result = service.compose_answer(
        session,
        owner.ctx,
        request or password_request(),
        http_client=provider.client(),
        rng=random.Random(7),
        **kwargs,
    )
    session.commit()
    return result


def usage_rows(session: Session) -> list[AiUsage]:
    return list(session.scalars(select(AiUsage).order_by(AiUsage.id)))


def test_answer_is_recorded_with_tokens_cost_and_ticket(
    session: Session, anthropic_workspace: Persona
) -> None:
    provider = Provider(Reply("anthropic_answer"))
    ticket = make_ticket(session, anthropic_workspace.ctx)
    session.commit()

    result = compose(session, anthropic_workspace, provider, ticket_id=ticket.id)

    assert result.status == "ok"
    assert not result.fallback_used
    assert result.answer is not None
    assert result.answer.provider == "anthropic"
    [row] = usage_rows(session)
    assert (row.provider, row.model, row.status, row.attempts) == (
        "anthropic",
        "claude-sonnet-4-6",
        "ok",
        1,
    )
    assert (row.input_tokens, row.output_tokens, row.ticket_id) == (412, 68, ticket.id)
    assert row.cost_usd == pytest.approx((412 * 3.0 + 68 * 15.0) / 1_000_000)
    assert row.workspace_id == anthropic_workspace.workspace_id
    assert result.usage_id == row.id
    assert row.error is None


def test_rate_limit_then_success_is_retried_after_retry_after(
    session: Session, anthropic_workspace: Persona
) -> None:
    provider = Provider(
        Reply("anthropic_rate_limited", 429, {"retry-after": "2"}), Reply("anthropic_answer")
    )
    sleeps = Sleeps()

    result = compose(session, anthropic_workspace, provider, sleep=sleeps)

    assert (result.status, result.attempts, provider.calls) == ("ok", 2, 2)
    assert sleeps.waits == [2.0]
    assert usage_rows(session)[0].attempts == 2


def test_server_errors_exhaust_retries_then_the_builtin_answers(
    session: Session, anthropic_workspace: Persona
) -> None:
    provider = Provider(Reply("anthropic_overloaded", 529))
    sleeps = Sleeps()

    result = compose(session, anthropic_workspace, provider, sleep=sleeps)

    assert provider.calls == 3  # 1 + max_retries
    assert len(sleeps.waits) == 2
    assert sleeps.waits[0] < sleeps.waits[1] <= MAX_DELAY
    assert (result.status, result.fallback_used, result.failed_reason) == (
        "fallback",
        True,
        "unavailable",
    )
    assert result.answer is not None
    assert result.answer.provider == "builtin"
    assert result.answer.sentences[0].citations == ("P1",)
    [row] = usage_rows(session)
    assert (row.provider, row.status, row.attempts, row.input_tokens, row.cost_usd) == (
        "anthropic",
        "fallback",
        3,
        0,
        0.0,
    )
    assert row.error is not None
    assert row.error.startswith("unavailable: HTTP 529")


def test_escalate_fallback_returns_no_answer(
    session: Session, anthropic_workspace: Persona
) -> None:
    configure(session, anthropic_workspace, fallback="escalate", max_retries=1)
    provider = Provider(Reply("openai_server_error", 500))

    result = compose(session, anthropic_workspace, provider, sleep=Sleeps())

    assert (result.answer, result.status, result.failed_reason) == (None, "error", "unavailable")
    assert result.fallback_used is False
    assert provider.calls == 2
    assert usage_rows(session)[0].status == "error"


def test_timeout_falls_back(session: Session, anthropic_workspace: Persona) -> None:
    provider = Provider(Reply(raises=timeout))

    result = compose(session, anthropic_workspace, provider, sleep=Sleeps())

    assert (result.status, result.failed_reason, provider.calls) == ("fallback", "timeout", 3)
    assert result.answer is not None
    assert result.answer.provider == "builtin"


def test_client_errors_are_not_retried(session: Session, anthropic_workspace: Persona) -> None:
    provider = Provider(Reply("anthropic_auth_error", 401))
    sleeps = Sleeps()

    result = compose(session, anthropic_workspace, provider, sleep=sleeps)

    assert (provider.calls, sleeps.waits, result.failed_reason) == (1, [], "rejected")


def test_garbage_output_falls_back_and_its_tokens_are_billed(
    session: Session, anthropic_workspace: Persona
) -> None:
    provider = Provider(Reply("anthropic_garbage"))

    result = compose(session, anthropic_workspace, provider, sleep=Sleeps())

    assert (result.status, result.failed_reason, provider.calls) == (
        "fallback",
        "malformed_answer",
        1,
    )
    [row] = usage_rows(session)
    assert (row.input_tokens, row.output_tokens) == (405, 25)
    assert row.cost_usd > 0


def test_over_budget_makes_no_call(session: Session, anthropic_workspace: Persona) -> None:
    configure(session, anthropic_workspace, monthly_token_budget=500)
    compose(session, anthropic_workspace, Provider(Reply("anthropic_answer")))  # 480 tokens
    compose(session, anthropic_workspace, Provider(Reply("anthropic_answer")))  # 960 >= 500
    provider = Provider(Reply("anthropic_answer"))

    result = compose(session, anthropic_workspace, provider)

    assert provider.calls == 0
    assert (result.status, result.failed_reason, result.attempts) == (
        "over_budget",
        "over_budget",
        0,
    )
    assert result.answer is not None
    assert result.answer.provider == "builtin"
    assert [r.status for r in usage_rows(session)] == ["ok", "ok", "over_budget"]


def test_budget_counts_this_utc_month_only(session: Session, anthropic_workspace: Persona) -> None:
    configure(session, anthropic_workspace, monthly_token_budget=500)
    set_clock(lambda: datetime(2031, 1, 31, 23, 59, tzinfo=UTC))
    try:
        compose(session, anthropic_workspace, Provider(Reply("anthropic_answer")))
        compose(session, anthropic_workspace, Provider(Reply("anthropic_answer")))
        set_clock(lambda: datetime(2031, 2, 1, 0, 1, tzinfo=UTC))
        provider = Provider(Reply("anthropic_answer"))
        result = compose(session, anthropic_workspace, provider)
    finally:
        set_clock(None)

    assert (result.status, provider.calls) == ("ok", 1)


def test_personal_data_never_leaves_and_comes_back_in_the_answer(
    session: Session, anthropic_workspace: Persona
) -> None:
    provider = Provider(Reply("anthropic_answer"))
    question = (
        "I'm jane.doe@example.com, call me on +1 415 555 2671. Card 4111 1111 1111 1111 was "
        "charged. How do I reset my password?"
    )
    base = password_request()
    request = AnswerRequest(
        question,
        base.passages,
        history=(("customer", "my old address was jane.doe@example.com"),),
    )

    result = compose(session, anthropic_workspace, provider, request=request)

    sent = provider.requests[0].content.decode()
    for secret in ("jane.doe@example.com", "415 555 2671", "4111 1111 1111 1111"):
        assert secret not in sent
    content = json.loads(sent)["messages"][0]["content"]
    assert "I'm [EMAIL_1], call me on [PHONE_1]. Card [CARD_1] was charged." in content
    assert "customer: my old address was [EMAIL_1]" in content
    # The recorded reply used [EMAIL_1]; the customer sees the real address.
    assert result.answer is not None
    assert result.answer.sentences[1].text == (
        "The link is sent to jane.doe@example.com and expires after 24 hours."
    )


def test_missing_key_falls_back_without_a_call(
    session: Session, anthropic_workspace: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    provider = Provider(Reply("anthropic_answer"))

    result = compose(session, anthropic_workspace, provider)

    assert (provider.calls, result.status, result.failed_reason) == (
        0,
        "fallback",
        "missing_api_key",
    )
    assert usage_rows(session)[0].attempts == 0


def test_builtin_workspace_records_free_calls(session: Session, personas: Personas) -> None:
    result = service.compose_answer(session, personas.gina.ctx, password_request())
    session.commit()

    assert (result.provider, result.model, result.status, result.cost_usd) == (
        "builtin",
        "extractive-v1",
        "ok",
        0.0,
    )
    [row] = usage_rows(session)
    assert (row.workspace_id, row.input_tokens, row.output_tokens) == (
        personas.gina.workspace_id,
        0,
        0,
    )


def test_no_passages_means_no_outside_call(session: Session, anthropic_workspace: Persona) -> None:
    provider = Provider(Reply("anthropic_answer"))

    result = compose(session, anthropic_workspace, provider, request=AnswerRequest("hi?", []))

    assert provider.calls == 0
    assert result.answer is not None
    assert result.answer.answerable is False


def test_workspace_temperature_reaches_the_openai_adapter(
    session: Session, personas: Personas
) -> None:
    service.update_settings(
        session,
        personas.globex_owner.ctx,
        {
            "provider": "openai",
            "model": "llama3.2:3b",
            "base_url": "http://localhost:11434/v1",
            "temperature": 0.0,
            "max_output_tokens": 256,
        },
    )
    session.commit()
    provider = Provider(Reply("ollama_unanswerable"))

    result = compose(session, personas.globex_owner, provider)

    body = provider.bodies()[0]
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0.0, 256, "llama3.2:3b")
    assert result.answer is not None
    assert result.answer.answerable is False
    assert result.status == "ok"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    from deskpilot.llm.errors import ProviderUnavailable

    rng = random.Random(1)
    error = ProviderUnavailable("HTTP 503")
    delays = [backoff_delay(n, error, rng) for n in range(1, 8)]

    assert all(d <= MAX_DELAY for d in delays)
    assert delays[0] < delays[3]
    assert 0.25 <= delays[0] <= 0.5


def test_unused_passage_fields_are_not_sent() -> None:
    passage = Passage("P1", 1, 1, "T", "https://help.example.com/secret-url", "text")
    from deskpilot.llm.prompt import user_message

    assert "secret-url" not in user_message(AnswerRequest("q", [passage]))


def test_a_long_retry_after_ends_the_retries(
    session: Session, anthropic_workspace: Persona
) -> None:
    provider = Provider(Reply("anthropic_rate_limited", 429, {"retry-after": "120"}))
    sleeps = Sleeps()

    result = compose(session, anthropic_workspace, provider, sleep=sleeps)

    assert (provider.calls, sleeps.waits, result.failed_reason) == (1, [], "rate_limited")


def test_an_unexpected_adapter_crash_still_falls_back(
    session: Session, anthropic_workspace: Persona
) -> None:
    class Broken:
        provider = "anthropic"
        model = "claude-sonnet-4-6"

        def answer(self, request: AnswerRequest) -> Any:
            raise KeyError("content")

    result = service.compose_answer(
        session, anthropic_workspace.ctx, password_request(), llm=Broken()
    )

    assert (result.status, result.failed_reason) == ("fallback", "provider_error")
    assert result.answer is not None
    assert result.answer.provider == "builtin"


def test_retry_after_forms() -> None:
    from deskpilot.llm.errors import parse_retry_after

    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
