"""What the public help center reads: customer-visible articles and categories of one workspace.

Every read goes through `kb.service.readable` with a customer (or anonymous visitor) context, so
only published external articles are ever returned, and through `scoped`, so another workspace's
article is simply not found. Categories come from `kb.categories.list_categories`, which already
hides internal categories and their whole subtree from customers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import NotFound
from deskpilot.db.scoped import scoped
from deskpilot.kb import categories as kb_categories
from deskpilot.kb import service as kb_service
from deskpilot.kb.models import Article, KbCategory

POPULAR_LIMIT = 6
CATEGORY_ARTICLE_LIMIT = 100


def visitor_context(workspace_id: int) -> Context:
    """An anonymous help-center reader: a customer with no account and no contact."""
    return Context(workspace_id=workspace_id, user_id=None, role=Role.customer)


def _require_reader(ctx: Context) -> None:
    # The help center shows what customers see, whoever opens it: staff contexts would also
    # return drafts and internal articles, so they are refused here rather than filtered.
    if ctx.is_staff:
        raise ValueError("help-center reads take a customer or visitor context")


def get_article_by_slug(session: Session, ctx: Context, slug: str) -> Article:
    _require_reader(ctx)
    stmt = kb_service.readable(ctx, scoped(ctx, Article).where(Article.slug == slug))
    article = session.scalars(stmt).one_or_none()
    if article is None:
        raise NotFound(f"Article {slug!r} not found")
    return article


def popular_articles(
    session: Session, ctx: Context, *, limit: int = POPULAR_LIMIT
) -> list[Article]:
    """Most read first; ties by helpful votes, then newest, so the order is stable."""
    _require_reader(ctx)
    stmt = kb_service.readable(ctx, scoped(ctx, Article)).order_by(
        Article.view_count.desc(), Article.helpful_count.desc(), Article.id.desc()
    )
    return list(session.scalars(stmt.limit(limit)))


@dataclass(frozen=True)
class CategoryEntry:
    category: KbCategory
    depth: int


def list_categories(session: Session, ctx: Context) -> list[CategoryEntry]:
    _require_reader(ctx)
    return [CategoryEntry(c, d) for c, d in kb_categories.list_categories(session, ctx)]


@dataclass(frozen=True)
class CategoryView:
    category: KbCategory
    parents: list[KbCategory]
    children: list[KbCategory]
    articles: list[Article]


def category_by_slug(session: Session, ctx: Context, slug: str) -> CategoryView:
    """A readable category with its breadcrumb, direct children and articles (by title)."""
    _require_reader(ctx)
    readable = {c.id: c for c, _ in kb_categories.list_categories(session, ctx)}
    category = next((c for c in readable.values() if c.slug == slug), None)
    if category is None:
        raise NotFound(f"Category {slug!r} not found")
    parents: list[KbCategory] = []
    node = readable.get(category.parent_id) if category.parent_id is not None else None
    while node is not None and node not in parents:
        parents.insert(0, node)
        node = readable.get(node.parent_id) if node.parent_id is not None else None
    children = [c for c in readable.values() if c.parent_id == category.id]
    children.sort(key=lambda c: (c.position, c.name.lower(), c.id))
    articles, _ = kb_service.list_articles(
        session,
        ctx,
        kb_service.ArticleFilters(category_id=category.id),
        limit=CATEGORY_ARTICLE_LIMIT,
    )
    articles.sort(key=lambda a: (a.title.lower(), a.id))
    return CategoryView(category, parents, children, articles)


def related_articles(session: Session, ctx: Context, article: Article) -> list[Article]:
    _require_reader(ctx)
    return kb_service.related_articles(session, ctx, article)
