"""Shared pieces of the KB admin pages: the base page context, lifecycle labels, form helpers.

Nothing here touches the database: page modules call the services and pass plain values in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from deskpilot.core.context import Role
from deskpilot.core.errors import DomainError
from deskpilot.core.ids import is_digits
from deskpilot.kb.content import TRANSITIONS, ArticleStatus, may_transition
from deskpilot.kb.models import KbCategory
from deskpilot.web.templating import PageContext

STATUS_LABELS = {
    ArticleStatus.draft: "Draft",
    ArticleStatus.in_review: "In review",
    ArticleStatus.approved: "Approved",
    ArticleStatus.published: "Published",
    ArticleStatus.archived: "Archived",
}

S = ArticleStatus
TRANSITION_LABELS: dict[tuple[ArticleStatus, ArticleStatus], tuple[str, str]] = {
    (S.draft, S.in_review): ("Submit for review", "btn"),
    (S.in_review, S.approved): ("Approve", "btn"),
    (S.in_review, S.draft): ("Back to draft", "btn btn-secondary"),
    (S.approved, S.published): ("Publish", "btn"),
    (S.approved, S.draft): ("Reopen as draft", "btn btn-secondary"),
    (S.published, S.archived): ("Archive", "btn btn-secondary"),
    (S.published, S.draft): ("Unpublish", "btn btn-secondary"),
    (S.archived, S.draft): ("Restore as draft", "btn btn-secondary"),
}
"""Button text and style for every move in `content.TRANSITIONS` (a test keeps them in step)."""

CONFIRMS = {
    (S.published, S.draft): "Unpublish this article? It leaves the help center at once.",
    (S.published, S.archived): "Archive this article? It leaves the help center at once.",
}


@dataclass(kw_only=True)
class KbAdminPage(PageContext):
    """Every KB admin page: the top navigation item and the sidebar section."""

    nav: str = "kb"
    section: str = "articles"


@dataclass(frozen=True)
class LifecycleAction:
    target: str
    label: str
    style: str
    confirm: str = ""


def lifecycle_actions(role: Role, status: ArticleStatus) -> tuple[list[LifecycleAction], bool]:
    """The moves `role` may make from `status`, and whether some other move needs an admin."""
    actions: list[LifecycleAction] = []
    admin_only = False
    for target in TRANSITIONS[status]:
        if not may_transition(role, status, target):
            admin_only = True
            continue
        label, style = TRANSITION_LABELS[(status, target)]
        actions.append(
            LifecycleAction(target.value, label, style, CONFIRMS.get((status, target), ""))
        )
    return actions, admin_only


def category_options(tree: list[tuple[KbCategory, int]]) -> list[tuple[str, str]]:
    """(id, name indented by depth) for a category `<select>`, in tree order."""
    return [(str(c.id), "\u2014 " * depth + c.name) for c, depth in tree]


def parse_optional_id(raw: str) -> int | None:
    raw = raw.strip()
    if is_digits(raw) and 0 < len(raw) < 19:
        return int(raw)
    return None


def split_tags(raw: str) -> list[str]:
    return [t.strip() for t in raw.split(",") if t.strip()]


def normalize_newlines(text: str) -> str:
    """Browsers send textarea lines as CRLF; stored Markdown uses LF, so an unchanged body
    posted back does not count as an edit (and no empty revision is stored)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _friendly(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "Required."
    if kind == "string_too_long":
        return f"At most {ctx.get('max_length')} characters."
    if kind == "string_pattern_mismatch":
        return "Use lowercase letters, digits and single hyphens (e.g. reset-password)."
    if kind == "too_long":
        return f"At most {ctx.get('max_length')} items."
    return str(error.get("msg", "Not accepted."))


def validation_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic errors as {form field: first message}."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "_form"
        errors.setdefault(name, _friendly(dict(error)))
    return errors


def domain_errors(exc: DomainError, *, default_field: str = "_form") -> dict[str, str]:
    """A service error as {field: message}, using its `details` list when it names fields."""
    errors: dict[str, str] = {}
    if isinstance(exc.details, list):
        for item in exc.details:
            if isinstance(item, dict) and item.get("field"):
                errors.setdefault(str(item["field"]), f"{exc.message}: {item.get('message', '')}")
    return errors or {default_field: exc.message}


@dataclass
class Pager:
    page: int
    pages: int
    total: int
    prev_url: str = ""
    next_url: str = ""
    numbers: list[tuple[int, str]] = field(default_factory=list)
