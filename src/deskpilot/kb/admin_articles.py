"""The KB article editor: create, edit (each content change is a new revision), preview, the review
lifecycle buttons, related articles, stats and delete. Routes under /admin/kb/articles.

Forms post and redirect without JavaScript. Mistakes re-render the editor with the person's text
kept: field errors with 422, an edit conflict or an illegal lifecycle move inline with 409.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, IllegalTransition, PermissionDenied, ValidationFailed
from deskpilot.kb import admin_queries, categories, service
from deskpilot.kb.admin_queries import ArticleStats
from deskpilot.kb.admin_views import (
    STATUS_LABELS,
    KbAdminPage,
    LifecycleAction,
    category_options,
    domain_errors,
    lifecycle_actions,
    normalize_newlines,
    parse_optional_id,
    split_tags,
    validation_errors,
)
from deskpilot.kb.content import ArticleStatus, may_edit
from deskpilot.kb.models import Article
from deskpilot.kb.schemas import MAX_BODY, MAX_RELATED, ArticleCreate, ArticleUpdate
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import PageAuth, StaffPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(route_class=TransactionalRoute)

EDITOR = "kb/admin_article.html"
LIFECYCLE = "kb/admin_lifecycle.html"
VISIBILITY_OPTIONS = [
    ("external", "Customers and staff (help center)"),
    ("internal", "Internal: staff only"),
]
DONE_MESSAGES = {
    ArticleStatus.in_review: "Submitted for review.",
    ArticleStatus.approved: "Approved. An admin can publish it now.",
    ArticleStatus.published: "Published. Help-center search finds it once indexing has run "
    "(usually within seconds).",
    ArticleStatus.archived: "Archived. It no longer appears in the help center.",
    ArticleStatus.draft: "Moved back to draft.",
}


@dataclass
class ArticleForm:
    title: str = ""
    slug: str = ""
    summary: str = ""
    body: str = ""
    tags: str = ""
    category_id: str = ""
    visibility: str = "external"
    is_beta: bool = False
    content_version: int = 0
    form_key: str = ""

    def values(self) -> dict[str, Any]:
        """The fields as schema input; an empty slug means "keep / derive from the title"."""
        data: dict[str, Any] = {
            "title": self.title,
            "summary": self.summary,
            "body": self.body,
            "tags": split_tags(self.tags),
            "category_id": parse_optional_id(self.category_id),
            "visibility": self.visibility,
            "is_beta": self.is_beta,
        }
        if self.slug.strip():
            data["slug"] = self.slug.strip()
        return data


def _article_form(
    title: Annotated[str, Form(max_length=1000)] = "",
    slug: Annotated[str, Form(max_length=400)] = "",
    summary: Annotated[str, Form(max_length=5000)] = "",
    body: Annotated[str, Form(max_length=MAX_BODY + 10_000)] = "",
    tags: Annotated[str, Form(max_length=4000)] = "",
    category_id: Annotated[str, Form(max_length=20)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "external",
    is_beta: Annotated[str, Form(max_length=10)] = "",
    content_version: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
    form_key: Annotated[str, Form(max_length=100)] = "",
) -> ArticleForm:
    return ArticleForm(
        title=title,
        slug=slug,
        summary=normalize_newlines(summary),
        body=normalize_newlines(body),
        tags=tags,
        category_id=category_id,
        visibility=visibility,
        is_beta=bool(is_beta),
        content_version=content_version,
        form_key=form_key,
    )


ArticleFormData = Annotated[ArticleForm, Depends(_article_form)]
Action = Annotated[str, Form(max_length=20)]


@dataclass(frozen=True)
class RelatedRow:
    id: int
    title: str
    slug: str
    status: str


@dataclass(kw_only=True)
class ArticleEditorPage(KbAdminPage):
    form: ArticleForm
    article_id: int | None = None
    slug: str = ""
    status: str = "draft"
    status_label: str = "Draft"
    visibility: str = "external"
    errors: dict[str, str] = field(default_factory=dict)
    can_edit: bool = True
    can_delete: bool = False
    actions: list[LifecycleAction] = field(default_factory=list)
    needs_admin: bool = False
    lifecycle_error: str = ""
    preview_source: str = ""
    category_options: list[tuple[str, str]] = field(default_factory=list)
    category_name: str = ""
    visibility_options: list[tuple[str, str]] = field(default_factory=lambda: VISIBILITY_OPTIONS)
    stats: ArticleStats | None = None
    related: list[RelatedRow] = field(default_factory=list)
    related_refs: str = ""
    author: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None

    @property
    def is_new(self) -> bool:
        return self.article_id is None


def _form_from(article: Article) -> ArticleForm:
    return ArticleForm(
        title=article.title,
        slug=article.slug,
        summary=article.summary,
        body=article.body,
        tags=", ".join(article.tags or []),
        category_id=str(article.category_id or ""),
        visibility=article.visibility,
        is_beta=article.is_beta,
        content_version=article.content_version,
    )


def new_editor(
    session: Session, auth: PageAuth, form: ArticleForm | None = None
) -> ArticleEditorPage:
    form = form or ArticleForm(form_key=secrets.token_urlsafe(16))
    return ArticleEditorPage(
        title="New article",
        viewer=auth.viewer,
        section="new",
        form=form,
        preview_source=form.body,
        category_options=category_options(categories.list_categories(session, auth.ctx)),
    )


def article_editor(
    session: Session, auth: PageAuth, article_id: int, **overrides: Any
) -> ArticleEditorPage:
    """The editor for a stored article; `overrides` carry a rejected form and its errors."""
    ctx = auth.ctx
    article = service.get_article(session, ctx, article_id)
    status = ArticleStatus(article.status)
    actions, needs_admin = lifecycle_actions(ctx.role, status)
    tree = categories.list_categories(session, ctx)
    related = service.related_articles(session, ctx, article)
    names = admin_queries.people_names(session, ctx, {article.author_user_id})
    form = overrides.pop("form", None) or _form_from(article)
    page = ArticleEditorPage(
        title=article.title,
        viewer=auth.viewer,
        form=form,
        article_id=article.id,
        slug=article.slug,
        status=article.status,
        status_label=STATUS_LABELS[status],
        visibility=article.visibility,
        can_edit=may_edit(ctx.role, status),
        can_delete=ctx.is_admin or status == ArticleStatus.draft,
        actions=actions,
        needs_admin=needs_admin,
        preview_source=form.body,
        category_options=category_options(tree),
        category_name=next((c.name for c, _ in tree if c.id == article.category_id), ""),
        stats=admin_queries.article_stats(session, ctx, article.id),
        related=[RelatedRow(r.id, r.title, r.slug, r.status) for r in related],
        related_refs=", ".join(r.slug for r in related),
        author=names.get(article.author_user_id or 0, ""),
        created_at=article.created_at,
        updated_at=article.updated_at,
        published_at=article.published_at,
    )
    return replace(page, **overrides)


def _rejected(request: Request, page: ArticleEditorPage, status_code: int) -> Response:
    return render(request, EDITOR, page, status_code=status_code)


# --- create ----------------------------------------------------------------------------------


@router.get("/admin/kb/articles/new")
def new_article_form(request: Request, session: DbSession, auth: StaffPage) -> Response:
    return render(request, EDITOR, new_editor(session, auth))


@router.post("/admin/kb/articles")
def create_article(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    form: ArticleFormData,
    action: Action = "save",
) -> Response:
    """Create a draft. The form's one-time key makes a double submit open the same draft."""
    if action == "preview":
        return render(request, EDITOR, new_editor(session, auth, form))
    try:
        data = ArticleCreate.model_validate(form.values())
    except ValidationError as exc:
        page = new_editor(session, auth, form)
        page.errors = validation_errors(exc)
        return _rejected(request, page, 422)
    try:
        article, _ = service.create_article(
            session, auth.ctx, data, idempotency_key=form.form_key or None
        )
    except (Conflict, ValidationFailed) as exc:
        session.rollback()
        page = new_editor(session, auth, form)
        page.errors = domain_errors(exc)
        if isinstance(exc.details, dict) and "idempotency_key" in exc.details:
            page.errors = {
                "_form": "This form was already used to create an article. "
                "Open a new article form to start another one."
            }
        return _rejected(request, page, exc.status)
    return redirect(request, f"/admin/kb/articles/{article.id}", flash="Draft created.")


# --- edit ------------------------------------------------------------------------------------


@router.get("/admin/kb/articles/{article_id}")
def edit_article_form(
    request: Request, session: DbSession, auth: StaffPage, article_id: IdPath
) -> Response:
    page = article_editor(session, auth, article_id)
    return render(request, EDITOR, page, partial=LIFECYCLE)


@router.post("/admin/kb/articles/{article_id}")
def save_article(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    article_id: IdPath,
    form: ArticleFormData,
    action: Action = "save",
) -> Response:
    """Save the form; a change to title, summary or body is stored as a new revision."""
    if action == "preview":
        return render(request, EDITOR, article_editor(session, auth, article_id, form=form))
    current = service.get_article(session, auth.ctx, article_id)
    if form.content_version and form.content_version != current.content_version:
        page = article_editor(session, auth, article_id, form=form)
        page.form.content_version = current.content_version
        page.errors = {
            "_form": "Someone changed this article after you opened it. Your text is kept "
            "below; check the latest version (History) and save again to replace it."
        }
        return _rejected(request, page, 409)
    try:
        data = ArticleUpdate.model_validate(form.values())
    except ValidationError as exc:
        page = article_editor(session, auth, article_id, form=form)
        page.errors = validation_errors(exc)
        return _rejected(request, page, 422)
    try:
        service.update_article(session, auth.ctx, article_id, data)
    except (Conflict, ValidationFailed) as exc:
        session.rollback()
        page = article_editor(session, auth, article_id, form=form)
        page.errors = domain_errors(exc)
        return _rejected(request, page, exc.status)
    return redirect(request, f"/admin/kb/articles/{article_id}", flash="Saved.")


# --- lifecycle, related, delete --------------------------------------------------------------


@router.post("/admin/kb/articles/{article_id}/status")
def change_status(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    article_id: IdPath,
    to: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """One lifecycle step through `kb.service`; an illegal or forbidden step is shown inline."""
    if to not in ArticleStatus.__members__:
        page = article_editor(session, auth, article_id, lifecycle_error=f"Unknown status {to!r}.")
        return render(request, EDITOR, page, partial=LIFECYCLE, status_code=422)
    target = ArticleStatus(to)
    try:
        service.transition_article(session, auth.ctx, article_id, target)
    except (IllegalTransition, PermissionDenied) as exc:
        session.rollback()
        page = article_editor(session, auth, article_id, lifecycle_error=exc.message + ".")
        return render(request, EDITOR, page, partial=LIFECYCLE, status_code=exc.status)
    return redirect(request, f"/admin/kb/articles/{article_id}", flash=DONE_MESSAGES[target])


@router.post("/admin/kb/articles/{article_id}/related")
def set_related(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    article_id: IdPath,
    related: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Replace the related articles with the ids or slugs given, in that order."""
    ids, unknown = admin_queries.resolve_article_refs(session, auth.ctx, related)
    error = ""
    if unknown:
        error = "No article with id or slug: " + ", ".join(unknown[:10])
    elif len(ids) > MAX_RELATED:
        error = f"At most {MAX_RELATED} related articles."
    if not error:
        try:
            service.set_related(session, auth.ctx, article_id, ids)
        except ValidationFailed as exc:
            session.rollback()
            error = exc.message
    if error:
        page = article_editor(session, auth, article_id, related_refs=related)
        page.errors = {"related": error}
        return _rejected(request, page, 422)
    return redirect(request, f"/admin/kb/articles/{article_id}", flash="Related articles saved.")


@router.post("/admin/kb/articles/{article_id}/delete")
def delete_article(
    request: Request, session: DbSession, auth: StaffPage, article_id: IdPath
) -> Response:
    """Agents delete drafts; admins any article (the service refuses anything else with 403)."""
    article = service.get_article(session, auth.ctx, article_id)
    title = article.title
    service.delete_article(session, auth.ctx, article_id)
    return redirect(request, "/admin/kb", flash=f"Deleted \u201c{title}\u201d.")
