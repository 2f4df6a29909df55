"""The public help center (/help/{workspace_slug}): home, categories, articles, search, votes.

Only published, customer-visible articles are shown (the same rule as the public API), to anyone,
signed in or not; a staff member opening the help center sees what customers see. Reads run on
the request's read-only session; what a read records (a view, a search, a click from a search
result) is written in a short transaction of its own, as the search API does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from deskpilot.kb import feedback
from deskpilot.kb import search as kb_search
from deskpilot.kb.models import Article, KbCategory
from deskpilot.portal import help_center
from deskpilot.portal import service as portal_service
from deskpilot.portal.page_common import (
    HelpPage,
    HelpSite,
    SlugPath,
    help_site,
    page_fields,
    remember_visitor,
    visitor_key,
    write_session,
)
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import OptionalPageAuth, redirect
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

SEARCH_LIMIT = 10
SearchQuery = Annotated[str, Query(max_length=kb_search.MAX_QUERY_CHARS)]
ArticleSlug = Annotated[str, Path(max_length=200)]
SearchRef = Annotated[int | None, Query(ge=1, le=2**62)]


@dataclass(frozen=True)
class ArticleLink:
    title: str
    url: str
    summary: str = ""


@dataclass(frozen=True)
class CategoryLink:
    name: str
    url: str
    description: str = ""


@dataclass(frozen=True)
class SearchHitView:
    title: str
    url: str
    snippet: str
    """HTML-escaped by the search service, with query words in <mark>: safe to insert."""


@dataclass(frozen=True)
class ArticleView:
    title: str
    summary: str
    body: str
    updated_at: datetime
    vote_url: str


@dataclass(kw_only=True)
class HelpHomePage(HelpPage):
    categories: list[CategoryLink] = field(default_factory=list)
    popular: list[ArticleLink] = field(default_factory=list)


@dataclass(kw_only=True)
class HelpCategoryPage(HelpPage):
    category: CategoryLink
    children: list[CategoryLink] = field(default_factory=list)
    articles: list[ArticleLink] = field(default_factory=list)


@dataclass(kw_only=True)
class HelpArticlePage(HelpPage):
    article: ArticleView
    related: list[ArticleLink] = field(default_factory=list)
    voted: bool = False


@dataclass(kw_only=True)
class HelpSearchPage(HelpPage):
    searched: bool = False
    hits: list[SearchHitView] = field(default_factory=list)


def _article_link(site: HelpSite, article: Article, search_id: int | None = None) -> ArticleLink:
    url = site.url(f"/articles/{article.slug}")
    return ArticleLink(
        article.title, url + (f"?from_search={search_id}" if search_id else ""), article.summary
    )


def _category_link(site: HelpSite, category: KbCategory) -> CategoryLink:
    return CategoryLink(
        category.name, site.url(f"/categories/{category.slug}"), category.description
    )


@router.get("/help/{workspace_slug}")
def help_home(
    workspace_slug: SlugPath, request: Request, session: DbSession, auth: OptionalPageAuth
) -> Response:
    site = help_site(session, workspace_slug, auth)
    reader = site.reader
    entries = help_center.list_categories(session, reader)
    page = HelpHomePage(
        title="Help center",
        categories=[_category_link(site, e.category) for e in entries if e.depth == 0],
        popular=[_article_link(site, a) for a in help_center.popular_articles(session, reader)],
        **page_fields(site),
    )
    return render(request, "kb/help_home.html", page)


@router.get("/help/{workspace_slug}/categories/{category_slug}")
def help_category(
    workspace_slug: SlugPath,
    category_slug: Annotated[str, Path(max_length=120)],
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
) -> Response:
    site = help_site(session, workspace_slug, auth)
    view = help_center.category_by_slug(session, site.reader, category_slug)
    page = HelpCategoryPage(
        title=view.category.name,
        category=_category_link(site, view.category),
        children=[_category_link(site, c) for c in view.children],
        articles=[_article_link(site, a) for a in view.articles],
        crumbs=[(c.name, site.url(f"/categories/{c.slug}")) for c in view.parents],
        **page_fields(site),
    )
    return render(request, "kb/help_category.html", page)


@router.get("/help/{workspace_slug}/articles/{article_slug}")
def help_article(
    workspace_slug: SlugPath,
    article_slug: ArticleSlug,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    from_search: SearchRef = None,
) -> Response:
    site = help_site(session, workspace_slug, auth)
    reader = site.reader
    article = help_center.get_article_by_slug(session, reader, article_slug)
    with write_session(request) as writer:
        portal_service.record_article_read(
            writer, reader, article.id, count_view=not site.is_staff_here, search_id=from_search
        )
    category_crumbs: list[tuple[str, str]] = []
    if article.category_id is not None:
        by_id = {e.category.id: e.category for e in help_center.list_categories(session, reader)}
        category = by_id.get(article.category_id)
        if category is not None:
            category_crumbs = [(category.name, site.url(f"/categories/{category.slug}"))]
    page = HelpArticlePage(
        title=article.title,
        article=ArticleView(
            title=article.title,
            summary=article.summary,
            body=article.body,
            updated_at=article.updated_at,
            vote_url=site.url(f"/articles/{article.slug}/vote"),
        ),
        related=[
            _article_link(site, a) for a in help_center.related_articles(session, reader, article)
        ],
        crumbs=category_crumbs,
        **page_fields(site),
    )
    response = render(request, "kb/help_article.html", page)
    key, is_new = visitor_key(request)
    if is_new and site.customer is None:
        remember_visitor(response, key)
    return response


@router.post("/help/{workspace_slug}/articles/{article_slug}/vote")
def help_vote(
    workspace_slug: SlugPath,
    article_slug: ArticleSlug,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    helpful: Annotated[str, Form(pattern="^(yes|no)$")],
) -> Response:
    """ "Was this helpful?": one vote per reader (a customer's account, or the visitor cookie)."""
    site = help_site(session, workspace_slug, auth)
    reader = site.reader
    article = help_center.get_article_by_slug(session, reader, article_slug)
    key, is_new = visitor_key(request)
    feedback.vote(
        session,
        reader,
        article.id,
        helpful == "yes",
        anonymous_key=None if reader.user_id is not None else key,
    )
    if request.headers.get("hx-request") == "true":
        page = HelpArticlePage(
            title=article.title,
            article=ArticleView(
                article.title, article.summary, "", article.updated_at, site.url("")
            ),
            voted=True,
            **page_fields(site),
        )
        response: Response = render(request, "kb/help_vote.html", page)
    else:
        response = redirect(
            request, site.url(f"/articles/{article.slug}"), flash="Thanks for your feedback."
        )
    if is_new and reader.user_id is None:
        remember_visitor(response, key)
    return response


@router.get("/help/{workspace_slug}/search")
def help_search(
    workspace_slug: SlugPath,
    request: Request,
    session: DbSession,
    auth: OptionalPageAuth,
    q: SearchQuery = "",
) -> Response:
    """The search page; with `HX-Request` only the result list (instant search as you type).
    Every search is logged (source `portal`) and result links carry its id for click tracking."""
    site = help_site(session, workspace_slug, auth)
    query = " ".join(q.split())
    page = HelpSearchPage(
        title=f"Search: {query}" if query else "Search",
        search_query=query,
        searched=bool(query),
        **page_fields(site),
    )
    if query:
        reader = site.reader
        result = portal_service.search_help_center(session, reader, query, limit=SEARCH_LIMIT)
        with write_session(request) as writer:
            search_id = portal_service.log_help_search(writer, reader, result)
        page.hits = [
            SearchHitView(
                hit.title,
                site.url(f"/articles/{hit.slug}?from_search={search_id}"),
                hit.snippet,
            )
            for hit in result.hits
        ]
    return render(request, "kb/help_search.html", page, partial="kb/help_search_results.html")
