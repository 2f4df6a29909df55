"""The decision policy: defaults, validation, storage per workspace, permissions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.errors import PermissionDenied, ValidationFailed
from deskpilot.triage.models import AiPolicy
from deskpilot.triage.policy import (
    DecisionPolicy,
    category_tokens,
    get_policy,
    load_policy,
    normalise_category,
    update_policy,
)
from tests.factories import Personas


def test_defaults_are_the_documented_ones() -> None:
    policy = DecisionPolicy()
    assert (policy.resolve_threshold, policy.confirm_threshold) == (0.85, 0.70)
    assert policy.clarify_enabled
    assert policy.max_clarifications == 1
    assert policy.human_categories == ["billing_change", "refund", "cancellation", "legal"]
    assert policy.human_types == ["billing", "cancellation"]
    assert policy.escalate_priorities == ["urgent"]
    assert policy.escalate_impacts == ["site_down"]
    assert policy.negative_sentiment_threshold == 0.75
    assert (policy.max_ai_turns, policy.max_low_confidence_replies) == (3, 2)
    assert policy.category_teams == {}
    assert policy.default_team_id is None
    assert policy.auto_reply_enabled


def _errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        DecisionPolicy.model_validate(data)
    return [".".join(str(p) for p in err["loc"]) for err in info.value.errors()]


def test_validation_rejects_bad_values_field_by_field() -> None:
    assert _errors({"resolve_threshold": 0.6, "confirm_threshold": 0.7}) == ["confirm_threshold"]
    assert _errors({"resolve_threshold": 1.5}) == ["resolve_threshold"]
    assert _errors({"confirm_threshold": -0.1}) == ["confirm_threshold"]
    assert _errors({"max_ai_turns": 0}) == ["max_ai_turns"]
    assert _errors({"human_types": ["spam"]}) == ["human_types.0"]
    assert _errors({"escalate_priorities": ["asap"]}) == ["escalate_priorities.0"]
    assert _errors({"human_categories": ["!!!"]}) == ["human_categories.0"]
    assert _errors({"category_teams": {"refund": 0}}) == ["category_teams.refund"]
    assert _errors({"clarify_enabled": "yes"}) == ["clarify_enabled"]
    assert _errors({"surprise": 1}) == ["surprise"]
    # equal thresholds are allowed: then nothing is "confirm"
    assert DecisionPolicy(resolve_threshold=0.8, confirm_threshold=0.8).confirm_threshold == 0.8


def test_category_names_are_normalised_and_deduplicated() -> None:
    policy = DecisionPolicy(
        human_categories=["Billing Change", "billing-change", " Refund "],
        category_teams={"Password Reset": 3},
    )
    assert policy.human_categories == ["billing_change", "refund"]
    assert policy.category_teams == {"password_reset": 3}
    assert policy.team_for("password reset") == 3
    assert normalise_category("  Où est -- mon colis?") == "o_est_mon_colis"
    assert category_tokens("Cancelled_Subscriptions") == {"cancel", "subscription"}


def test_team_for_falls_back_to_the_default_team() -> None:
    policy = DecisionPolicy(category_teams={"refund": 7}, default_team_id=2)
    assert policy.team_for("Refund") == 7
    assert policy.team_for("login") == 2
    assert policy.team_for(None) == 2
    assert DecisionPolicy().team_for("refund") is None


def test_a_workspace_without_a_policy_gets_the_defaults(
    session: Session, personas: Personas
) -> None:
    assert get_policy(session, personas.ann.ctx) == DecisionPolicy()


def test_admin_replaces_the_policy(session: Session, personas: Personas) -> None:
    teams = personas.teams
    saved = update_policy(
        session,
        personas.acme_admin.ctx,
        {
            "resolve_threshold": 0.9,
            "max_ai_turns": 5,
            "category_teams": {"Refund": teams["acme_billing"]},
            "default_team_id": teams["acme_support"],
        },
    )
    session.commit()
    assert saved.resolve_threshold == 0.9
    policy = get_policy(session, personas.bob.ctx)
    assert policy == saved
    assert policy.team_for("refund") == teams["acme_billing"]
    # A full replacement: omitted fields return to their defaults.
    update_policy(session, personas.acme_owner.ctx, DecisionPolicy(max_ai_turns=4))
    session.commit()
    again = get_policy(session, personas.ann.ctx)
    assert (again.max_ai_turns, again.resolve_threshold, again.default_team_id) == (4, 0.85, None)
    rows = session.scalar(select(func.count()).select_from(AiPolicy))
    assert rows == 1


def test_invalid_data_is_a_validation_failure_with_fields(
    session: Session, personas: Personas
) -> None:
    with pytest.raises(ValidationFailed) as info:
        update_policy(
            session,
            personas.acme_admin.ctx,
            {"resolve_threshold": 0.6, "confirm_threshold": 0.7, "bogus": True},
        )
    fields = {d["field"] for d in info.value.details}
    assert fields == {"confirm_threshold", "bogus"}


def test_team_ids_must_belong_to_the_workspace(session: Session, personas: Personas) -> None:
    foreign = personas.teams["globex_support"]
    with pytest.raises(ValidationFailed) as info:
        update_policy(
            session,
            personas.acme_admin.ctx,
            {"category_teams": {"refund": foreign}, "default_team_id": 999_999},
        )
    assert info.value.status == 422
    assert [d["field"] for d in info.value.details] == ["category_teams.refund", "default_team_id"]
    assert get_policy(session, personas.ann.ctx) == DecisionPolicy()


@pytest.mark.parametrize("who", ["ann", "carol"])
def test_only_owners_and_admins_change_the_policy(
    session: Session, personas: Personas, who: str
) -> None:
    with pytest.raises(PermissionDenied):
        update_policy(session, getattr(personas, who).ctx, {"max_ai_turns": 9})


def test_customers_cannot_read_the_policy(session: Session, personas: Personas) -> None:
    with pytest.raises(PermissionDenied):
        get_policy(session, personas.carol.ctx)


def test_policies_are_per_workspace(session: Session, personas: Personas) -> None:
    update_policy(session, personas.acme_admin.ctx, {"max_ai_turns": 7, "human_categories": []})
    session.commit()
    assert get_policy(session, personas.gina.ctx) == DecisionPolicy()
    update_policy(session, personas.globex_owner.ctx, {"max_ai_turns": 2})
    session.commit()
    assert get_policy(session, personas.ann.ctx).max_ai_turns == 7
    assert get_policy(session, personas.gina.ctx).max_ai_turns == 2


def test_a_stored_policy_from_another_version_still_loads(
    session: Session, personas: Personas
) -> None:
    update_policy(session, personas.acme_admin.ctx, {"max_ai_turns": 6})
    session.commit()
    row = session.scalars(select(AiPolicy)).one()
    row.policy = {**row.policy, "retired_rule": True, "resolve_threshold": "high"}
    session.commit()
    policy = get_policy(session, personas.ann.ctx)
    assert (policy.max_ai_turns, policy.resolve_threshold) == (6, 0.85)
    assert load_policy({"confirm_threshold": 0.95}) == DecisionPolicy()  # above resolve: dropped
