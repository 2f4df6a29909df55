"""Why a language-model call failed, and whether trying again could help.

Adapters turn SDK exceptions into these; `service.compose_answer` retries the retryable ones and
falls back on the rest. They never reach HTTP clients, so they are not `DomainError`s.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from deskpilot.ai.ports import Usage

ERROR_TEXT_LIMIT = 500


class ProviderError(Exception):
    """A call that produced no usable answer. `code` names the reason in usage rows and results."""

    code = "provider_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message[:ERROR_TEXT_LIMIT])
        self.message = message[:ERROR_TEXT_LIMIT]
        self.status = status
        # Seconds the provider asked us to wait (Retry-After), if it said.
        self.retry_after = retry_after
        # Tokens the failed call still consumed (a reply we could not use is billed all the same).
        self.usage = usage or Usage()


class ProviderUnavailable(ProviderError):
    """5xx, overload or a dropped connection: worth another try."""

    code = "unavailable"
    retryable = True


class ProviderRateLimited(ProviderUnavailable):
    code = "rate_limited"


class ProviderTimeout(ProviderUnavailable):
    code = "timeout"


class ProviderRejected(ProviderError):
    """A 4xx other than 429 (bad key, unknown model, request refused): retrying cannot help."""

    code = "rejected"


class MalformedAnswer(ProviderError):
    """The model replied, but not with the JSON we asked for or with citations we did not give."""

    code = "malformed_answer"


class MissingApiKey(ProviderError):
    code = "missing_api_key"


class OverBudget(ProviderError):
    code = "over_budget"


RETRYABLE_STATUSES = frozenset({408, 409, 429})


def error_for_status(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> ProviderError:
    retry_after = parse_retry_after(headers or {})
    text = f"HTTP {status}: {message}"
    if status == 429:
        return ProviderRateLimited(text, status=status, retry_after=retry_after)
    if status >= 500 or status in RETRYABLE_STATUSES:
        return ProviderUnavailable(text, status=status, retry_after=retry_after)
    return ProviderRejected(text, status=status)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms`, `Retry-After: <seconds>` or `Retry-After: <HTTP date>`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def translate_sdk_error(exc: Exception, sdk: Any) -> ProviderError:
    """An Anthropic or OpenAI SDK exception as a ProviderError; `sdk` is the SDK module (both
    name their timeout, connection and status errors alike)."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderTimeout(f"timed out: {exc}")
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderUnavailable(f"connection failed: {exc}")
    if isinstance(exc, sdk.APIStatusError):
        return error_for_status(exc.status_code, exc.message, exc.response.headers)
    return ProviderRejected(f"{type(exc).__name__}: {exc}")
