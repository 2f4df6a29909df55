"""Teams and team membership: CRUD, name conflicts, who may join, paging, tenancy."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from deskpilot.workspaces import service
from deskpilot.workspaces.models import TeamMember
from deskpilot.workspaces.schemas import TeamCreate, TeamUpdate
from tests.factories import Personas, make_ticket


def details_field(
    exc: pytest.ExceptionInfo[ValidationFailed] | pytest.ExceptionInfo[Conflict],
) -> str:
    details = exc.value.details
    assert isinstance(details, list)
    return str(details[0]["field"])


def test_create_get_update_team(session: Session, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx
    team = service.create_team(session, ctx, TeamCreate(name="  Escalations ", description="L2"))
    assert (team.name, team.description, team.workspace_id) == (
        "Escalations",
        "L2",
        ctx.workspace_id,
    )
    assert service.get_team(session, ctx, team.id) is team

    updated = service.update_team(session, ctx, team.id, TeamUpdate(description="Level two"))
    assert (updated.name, updated.description) == ("Escalations", "Level two")
    renamed = service.update_team(session, ctx, team.id, TeamUpdate(name="Tier 2"))
    assert (renamed.name, renamed.description) == ("Tier 2", "Level two")


def test_team_update_rejects_null() -> None:
    with pytest.raises(ValidationError) as exc:
        TeamUpdate.model_validate({"name": None})
    assert exc.value.errors()[0]["loc"] == ("name",)
    with pytest.raises(ValidationError):
        TeamCreate(name="x" * 121)


def test_duplicate_team_names_conflict(session: Session, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx
    with pytest.raises(Conflict) as exc:
        service.create_team(session, ctx, TeamCreate(name="support"))  # "Support" exists
    assert details_field(exc) == "name"
    billing = personas.teams["acme_billing"]
    with pytest.raises(Conflict):
        service.update_team(session, ctx, billing, TeamUpdate(name="SUPPORT"))
    # Renaming a team to its own name, or reusing a name from another workspace, is fine.
    service.update_team(session, ctx, billing, TeamUpdate(name="Billing"))
    service.create_team(session, personas.globex_owner.ctx, TeamCreate(name="Billing"))


def test_only_admins_change_teams(session: Session, personas: Personas) -> None:
    agent = personas.ann.ctx
    support = personas.teams["acme_support"]
    with pytest.raises(PermissionDenied):
        service.create_team(session, agent, TeamCreate(name="Mine"))
    with pytest.raises(PermissionDenied):
        service.update_team(session, agent, support, TeamUpdate(name="Mine"))
    with pytest.raises(PermissionDenied):
        service.delete_team(session, agent, support)
    with pytest.raises(PermissionDenied):
        service.add_team_member(session, agent, support, personas.ann.user_id)
    rows, _ = service.list_teams(session, agent)  # agents may read
    assert {t.name for t in rows} == {"Support", "Billing"}
    with pytest.raises(PermissionDenied):
        service.list_teams(session, personas.carol.ctx)


def test_delete_team_unroutes_its_tickets(session: Session, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx
    support = personas.teams["acme_support"]
    service.add_team_member(session, ctx, support, personas.ann.user_id)
    ticket = make_ticket(session, ctx, team_id=support)
    session.commit()
    service.delete_team(session, ctx, support)
    session.commit()
    with pytest.raises(NotFound):
        service.get_team(session, ctx, support)
    session.refresh(ticket)
    assert ticket.team_id is None
    remaining = session.scalar(
        select(func.count()).select_from(TeamMember).where(TeamMember.team_id == support)
    )
    assert remaining == 0


def test_add_member_is_idempotent(session: Session, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx
    support = personas.teams["acme_support"]
    first = service.add_team_member(session, ctx, support, personas.ann.user_id)
    again = service.add_team_member(session, ctx, support, personas.ann.user_id)
    assert again.id == first.id
    service.add_team_member(session, ctx, support, personas.acme_admin.user_id)
    assert service.list_team_member_ids(session, ctx, support) == sorted(
        [personas.ann.user_id, personas.acme_admin.user_id]
    )
    assert service.team_ids_by_user(session, ctx, [personas.ann.user_id, personas.bob.user_id]) == {
        personas.ann.user_id: [support],
        personas.bob.user_id: [],
    }


@pytest.mark.parametrize("who", ["carol", "gina", "nobody", "deactivated"])
def test_only_active_staff_of_the_workspace_can_join(
    session: Session, personas: Personas, who: str
) -> None:
    ctx = personas.acme_owner.ctx
    if who == "nobody":
        user_id = 999_999
    elif who == "deactivated":
        auth_service.deactivate_member(session, ctx, personas.bob.user_id)
        user_id = personas.bob.user_id
    else:
        user_id = personas.by_key[who].user_id
    with pytest.raises(ValidationFailed) as exc:
        service.add_team_member(session, ctx, personas.teams["acme_support"], user_id)
    assert details_field(exc) == "user_id"


def test_remove_member(session: Session, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx
    support = personas.teams["acme_support"]
    service.add_team_member(session, ctx, support, personas.ann.user_id)
    service.add_team_member(session, ctx, support, personas.bob.user_id)
    service.remove_team_member(session, ctx, support, personas.ann.user_id)
    assert service.list_team_member_ids(session, ctx, support) == [personas.bob.user_id]
    service.remove_team_member(session, ctx, support, personas.ann.user_id)  # already gone: no-op
    assert service.list_team_member_ids(session, ctx, support) == [personas.bob.user_id]


def test_team_cursor_walks_every_row_once(session: Session, personas: Personas) -> None:
    ctx = personas.acme_admin.ctx
    ids = [service.create_team(session, ctx, TeamCreate(name=f"Team {i}")).id for i in range(5)]
    expected = sorted([personas.teams["acme_support"], personas.teams["acme_billing"], *ids])
    seen: list[int] = []
    cursor: str | None = None
    while True:
        rows, cursor = service.list_teams(session, ctx, limit=2, cursor=cursor)
        seen += [t.id for t in rows]
        if cursor is None:
            break
    assert seen == expected


def test_other_workspaces_teams_are_invisible(session: Session, personas: Personas) -> None:
    globex = personas.globex_owner.ctx
    acme_team = personas.teams["acme_support"]
    with pytest.raises(NotFound):
        service.get_team(session, globex, acme_team)
    with pytest.raises(NotFound):
        service.update_team(session, globex, acme_team, TeamUpdate(name="Mine"))
    with pytest.raises(NotFound):
        service.delete_team(session, globex, acme_team)
    with pytest.raises(NotFound):
        service.add_team_member(session, globex, acme_team, personas.gina.user_id)
    with pytest.raises(NotFound):
        service.list_team_member_ids(session, globex, acme_team)
    rows, _ = service.list_teams(session, globex)
    assert [t.id for t in rows] == [personas.teams["globex_support"]]
