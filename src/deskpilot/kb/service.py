"""Knowledge base articles: reading, the review lifecycle, revisions, relations.

Who sees what: staff (agents, admins, owners) see every article and category of their workspace;
customers and anonymous help-center visitors see only published, external articles and external
categories whose ancestors are external too. Anything else is a 404 for them, exactly like another
workspace's objects. An article's own visibility decides who may read it; a category's visibility
only hides it from help-center navigation.

Who does what: agents create articles (always as drafts), edit drafts and articles in review, move
them through the steps TRANSITIONS in `content.py` grants agents, and delete drafts. Admins and
owners also approve, publish, archive, restore and unpublish, edit articles in any status, delete
any article, and manage categories.

Every change to indexed content (title, summary, body, tags, visibility, status, category) goes
through `apply_changes`, which bumps `content_version` and asks for a reindex; a change to title,
summary or body also stores a revision. Categories live in `categories.py`, views and votes in
`feedback.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    delete,
    exists,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.core.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from deskpilot.core.markdown import render_markdown
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE
from deskpilot.db.pagination import keyset_page
from deskpilot.db.scoped import scoped
from deskpilot.idempotency import service as idempotency
from deskpilot.kb.content import (
    ArticleStatus,
    SourceType,
    Visibility,
    allowed_targets,
    can_transition,
    check_slug_free,
    first_free_slug,
    may_edit,
    may_transition,
    normalize_tags,
    slugify,
    taken_slugs,
)
from deskpilot.kb.indexing import request_reindex
from deskpilot.kb.models import (
    Article,
    ArticleEvent,
    ArticleRelation,
    ArticleRevision,
    KbCategory,
)
from deskpilot.kb.schemas import ArticleCreate, ArticleUpdate
from deskpilot.tickets import service as tickets_service
from deskpilot.webhooks import outbox as webhooks_outbox

CONTENT_FIELDS = frozenset({"title", "summary", "body"})
"""Changes to these store a revision."""
INDEXED_FIELDS = CONTENT_FIELDS | {"tags", "visibility", "status", "category_id"}
"""Changes to these bump content_version and reindex the article."""


# --- reading -------------------------------------------------------------------------------------


def readable(ctx: Context, stmt: Select[Article]) -> Select[Article]:
    """Limit an article query to what `ctx` may read (see the module docstring)."""
    if ctx.is_staff:
        return stmt
    return stmt.where(
        Article.status == ArticleStatus.published.value,
        Article.visibility == Visibility.external.value,
    )


def get_article(
    session: Session, ctx: Context, article_id: int, *, for_update: bool = False
) -> Article:
    stmt = readable(ctx, scoped(ctx, Article).where(Article.id == article_id))
    if for_update:
        stmt = stmt.with_for_update()
    article = session.scalars(stmt).one_or_none()
    if article is None:
        raise NotFound(f"Article {article_id} not found")
    return article


@dataclass
class ArticleFilters:
    status: list[ArticleStatus] = field(default_factory=list)
    visibility: Visibility | None = None
    category_id: int | None = None
    tag: str | None = None
    q: str | None = None


def list_articles(
    session: Session,
    ctx: Context,
    filters: ArticleFilters,
    *,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Article], str | None]:
    """Articles in id order, filtered; `q` matches the title case-insensitively."""
    stmt = readable(ctx, scoped(ctx, Article))
    if filters.status:
        stmt = stmt.where(Article.status.in_([s.value for s in filters.status]))
    if filters.visibility is not None:
        stmt = stmt.where(Article.visibility == filters.visibility.value)
    if filters.category_id is not None:
        stmt = stmt.where(Article.category_id == filters.category_id)
    if filters.tag:
        stmt = stmt.where(_has_tag(session, filters.tag))
    if filters.q:
        stmt = stmt.where(Article.title.icontains(filters.q, autoescape=True))
    return keyset_page(session, stmt, Article.id, limit=limit, cursor=cursor)


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    """Tags live in a JSON array: containment on PostgreSQL, json_each on SQLite."""
    wanted = normalize_tags([tag])
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(Article.tags, JSONB).contains(wanted)
    each = func.json_each(Article.tags).table_valued("value")
    return exists(select(each.c.value).where(each.c.value.in_(wanted)))


def related_articles(session: Session, ctx: Context, article: Article) -> list[Article]:
    stmt = readable(
        ctx,
        scoped(ctx, Article)
        .join(ArticleRelation, ArticleRelation.related_article_id == Article.id)
        .where(ArticleRelation.article_id == article.id),
    )
    return list(session.scalars(stmt.order_by(ArticleRelation.id)))


# --- the one write path for article changes ------------------------------------------------------


def new_article(
    ctx: Context,
    *,
    title: str,
    summary: str = "",
    body: str = "",
    tags: Iterable[str] = (),
    category_id: int | None = None,
    visibility: Visibility = Visibility.external,
    is_beta: bool = False,
    source_type: SourceType = SourceType.manual,
    source_ticket_ids: Sequence[int] = (),
    external_id: str | None = None,
    status: ArticleStatus = ArticleStatus.draft,
    slug: str = "",
) -> Article:
    """A new, not yet added article; `add_created` finishes the job once it has an id."""
    now = utcnow()
    return Article(
        workspace_id=ctx.workspace_id,
        external_id=external_id,
        slug=slug,
        title=title,
        summary=summary,
        body=body,
        body_html=render_markdown(body),
        tags=normalize_tags(tags),
        category_id=category_id,
        author_user_id=ctx.user_id,
        visibility=visibility.value,
        is_beta=is_beta,
        source_type=source_type.value,
        source_ticket_ids=list(dict.fromkeys(source_ticket_ids)),
        status=status.value,
        published_at=now if status == ArticleStatus.published else None,
        view_count=0,
        helpful_count=0,
        not_helpful_count=0,
        content_version=1,
        indexed_version=0,
        created_at=now,
        updated_at=now,
    )


def add_created(
    session: Session,
    ctx: Context,
    articles: Iterable[Article],
    *,
    kind: str = "created",
    reindex: bool = True,
) -> None:
    """First revision, audit event and index request for freshly inserted articles.

    Revisions and events go in as one multi-row insert each: imports create thousands at once.
    """
    articles = list(articles)
    if not articles:
        return
    session.execute(insert(ArticleRevision), [_revision_row(ctx, a) for a in articles])
    session.execute(
        insert(ArticleEvent),
        [
            _event_row(
                ctx,
                a,
                kind,
                new={"status": a.status, "slug": a.slug, "source": a.source_type},
            )
            for a in articles
        ],
    )
    if reindex:
        for article in articles:
            request_reindex(session, ctx, article)


def apply_changes(
    session: Session,
    ctx: Context,
    article: Article,
    changes: dict[str, Any],
    *,
    kind: str,
    reindex: bool = True,
) -> bool:
    """Set fields on an article, recording one event; returns whether anything changed.

    Callers check permissions and references first. Status is set as given: lifecycle rules are
    the caller's (see `transition_article`; the importer syncs an outside source's status).
    `reindex=False` is for bulk callers that index the workspace in batches afterwards.
    """
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for name, raw in changes.items():
        value = raw.value if isinstance(raw, ArticleStatus | Visibility) else raw
        if name == "tags":
            value = normalize_tags(value)
        elif name == "source_ticket_ids":
            value = list(dict.fromkeys(value))
        if value == getattr(article, name):
            continue
        old[name], new[name] = getattr(article, name), value
        setattr(article, name, value)
    if not new:
        return False
    now = utcnow()
    if "body" in new:
        article.body_html = render_markdown(article.body)
        # Bodies can be long and live in revisions already: the event points at them instead.
        old["body"] = {"revision": _latest_revision_version(session, article)}
    if new.get("status") == ArticleStatus.published.value:
        article.published_at = now
        webhooks_outbox.article_published(session, article)
    if INDEXED_FIELDS & new.keys():
        article.content_version += 1
        if reindex:
            request_reindex(session, ctx, article)
    if CONTENT_FIELDS & new.keys():
        session.add(ArticleRevision(**_revision_row(ctx, article)))
    if "body" in new:
        new["body"] = {"revision": article.content_version}
    article.updated_at = now
    _record(session, ctx, article, kind, old=old, new=new)
    session.flush()
    return True


def _revision_row(ctx: Context, article: Article) -> dict[str, Any]:
    return {
        "workspace_id": ctx.workspace_id,
        "article_id": article.id,
        "version": article.content_version,
        "status": article.status,
        "title": article.title,
        "summary": article.summary,
        "body": article.body,
        "actor_user_id": ctx.user_id,
        "created_at": utcnow(),
    }


def _event_row(
    ctx: Context, article: Article, kind: str, *, old: Any = None, new: Any = None
) -> dict[str, Any]:
    return {
        "workspace_id": ctx.workspace_id,
        "article_id": article.id,
        "kind": kind,
        "actor_type": ctx.actor_type.value,
        "actor_user_id": ctx.user_id,
        "old_value": old,
        "new_value": new,
        "created_at": utcnow(),
    }


def _latest_revision_version(session: Session, article: Article) -> int | None:
    return session.scalar(
        select(func.max(ArticleRevision.version)).where(
            ArticleRevision.workspace_id == article.workspace_id,
            ArticleRevision.article_id == article.id,
        )
    )


def _record(
    session: Session,
    ctx: Context,
    article: Article,
    kind: str,
    *,
    old: Any = None,
    new: Any = None,
) -> None:
    session.add(ArticleEvent(**_event_row(ctx, article, kind, old=old, new=new)))


# --- article commands ----------------------------------------------------------------------------


def create_article(
    session: Session, ctx: Context, data: ArticleCreate, *, idempotency_key: str | None = None
) -> tuple[Article, bool]:
    """Create a draft. Returns (article, created); a replayed key returns the first article."""
    ctx.require_staff()
    claim = idempotency.claim(
        session,
        ctx,
        scope="kb.articles.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
    )
    if claim.existing_id is not None:
        return get_article(session, ctx, claim.existing_id), False
    check_category(session, ctx, data.category_id)
    _check_source_tickets(session, ctx, data.source_ticket_ids)
    if data.external_id is not None:
        _check_external_id_free(session, ctx, data.external_id)
    article = new_article(
        ctx,
        title=data.title,
        summary=data.summary,
        body=data.body,
        tags=data.tags,
        category_id=data.category_id,
        visibility=data.visibility,
        is_beta=data.is_beta,
        source_type=data.source_type,
        source_ticket_ids=data.source_ticket_ids,
        external_id=data.external_id,
    )
    _insert(session, ctx, article, explicit_slug=data.slug)
    add_created(session, ctx, [article])
    claim.bind(article.id)
    session.flush()
    return article, True


def _insert(session: Session, ctx: Context, article: Article, *, explicit_slug: str | None) -> None:
    """Insert with the given slug, or the first free one derived from the title.

    Two concurrent inserts may pick the same derived slug; the loser retries with the next one.
    """
    if explicit_slug is not None:
        check_slug_free(session, ctx, Article, explicit_slug)
        article.slug = explicit_slug
        try:
            with session.begin_nested():
                session.add(article)
        except IntegrityError as exc:  # taken by a concurrent request since the check
            raise Conflict(
                f"Slug {explicit_slug!r} is already used",
                details=[{"field": "slug", "message": "already used by another article"}],
            ) from exc
        return
    base = slugify(article.title)
    attempts = 5
    for attempt in range(attempts):
        article.slug = first_free_slug(base, taken_slugs(session, ctx, Article, base))
        try:
            with session.begin_nested():
                session.add(article)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
        else:
            return


def _check_external_id_free(session: Session, ctx: Context, external_id: str) -> None:
    owner = session.scalar(
        select(Article.id).where(
            Article.workspace_id == ctx.workspace_id, Article.external_id == external_id
        )
    )
    if owner is not None:
        raise Conflict(
            f"External id {external_id!r} is already used",
            details=[{"field": "external_id", "message": f"already used by article {owner}"}],
        )


def check_category(session: Session, ctx: Context, category_id: int | None) -> None:
    if category_id is None:
        return
    found = session.scalar(
        select(KbCategory.id).where(
            KbCategory.workspace_id == ctx.workspace_id, KbCategory.id == category_id
        )
    )
    if found is None:
        raise ValidationFailed(
            "Unknown category",
            details=[{"field": "category_id", "message": "no category with this id"}],
        )


def _check_source_tickets(session: Session, ctx: Context, ticket_ids: Sequence[int]) -> None:
    unknown = []
    for ticket_id in dict.fromkeys(ticket_ids):
        try:
            tickets_service.get_ticket(session, ctx, ticket_id)
        except NotFound:
            unknown.append(ticket_id)
    if unknown:
        raise ValidationFailed(
            "Unknown source tickets",
            details=[{"field": "source_ticket_ids", "message": f"no tickets with ids {unknown}"}],
        )


def update_article(session: Session, ctx: Context, article_id: int, data: ArticleUpdate) -> Article:
    ctx.require_staff()
    article = get_article(session, ctx, article_id, for_update=True)
    _require_edit(ctx, article)
    changes = data.model_dump(exclude_unset=True)
    if "slug" in changes:
        check_slug_free(session, ctx, Article, changes["slug"], exclude_id=article.id)
    if changes.get("category_id") is not None:
        check_category(session, ctx, changes["category_id"])
    if "source_ticket_ids" in changes:
        _check_source_tickets(session, ctx, changes["source_ticket_ids"])
    apply_changes(session, ctx, article, changes, kind="edited")
    return article


def _require_edit(ctx: Context, article: Article) -> None:
    if not may_edit(ctx.role, ArticleStatus(article.status)):
        raise PermissionDenied(
            f"Only admins can change a {article.status} article; agents edit drafts and "
            "articles in review",
            details={"status": article.status},
        )


def transition_article(
    session: Session, ctx: Context, article_id: int, target: ArticleStatus
) -> Article:
    """Move an article along the lifecycle; asking for its current status changes nothing."""
    ctx.require_staff()
    article = get_article(session, ctx, article_id, for_update=True)
    current = ArticleStatus(article.status)
    if current == target:
        return article
    if not can_transition(current, target):
        raise IllegalTransition(
            f"Cannot move an article from {current.value} to {target.value}",
            details={
                "from": current.value,
                "to": target.value,
                "allowed": allowed_targets(current),
            },
        )
    if not may_transition(ctx.role, current, target):
        raise PermissionDenied(
            f"Only admins can move an article from {current.value} to {target.value}",
            details={"from": current.value, "to": target.value},
        )
    apply_changes(session, ctx, article, {"status": target}, kind="status_changed")
    return article


def delete_article(session: Session, ctx: Context, article_id: int) -> None:
    """Agents may delete drafts; admins any article. Its revisions, events and votes go with it."""
    ctx.require_staff()
    article = get_article(session, ctx, article_id, for_update=True)
    if not ctx.is_admin and article.status != ArticleStatus.draft.value:
        raise PermissionDenied(
            "Only admins can delete an article that left draft; archive it instead",
            details={"status": article.status},
        )
    # The index job takes the id and drops the chunks of an article that no longer exists.
    request_reindex(session, ctx, article)
    session.delete(article)
    session.flush()


def set_related(
    session: Session, ctx: Context, article_id: int, related_ids: Sequence[int]
) -> Article:
    """Replace the article's related articles, in the order given."""
    ctx.require_staff()
    article = get_article(session, ctx, article_id, for_update=True)
    _require_edit(ctx, article)
    wanted = list(dict.fromkeys(related_ids))
    if article.id in wanted:
        raise ValidationFailed(
            "An article cannot be related to itself",
            details=[
                {"field": "article_ids", "message": f"contains the article itself ({article.id})"}
            ],
        )
    found = set(
        session.scalars(
            select(Article.id).where(
                Article.workspace_id == ctx.workspace_id, Article.id.in_(wanted)
            )
        )
    )
    unknown = [i for i in wanted if i not in found]
    if unknown:
        raise ValidationFailed(
            "Unknown related articles",
            details=[{"field": "article_ids", "message": f"no articles with ids {unknown}"}],
        )
    current = list(
        session.scalars(
            select(ArticleRelation.related_article_id)
            .where(
                ArticleRelation.workspace_id == ctx.workspace_id,
                ArticleRelation.article_id == article.id,
            )
            .order_by(ArticleRelation.id)
        )
    )
    if current == wanted:
        return article
    session.execute(
        delete(ArticleRelation).where(
            ArticleRelation.workspace_id == ctx.workspace_id,
            ArticleRelation.article_id == article.id,
        )
    )
    session.add_all(
        ArticleRelation(workspace_id=ctx.workspace_id, article_id=article.id, related_article_id=i)
        for i in wanted
    )
    _record(session, ctx, article, "related_changed", old=current, new=wanted)
    session.flush()
    return article
