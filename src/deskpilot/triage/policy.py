"""A workspace's decision policy: thresholds and the rules that override the model.

The policy is data, validated by `DecisionPolicy` and stored as JSON in `AiPolicy` (one row per
workspace; no row means the defaults). `decide.decide` reads it; nothing here calls a model.
Category names are compared in a normal form (lowercase words joined by "_"), so "Billing
change", "billing-change" and "billing_change" are one category.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import NotFound, ValidationFailed
from deskpilot.core.ids import MAX_DB_ID
from deskpilot.db.scoped import scoped
from deskpilot.db.upsert import insert_for
from deskpilot.tickets.lifecycle import Impact, Priority, TicketType
from deskpilot.triage.models import AiPolicy
from deskpilot.workspaces import service as workspaces_service

log = logging.getLogger(__name__)

MAX_CATEGORY = 120  # as tickets.category
MAX_CATEGORIES = 100
MAX_CATEGORY_TEAMS = 200

# Words that mean the same thing in category names, so the default "refund" catches a
# workspace's "request_refund" or "Refunds" and "billing_change" catches "update_payment_method".
_SYNONYM_GROUPS = {
    "cancel": "cancel cancels cancelled canceled cancelling canceling cancellation cancelation",
    "refund": "refund refunds refunded refunding reimbursement",
    "billing": "bill bills billing payment payments invoice invoices invoicing",
    "change": "change changes changing update modify edit switch upgrade downgrade",
    "legal": "legal law lawyer lawyers lawsuit attorney gdpr subpoena",
}
_SYNONYMS = {word: key for key, words in _SYNONYM_GROUPS.items() for word in words.split()}


def normalise_category(name: str) -> str:
    """'Billing change' -> 'billing_change'; '' when the name has no letters or digits."""
    return "_".join(re.findall(r"[a-z0-9]+", name.lower()))


def category_tokens(name: str) -> frozenset[str]:
    """The category's words with synonyms merged and a plural 's' dropped."""
    tokens = set()
    for word in normalise_category(name).split("_"):
        if not word:
            continue
        if (
            word not in _SYNONYMS
            and len(word) > 3
            and word.endswith("s")
            and not word.endswith("ss")
        ):
            word = word[:-1]
        tokens.add(_SYNONYMS.get(word, word))
    return frozenset(tokens)


def _category(value: str) -> str:
    normal = normalise_category(value)
    if not normal:
        raise ValueError("must contain a letter or digit")
    return normal


CategoryName = Annotated[
    str, Field(min_length=1, max_length=MAX_CATEGORY), AfterValidator(_category)
]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
TeamId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
DEFAULT_HUMAN_CATEGORIES = ("billing_change", "refund", "cancellation", "legal")


class DecisionPolicy(BaseModel):
    """The rules of `decide.decide`, with the defaults a workspace without a policy gets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auto_reply_enabled: StrictBool = Field(
        True, description="Run the AI on new ticket messages (off: only dry runs and drafts)"
    )
    resolve_threshold: Threshold = Field(0.85, description="Answer and resolve at or above")
    confirm_threshold: Threshold = Field(
        0.70, description="Answer and ask the customer to confirm at or above (<= resolve)"
    )
    clarify_enabled: StrictBool = Field(True, description="Ask a question instead of guessing")
    max_clarifications: Annotated[int, Field(ge=0, le=10)] = Field(
        1, description="Clarifying questions per ticket"
    )
    clarify_margin: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.5, description="Retrieval z-score margin under which the top two articles are ambiguous"
    )
    human_categories: Annotated[list[CategoryName], Field(max_length=MAX_CATEGORIES)] = Field(
        default_factory=lambda: list(DEFAULT_HUMAN_CATEGORIES),
        description="Categories that always go to a human (synonyms match, e.g. refund ~ request_refund)",
    )
    human_types: Annotated[list[TicketType], Field(max_length=len(TicketType))] = Field(
        default_factory=lambda: [TicketType.billing, TicketType.cancellation],
        description="Ticket types that always go to a human",
    )
    escalate_priorities: Annotated[list[Priority], Field(max_length=len(Priority))] = Field(
        default_factory=lambda: [Priority.urgent]
    )
    escalate_impacts: Annotated[list[Impact], Field(max_length=len(Impact))] = Field(
        default_factory=lambda: [Impact.site_down]
    )
    negative_sentiment_threshold: Threshold | None = Field(
        0.75, description="Escalate at or above this negativity (0-1); null turns the rule off"
    )
    max_ai_turns: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="Escalate once the AI has replied this many times without resolving"
    )
    max_low_confidence_replies: Annotated[int, Field(ge=1, le=100)] = Field(
        2, description="Escalate after this many consecutive runs below the confirm threshold"
    )
    category_teams: Annotated[dict[CategoryName, TeamId], Field(max_length=MAX_CATEGORY_TEAMS)] = (
        Field(default_factory=dict, description="Category -> team id for escalations")
    )
    default_team_id: TeamId | None = Field(None, description="Team for other escalations")

    @field_validator("confirm_threshold")
    @classmethod
    def _confirm_below_resolve(cls, value: float, info: ValidationInfo) -> float:
        resolve = info.data.get("resolve_threshold")
        if resolve is not None and value > resolve:
            raise ValueError("must not be above resolve_threshold")
        return value

    @field_validator("human_categories", "human_types", "escalate_priorities", "escalate_impacts")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        return list(dict.fromkeys(values))

    # --- reading the policy --------------------------------------------------------------------

    def human_category_for(self, category: str | None) -> str | None:
        """The configured human category that `category` falls under, if any: every word of the
        configured name (after synonyms) appears in the predicted one."""
        if not category:
            return None
        tokens = category_tokens(category)
        for configured in self.human_categories:
            wanted = category_tokens(configured)
            if wanted and wanted <= tokens:
                return configured
        return None

    def is_human_type(self, ticket_type: str | None) -> bool:
        return ticket_type is not None and ticket_type.lower() in self.human_types

    def escalates_priority(self, priority: str | None) -> bool:
        return priority is not None and priority.lower() in self.escalate_priorities

    def escalates_impact(self, impact: str | None) -> bool:
        return impact is not None and impact.lower() in self.escalate_impacts

    def team_for(self, category: str | None) -> int | None:
        """Where an escalation of this category goes: its team, else the default team."""
        if category:
            team = self.category_teams.get(normalise_category(category))
            if team is not None:
                return team
        return self.default_team_id


# --- storage -------------------------------------------------------------------------------------


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as this project's 422 details ({field, message, type})."""
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "policy",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors()
    ]


def load_policy(stored: Mapping[str, Any]) -> DecisionPolicy:
    """A stored policy, tolerant of rows written by another version: unknown keys and values
    that no longer validate fall back to their defaults (logged) rather than breaking every run."""
    known = {k: v for k, v in stored.items() if k in DecisionPolicy.model_fields}
    try:
        return DecisionPolicy.model_validate(known)
    except ValidationError as exc:
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
        log.warning("stored AI policy has invalid fields %s; using their defaults", sorted(bad))
        try:
            return DecisionPolicy.model_validate({k: v for k, v in known.items() if k not in bad})
        except ValidationError:
            return DecisionPolicy()


def _row(session: Session, ctx: Context, *, for_update: bool = False) -> AiPolicy | None:
    stmt = scoped(ctx, AiPolicy)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def get_policy(session: Session, ctx: Context) -> DecisionPolicy:
    """The workspace's policy (the defaults when none is stored); staff and system contexts."""
    ctx.require_staff()
    row = _row(session, ctx)
    return DecisionPolicy() if row is None else load_policy(row.policy)


def _check_teams(session: Session, ctx: Context, policy: DecisionPolicy) -> None:
    """Team ids must name teams of this workspace; another workspace's team is 'no team'."""
    refs = [(f"category_teams.{cat}", team) for cat, team in policy.category_teams.items()]
    if policy.default_team_id is not None:
        refs.append(("default_team_id", policy.default_team_id))
    errors = []
    for field, team_id in refs:
        try:
            workspaces_service.get_team(session, ctx, team_id)
        except NotFound:
            errors.append({"field": field, "message": "no team with this id"})
    if errors:
        raise ValidationFailed("Unknown team", details=errors)


def update_policy(
    session: Session, ctx: Context, data: DecisionPolicy | Mapping[str, Any]
) -> DecisionPolicy:
    """Replace the whole policy (omitted fields take their defaults); owners and admins only."""
    ctx.require_admin()
    if isinstance(data, DecisionPolicy):
        policy = data
    else:
        try:
            policy = DecisionPolicy.model_validate(dict(data))
        except ValidationError as exc:
            raise ValidationFailed(
                "Invalid AI decision policy", details=validation_details(exc)
            ) from exc
    _check_teams(session, ctx, policy)
    # One row per workspace: create it if missing (safe under concurrency), then lock it.
    session.execute(
        insert_for(session, AiPolicy.__table__)
        .values(workspace_id=ctx.workspace_id, policy={}, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["workspace_id"])
    )
    row = _row(session, ctx, for_update=True)
    assert row is not None
    row.policy = policy.model_dump(mode="json")
    row.updated_at = utcnow()
    session.flush()
    return policy
