"""Language-model providers: a workspace's settings, and one resilient call that always answers.

`compose_answer` is what the rest of the code uses. It redacts personal data before an outside
provider sees the request, enforces the monthly token budget, retries transient failures with
backoff, falls back to the extractive builtin (or to escalation) when the provider fails, and
records one `AiUsage` row per call. The outside call happens inside the caller's session, so
callers run it from a job, never from a request transaction.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2
from pydantic import BaseModel
from sqlalchemy.orm import Session

from deskpilot.ai.ports import LLM, AnswerRequest, DraftAnswer, Usage
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import ValidationFailed
from deskpilot.db.scoped import scoped
from deskpilot.db.upsert import insert_for
from deskpilot.llm.builtin import BuiltinLLM
from deskpilot.llm.errors import ERROR_TEXT_LIMIT, MissingApiKey, OverBudget, ProviderError
from deskpilot.llm.models import AiProviderSettings, AiUsage
from deskpilot.llm.privacy import redact_request, restore_answer
from deskpilot.llm.retry import call_with_retries
from deskpilot.llm.usage import month_tokens_used
from deskpilot.llm.usage import usage_summary as usage_summary  # part of this module's API

PROVIDERS = ("builtin", "anthropic", "openai")
FALLBACKS = ("builtin", "escalate")
TEMPERATURE_RANGE = (0.0, 2.0)
MAX_OUTPUT_TOKENS_RANGE = (16, 8192)
TIMEOUT_RANGE = (1.0, 120.0)
MAX_RETRIES_RANGE = (0, 5)
MAX_PRICE_PER_MTOK = 10_000.0
MAX_MONTHLY_TOKENS = 10**15
MAX_MODEL = 200
MAX_BASE_URL = 500
MAX_KEY_REF = 200
KEY_REF_RE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]{0,127})$")
# What raw API keys look like: vendor prefixes, or a long run of mixed letters and digits.
_SECRET_PREFIXES = re.compile(
    r"(?:^|[:\s])(?:sk|pk|rk)[-_]|sk-ant|sk-proj|xai-|gsk_|hf_|AIza|ghp_|github_pat_|xox[abp]-",
)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9+/=-]{32,}")


@dataclass(frozen=True)
class ProviderSettings:
    """A workspace's language-model settings; the defaults apply to a workspace without a row."""

    provider: str = "builtin"
    model: str = ""
    base_url: str | None = None
    api_key_ref: str | None = None
    temperature: float = 0.2
    max_output_tokens: int = 600
    timeout_seconds: float = 20.0
    max_retries: int = 2
    fallback: str = "builtin"
    input_price_per_mtok: float = 0.0
    output_price_per_mtok: float = 0.0
    monthly_token_budget: int | None = None
    updated_at: datetime | None = None


EDITABLE = tuple(f.name for f in fields(ProviderSettings) if f.name != "updated_at")


def _from_row(row: AiProviderSettings) -> ProviderSettings:
    values = {name: getattr(row, name) for name in EDITABLE}
    return ProviderSettings(**values, updated_at=row.updated_at)


def _row(session: Session, ctx: Context, *, for_update: bool = False) -> AiProviderSettings | None:
    stmt = scoped(ctx, AiProviderSettings)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def get_settings(session: Session, ctx: Context) -> ProviderSettings:
    """Readable by staff and by the system context jobs run with."""
    ctx.require_staff()
    row = _row(session, ctx)
    return _from_row(row) if row is not None else ProviderSettings()


# --- validation -------------------------------------------------------------------------------


def looks_like_secret(value: str) -> bool:
    return bool(_SECRET_PREFIXES.search(value) or _LONG_TOKEN.search(value))


def _check_range(errors: list[dict[str, str]], name: str, value: Any, low: Any, high: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
        errors.append({"field": name, "message": "must be a number"})
    elif not low <= value <= high:
        errors.append({"field": name, "message": f"must be between {low} and {high}"})


def validate(values: ProviderSettings, *, changed: set[str]) -> None:
    """Every rule in one place, for the API, the CLI and any other caller."""
    errors: list[dict[str, str]] = []
    for name, optional in (("provider", False), ("model", False), ("fallback", False),
                           ("base_url", True), ("api_key_ref", True)):  # fmt: skip
        value = getattr(values, name)
        if not isinstance(value, str) and not (optional and value is None):
            errors.append({"field": name, "message": "must be text"})
    if errors:
        raise ValidationFailed("Invalid AI provider settings", details=errors)
    if values.provider not in PROVIDERS:
        errors.append({"field": "provider", "message": f"one of {', '.join(PROVIDERS)}"})
    if values.fallback not in FALLBACKS:
        errors.append({"field": "fallback", "message": f"one of {', '.join(FALLBACKS)}"})
    model = values.model
    if len(model) > MAX_MODEL or any(ch.isspace() or not ch.isprintable() for ch in model):
        errors.append({"field": "model", "message": f"1-{MAX_MODEL} characters, no spaces"})
    elif values.provider != "builtin" and not model:
        errors.append({"field": "model", "message": f"required for provider {values.provider}"})
    elif "provider" in changed and "model" not in changed and values.provider != "builtin":
        errors.append({"field": "model", "message": "name the model when changing provider"})
    ref = values.api_key_ref
    if ref is not None:
        if looks_like_secret(ref):
            message = (
                "looks like an API key: put the key in an environment variable and give env:NAME"
            )
            errors.append({"field": "api_key_ref", "message": message})
        elif len(ref) > MAX_KEY_REF or not KEY_REF_RE.match(ref):
            message = "a key reference such as env:ANTHROPIC_API_KEY"
            errors.append({"field": "api_key_ref", "message": message})
    needs_key = values.provider == "anthropic" or (
        values.provider == "openai" and values.base_url is None
    )
    if needs_key and ref is None:
        message = (
            f"required for provider {values.provider} (e.g. env:{values.provider.upper()}_API_KEY)"
        )
        errors.append({"field": "api_key_ref", "message": message})
    if values.base_url is not None:
        parts = urlsplit(values.base_url)
        if (
            len(values.base_url) > MAX_BASE_URL
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username
            or parts.password
        ):
            message = "an http(s) URL without credentials, e.g. http://localhost:11434/v1"
            errors.append({"field": "base_url", "message": message})
    _check_range(errors, "temperature", values.temperature, *TEMPERATURE_RANGE)
    _check_range(errors, "max_output_tokens", values.max_output_tokens, *MAX_OUTPUT_TOKENS_RANGE)
    _check_range(errors, "timeout_seconds", values.timeout_seconds, *TIMEOUT_RANGE)
    _check_range(errors, "max_retries", values.max_retries, *MAX_RETRIES_RANGE)
    for name in ("input_price_per_mtok", "output_price_per_mtok"):
        _check_range(errors, name, getattr(values, name), 0.0, MAX_PRICE_PER_MTOK)
    if values.monthly_token_budget is not None:
        _check_range(
            errors, "monthly_token_budget", values.monthly_token_budget, 1, MAX_MONTHLY_TOKENS
        )
    for name in ("max_output_tokens", "max_retries", "monthly_token_budget"):
        value = getattr(values, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            errors.append({"field": name, "message": "must be a whole number"})
    if errors:
        raise ValidationFailed("Invalid AI provider settings", details=errors)


def update_settings(
    session: Session, ctx: Context, data: BaseModel | Mapping[str, Any]
) -> ProviderSettings:
    """Change the given fields (others keep their values); owners and admins only."""
    ctx.require_admin()
    changes = data.model_dump(exclude_unset=True) if isinstance(data, BaseModel) else dict(data)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationFailed(
            "Unknown settings", details=[{"field": f, "message": "unknown field"} for f in unknown]
        )
    # One row per workspace: create it if missing (safe under concurrency), then lock it.
    session.execute(
        insert_for(session, AiProviderSettings.__table__)
        .values(workspace_id=ctx.workspace_id, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workspace_id"])
    )
    row = _row(session, ctx, for_update=True)
    assert row is not None
    current = _from_row(row)
    merged = ProviderSettings(**{**{n: getattr(current, n) for n in EDITABLE}, **changes})
    validate(merged, changed=set(changes))
    for name in changes:
        setattr(row, name, getattr(merged, name))
    row.updated_at = utcnow()
    session.flush()
    return _from_row(row)


# --- keys and adapters ------------------------------------------------------------------------


def resolve_api_key(ref: str | None) -> str:
    """The key a reference points at; MissingApiKey (so the caller falls back) when absent."""
    if ref is None:
        raise MissingApiKey("no api_key_ref is configured")
    match = KEY_REF_RE.match(ref)
    if match is None:
        raise MissingApiKey("api_key_ref is not of the form env:NAME")
    value = os.environ.get(match.group(1), "").strip()
    if not value:
        raise MissingApiKey(f"environment variable {match.group(1)} is not set")
    return value


def api_key_present(settings: ProviderSettings) -> bool:
    try:
        resolve_api_key(settings.api_key_ref)
    except MissingApiKey:
        return False
    return True


def build_llm(settings: ProviderSettings, *, http_client: httpx2.Client | None = None) -> LLM:
    if settings.provider == "anthropic":
        from deskpilot.llm.anthropic_adapter import AnthropicLLM

        return AnthropicLLM(
            model=settings.model,
            api_key=resolve_api_key(settings.api_key_ref),
            base_url=settings.base_url,
            timeout=settings.timeout_seconds,
            http_client=http_client,
        )
    if settings.provider == "openai":
        from deskpilot.llm.openai_adapter import OpenAILLM

        # A compatible local server (base_url) may need no key at all.
        key = (
            resolve_api_key(settings.api_key_ref)
            if settings.api_key_ref is not None or settings.base_url is None
            else None
        )
        return OpenAILLM(
            model=settings.model,
            api_key=key,
            base_url=settings.base_url,
            timeout=settings.timeout_seconds,
            http_client=http_client,
        )
    return BuiltinLLM()


# --- the resilient call -----------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeResult:
    """What `compose_answer` did: the answer (None when escalating) and the recorded usage.

    `provider`/`model` name the configured provider that was tried (the builtin when it was the
    one configured). `fallback_used` says the answer came from the builtin because that provider
    failed; `failed_reason` is the failure's code ("timeout", "rate_limited", "unavailable",
    "rejected", "malformed_answer", "missing_api_key", "over_budget") and `error` its message.
    """

    answer: DraftAnswer | None
    provider: str
    model: str
    status: str  # "ok" | "fallback" | "error" | "over_budget", as in AiUsage.status
    attempts: int
    usage: Usage
    cost_usd: float
    latency_ms: float
    fallback_used: bool = False
    failed_reason: str | None = None
    error: str | None = None
    usage_id: int | None = None
    usage_row: AiUsage | None = None


def cost_of(settings: ProviderSettings, usage: Usage) -> float:
    return (
        usage.input_tokens * settings.input_price_per_mtok
        + usage.output_tokens * settings.output_price_per_mtok
    ) / 1_000_000


def _settings_for_call(session: Session, ctx: Context) -> ProviderSettings:
    # Not `get_settings`: answers are composed for customers too (portal, chat), who may not
    # read the settings themselves.
    row = _row(session, ctx)
    return _from_row(row) if row is not None else ProviderSettings()


@dataclass
class _Call:
    provider: str
    model: str
    answer: DraftAnswer | None = None
    error: ProviderError | None = None
    attempts: int = 0
    billed: Usage = field(default_factory=Usage)


def _call_provider(
    session: Session,
    ctx: Context,
    settings: ProviderSettings,
    request: AnswerRequest,
    *,
    llm: LLM | None,
    http_client: httpx2.Client | None,
    sleep: Callable[[float], None],
    rng: random.Random | None,
) -> _Call:
    call = _Call(settings.provider, settings.model or BuiltinLLM.model)
    built = None
    try:
        target = llm if llm is not None else (built := build_llm(settings, http_client=http_client))
    except ProviderError as exc:
        call.error = exc
        return call
    try:
        call.provider, call.model = target.provider, target.model
        if target.provider == "builtin":
            call.attempts = 1
            call.answer = target.answer(request)
            return call
        used = month_tokens_used(session, ctx)
        budget = settings.monthly_token_budget
        if budget is not None and used >= budget:
            call.error = OverBudget(f"{used} of {budget} monthly tokens used")
            return call
        redacted, redaction = redact_request(request)
        outcome = call_with_retries(
            target, redacted, max_retries=settings.max_retries, sleep=sleep, rng=rng
        )
        call.attempts, call.error = outcome.attempts, outcome.error
        spent = outcome.answer.usage if outcome.answer is not None else Usage()
        call.billed = Usage(
            spent.input_tokens + outcome.wasted.input_tokens,
            spent.output_tokens + outcome.wasted.output_tokens,
        )
        if outcome.answer is not None:
            call.answer = restore_answer(outcome.answer, redaction)
        return call
    finally:
        close = getattr(built, "close", None)
        if close is not None:
            close()


def compose_answer(
    session: Session,
    ctx: Context,
    request: AnswerRequest,
    *,
    ticket_id: int | None = None,
    purpose: str = "answer",
    llm: LLM | None = None,
    http_client: httpx2.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    record: bool = True,
) -> ComposeResult:
    """Answer `request` with the workspace's provider; never raises for provider failures.

    Temperature and output length come from the workspace settings. `llm` replaces the
    configured adapter (tests, evals); `http_client` is handed to the SDK one. Adds (and
    flushes) one AiUsage row; the caller commits. With `record=False` (a read-only phase, e.g.
    a job's prepare step) the row is returned unsaved in `usage_row` for the caller to add.
    """
    settings = _settings_for_call(session, ctx)
    request = AnswerRequest(
        question=request.question,
        passages=tuple(request.passages),
        history=tuple(request.history),
        temperature=settings.temperature,
        max_output_tokens=settings.max_output_tokens,
    )
    started = clock()
    if not request.passages:
        # Nothing to ground an answer on: no outside call is worth making.
        llm = BuiltinLLM()
    call = _call_provider(
        session, ctx, settings, request, llm=llm, http_client=http_client, sleep=sleep, rng=rng
    )
    answer, status, fallback_used = call.answer, "ok", False
    if call.error is not None:
        over_budget = isinstance(call.error, OverBudget)
        if settings.fallback == "builtin":
            answer, fallback_used = BuiltinLLM().answer(request), True
            status = "over_budget" if over_budget else "fallback"
        else:
            answer, status = None, "over_budget" if over_budget else "error"
    latency_ms = (clock() - started) * 1000.0
    cost = cost_of(settings, call.billed) if call.provider != "builtin" else 0.0
    error_text = f"{call.error.code}: {call.error.message}" if call.error is not None else None
    row = AiUsage(
        workspace_id=ctx.workspace_id,
        provider=call.provider,
        model=call.model[:MAX_MODEL],
        purpose=purpose[:32],
        ticket_id=ticket_id,
        input_tokens=call.billed.input_tokens,
        output_tokens=call.billed.output_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        attempts=call.attempts,
        status=status,
        error=error_text[:ERROR_TEXT_LIMIT] if error_text else None,
        created_at=utcnow(),
    )
    if record:
        session.add(row)
        session.flush()
    return ComposeResult(
        answer=answer,
        provider=call.provider,
        model=call.model,
        status=status,
        attempts=call.attempts,
        usage=call.billed,
        cost_usd=cost,
        latency_ms=latency_ms,
        fallback_used=fallback_used,
        failed_reason=call.error.code if call.error is not None else None,
        error=error_text,
        usage_id=row.id,
        usage_row=None if record else row,
    )
