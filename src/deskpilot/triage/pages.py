"""Admin pages for AI settings and the test-a-question box (/admin/ai).

Owners and admins only. Provider settings go through `llm.service` (as `PUT /api/v1/ai/settings`),
the decision policy through `triage.policy` (as `PUT /api/v1/ai/policy`, which replaces the whole
policy, so the form always sends every field), and the test box through
`triage.service.answer_question` (as `POST /api/v1/ai/answer`: a dry run that stores only the
decision log entry). API keys are never shown: only the `env:NAME` reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import NotFound, ValidationFailed
from deskpilot.core.ids import parse_id
from deskpilot.kb import service as kb_service
from deskpilot.llm import service as llm_service
from deskpilot.llm.schemas import ProviderSettingsUpdate
from deskpilot.tickets.lifecycle import Impact, Priority, TicketType
from deskpilot.triage import policy as policy_service
from deskpilot.triage import service
from deskpilot.triage.policy import DecisionPolicy, normalise_category
from deskpilot.triage.service import MAX_QUESTION
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, redirect
from deskpilot.web.params import FormText
from deskpilot.web.routing import TransactionalRoute, waits_on_network
from deskpilot.web.templating import PageContext, render
from deskpilot.workspaces.pages import field_errors
from deskpilot.workspaces.team_pages import all_team_names, schema_errors

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

PROVIDERS = (("builtin", "Built-in (offline, free)"), ("anthropic", "Anthropic"),
             ("openai", "OpenAI or compatible"))  # fmt: skip
FALLBACKS = (("builtin", "Answer with the built-in"), ("escalate", "Hand to a person"))
SETTINGS_FIELDS = ("provider", "model", "api_key_ref", "base_url", "temperature",
                   "max_output_tokens", "monthly_token_budget", "fallback")  # fmt: skip
POLICY_FIELDS = tuple(DecisionPolicy.model_fields)


@dataclass
class ProviderForm:
    provider: str = "builtin"
    model: str = ""
    api_key_ref: str = ""
    base_url: str = ""
    temperature: str = ""
    max_output_tokens: str = ""
    monthly_token_budget: str = ""
    fallback: str = "builtin"


@dataclass
class PolicyForm:
    """The policy as the form shows it: numbers as typed, lists as text or ticked boxes."""

    auto_reply_enabled: bool
    resolve_threshold: str
    confirm_threshold: str
    clarify_enabled: bool
    max_clarifications: str
    clarify_margin: str
    human_categories: str
    human_types: list[str]
    escalate_priorities: list[str]
    escalate_impacts: list[str]
    negative_sentiment_threshold: str
    max_ai_turns: str
    max_low_confidence_replies: str
    category_teams: str
    default_team_id: str


@dataclass(frozen=True)
class Citation:
    article_id: int
    title: str
    score: float


@dataclass(frozen=True)
class TestResult:
    decision: str
    confidence: float
    answer: str | None
    reply: str | None
    citations: list[Citation]
    reasons: list[str]
    rule: str
    escalation_reason: str | None


@dataclass(frozen=True)
class Usage:
    calls: int
    tokens: int
    cost_usd: float
    month_tokens_used: int
    monthly_token_budget: int | None


@dataclass(kw_only=True)
class AiPage(PageContext):
    provider: ProviderForm
    api_key_present: bool
    policy: PolicyForm
    teams: list[tuple[int, str]]
    usage: Usage
    question: str = ""
    result: TestResult | None = None
    provider_errors: dict[str, str] = field(default_factory=dict)
    policy_errors: dict[str, str] = field(default_factory=dict)
    test_errors: dict[str, str] = field(default_factory=dict)
    providers: tuple[tuple[str, str], ...] = PROVIDERS
    fallbacks: tuple[tuple[str, str], ...] = FALLBACKS
    ticket_types: list[str] = field(default_factory=lambda: [t.value for t in TicketType])
    priorities: list[str] = field(default_factory=lambda: [p.value for p in Priority])
    impacts: list[str] = field(default_factory=lambda: [i.value for i in Impact])
    nav: str = "admin"


def _provider_form(settings: llm_service.ProviderSettings) -> ProviderForm:
    budget = settings.monthly_token_budget
    return ProviderForm(
        provider=settings.provider,
        model=settings.model,
        api_key_ref=settings.api_key_ref or "",
        base_url=settings.base_url or "",
        temperature=f"{settings.temperature:g}",
        max_output_tokens=str(settings.max_output_tokens),
        monthly_token_budget="" if budget is None else str(budget),
        fallback=settings.fallback,
    )


def _policy_form(policy: DecisionPolicy, team_names: dict[int, str]) -> PolicyForm:
    sentiment = policy.negative_sentiment_threshold
    return PolicyForm(
        auto_reply_enabled=policy.auto_reply_enabled,
        resolve_threshold=f"{policy.resolve_threshold:g}",
        confirm_threshold=f"{policy.confirm_threshold:g}",
        clarify_enabled=policy.clarify_enabled,
        max_clarifications=str(policy.max_clarifications),
        clarify_margin=f"{policy.clarify_margin:g}",
        human_categories="\n".join(policy.human_categories),
        human_types=[str(t) for t in policy.human_types],
        escalate_priorities=[str(p) for p in policy.escalate_priorities],
        escalate_impacts=[str(i) for i in policy.escalate_impacts],
        negative_sentiment_threshold="" if sentiment is None else f"{sentiment:g}",
        max_ai_turns=str(policy.max_ai_turns),
        max_low_confidence_replies=str(policy.max_low_confidence_replies),
        category_teams="\n".join(
            f"{category}: {team_names.get(team_id, team_id)}"
            for category, team_id in policy.category_teams.items()
        ),
        default_team_id="" if policy.default_team_id is None else str(policy.default_team_id),
    )


def _teams(session: Session, auth: AdminPage) -> list[tuple[int, str]]:
    return all_team_names(session, auth.ctx)


def _ai_page(
    request: Request,
    session: Session,
    auth: AdminPage,
    *,
    status_code: int = 200,
    partial: str | None = None,
    **extra: Any,
) -> Response:
    ctx = auth.ctx
    settings = llm_service.get_settings(session, ctx)
    teams = _teams(session, auth)
    summary = llm_service.usage_summary(session, ctx)
    values: dict[str, Any] = {
        "provider": _provider_form(settings),
        "policy": _policy_form(policy_service.get_policy(session, ctx), dict(teams)),
    }
    values.update(extra)
    page = AiPage(
        title="AI settings",
        viewer=auth.viewer,
        api_key_present=llm_service.api_key_present(settings),
        teams=teams,
        usage=Usage(
            calls=summary.totals.calls,
            tokens=summary.totals.input_tokens + summary.totals.output_tokens,
            cost_usd=summary.totals.cost_usd,
            month_tokens_used=summary.month_tokens_used,
            monthly_token_budget=summary.monthly_token_budget,
        ),
        **values,
    )
    return render(request, "triage/admin_ai.html", page, partial=partial, status_code=status_code)


@router.get("/admin/ai")
def ai_settings(request: Request, session: DbSession, auth: AdminPage) -> Response:
    return _ai_page(request, session, auth)


def _blank_none(value: str) -> str | None:
    return value.strip() or None


@router.post("/admin/ai/settings")
def save_provider(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    provider: FormText = "builtin",
    model: FormText = "",
    api_key_ref: FormText = "",
    base_url: FormText = "",
    temperature: FormText = "",
    max_output_tokens: FormText = "",
    monthly_token_budget: FormText = "",
    fallback: FormText = "builtin",
) -> Response:
    form = ProviderForm(provider, model, api_key_ref, base_url, temperature, max_output_tokens,
                        monthly_token_budget, fallback)  # fmt: skip
    raw = {
        "provider": provider,
        "model": model.strip(),
        "api_key_ref": _blank_none(api_key_ref),
        "base_url": _blank_none(base_url),
        "temperature": temperature.strip() or None,
        "max_output_tokens": max_output_tokens.strip() or None,
        "monthly_token_budget": _blank_none(monthly_token_budget),
        "fallback": fallback,
    }
    # Blank numbers keep their current values; blank references and budget clear them.
    changes = {k: v for k, v in raw.items() if v is not None or k in ("api_key_ref", "base_url",
               "monthly_token_budget")}  # fmt: skip
    try:
        data = ProviderSettingsUpdate.model_validate(changes)
        # A refused change must leave no half-written row behind (the service upserts first).
        with session.begin_nested():
            llm_service.update_settings(session, auth.ctx, data)
    except ValidationError as exc:
        return _provider_error(request, session, auth, form, schema_errors(exc))
    except ValidationFailed as exc:
        errors = field_errors(exc, SETTINGS_FIELDS, "provider")
        return _provider_error(request, session, auth, form, errors)
    return redirect(request, "/admin/ai", flash="AI provider settings saved.")


def _provider_error(
    request: Request, session: Session, auth: AdminPage, form: ProviderForm, errors: dict[str, str]
) -> Response:
    if "api_key_ref" in errors or llm_service.looks_like_secret(form.api_key_ref):
        # Someone may have pasted a real key: never send it back into the page.
        form.api_key_ref = ""
    return _ai_page(request, session, auth, provider=form, provider_errors=errors, status_code=422)


def _parse_category_teams(text: str, teams: list[tuple[int, str]]) -> tuple[dict[str, Any], str]:
    """Lines of `category: team` (a team's name or id) -> ({category: team_id}, error)."""
    by_name = {name.lower(): team_id for team_id, name in teams}
    mapping: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        category, sep, team = line.partition(":")
        team = team.strip()
        if not sep or not normalise_category(category) or not team:
            return {}, f"write one 'category: team' per line (not {line.strip()[:60]!r})"
        team_id = by_name.get(team.lower()) or parse_id(team)
        if team_id is None:
            return {}, f"no team named {team[:60]!r}"
        mapping[category.strip()] = team_id
    return mapping, ""


@router.post("/admin/ai/policy")
def save_policy(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    resolve_threshold: FormText = "",
    confirm_threshold: FormText = "",
    max_clarifications: FormText = "",
    clarify_margin: FormText = "",
    negative_sentiment_threshold: FormText = "",
    max_ai_turns: FormText = "",
    max_low_confidence_replies: FormText = "",
    default_team_id: FormText = "",
    auto_reply_enabled: FormText = "",
    clarify_enabled: FormText = "",
    human_categories: Annotated[str, Form(max_length=20_000)] = "",
    category_teams: Annotated[str, Form(max_length=40_000)] = "",
    human_types: Annotated[list[str] | None, Form()] = None,
    escalate_priorities: Annotated[list[str] | None, Form()] = None,
    escalate_impacts: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Replace the whole policy with what the form shows (unticked boxes are off)."""
    form = PolicyForm(
        auto_reply_enabled=bool(auto_reply_enabled),
        resolve_threshold=resolve_threshold,
        confirm_threshold=confirm_threshold,
        clarify_enabled=bool(clarify_enabled),
        max_clarifications=max_clarifications,
        clarify_margin=clarify_margin,
        human_categories=human_categories,
        human_types=human_types or [],
        escalate_priorities=escalate_priorities or [],
        escalate_impacts=escalate_impacts or [],
        negative_sentiment_threshold=negative_sentiment_threshold,
        max_ai_turns=max_ai_turns,
        max_low_confidence_replies=max_low_confidence_replies,
        category_teams=category_teams,
        default_team_id=default_team_id,
    )
    teams = _teams(session, auth)
    mapping, mapping_error = _parse_category_teams(category_teams, teams)
    categories = [c.strip() for c in human_categories.replace(",", "\n").splitlines() if c.strip()]
    data = {
        "auto_reply_enabled": form.auto_reply_enabled,
        "resolve_threshold": resolve_threshold.strip(),
        "confirm_threshold": confirm_threshold.strip(),
        "clarify_enabled": form.clarify_enabled,
        "max_clarifications": max_clarifications.strip(),
        "clarify_margin": clarify_margin.strip(),
        "human_categories": categories,
        "human_types": form.human_types,
        "escalate_priorities": form.escalate_priorities,
        "escalate_impacts": form.escalate_impacts,
        "negative_sentiment_threshold": _blank_none(negative_sentiment_threshold),
        "max_ai_turns": max_ai_turns.strip(),
        "max_low_confidence_replies": max_low_confidence_replies.strip(),
        "category_teams": mapping,
        "default_team_id": _blank_none(default_team_id),
    }
    errors: dict[str, str] = {"category_teams": mapping_error} if mapping_error else {}
    try:
        if not errors:
            policy_service.update_policy(session, auth.ctx, data)
    except ValidationFailed as exc:
        errors = field_errors(exc, POLICY_FIELDS, "resolve_threshold")
    if errors:
        return _ai_page(request, session, auth, policy=form, policy_errors=errors, status_code=422)
    return redirect(request, "/admin/ai", flash="AI decision policy saved.")


def _result(session: Session, auth: AdminPage, answer: dict[str, Any]) -> TestResult:
    citations = []
    for c in answer["citations"]:
        try:
            title = kb_service.get_article(session, auth.ctx, int(c["article_id"])).title
        except NotFound:
            title = f"Article {c['article_id']}"
        citations.append(Citation(int(c["article_id"]), title, float(c["score"])))
    return TestResult(
        decision=answer["decision"],
        confidence=float(answer["confidence"]),
        answer=answer["answer"],
        reply=answer["reply"],
        citations=citations,
        reasons=list(answer["reasons"]),
        rule=answer["rule"],
        escalation_reason=answer["escalation_reason"],
    )


@router.post("/admin/ai/test")
@waits_on_network  # the workspace's language model may be a remote provider
def run_test_question(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    question: Annotated[str, Form(max_length=MAX_QUESTION)] = "",
) -> Response:
    """A dry run of the engine on one question, with this workspace's settings and policy.

    htmx swaps only the test box (a refused question is a 422, which htmx is set to swap)."""
    partial = "triage/_ai_test.html"
    try:
        answer = service.answer_question(session, auth.ctx, question)
    except ValidationFailed as exc:
        errors = field_errors(exc, ("question",), "question")
        return _ai_page(
            request, session, auth, question=question, test_errors=errors,
            status_code=422, partial=partial,
        )  # fmt: skip
    result = _result(session, auth, answer)
    return _ai_page(request, session, auth, question=question, result=result, partial=partial)
