"""Knowledge-base administration (/admin/kb): the article list and the Markdown preview.

Only this module's `router` is registered in `main.py`; the editor, history, categories and import
pages live in the other `kb/admin_*.py` modules and are included below. Staff (owners, admins,
agents) open every page; what each may change mirrors `kb.service` (agents draft and submit,
admins approve, publish and manage categories). Customers get the 403 page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from deskpilot.kb import admin_queries, categories
from deskpilot.kb.admin_articles import router as articles_router
from deskpilot.kb.admin_categories import router as categories_router
from deskpilot.kb.admin_history import router as history_router
from deskpilot.kb.admin_import import router as import_router
from deskpilot.kb.admin_views import (
    STATUS_LABELS,
    KbAdminPage,
    Pager,
    category_options,
    normalize_newlines,
    parse_optional_id,
)
from deskpilot.kb.content import ArticleStatus, Visibility
from deskpilot.kb.schemas import MAX_BODY
from deskpilot.kb.service import ArticleFilters
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import StaffPage
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

PER_PAGE = 25


@dataclass(frozen=True)
class ArticleRow:
    id: int
    title: str
    slug: str
    status: str
    visibility: str
    category: str
    tags: list[str]
    updated_at: datetime
    views: int
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class StatusTab:
    value: str
    label: str
    count: int
    url: str
    current: bool


@dataclass(kw_only=True)
class ArticleListPage(KbAdminPage):
    rows: list[ArticleRow] = field(default_factory=list)
    tabs: list[StatusTab] = field(default_factory=list)
    pager: Pager
    q: str = ""
    status: str = ""
    category_id: str = ""
    visibility: str = ""
    category_options: list[tuple[str, str]] = field(default_factory=list)
    filtered: bool = False
    workspace_empty: bool = False


def _list_url(**params: str | int) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return "/admin/kb" + (f"?{query}" if query else "")


@router.get("/admin/kb")
def article_list(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    category_id: Annotated[str, Query(max_length=20)] = "",
    visibility: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Articles, newest change first, filtered by status tab, category, visibility and title.

    Unknown filter values are ignored (a stale bookmark still opens the list)."""
    ctx = auth.ctx
    status = status if status in ArticleStatus.__members__ else ""
    visibility = visibility if visibility in Visibility.__members__ else ""
    category = parse_optional_id(category_id)
    filters = ArticleFilters(
        status=[ArticleStatus(status)] if status else [],
        visibility=Visibility(visibility) if visibility else None,
        category_id=category,
        q=q.strip() or None,
    )
    result = admin_queries.list_articles_paged(session, ctx, filters, page=page, per_page=PER_PAGE)
    counts = admin_queries.status_counts(session, ctx, filters)
    tree = categories.list_categories(session, ctx)
    names = {c.id: c.name for c, _ in tree}
    base = {
        "q": q.strip(),
        "category_id": str(category or ""),
        "visibility": visibility,
    }
    tabs = [StatusTab("", "All", sum(counts.values()), _list_url(**base), status == "")]
    tabs += [
        StatusTab(
            s.value,
            STATUS_LABELS[s],
            counts[s.value],
            _list_url(**base, status=s.value),
            status == s.value,
        )
        for s in ArticleStatus
    ]
    here = {**base, "status": status}
    pager = Pager(
        page=result.page,
        pages=result.pages,
        total=result.total,
        prev_url=_list_url(**here, page=result.page - 1) if result.page > 1 else "",
        next_url=_list_url(**here, page=result.page + 1) if result.page < result.pages else "",
    )
    filtered = bool(status or visibility or category or q.strip())
    page_ctx = ArticleListPage(
        title="Knowledge base",
        viewer=auth.viewer,
        rows=[
            ArticleRow(
                id=a.id,
                title=a.title,
                slug=a.slug,
                status=a.status,
                visibility=a.visibility,
                category=names.get(a.category_id, "") if a.category_id else "",
                tags=list(a.tags or []),
                updated_at=a.updated_at,
                views=a.view_count,
                helpful=a.helpful_count,
                not_helpful=a.not_helpful_count,
            )
            for a in result.items
        ],
        tabs=tabs,
        pager=pager,
        q=q.strip(),
        status=status,
        category_id=str(category or ""),
        visibility=visibility,
        category_options=category_options(tree),
        filtered=filtered,
        workspace_empty=not filtered and result.total == 0,
    )
    return render(
        request, "kb/admin_articles.html", page_ctx, partial="kb/admin_articles_results.html"
    )


@dataclass(kw_only=True)
class PreviewPage(KbAdminPage):
    preview_source: str = ""


@router.post("/admin/kb/preview")
def preview(
    request: Request,
    auth: StaffPage,
    body: Annotated[str, Form(max_length=MAX_BODY)] = "",
) -> Response:
    """The body rendered exactly as readers will see it (sanitized Markdown); htmx swaps the
    fragment into the editor, a plain form post gets it as a page of its own."""
    page_ctx = PreviewPage(
        title="Preview", viewer=auth.viewer, preview_source=normalize_newlines(body)
    )
    return render(request, "kb/admin_preview_page.html", page_ctx, partial="kb/admin_preview.html")


router.include_router(articles_router)
router.include_router(history_router)
router.include_router(categories_router)
router.include_router(import_router)
