"""KB categories: a tree per workspace, ordered by position, readable per visibility.

Staff read every category; customers and anonymous visitors read external categories whose
ancestors are all external (an internal category hides its whole subtree from the help center).
Only admins and owners create, change or delete categories.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.db.scoped import get_scoped, scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.kb.content import Visibility, check_slug_free, first_free_slug, slugify, taken_slugs
from deskpilot.kb.models import Article, KbCategory
from deskpilot.kb.schemas import CategoryCreate, CategoryUpdate
from deskpilot.kb.service import apply_changes

MAX_CATEGORIES = 2_000
"""Trees are read whole (navigation, cycle checks), so their size is bounded at creation."""


def _category_readable(
    ctx: Context, categories: dict[int, KbCategory], category: KbCategory
) -> bool:
    if ctx.is_staff:
        return True
    seen: set[int] = set()
    node: KbCategory | None = category
    while node is not None and node.id not in seen:
        if node.visibility != Visibility.external.value:
            return False
        seen.add(node.id)
        node = categories.get(node.parent_id) if node.parent_id is not None else None
    return True


def _all_categories(session: Session, ctx: Context) -> dict[int, KbCategory]:
    rows = session.scalars(scoped(ctx, KbCategory).order_by(KbCategory.id))
    return {c.id: c for c in rows}


def get_category(session: Session, ctx: Context, category_id: int) -> KbCategory:
    category = get_scoped(session, ctx, KbCategory, category_id, what="Category")
    if not ctx.is_staff and not _category_readable(ctx, _all_categories(session, ctx), category):
        raise NotFound(f"Category {category_id} not found")
    return category


def list_categories(session: Session, ctx: Context) -> list[tuple[KbCategory, int]]:
    """Every readable category with its depth, in tree order: siblings by position, then name."""
    categories = _all_categories(session, ctx)
    children: dict[int | None, list[KbCategory]] = {}
    for category in categories.values():
        parent = category.parent_id if category.parent_id in categories else None
        children.setdefault(parent, []).append(category)
    for siblings in children.values():
        siblings.sort(key=lambda c: (c.position, c.name.lower(), c.id))
    ordered: list[tuple[KbCategory, int]] = []
    stack = [(c, 0) for c in reversed(children.get(None, []))]
    while stack:
        category, depth = stack.pop()
        if not ctx.is_staff and category.visibility != Visibility.external.value:
            continue  # its whole subtree is hidden with it
        ordered.append((category, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(category.id, [])))
    return ordered


def create_category(
    session: Session, ctx: Context, data: CategoryCreate, *, idempotency_key: str | None = None
) -> tuple[KbCategory, bool]:
    ctx.require_admin()
    claim = idempotency.claim(
        session,
        ctx,
        scope="kb.categories.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
    )
    if claim.existing_id is not None:
        return get_category(session, ctx, claim.existing_id), False
    existing = session.scalar(
        select(func.count())
        .select_from(KbCategory)
        .where(KbCategory.workspace_id == ctx.workspace_id)
    )
    if (existing or 0) >= MAX_CATEGORIES:
        raise Conflict(f"A workspace has at most {MAX_CATEGORIES} categories")
    _check_parent(session, ctx, None, data.parent_id)
    if data.slug is not None:
        check_slug_free(session, ctx, KbCategory, data.slug)
        slug = data.slug
    else:
        base = slugify(data.name, max_length=120, fallback="category")
        slug = first_free_slug(base, taken_slugs(session, ctx, KbCategory, base), max_length=120)
    category = KbCategory(
        workspace_id=ctx.workspace_id,
        parent_id=data.parent_id,
        slug=slug,
        name=data.name,
        description=data.description,
        icon=data.icon,
        position=data.position,
        visibility=data.visibility.value,
    )
    session.add(category)
    session.flush()
    claim.bind(category.id)
    return category, True


def _check_parent(
    session: Session, ctx: Context, category_id: int | None, parent_id: int | None
) -> None:
    """The parent must exist in the workspace and must not be the category or its descendant."""
    if parent_id is None:
        return
    categories = _all_categories(session, ctx)
    node = categories.get(parent_id)
    if node is None:
        raise ValidationFailed(
            "Unknown parent category",
            details=[{"field": "parent_id", "message": "no category with this id"}],
        )
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        if node.id == category_id:
            raise ValidationFailed(
                "A category cannot be nested inside itself",
                details=[{"field": "parent_id", "message": "would create a cycle"}],
            )
        seen.add(node.id)
        node = categories.get(node.parent_id) if node.parent_id is not None else None


def update_category(
    session: Session, ctx: Context, category_id: int, data: CategoryUpdate
) -> KbCategory:
    ctx.require_admin()
    category = get_scoped(session, ctx, KbCategory, category_id, for_update=True, what="Category")
    changes = data.model_dump(exclude_unset=True, mode="json")
    if "parent_id" in changes:
        _check_parent(session, ctx, category.id, changes["parent_id"])
    if "slug" in changes:
        check_slug_free(session, ctx, KbCategory, changes["slug"], exclude_id=category.id)
    for name, value in changes.items():
        setattr(category, name, value)
    session.flush()
    return category


def delete_category(session: Session, ctx: Context, category_id: int) -> None:
    """Children move up to the deleted category's parent; its articles become uncategorized."""
    ctx.require_admin()
    category = get_scoped(session, ctx, KbCategory, category_id, for_update=True, what="Category")
    session.execute(
        update(KbCategory)
        .where(KbCategory.workspace_id == ctx.workspace_id, KbCategory.parent_id == category.id)
        .values(parent_id=category.parent_id)
        .execution_options(synchronize_session="fetch")
    )
    articles = list(
        session.scalars(
            scoped(ctx, Article).where(Article.category_id == category.id).order_by(Article.id)
        )
    )
    for article in articles:
        apply_changes(session, ctx, article, {"category_id": None}, kind="edited")
    session.delete(category)
    session.flush()
