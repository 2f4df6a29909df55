"""Categories: tree order, visibility, cycles, deletion, permissions and tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from deskpilot.kb import categories, service
from deskpilot.kb.models import KbCategory
from deskpilot.kb.schemas import CategoryCreate, CategoryUpdate
from tests.factories import Personas
from tests.kb.conftest import index_requests, make_article


def add(session: Session, ctx: Context, name: str, **fields: Any) -> KbCategory:
    category, _ = categories.create_category(
        session, ctx, CategoryCreate.model_validate({"name": name, **fields})
    )
    return category


def tree(session: Session, ctx: Context) -> list[tuple[str, int]]:
    return [(c.name, depth) for c, depth in categories.list_categories(session, ctx)]


def test_tree_order_is_parents_first_then_siblings_by_position_and_name(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    billing = add(session, admin, "Billing", position=2)
    account = add(session, admin, "Account", position=1)
    add(session, admin, "Refunds", parent_id=billing.id, position=5)
    add(session, admin, "Invoices", parent_id=billing.id, position=5)
    add(session, admin, "Cards", parent_id=billing.id, position=1)
    add(session, admin, "Login", parent_id=account.id)
    assert tree(session, admin) == [
        ("Account", 0),
        ("Login", 1),
        ("Billing", 0),
        ("Cards", 1),
        ("Invoices", 1),
        ("Refunds", 1),
    ]


def test_customers_do_not_see_internal_categories_or_their_subtrees(
    session: Session, personas: Personas
) -> None:
    admin, carol = personas.acme_admin.ctx, personas.carol.ctx
    public = add(session, admin, "Public")
    internal = add(session, admin, "Internal", visibility="internal")
    nested = add(session, admin, "Nested public", parent_id=internal.id)
    add(session, admin, "Public child", parent_id=public.id)
    assert tree(session, carol) == [("Public", 0), ("Public child", 1)]
    assert len(tree(session, personas.ann.ctx)) == 4
    assert categories.get_category(session, carol, public.id).id == public.id
    for hidden in (internal, nested):
        with pytest.raises(NotFound):
            categories.get_category(session, carol, hidden.id)
        assert categories.get_category(session, personas.ann.ctx, hidden.id).id == hidden.id


def test_slugs_are_derived_deduplicated_or_explicit(session: Session, personas: Personas) -> None:
    admin = personas.acme_admin.ctx
    assert add(session, admin, "Billing & Payments").slug == "billing-payments"
    assert add(session, admin, "Billing & Payments").slug == "billing-payments-2"
    assert add(session, admin, "Other", slug="mine").slug == "mine"
    with pytest.raises(Conflict):
        add(session, admin, "Again", slug="mine")


def test_parent_must_exist_in_the_workspace_and_not_create_a_cycle(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    root = add(session, admin, "Root")
    child = add(session, admin, "Child", parent_id=root.id)
    grandchild = add(session, admin, "Grandchild", parent_id=child.id)
    globex = add(session, personas.globex_owner.ctx, "Globex")
    with pytest.raises(ValidationFailed) as exc:
        add(session, admin, "Bad", parent_id=globex.id)
    assert exc.value.details[0]["field"] == "parent_id"
    for new_parent in (root.id, grandchild.id):
        with pytest.raises(ValidationFailed) as exc:
            categories.update_category(
                session, admin, root.id, CategoryUpdate(parent_id=new_parent)
            )
        assert exc.value.details[0]["field"] == "parent_id"
    moved = categories.update_category(
        session, admin, grandchild.id, CategoryUpdate(parent_id=None, position=-1)
    )
    assert (moved.parent_id, moved.position) == (None, -1)


def test_delete_moves_children_up_and_uncategorizes_articles(
    session: Session, personas: Personas
) -> None:
    admin = personas.acme_admin.ctx
    root = add(session, admin, "Root")
    middle = add(session, admin, "Middle", parent_id=root.id)
    leaf = add(session, admin, "Leaf", parent_id=middle.id)
    article = make_article(session, personas.ann.ctx, category_id=middle.id)
    categories.delete_category(session, admin, middle.id)
    assert leaf.parent_id == root.id
    assert (article.category_id, article.content_version) == (None, 2)
    assert index_requests(session, article.id) == 2
    assert tree(session, admin) == [("Root", 0), ("Leaf", 1)]


def test_only_admins_manage_categories(session: Session, personas: Personas) -> None:
    category = add(session, personas.acme_owner.ctx, "Owned")
    for ctx in (personas.ann.ctx, personas.carol.ctx):
        with pytest.raises(PermissionDenied):
            add(session, ctx, "Nope")
        with pytest.raises(PermissionDenied):
            categories.update_category(session, ctx, category.id, CategoryUpdate(name="x"))
        with pytest.raises(PermissionDenied):
            categories.delete_category(session, ctx, category.id)


def test_another_workspace_cannot_see_or_touch_categories(
    session: Session, personas: Personas
) -> None:
    category = add(session, personas.acme_admin.ctx, "Acme only")
    gus = personas.globex_owner.ctx
    with pytest.raises(NotFound):
        categories.get_category(session, gus, category.id)
    with pytest.raises(NotFound):
        categories.update_category(session, gus, category.id, CategoryUpdate(name="pwned"))
    with pytest.raises(NotFound):
        categories.delete_category(session, gus, category.id)
    assert tree(session, gus) == []
    with pytest.raises(ValidationFailed):
        make_article(session, personas.gina.ctx, category_id=category.id)
    rows, _ = service.list_articles(
        session, gus, service.ArticleFilters(category_id=category.id), limit=10
    )
    assert rows == []


def test_a_workspace_has_a_bounded_number_of_categories(
    session: Session, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(categories, "MAX_CATEGORIES", 2)
    add(session, personas.acme_admin.ctx, "One")
    add(session, personas.acme_admin.ctx, "Two")
    with pytest.raises(Conflict):
        add(session, personas.acme_admin.ctx, "Three")
    add(session, personas.globex_owner.ctx, "Globex counts separately")
