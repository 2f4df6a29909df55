"""Call a language model with bounded retries: exponential backoff with jitter, Retry-After."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from deskpilot.ai.ports import LLM, AnswerRequest, DraftAnswer, Usage
from deskpilot.llm.errors import ProviderError

BASE_DELAY = 0.5
MAX_DELAY = 8.0
# A provider asking for a longer pause than this is not worth waiting for inside one answer.
MAX_RETRY_AFTER = 20.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempted:
    """What the calls produced: an answer or the last error, and what all attempts cost."""

    answer: DraftAnswer | None
    error: ProviderError | None
    attempts: int
    # Tokens of failed attempts (a malformed reply is billed); the answer's own usage is apart.
    wasted: Usage


def backoff_delay(attempt: int, error: ProviderError, rng: random.Random) -> float:
    """Seconds before retry number `attempt` (1 = the first retry)."""
    if error.retry_after is not None:
        return min(error.retry_after, MAX_RETRY_AFTER)
    ceiling = min(BASE_DELAY * 2.0 ** (attempt - 1), MAX_DELAY)
    # "Equal jitter": at least half the ceiling, so retries from many workers spread out.
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def call_with_retries(
    llm: LLM,
    request: AnswerRequest,
    *,
    max_retries: int,
    sleep: Callable[[float], None],
    rng: random.Random | None = None,
) -> Attempted:
    rng = rng or random.Random()
    wasted = Usage()
    attempt = 0
    while True:
        attempt += 1
        try:
            return Attempted(llm.answer(request), None, attempt, wasted)
        except ProviderError as exc:
            wasted = Usage(
                wasted.input_tokens + exc.usage.input_tokens,
                wasted.output_tokens + exc.usage.output_tokens,
            )
            if not exc.retryable or attempt > max_retries:
                return Attempted(None, exc, attempt, wasted)
            if exc.retry_after is not None and exc.retry_after > MAX_RETRY_AFTER:
                return Attempted(None, exc, attempt, wasted)
            sleep(backoff_delay(attempt, exc, rng))
        except Exception as exc:  # an SDK surprise must cost a fallback, not the whole answer
            log.exception("language model %s/%s failed unexpectedly", llm.provider, llm.model)
            unexpected = ProviderError(f"unexpected {type(exc).__name__}: {exc}")
            return Attempted(None, unexpected, attempt, wasted)
