"""KB categories: the tree (staff), and create, rename, move and delete (admins and owners).
Routes under /admin/kb/categories; every change goes through `kb.categories`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from deskpilot.core.errors import Conflict, ValidationFailed
from deskpilot.kb import admin_queries, categories
from deskpilot.kb.admin_views import (
    KbAdminPage,
    domain_errors,
    normalize_newlines,
    parse_optional_id,
    validation_errors,
)
from deskpilot.kb.models import KbCategory
from deskpilot.kb.schemas import CategoryCreate, CategoryUpdate
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage, PageAuth, StaffPage, redirect
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(route_class=TransactionalRoute)

VISIBILITY_OPTIONS = [
    ("external", "Shown in the help center"),
    ("internal", "Hidden from the help center (with its subcategories)"),
]


@dataclass
class CategoryForm:
    name: str = ""
    slug: str = ""
    parent_id: str = ""
    description: str = ""
    visibility: str = "external"
    position: str = "0"

    def values(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "parent_id": parse_optional_id(self.parent_id),
            "description": self.description,
            "visibility": self.visibility,
            "position": self.position.strip() or "0",
        }
        if self.slug.strip():
            data["slug"] = self.slug.strip()
        return data


def _category_form(
    name: Annotated[str, Form(max_length=1000)] = "",
    slug: Annotated[str, Form(max_length=400)] = "",
    parent_id: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "external",
    position: Annotated[str, Form(max_length=20)] = "0",
) -> CategoryForm:
    return CategoryForm(
        name=name,
        slug=slug,
        parent_id=parent_id,
        description=normalize_newlines(description),
        visibility=visibility,
        position=position,
    )


CategoryFormData = Annotated[CategoryForm, Depends(_category_form)]


@dataclass(frozen=True)
class CategoryRow:
    id: int
    name: str
    slug: str
    depth: int
    visibility: str
    articles: int
    description: str


@dataclass(kw_only=True)
class CategoriesPage(KbAdminPage):
    section: str = "categories"
    rows: list[CategoryRow] = field(default_factory=list)
    uncategorized: int = 0
    can_manage: bool = False
    form: CategoryForm = field(default_factory=CategoryForm)
    errors: dict[str, str] = field(default_factory=dict)
    parent_options: list[tuple[str, str]] = field(default_factory=list)
    visibility_options: list[tuple[str, str]] = field(default_factory=lambda: VISIBILITY_OPTIONS)


def _tree_page(
    session: Session, auth: PageAuth, form: CategoryForm | None = None
) -> CategoriesPage:
    tree = categories.list_categories(session, auth.ctx)
    counts = admin_queries.category_article_counts(session, auth.ctx)
    return CategoriesPage(
        title="Categories",
        viewer=auth.viewer,
        rows=[
            CategoryRow(
                c.id, c.name, c.slug, depth, c.visibility, counts.get(c.id, 0), c.description
            )
            for c, depth in tree
        ],
        uncategorized=counts.get(None, 0),
        can_manage=auth.viewer.is_admin,
        form=form or CategoryForm(),
        parent_options=[(str(c.id), "\u2014 " * depth + c.name) for c, depth in tree],
    )


@router.get("/admin/kb/categories")
def category_tree(request: Request, session: DbSession, auth: StaffPage) -> Response:
    page = _tree_page(session, auth)
    return render(request, "kb/admin_categories.html", page, partial="kb/admin_category_tree.html")


@router.post("/admin/kb/categories")
def create_category(
    request: Request, session: DbSession, auth: AdminPage, form: CategoryFormData
) -> Response:
    try:
        data = CategoryCreate.model_validate(form.values())
        category, _ = categories.create_category(session, auth.ctx, data)
    except ValidationError as exc:
        page = _tree_page(session, auth, form)
        page.errors = validation_errors(exc)
        return render(request, "kb/admin_categories.html", page, status_code=422)
    except (Conflict, ValidationFailed) as exc:
        session.rollback()
        page = _tree_page(session, auth, form)
        page.errors = domain_errors(exc)
        return render(request, "kb/admin_categories.html", page, status_code=exc.status)
    return redirect(
        request, "/admin/kb/categories", flash=f"Category \u201c{category.name}\u201d created."
    )


@dataclass(kw_only=True)
class CategoryEditPage(KbAdminPage):
    section: str = "categories"
    category_id: int
    category_name: str
    form: CategoryForm
    errors: dict[str, str] = field(default_factory=dict)
    articles: int = 0
    children: int = 0
    parent_options: list[tuple[str, str]] = field(default_factory=list)
    visibility_options: list[tuple[str, str]] = field(default_factory=lambda: VISIBILITY_OPTIONS)


def _subtree_ids(tree: list[tuple[KbCategory, int]], category_id: int) -> set[int]:
    """The category and its descendants: in tree order they follow it while deeper than it."""
    ids: set[int] = set()
    depth_of_root: int | None = None
    for category, depth in tree:
        if depth_of_root is not None:
            if depth <= depth_of_root:
                break
            ids.add(category.id)
        elif category.id == category_id:
            depth_of_root = depth
            ids.add(category.id)
    return ids


def _edit_page(
    session: Session, auth: PageAuth, category_id: int, form: CategoryForm | None = None
) -> CategoryEditPage:
    category = categories.get_category(session, auth.ctx, category_id)
    tree = categories.list_categories(session, auth.ctx)
    excluded = _subtree_ids(tree, category.id)
    counts = admin_queries.category_article_counts(session, auth.ctx)
    return CategoryEditPage(
        title=f"Category: {category.name}",
        viewer=auth.viewer,
        category_id=category.id,
        category_name=category.name,
        form=form
        or CategoryForm(
            name=category.name,
            slug=category.slug,
            parent_id=str(category.parent_id or ""),
            description=category.description,
            visibility=category.visibility,
            position=str(category.position),
        ),
        articles=counts.get(category.id, 0),
        children=sum(1 for c, _ in tree if c.parent_id == category.id),
        parent_options=[
            (str(c.id), "\u2014 " * depth + c.name) for c, depth in tree if c.id not in excluded
        ],
    )


@router.get("/admin/kb/categories/{category_id}")
def edit_category_form(
    request: Request, session: DbSession, auth: AdminPage, category_id: IdPath
) -> Response:
    return render(request, "kb/admin_category.html", _edit_page(session, auth, category_id))


@router.post("/admin/kb/categories/{category_id}")
def update_category(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    category_id: IdPath,
    form: CategoryFormData,
) -> Response:
    """Rename, move (new parent; none = top level), describe or hide a category."""
    try:
        data = CategoryUpdate.model_validate(form.values())
        categories.update_category(session, auth.ctx, category_id, data)
    except ValidationError as exc:
        page = _edit_page(session, auth, category_id, form)
        page.errors = validation_errors(exc)
        return render(request, "kb/admin_category.html", page, status_code=422)
    except (Conflict, ValidationFailed) as exc:
        session.rollback()
        page = _edit_page(session, auth, category_id, form)
        page.errors = domain_errors(exc)
        return render(request, "kb/admin_category.html", page, status_code=exc.status)
    return redirect(request, "/admin/kb/categories", flash="Category saved.")


@router.post("/admin/kb/categories/{category_id}/delete")
def delete_category(
    request: Request, session: DbSession, auth: AdminPage, category_id: IdPath
) -> Response:
    """Subcategories move up to the parent; the category's articles become uncategorized."""
    name = categories.get_category(session, auth.ctx, category_id).name
    categories.delete_category(session, auth.ctx, category_id)
    return redirect(request, "/admin/kb/categories", flash=f"Category \u201c{name}\u201d deleted.")
