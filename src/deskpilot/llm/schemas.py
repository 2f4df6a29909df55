"""Request and response shapes for provider settings and usage reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from deskpilot.llm.service import (
    MAX_BASE_URL,
    MAX_KEY_REF,
    MAX_MODEL,
    MAX_MONTHLY_TOKENS,
    MAX_OUTPUT_TOKENS_RANGE,
    MAX_PRICE_PER_MTOK,
    MAX_RETRIES_RANGE,
    TEMPERATURE_RANGE,
    TIMEOUT_RANGE,
)

Provider = Literal["builtin", "anthropic", "openai"]
Fallback = Literal["builtin", "escalate"]
Price = Annotated[float, Field(ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False)]


class ProviderSettingsUpdate(BaseModel):
    """Fields left out keep their current values; `null` clears the optional ones."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider | None = None
    model: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_MODEL)] | None = (
        None
    )
    base_url: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_BASE_URL)] | None
    ) = None
    api_key_ref: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_KEY_REF)] | None
    ) = None
    temperature: (
        Annotated[
            float, Field(ge=TEMPERATURE_RANGE[0], le=TEMPERATURE_RANGE[1], allow_inf_nan=False)
        ]
        | None
    ) = None
    max_output_tokens: (
        Annotated[int, Field(ge=MAX_OUTPUT_TOKENS_RANGE[0], le=MAX_OUTPUT_TOKENS_RANGE[1])] | None
    ) = None
    timeout_seconds: (
        Annotated[float, Field(ge=TIMEOUT_RANGE[0], le=TIMEOUT_RANGE[1], allow_inf_nan=False)]
        | None
    ) = None
    max_retries: Annotated[int, Field(ge=MAX_RETRIES_RANGE[0], le=MAX_RETRIES_RANGE[1])] | None = (
        None
    )
    fallback: Fallback | None = None
    input_price_per_mtok: Price | None = None
    output_price_per_mtok: Price | None = None
    monthly_token_budget: Annotated[int, Field(ge=1, le=MAX_MONTHLY_TOKENS)] | None = None


class ProviderSettingsRead(BaseModel):
    """Never carries a key: only where it is read from, and whether it is there."""

    model_config = ConfigDict(from_attributes=True)

    provider: Provider
    model: str
    base_url: str | None
    api_key_ref: str | None
    api_key_present: bool
    temperature: float
    max_output_tokens: int
    timeout_seconds: float
    max_retries: int
    fallback: Fallback
    input_price_per_mtok: float
    output_price_per_mtok: float
    monthly_token_budget: int | None
    updated_at: datetime | None


class UsageBucketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    avg_latency_ms: float
    fallbacks: int
    errors: int
    over_budget: int


class UsageSummaryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    since: datetime
    until: datetime
    group_by: Literal["day", "model"]
    items: list[UsageBucketRead]
    totals: UsageBucketRead
    month_tokens_used: int
    monthly_token_budget: int | None
