"""The Anthropic and OpenAI adapters against recorded API responses (no network)."""

from __future__ import annotations

import re

import pytest

from deskpilot.ai.ports import AnswerRequest, AnswerSentence
from deskpilot.llm.anthropic_adapter import AnthropicLLM
from deskpilot.llm.errors import (
    MalformedAnswer,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from deskpilot.llm.openai_adapter import OpenAILLM
from deskpilot.llm.prompt import PROMPT_VERSION, SYSTEM_PROMPT
from tests.llm.recorded import (
    LINK_ARTICLE,
    PASSWORD_ARTICLE,
    Provider,
    Reply,
    password_request,
    timeout,
)


def anthropic(provider: Provider, model: str = "claude-sonnet-4-6") -> AnthropicLLM:
    return AnthropicLLM(model=model, api_key="sk-ant-test", http_client=provider.client())


def openai_llm(provider: Provider, base_url: str | None = None) -> OpenAILLM:
    return OpenAILLM(
        model="gpt-4o-mini",
        api_key="sk-test" if base_url is None else None,
        base_url=base_url,
        http_client=provider.client(),
    )


def test_anthropic_parses_a_recorded_answer_and_sends_the_passages() -> None:
    provider = Provider(Reply("anthropic_answer"))

    answer = anthropic(provider).answer(password_request())

    assert answer.sentences == (
        AnswerSentence(
            "Open Settings > Security and click Reset password to get a reset link.", ("P1",)
        ),
        AnswerSentence("The link is sent to [EMAIL_1] and expires after 24 hours.", ("P1", "P2")),
    )
    assert answer.answerable
    assert (answer.provider, answer.model, answer.prompt_version) == (
        "anthropic",
        "claude-sonnet-4-6",
        PROMPT_VERSION,
    )
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (412, 68)
    [request] = provider.requests
    assert request.url.path == "/v1/messages"
    assert request.headers["authorization"] == "Bearer sk-ant-test"
    body = provider.bodies()[0]
    assert body["model"] == "claude-sonnet-4-6"
    assert body["max_tokens"] == 600
    assert body["system"] == SYSTEM_PROMPT
    # API version 2026-10-21 rejects sampling parameters; the temperature is not sent to Claude.
    assert "temperature" not in body
    content = body["messages"][0]["content"]
    assert f"[P1] Reset your password\n{PASSWORD_ARTICLE}" in content
    assert f"[P2] Reset links\n{LINK_ARTICLE}" in content
    assert content.endswith("Question:\nHow do I reset my password?")


def test_openai_parses_a_recorded_answer_and_sends_model_and_temperature() -> None:
    provider = Provider(Reply("openai_answer"))
    request = password_request()
    request = AnswerRequest(
        request.question,
        request.passages,
        history=(("customer", "Hi, I am locked out"), ("agent", "Which account?")),
        temperature=0.7,
        max_output_tokens=300,
    )

    answer = openai_llm(provider).answer(request)

    # The inline "[P1]" the model left in the text is dropped: the citations carry it.
    assert [s.text for s in answer.sentences] == [
        "Open Settings > Security and click Reset password.",
        "We email the link to [EMAIL_1]; it expires after 24 hours.",
    ]
    assert [s.citations for s in answer.sentences] == [("P1",), ("P1",)]
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (388, 57)
    body = provider.bodies()[0]
    assert provider.requests[0].url.path == "/v1/chat/completions"
    assert (body["model"], body["temperature"]) == ("gpt-4o-mini", 0.7)
    assert body["max_completion_tokens"] == 300
    assert body["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    user = body["messages"][1]["content"]
    assert PASSWORD_ARTICLE in user
    assert LINK_ARTICLE in user
    assert "customer: Hi, I am locked out\nagent: Which account?" in user


def test_openai_adapter_talks_to_an_ollama_base_url_without_a_key() -> None:
    provider = Provider(Reply("ollama_unanswerable"))

    answer = openai_llm(provider, base_url="http://localhost:11434/v1").answer(password_request())

    assert (answer.answerable, answer.sentences) == (False, ())
    request = provider.requests[0]
    assert str(request.url) == "http://localhost:11434/v1/chat/completions"
    body = provider.bodies()[0]
    assert body["max_tokens"] == 600
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize(
    ("adapter", "recording", "reason"),
    [
        ("anthropic", "anthropic_garbage", "not a JSON object"),
        ("openai", "openai_unknown_citation", "unknown passages ['P7']"),
    ],
)
def test_unusable_output_raises_malformed_answer_with_the_tokens_spent(
    adapter: str, recording: str, reason: str
) -> None:
    provider = Provider(Reply(recording))
    llm = anthropic(provider) if adapter == "anthropic" else openai_llm(provider)

    with pytest.raises(MalformedAnswer, match=re.escape(reason)) as caught:
        llm.answer(password_request())

    assert caught.value.usage.input_tokens > 0
    assert caught.value.usage.output_tokens > 0
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("reply", "error", "retry_after"),
    [
        (Reply("anthropic_rate_limited", 429, {"retry-after": "3"}), ProviderRateLimited, 3.0),
        (Reply("anthropic_overloaded", 529), ProviderUnavailable, None),
        (Reply("anthropic_overloaded", 503), ProviderUnavailable, None),
        (Reply("anthropic_auth_error", 401), ProviderRejected, None),
        (Reply(raises=timeout), ProviderTimeout, None),
    ],
)
def test_sdk_failures_become_provider_errors(
    reply: Reply, error: type[Exception], retry_after: float | None
) -> None:
    provider = Provider(reply)

    with pytest.raises(error) as caught:
        anthropic(provider).answer(password_request())

    assert getattr(caught.value, "retry_after", None) == retry_after
    assert provider.calls == 1, "the SDK must not retry on its own"


def test_openai_server_error_is_retryable_and_not_retried_by_the_sdk() -> None:
    provider = Provider(Reply("openai_server_error", 500))

    with pytest.raises(ProviderUnavailable) as caught:
        openai_llm(provider).answer(password_request())

    assert caught.value.retryable
    assert caught.value.status == 500
    assert provider.calls == 1


def test_no_passages_means_no_call() -> None:
    provider = Provider(Reply("anthropic_answer"))

    answer = anthropic(provider).answer(AnswerRequest("anything?", []))

    assert answer.answerable is False
    assert provider.calls == 0
