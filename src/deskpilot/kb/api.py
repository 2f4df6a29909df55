"""Knowledge-base JSON routes: categories, articles, lifecycle, revisions, votes, views, relations.

Customers read only published external articles and external categories; everything else is a 404
for them. Views are counted by POST .../view (the help center calls it when a reader opens an
article), not by GET, so reads stay side-effect free.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from deskpilot.kb import categories, feedback, history, service
from deskpilot.kb.content import ArticleStatus, Visibility
from deskpilot.kb.models import Article
from deskpilot.kb.schemas import (
    ArticleCreate,
    ArticleEventList,
    ArticleEventRead,
    ArticleList,
    ArticleRead,
    ArticleRef,
    ArticleSummary,
    ArticleUpdate,
    CategoryCreate,
    CategoryNode,
    CategoryRead,
    CategoryTree,
    CategoryUpdate,
    RelatedRequest,
    RevisionList,
    RevisionRead,
    RevisionSummary,
    TransitionRequest,
    VoteRead,
    VoteRequest,
)
from deskpilot.web.deps import AdminContext, CurrentContext, DbSession, StaffContext
from deskpilot.web.params import IdempotencyKey, IdPath, OptionalIdQuery, mark_created
from deskpilot.web.routing import TransactionalRoute

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge base"], route_class=TransactionalRoute)
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replayed Idempotency-Key: the object created first"}
}


def article_read(session: Session, ctx: Context, article: Article) -> ArticleRead:
    related = [
        ArticleRef.model_validate(a) for a in service.related_articles(session, ctx, article)
    ]
    read = ArticleRead.model_validate(
        {name: getattr(article, name) for name in ArticleRead.model_fields if name != "related"}
        | {"related": related}
    )
    if not ctx.is_staff:
        # Which tickets an article came from, and its id in an outside system, are internal.
        read.source_ticket_ids = []
        read.external_id = None
    return read


# --- categories ----------------------------------------------------------------------------------


@router.get("/categories", response_model=CategoryTree)
def list_categories(session: DbSession, ctx: CurrentContext) -> CategoryTree:
    return CategoryTree(
        items=[
            CategoryNode(**CategoryRead.model_validate(c).model_dump(), depth=depth)
            for c, depth in categories.list_categories(session, ctx)
        ]
    )


@router.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryRead,
    responses=REPLAYED,
)
def create_category(
    data: CategoryCreate,
    session: DbSession,
    ctx: AdminContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CategoryRead:
    category, created = categories.create_category(
        session, ctx, data, idempotency_key=idempotency_key
    )
    mark_created(response, created, f"/api/v1/kb/categories/{category.id}")
    return CategoryRead.model_validate(category)


@router.get("/categories/{category_id}", response_model=CategoryRead)
def get_category(category_id: IdPath, session: DbSession, ctx: CurrentContext) -> CategoryRead:
    return CategoryRead.model_validate(categories.get_category(session, ctx, category_id))


@router.patch("/categories/{category_id}", response_model=CategoryRead)
def update_category(
    category_id: IdPath, data: CategoryUpdate, session: DbSession, ctx: AdminContext
) -> CategoryRead:
    return CategoryRead.model_validate(categories.update_category(session, ctx, category_id, data))


@router.delete("/categories/{category_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_category(category_id: IdPath, session: DbSession, ctx: AdminContext) -> Response:
    categories.delete_category(session, ctx, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- articles ------------------------------------------------------------------------------------


@router.get("/articles", response_model=ArticleList)
def list_articles(
    session: DbSession,
    ctx: CurrentContext,
    status_: Annotated[list[ArticleStatus], Query(alias="status")] = [],  # noqa: B006
    visibility: Visibility | None = None,
    category_id: OptionalIdQuery = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ArticleList:
    filters = service.ArticleFilters(
        status=status_, visibility=visibility, category_id=category_id, tag=tag, q=q
    )
    rows, next_cursor = service.list_articles(session, ctx, filters, limit=limit, cursor=cursor)
    return ArticleList(
        items=[ArticleSummary.model_validate(a) for a in rows], next_cursor=next_cursor
    )


@router.post(
    "/articles", status_code=status.HTTP_201_CREATED, response_model=ArticleRead, responses=REPLAYED
)
def create_article(
    data: ArticleCreate,
    session: DbSession,
    ctx: StaffContext,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ArticleRead:
    article, created = service.create_article(session, ctx, data, idempotency_key=idempotency_key)
    mark_created(response, created, f"/api/v1/kb/articles/{article.id}")
    return article_read(session, ctx, article)


@router.get("/articles/{article_id}", response_model=ArticleRead)
def get_article(article_id: IdPath, session: DbSession, ctx: CurrentContext) -> ArticleRead:
    return article_read(session, ctx, service.get_article(session, ctx, article_id))


@router.patch("/articles/{article_id}", response_model=ArticleRead)
def update_article(
    article_id: IdPath, data: ArticleUpdate, session: DbSession, ctx: StaffContext
) -> ArticleRead:
    return article_read(session, ctx, service.update_article(session, ctx, article_id, data))


@router.delete("/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_article(article_id: IdPath, session: DbSession, ctx: StaffContext) -> Response:
    service.delete_article(session, ctx, article_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/articles/{article_id}/transitions", response_model=ArticleRead)
def transition_article(
    article_id: IdPath, data: TransitionRequest, session: DbSession, ctx: StaffContext
) -> ArticleRead:
    """Move the article to `to`; an illegal move is a 409 listing the allowed targets."""
    article = service.transition_article(session, ctx, article_id, data.to)
    return article_read(session, ctx, article)


@router.put("/articles/{article_id}/related", response_model=ArticleRead)
def set_related(
    article_id: IdPath, data: RelatedRequest, session: DbSession, ctx: StaffContext
) -> ArticleRead:
    article = service.set_related(session, ctx, article_id, data.article_ids)
    return article_read(session, ctx, article)


@router.get("/articles/{article_id}/revisions", response_model=RevisionList)
def list_revisions(article_id: IdPath, session: DbSession, ctx: StaffContext) -> RevisionList:
    revisions = history.list_revisions(session, ctx, article_id)
    return RevisionList(items=[RevisionSummary.model_validate(r) for r in revisions])


@router.get("/articles/{article_id}/revisions/{version}", response_model=RevisionRead)
def get_revision(
    article_id: IdPath, version: VersionPath, session: DbSession, ctx: StaffContext
) -> RevisionRead:
    return RevisionRead.model_validate(history.get_revision(session, ctx, article_id, version))


@router.get("/articles/{article_id}/events", response_model=ArticleEventList)
def list_events(article_id: IdPath, session: DbSession, ctx: StaffContext) -> ArticleEventList:
    events = history.list_events(session, ctx, article_id)
    return ArticleEventList(items=[ArticleEventRead.model_validate(e) for e in events])


@router.post("/articles/{article_id}/votes", response_model=VoteRead)
def vote(
    article_id: IdPath, data: VoteRequest, session: DbSession, ctx: CurrentContext
) -> VoteRead:
    """One vote per reader: voting again the same way changes nothing, the other way moves it."""
    article = feedback.vote(session, ctx, article_id, data.helpful)
    return VoteRead(
        article_id=article.id,
        helpful=data.helpful,
        helpful_count=article.helpful_count,
        not_helpful_count=article.not_helpful_count,
        helpfulness=article.helpfulness,
    )


@router.post("/articles/{article_id}/view", status_code=status.HTTP_204_NO_CONTENT)
def record_view(article_id: IdPath, session: DbSession, ctx: CurrentContext) -> Response:
    """Count a help-center read of the article (customers; staff reads are not counted)."""
    feedback.record_view(session, ctx, article_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
