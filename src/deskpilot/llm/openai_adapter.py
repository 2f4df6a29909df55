"""OpenAI, or any OpenAI-compatible server (Ollama, vLLM, LM Studio) through `base_url`.

Chat Completions with `response_format={"type": "json_object"}`, which those servers also
understand. OpenAI itself wants `max_completion_tokens`; compatible servers are sent the older
`max_tokens`, which all of them accept. SDK retries are off: `service.compose_answer` retries.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai

from deskpilot.ai.ports import AnswerRequest, DraftAnswer, Usage
from deskpilot.llm.errors import (
    MalformedAnswer,
    ProviderError,
    ProviderRejected,
    translate_sdk_error,
)
from deskpilot.llm.prompt import PROMPT_VERSION, SYSTEM_PROMPT, parse_answer, user_message

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local servers ignore the key, but the SDK insists on one.
NO_KEY = "not-needed"


def translate_error(exc: openai.OpenAIError) -> ProviderError:
    return translate_sdk_error(exc, openai)


class OpenAILLM:
    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        timeout: float = 20.0,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.model = model
        self._official = base_url is None
        self._client = openai.OpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url or DEFAULT_BASE_URL,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )

    def answer(self, request: AnswerRequest) -> DraftAnswer:
        if not request.passages:
            return DraftAnswer((), False, self.provider, self.model, Usage(), PROMPT_VERSION)
        limit: dict[str, Any] = (
            {"max_completion_tokens": request.max_output_tokens}
            if self._official
            else {"max_tokens": request.max_output_tokens}
        )
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": user_message(request)},
                ],
                temperature=request.temperature,
                response_format={"type": "json_object"},
                **limit,
            )
        except openai.OpenAIError as exc:
            raise translate_error(exc) from exc
        usage = (
            Usage(completion.usage.prompt_tokens or 0, completion.usage.completion_tokens or 0)
            if completion.usage is not None
            else Usage()
        )
        if not completion.choices:
            raise MalformedAnswer("the reply has no choices", usage=usage)
        message = completion.choices[0].message
        if message.refusal:
            raise ProviderRejected(f"the model refused: {message.refusal}", usage=usage)
        return parse_answer(
            message.content or "", request, provider=self.provider, model=self.model, usage=usage
        )

    def close(self) -> None:
        self._client.close()
