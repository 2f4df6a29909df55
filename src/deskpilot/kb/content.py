"""Rules for knowledge-base content: the review lifecycle, slugs, tags and Markdown front matter.

The lifecycle is written once, here, as a table of (from, to) -> the least role that may make the
move. Forward moves follow the review chain draft -> in_review -> approved -> published ->
archived; backward moves send work back to draft:

- in_review -> draft: the author withdraws it, or a reviewer asks for changes (agents may).
- approved -> draft: reopen for more edits; it must be approved again (agents may).
- published -> draft: unpublish to rework; it leaves the help center at once (admins only).
- archived -> draft: restore an archived article (admins only).

Agents write and submit; approving, publishing and archiving are for admins and owners.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from enum import StrEnum
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import ADMIN_ROLES, STAFF_ROLES, Context, Role
from deskpilot.core.errors import Conflict
from deskpilot.kb.models import Article, KbCategory


class ArticleStatus(StrEnum):
    draft = "draft"
    in_review = "in_review"
    approved = "approved"
    published = "published"
    archived = "archived"


class Visibility(StrEnum):
    external = "external"
    """Customers and anonymous help-center visitors may read it once published."""
    internal = "internal"
    """Agents only."""


class SourceType(StrEnum):
    manual = "manual"
    ticket_derived = "ticket_derived"
    imported = "imported"


S = ArticleStatus
AGENT = STAFF_ROLES
ADMIN = ADMIN_ROLES

TRANSITIONS: dict[ArticleStatus, dict[ArticleStatus, frozenset[Role]]] = {
    S.draft: {S.in_review: AGENT},
    S.in_review: {S.approved: ADMIN, S.draft: AGENT},
    S.approved: {S.published: ADMIN, S.draft: AGENT},
    S.published: {S.archived: ADMIN, S.draft: ADMIN},
    S.archived: {S.draft: ADMIN},
}
"""Every legal status change and the roles allowed to make it; anything else is illegal."""

AGENT_EDITABLE = frozenset({S.draft, S.in_review})
"""Agents edit content only before approval; admins may edit in any status."""


def allowed_targets(current: ArticleStatus) -> list[str]:
    return sorted(target.value for target in TRANSITIONS[current])


def can_transition(current: ArticleStatus, target: ArticleStatus) -> bool:
    return target in TRANSITIONS[current]


def may_transition(role: Role, current: ArticleStatus, target: ArticleStatus) -> bool:
    return role in TRANSITIONS[current].get(target, frozenset())


def may_edit(role: Role, status: ArticleStatus) -> bool:
    return role in ADMIN_ROLES or (role in STAFF_ROLES and status in AGENT_EDITABLE)


# --- slugs -------------------------------------------------------------------------------------

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, *, max_length: int = 200, fallback: str = "article") -> str:
    """`How do I reset my password?` -> `how-do-i-reset-my-password` (ASCII, lowercase)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    slug = slug[:max_length].rstrip("-")
    return slug or fallback


def is_valid_slug(slug: str) -> bool:
    return bool(_SLUG_RE.match(slug))


def first_free_slug(base: str, taken: Collection[str], *, max_length: int = 200) -> str:
    """`base` if free, else `base-2`, `base-3`, ... trimmed so the suffix always fits."""
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: max_length - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def taken_slugs(
    session: Session, ctx: Context, model: type[Article] | type[KbCategory], base: str
) -> set[str]:
    """Slugs in use that `first_free_slug(base, ...)` could collide with."""
    # Slugs hold only [a-z0-9-], so `base` carries no LIKE wildcards.
    return set(
        session.scalars(
            select(model.slug).where(
                model.workspace_id == ctx.workspace_id,
                (model.slug == base) | model.slug.like(f"{base}-%"),
            )
        )
    )


def check_slug_free(
    session: Session,
    ctx: Context,
    model: type[Article] | type[KbCategory],
    slug: str,
    *,
    exclude_id: int | None = None,
) -> None:
    """An explicitly chosen slug that another row already uses is a 409 on the field."""
    owner = session.scalar(
        select(model.id).where(model.workspace_id == ctx.workspace_id, model.slug == slug)
    )
    if owner is not None and owner != exclude_id:
        what = "article" if model is Article else "category"
        raise Conflict(
            f"Slug {slug!r} is already used",
            details=[{"field": "slug", "message": f"already used by {what} {owner}"}],
        )


# --- tags --------------------------------------------------------------------------------------


def normalize_tag(tag: str) -> str:
    return "-".join(tag.strip().lower().split())


def normalize_tags(tags: Iterable[str]) -> list[str]:
    return sorted({normalize_tag(t) for t in tags if normalize_tag(t)})


# --- front matter ------------------------------------------------------------------------------

_FRONT_MATTER_RE = re.compile(
    r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M
)


class FrontMatterError(ValueError):
    pass


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A Markdown file's YAML header (between `---` lines at the very top) and the body after it.

    A file without a header has empty metadata and is all body.
    """
    text = text.removeprefix("\ufeff")
    if not text.startswith("---"):
        return {}, text
    match = _FRONT_MATTER_RE.match(text)
    if match is None:
        raise FrontMatterError("front matter starts with '---' but is never closed")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"invalid YAML front matter: {exc}") from exc
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter must be a mapping of keys to values")
    return {str(k): v for k, v in meta.items()}, text[match.end() :].lstrip("\r\n")
