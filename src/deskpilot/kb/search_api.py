"""KB search routes: agents and customers (token or session), anonymous help-center visitors."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from deskpilot.core.context import Context, Role
from deskpilot.db.engine import Database
from deskpilot.kb import search as kb_search
from deskpilot.kb import search_log
from deskpilot.kb.search import SearchFilters, SearchResult
from deskpilot.tickets import service as tickets_service
from deskpilot.web.deps import CurrentContext, DbSession, StaffContext, get_database
from deskpilot.web.params import IdPath, OptionalIdQuery
from deskpilot.web.routing import TransactionalRoute
from deskpilot.workspaces import service as workspaces_service

router = APIRouter(prefix="/api/v1", tags=["kb search"], route_class=TransactionalRoute)
Source = Literal["api", "portal", "agent", "ai"]
ArticleStatusName = Literal["draft", "in_review", "approved", "published"]
SEARCH_ID_HEADER = "X-Search-Id"


class SearchHitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    article_id: int
    external_id: str | None
    title: str
    slug: str
    snippet: str
    """HTML-escaped excerpt of the best passage, query words wrapped in <mark>."""
    score: float
    chunk_id: int


class ClickIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    article_id: int


class TicketLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket_id: int


class ContentGapRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    query: str
    searches: int
    zero_results: int
    low_score: int
    last_seen: str


Q = Annotated[str, Query(min_length=1, max_length=kb_search.MAX_QUERY_CHARS)]
Limit = Annotated[int, Query(ge=1, le=kb_search.MAX_LIMIT)]


def _logged(
    request: Request, ctx: Context, result: SearchResult, source: str, response: Response
) -> None:
    """Log in a short write transaction of its own: the search itself only reads."""
    db: Database = get_database(request)
    with db.session(write=True) as session:
        row = search_log.log_search(session, ctx, result, source=source)
        session.commit()
        response.headers[SEARCH_ID_HEADER] = str(row.id)


@router.get("/kb/search", response_model=list[SearchHitRead])
def search(
    q: Q,
    request: Request,
    response: Response,
    session: DbSession,
    ctx: CurrentContext,
    limit: Limit = 10,
    category_id: OptionalIdQuery = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[list[ArticleStatusName], Query()] = [],  # noqa: B006
    visibility: Literal["external", "internal"] | None = None,
    source: Source = "api",
) -> list[SearchHitRead]:
    """Hybrid search. Staff see published articles unless `status` asks for others; customers
    only ever see published external ones. The search id for click tracking is in X-Search-Id."""
    filters = SearchFilters(
        statuses=frozenset(status) if status else frozenset({"published"}),
        visibilities=frozenset({visibility}) if visibility else None,
        category_id=category_id,
        tag=tag,
    )
    result = kb_search.search(session, ctx, q, limit=limit, filters=filters)
    _logged(request, ctx, result, source, response)
    return [SearchHitRead.model_validate(hit) for hit in result.hits]


@router.get("/help/{workspace_slug}/search", response_model=list[SearchHitRead])
def public_search(
    workspace_slug: Annotated[str, Path(max_length=63)],
    q: Q,
    request: Request,
    response: Response,
    session: DbSession,
    limit: Limit = 10,
    category_id: OptionalIdQuery = None,
) -> list[SearchHitRead]:
    """The public help center's search: anonymous, published external articles only."""
    workspace = workspaces_service.require_workspace_by_slug(session, workspace_slug)
    visitor = Context(workspace_id=workspace.id, user_id=None, role=Role.customer)
    result = kb_search.search(
        session, visitor, q, limit=limit, filters=SearchFilters(category_id=category_id)
    )
    _logged(request, visitor, result, "portal", response)
    return [SearchHitRead.model_validate(hit) for hit in result.hits]


@router.post("/kb/searches/{search_id}/click", status_code=204)
def record_click(
    search_id: IdPath, data: ClickIn, session: DbSession, ctx: CurrentContext
) -> Response:
    search_log.record_click(session, ctx, search_id, data.article_id)
    return Response(status_code=204)


@router.post("/kb/searches/{search_id}/ticket", status_code=204)
def link_ticket(
    search_id: IdPath, data: TicketLinkIn, session: DbSession, ctx: CurrentContext
) -> Response:
    tickets_service.get_ticket(session, ctx, data.ticket_id)
    search_log.link_ticket(session, ctx, search_id, data.ticket_id)
    return Response(status_code=204)


@router.get("/kb/content-gaps", response_model=list[ContentGapRead])
def content_gaps(
    session: DbSession, ctx: StaffContext, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> list[ContentGapRead]:
    """Queries with no results or only weak matches, grouped: articles worth writing."""
    return [
        ContentGapRead(
            query=g.query,
            searches=g.searches,
            zero_results=g.zero_results,
            low_score=g.low_score,
            last_seen=g.last_seen.isoformat(),
        )
        for g in search_log.content_gaps(session, ctx, days=days)
    ]


@router.get("/tickets/{ticket_id}/suggested-articles", response_model=list[SearchHitRead])
def suggested_articles(
    ticket_id: IdPath,
    request: Request,
    response: Response,
    session: DbSession,
    ctx: StaffContext,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[SearchHitRead]:
    """Articles for the agent console, from the subject and the latest customer message."""
    result = kb_search.suggest_for_ticket(session, ctx, ticket_id, limit=limit)
    _logged(request, ctx, result, "agent", response)
    return [SearchHitRead.model_validate(hit) for hit in result.hits]
