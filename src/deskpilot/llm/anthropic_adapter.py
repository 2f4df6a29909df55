"""Claude through the official `anthropic` SDK (Messages API).

The SDK's own retries are off (`max_retries=0`): `service.compose_answer` retries with backoff
and then falls back, and counts every attempt. The SDK speaks API version 2026-10-21, which
rejects sampling parameters, so the workspace's temperature is not sent to Claude.
"""

from __future__ import annotations

import anthropic
import httpx2

from deskpilot.ai.ports import AnswerRequest, DraftAnswer, Usage
from deskpilot.llm.errors import (
    ProviderError,
    ProviderRejected,
    translate_sdk_error,
)
from deskpilot.llm.prompt import PROMPT_VERSION, SYSTEM_PROMPT, parse_answer, user_message

DEFAULT_BASE_URL = "https://api.anthropic.com"


def translate_error(exc: anthropic.AnthropicError) -> ProviderError:
    return translate_sdk_error(exc, anthropic)


class AnthropicLLM:
    provider = "anthropic"

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 20.0,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.model = model
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=base_url or DEFAULT_BASE_URL,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def answer(self, request: AnswerRequest) -> DraftAnswer:
        if not request.passages:
            # Nothing to ground an answer on: no call, no tokens.
            return DraftAnswer((), False, self.provider, self.model, Usage(), PROMPT_VERSION)
        try:
            message = self._client.messages.create(
                model=self.model,
                max_tokens=request.max_output_tokens,
                system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": user_message(request)}],
            )
        except anthropic.AnthropicError as exc:
            raise translate_error(exc) from exc
        usage = Usage(message.usage.input_tokens or 0, message.usage.output_tokens or 0)
        text = "".join(block.text for block in message.content if block.type == "text")
        if message.stop_reason == "refusal":
            raise ProviderRejected("the model refused to answer", usage=usage)
        return parse_answer(text, request, provider=self.provider, model=self.model, usage=usage)

    def close(self) -> None:
        self._client.close()
