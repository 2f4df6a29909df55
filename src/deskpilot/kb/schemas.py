"""Request and response shapes for KB categories, articles, revisions, votes and relations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from deskpilot.core.ids import MAX_DB_ID
from deskpilot.kb.content import SLUG_PATTERN, ArticleStatus, SourceType, Visibility

MAX_TAGS = 30
MAX_SOURCE_TICKETS = 50
MAX_RELATED = 20
MAX_BODY = 200_000
MAX_SUMMARY = 2_000

RowId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
ArticleSlug = Annotated[str, StringConstraints(max_length=200, pattern=SLUG_PATTERN)]
CategorySlug = Annotated[str, StringConstraints(max_length=120, pattern=SLUG_PATTERN)]
CategoryName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_SUMMARY)]
Body = Annotated[str, StringConstraints(max_length=MAX_BODY)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Icon = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Description = Annotated[str, StringConstraints(max_length=5_000)]
Position = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]


def _not_null(value: Any) -> Any:
    """Partial updates may omit a required column, but may not blank it with null."""
    if value is None:
        raise ValueError("may not be null")
    return value


# --- categories ----------------------------------------------------------------------------------


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CategoryName
    slug: CategorySlug | None = None
    parent_id: RowId | None = None
    description: Description = ""
    icon: Icon | None = None
    position: Position = 0
    visibility: Visibility = Visibility.external


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: CategoryName | None = None
    slug: CategorySlug | None = None
    parent_id: RowId | None = None
    description: Description | None = None
    icon: Icon | None = None
    position: Position | None = None
    visibility: Visibility | None = None

    _required = field_validator("name", "slug", "description", "position", "visibility")(_not_null)


class CategoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    parent_id: int | None
    slug: str
    name: str
    description: str
    icon: str | None
    position: int
    visibility: str
    created_at: datetime
    updated_at: datetime


class CategoryNode(CategoryRead):
    depth: int
    """0 for top-level categories; the list is in tree order (parents before children)."""


class CategoryTree(BaseModel):
    items: list[CategoryNode]


# --- articles ------------------------------------------------------------------------------------


class ArticleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    slug: ArticleSlug | None = None
    summary: Summary = ""
    body: Body = ""
    tags: Tags = []
    category_id: RowId | None = None
    visibility: Visibility = Visibility.external
    is_beta: bool = False
    source_type: SourceType = SourceType.manual
    source_ticket_ids: Annotated[list[RowId], Field(max_length=MAX_SOURCE_TICKETS)] = []
    external_id: ExternalId | None = None


class ArticleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    slug: ArticleSlug | None = None
    summary: Summary | None = None
    body: Body | None = None
    tags: Tags | None = None
    category_id: RowId | None = None
    visibility: Visibility | None = None
    is_beta: bool | None = None
    source_ticket_ids: Annotated[list[RowId], Field(max_length=MAX_SOURCE_TICKETS)] | None = None

    _required = field_validator(
        "title", "slug", "summary", "body", "tags", "visibility", "is_beta", "source_ticket_ids"
    )(_not_null)


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: ArticleStatus


class VoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    helpful: bool


class RelatedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    article_ids: Annotated[list[RowId], Field(max_length=MAX_RELATED)]


class ArticleRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    title: str


class ArticleSummary(BaseModel):
    """An article without its body: what lists return."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    title: str
    summary: str
    tags: list[str]
    category_id: int | None
    visibility: str
    status: str
    is_beta: bool
    source_type: str
    author_user_id: int | None
    published_at: datetime | None
    view_count: int
    helpful_count: int
    not_helpful_count: int
    helpfulness: float | None
    created_at: datetime
    updated_at: datetime


class ArticleList(BaseModel):
    items: list[ArticleSummary]
    next_cursor: str | None


class ArticleRead(ArticleSummary):
    body: str
    body_html: str
    source_ticket_ids: list[int]
    external_id: str | None
    content_version: int
    related: list[ArticleRef]


class RevisionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    article_id: int
    version: int
    status: str
    title: str
    actor_user_id: int | None
    created_at: datetime


class RevisionList(BaseModel):
    items: list[RevisionSummary]


class RevisionRead(RevisionSummary):
    summary: str
    body: str


class ArticleEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    article_id: int
    kind: str
    actor_type: str
    actor_user_id: int | None
    old_value: Any
    new_value: Any
    created_at: datetime


class ArticleEventList(BaseModel):
    items: list[ArticleEventRead]


class VoteRead(BaseModel):
    article_id: int
    helpful: bool
    helpful_count: int
    not_helpful_count: int
    helpfulness: float | None
