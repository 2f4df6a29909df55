"""Members: listing, adding, role and access changes, owner protection, self-service profile."""

from __future__ import annotations

import threading

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.auth import service
from deskpilot.auth.models import Membership, User
from deskpilot.auth.schemas import MemberCreate, MemberUpdate, ProfileUpdate
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthorized,
    ValidationFailed,
)
from deskpilot.customers.models import Contact
from deskpilot.db.engine import Database
from tests.factories import PASSWORD, Personas


def new_member(email: str, role: Role = Role.agent, **fields: object) -> MemberCreate:
    return MemberCreate.model_validate(
        {"email": email, "name": "New Person", "role": role, **fields}
    )


def test_list_members_filters_by_role_and_text(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    members, cursor = service.list_members(session, ctx)
    assert cursor is None
    assert [m.email for m in members] == [
        "olivia@acme.example.com",
        "adam@acme.example.com",
        "ann@acme.example.com",
        "bob@acme.example.com",
        "carol@customer.example.com",
    ]
    agents, _ = service.list_members(session, ctx, role=Role.agent)
    assert [m.user_id for m in agents] == [personas.ann.user_id, personas.bob.user_id]
    found, _ = service.list_members(session, ctx, q="CAROL")
    assert [(m.role, m.contact_id) for m in found] == [(Role.customer, personas.carol.contact_id)]
    by_name, _ = service.list_members(session, ctx, q="acme_ad")  # names are "Acme_Admin" etc.
    assert [m.user_id for m in by_name] == [personas.acme_admin.user_id]


def test_member_cursor_walks_every_row_once(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    for i in range(4):
        service.create_member(session, admin, new_member(f"p{i}@example.com"))
    everyone, _ = service.list_members(session, admin, limit=100)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page, cursor = service.list_members(session, admin, limit=2, cursor=cursor)
        seen += [m.user_id for m in page]
        if cursor is None:
            break
    assert seen == [m.user_id for m in everyone]
    assert len(seen) == len(set(seen)) == 9


def test_members_are_visible_to_staff_and_to_themselves(
    session: Session, personas: Personas
) -> None:
    carol = personas.carol.ctx
    assert service.get_member(session, carol, personas.carol.user_id).role == Role.customer
    with pytest.raises(PermissionDenied):
        service.get_member(session, carol, personas.ann.user_id)
    with pytest.raises(PermissionDenied):
        service.list_members(session, carol)
    bob = service.get_member(session, personas.ann.ctx, personas.bob.user_id)
    assert (bob.email, bob.name, bob.is_active) == ("bob@acme.example.com", "Bob", True)


def test_other_workspaces_members_are_404(session: Session, personas: Personas) -> None:
    gus = personas.globex_owner.ctx
    for user_id in (personas.ann.user_id, personas.acme_owner.user_id):
        with pytest.raises(NotFound):
            service.get_member(session, gus, user_id)
        with pytest.raises(NotFound):
            service.update_member(session, gus, user_id, MemberUpdate(role=Role.admin))
        with pytest.raises(NotFound):
            service.deactivate_member(session, gus, user_id)
    members, _ = service.list_members(session, gus, limit=100)
    assert {m.email for m in members} == {"gus@globex.example.com", "gina@globex.example.com"}


def test_add_new_member_with_password_can_sign_in(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    member = service.create_member(
        session, admin, new_member("New@Example.com", password="a long password")
    )
    assert (member.email, member.name, member.role) == ("new@example.com", "New Person", Role.agent)
    ctx = service.authenticate(session, "acme", "new@example.com", "a long password")
    assert ctx.user_id == member.user_id
    with pytest.raises(Conflict):
        service.create_member(session, admin, new_member("new@example.com"))


def test_adding_an_existing_identity_never_changes_its_name_or_password(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    member = service.create_member(
        session,
        admin,
        MemberCreate(
            email="gina@globex.example.com",
            name="Hijacked",
            role=Role.agent,
            password="attacker-chosen",
        ),
    )
    assert member.user_id == personas.gina.user_id
    assert member.name == "Gina"
    with pytest.raises(Unauthorized):
        service.authenticate(session, "acme", "gina@globex.example.com", "attacker-chosen")
    assert service.authenticate(session, "globex", "gina@globex.example.com", PASSWORD)
    assert service.authenticate(session, "acme", "gina@globex.example.com", PASSWORD)


def test_member_update_schema_has_no_identity_fields() -> None:
    for field in ("password", "name", "email"):
        with pytest.raises(ValidationError) as exc:
            MemberUpdate.model_validate({field: "x"})
        assert exc.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        MemberUpdate.model_validate({"role": None})


def test_only_admins_add_members_and_only_owners_add_owners(
    session: Session, personas: Personas
) -> None:
    with pytest.raises(PermissionDenied):
        service.create_member(session, personas.ann.ctx, new_member("x@example.com"))
    with pytest.raises(PermissionDenied):
        service.create_member(
            session, personas.acme_admin.ctx, new_member("x@example.com", Role.owner)
        )
    owner = service.create_member(
        session, personas.acme_owner.ctx, new_member("x@example.com", Role.owner)
    )
    assert owner.role == Role.owner


def test_admin_changes_roles_but_not_owner_access(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    ann = service.update_member(session, admin, personas.ann.user_id, MemberUpdate(role=Role.admin))
    assert (ann.role, ann.is_active) == (Role.admin, True)
    with pytest.raises(PermissionDenied):
        service.update_member(session, admin, personas.bob.user_id, MemberUpdate(role=Role.owner))
    with pytest.raises(PermissionDenied):
        service.update_member(
            session, admin, personas.acme_owner.user_id, MemberUpdate(role=Role.agent)
        )
    with pytest.raises(PermissionDenied):
        service.deactivate_member(session, admin, personas.acme_owner.user_id)
    with pytest.raises(PermissionDenied):
        service.update_member(session, personas.bob.ctx, personas.ann.user_id, MemberUpdate())
    # A request that changes nothing about an owner is not an owner change.
    same = service.update_member(
        session, admin, personas.acme_owner.user_id, MemberUpdate(role=Role.owner)
    )
    assert same.role == Role.owner


def test_update_is_partial(session: Session, personas: Personas) -> None:
    owner = personas.acme_owner.ctx
    bob = service.update_member(session, owner, personas.bob.user_id, MemberUpdate(is_active=False))
    assert (bob.role, bob.is_active) == (Role.agent, False)
    bob = service.update_member(session, owner, personas.bob.user_id, MemberUpdate(role=Role.admin))
    assert (bob.role, bob.is_active) == (Role.admin, False)


@pytest.mark.parametrize("change", [MemberUpdate(role=Role.admin), MemberUpdate(is_active=False)])
def test_last_active_owner_is_protected(
    session: Session, personas: Personas, change: MemberUpdate
) -> None:
    owner = personas.acme_owner.ctx
    with pytest.raises(Conflict):
        service.update_member(session, owner, personas.acme_owner.user_id, change)
    # A second owner who is deactivated does not count.
    service.update_member(session, owner, personas.bob.user_id, MemberUpdate(role=Role.owner))
    service.deactivate_member(session, owner, personas.bob.user_id)
    with pytest.raises(Conflict):
        service.update_member(session, owner, personas.acme_owner.user_id, change)
    # With another active owner, the first may step down.
    service.update_member(session, owner, personas.bob.user_id, MemberUpdate(is_active=True))
    stepped = service.update_member(session, owner, personas.acme_owner.user_id, change)
    assert (stepped.role, stepped.is_active) != (Role.owner, True)
    # Now bob is the last active owner, and the same protection applies to him.
    bob_as_owner = Context(
        workspace_id=owner.workspace_id, user_id=personas.bob.user_id, role=Role.owner
    )
    with pytest.raises(Conflict):
        service.deactivate_member(session, bob_as_owner, personas.bob.user_id)


def test_deactivated_member_loses_api_access(session: Session, personas: Personas) -> None:
    assert service.context_for_token(session, personas.bob.token).user_id == personas.bob.user_id
    service.deactivate_member(session, personas.acme_admin.ctx, personas.bob.user_id)
    session.commit()
    with pytest.raises(Unauthorized):
        service.context_for_token(session, personas.bob.token)
    # The identity and their other data stay; reactivation restores access.
    service.update_member(
        session, personas.acme_admin.ctx, personas.bob.user_id, MemberUpdate(is_active=True)
    )
    assert service.context_for_token(session, personas.bob.token).user_id == personas.bob.user_id


def test_becoming_a_customer_links_a_contact(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    bob = service.update_member(
        session, admin, personas.bob.user_id, MemberUpdate(role=Role.customer)
    )
    assert bob.contact_id is not None
    contact = session.get(Contact, bob.contact_id)
    assert contact is not None
    assert (contact.email, contact.workspace_id) == ("bob@acme.example.com", admin.workspace_id)


def test_replayed_key_returns_the_same_member(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    data = new_member("new@example.com", password="a long password")
    first, created = service.create_member_with_key(session, admin, data, idempotency_key="u-1")
    again, created_again = service.create_member_with_key(
        session, admin, data, idempotency_key="u-1"
    )
    assert (created, created_again) == (True, False)
    assert again.user_id == first.user_id
    count = session.scalar(
        select(func.count()).select_from(User).where(User.email == "new@example.com")
    )
    memberships = session.scalar(
        select(func.count()).select_from(Membership).where(Membership.user_id == first.user_id)
    )
    assert (count, memberships) == (1, 1)


def test_profile_update_changes_own_name(session: Session, personas: Personas) -> None:
    me = service.update_profile(session, personas.carol.ctx, ProfileUpdate(name="Carol C."))
    assert me.name == "Carol C."
    assert session.get(User, personas.carol.user_id).name == "Carol C."  # type: ignore[union-attr]


def test_password_change_needs_the_current_password(session: Session, personas: Personas) -> None:
    ctx = personas.ann.ctx
    for current in (None, "wrong password"):
        with pytest.raises(ValidationFailed) as exc:
            service.update_profile(
                session, ctx, ProfileUpdate(password="brand new secret", current_password=current)
            )
        assert exc.value.details == [{"field": "current_password", "message": "does not match"}]
    service.update_profile(
        session, ctx, ProfileUpdate(password="brand new secret", current_password=PASSWORD)
    )
    session.commit()
    assert service.authenticate(session, "acme", "ann@acme.example.com", "brand new secret")
    with pytest.raises(Unauthorized):
        service.authenticate(session, "acme", "ann@acme.example.com", PASSWORD)


def test_new_passwords_have_a_minimum_length() -> None:
    with pytest.raises(ValidationError) as exc:
        ProfileUpdate(password="short", current_password=PASSWORD)
    assert exc.value.errors()[0]["loc"] == ("password",)
    with pytest.raises(ValidationError):
        new_member("x@example.com", password="short")


@pytest.mark.parametrize("existing_identity", [False, True], ids=["new-identity", "known-identity"])
def test_concurrent_adds_of_one_person_make_one_member_and_a_conflict(
    db: Database, personas: Personas, existing_identity: bool
) -> None:
    """Two admins add the same email at once: one membership, the other gets a 409, never a
    500 (PostgreSQL: the second insert waits on the first's unique key; SQLite: on its lock)."""
    admin = personas.acme_admin.ctx
    email = "gina@globex.example.com" if existing_identity else "race@example.com"
    first_flushed, let_first_commit = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def add(name: str, hold: bool) -> None:
        try:
            with db.session(write=True) as s:
                service.create_member(s, admin, new_member(email))
                if hold:
                    first_flushed.set()
                    let_first_commit.wait(10)
                s.commit()
            outcomes[name] = "added"
        except Exception as exc:  # the outcome is what the test checks
            outcomes[name] = exc
            first_flushed.set()

    first = threading.Thread(target=add, args=("first", True))
    first.start()
    assert first_flushed.wait(10)
    second = threading.Thread(target=add, args=("second", False))
    second.start()
    second.join(0.5)  # give the second writer time to block behind the first
    let_first_commit.set()
    first.join(10)
    second.join(10)

    assert outcomes["first"] == "added"
    assert isinstance(outcomes["second"], Conflict), outcomes["second"]
    with db.session(write=False) as s:
        users = s.scalars(select(User).where(User.email == email)).all()
        assert len(users) == 1
        memberships = s.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.user_id == users[0].id, Membership.workspace_id == admin.workspace_id)
        )
    assert memberships == 1
