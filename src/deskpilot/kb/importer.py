"""Bulk import of articles from a JSONL file or a folder of Markdown files with YAML front matter.

JSONL: one object per line, `{external_id, title, body, summary?, tags?, category?, visibility?,
status?}`. Markdown: every `*.md` under the folder (recursively); the front matter holds the same
keys except `body`, which is the rest of the file, and `external_id` defaults to the file's path
relative to the folder without `.md`.

New articles default to status `published`, visibility `external` and source type `imported`.
`category` names a category by slug or name and is created when missing. Re-importing an
`external_id` updates that article with the fields the record carries (a new revision only when
title, summary or body changed) and never duplicates it. A malformed line or file is reported by
line number or file name and skipped; the rest of the import goes on.

Work is done in batches: one query finds a batch's existing articles, and new articles are inserted
together. `after_batch` lets the caller commit between batches of a very large import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.db.scoped import scoped
from deskpilot.kb import categories, service
from deskpilot.kb.content import (
    ArticleStatus,
    FrontMatterError,
    SourceType,
    Visibility,
    first_free_slug,
    slugify,
    split_front_matter,
)
from deskpilot.kb.models import Article, KbCategory
from deskpilot.kb.schemas import Body, CategoryCreate, ExternalId, Summary, Tags, Title

BATCH_SIZE = 500
CategoryRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ImportRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    external_id: ExternalId
    title: Title
    body: Body
    summary: Summary = ""
    tags: Tags = []
    category: CategoryRef | None = None
    visibility: Visibility = Visibility.external
    status: ArticleStatus = ArticleStatus.published

    @field_validator("external_id", mode="before")
    @classmethod
    def _number_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("tags", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [t for t in value.split(",") if t.strip()] if isinstance(value, str) else value


@dataclass
class ImportSummary:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    """(where, message): where is `line N` for JSONL, the relative file path for Markdown."""

    def fail(self, where: str, message: str) -> None:
        self.failed += 1
        self.errors.append((where, message))


Parsed = tuple[str, ImportRecord | None, str | None]
"""(where, record, error): exactly one of record and error is set."""


def import_path(
    session: Session,
    ctx: Context,
    path: str | Path,
    *,
    batch_size: int = BATCH_SIZE,
    after_batch: Callable[[], None] | None = None,
    request_index: bool = True,
) -> ImportSummary:
    """Import a `.jsonl` file, a single `.md` file, or a folder of `.md` files (admins only).

    With `request_index=False` no index job is queued per article: the caller indexes the
    workspace in batches afterwards (faster for big imports; the stale-index sweep is the net).
    """
    ctx.require_admin()
    path = Path(path)
    if path.is_dir():
        parsed = _markdown_folder(path)
    elif path.suffix.lower() in (".md", ".markdown"):
        parsed = iter([_markdown_file(path, path.name)])
    else:
        parsed = _jsonl(path)
    summary = ImportSummary()
    run = _ImportRun(session, ctx, summary, request_index=request_index)
    while chunk := list(islice(parsed, max(1, batch_size))):
        good: list[tuple[str, ImportRecord]] = []
        for where, record, error in chunk:
            if record is None:
                summary.fail(where, error or "invalid record")
            else:
                good.append((where, record))
        run.apply(good)
        if after_batch is not None:
            after_batch()
    return summary


# --- parsing -------------------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterator[Parsed]:
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            where = f"line {number}"
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                yield where, None, "not valid UTF-8"
                continue
            if not text:
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield where, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
                continue
            yield _validate(where, data)


def _markdown_folder(root: Path) -> Iterator[Parsed]:
    for file in sorted(p for p in root.rglob("*.md") if p.is_file()):
        yield _markdown_file(file, file.relative_to(root).as_posix())


def _markdown_file(file: Path, relative: str) -> Parsed:
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return relative, None, "not valid UTF-8"
    except OSError as exc:
        return relative, None, f"cannot read: {exc.strerror}"
    try:
        meta, body = split_front_matter(text)
    except FrontMatterError as exc:
        return relative, None, str(exc)
    data = {"external_id": relative.removesuffix(".md"), **meta, "body": body}
    return _validate(relative, data)


def _validate(where: str, data: Any) -> Parsed:
    if not isinstance(data, dict):
        return where, None, "expected a JSON object"
    try:
        return where, ImportRecord.model_validate(data), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors()
        )
        return where, None, problems


# --- applying ------------------------------------------------------------------------------------


class _ImportRun:
    """State kept across batches: slugs in use and categories by slug and name."""

    def __init__(
        self, session: Session, ctx: Context, summary: ImportSummary, *, request_index: bool
    ) -> None:
        self.session = session
        self.request_index = request_index
        self.ctx = ctx
        self.summary = summary
        self.slugs: set[str] = set(
            session.scalars(select(Article.slug).where(Article.workspace_id == ctx.workspace_id))
        )
        self.categories: dict[str, int] = {}
        for category_id, slug, name in session.execute(
            select(KbCategory.id, KbCategory.slug, func.lower(KbCategory.name)).where(
                KbCategory.workspace_id == ctx.workspace_id
            )
        ):
            self.categories.setdefault(slug, category_id)
            self.categories.setdefault(name, category_id)

    def apply(self, records: Iterable[tuple[str, ImportRecord]]) -> None:
        records = list(records)
        if not records:
            return
        wanted = list({r.external_id for _, r in records})
        existing = {
            a.external_id: a
            for a in self.session.scalars(
                scoped(self.ctx, Article).where(Article.external_id.in_(wanted))
            )
        }
        created: dict[str, Article] = {}
        for _where, record in records:
            category_id = self._category_id(record.category)
            if (pending := created.get(record.external_id)) is not None:
                # The same id twice in one batch: the later record replaces the first.
                self.slugs.discard(pending.slug)
                created[record.external_id] = self._new(record, category_id)
                self.summary.updated += 1
            elif (article := existing.get(record.external_id)) is not None:
                changes = self._changes(record, category_id)
                if service.apply_changes(
                    self.session,
                    self.ctx,
                    article,
                    changes,
                    kind="reimported",
                    reindex=self.request_index,
                ):
                    self.summary.updated += 1
                else:
                    self.summary.unchanged += 1
            else:
                article = self._new(record, category_id)
                created[record.external_id] = article
                self.summary.imported += 1
        if created:
            self.session.add_all(created.values())
            self.session.flush()
            service.add_created(
                self.session,
                self.ctx,
                created.values(),
                kind="imported",
                reindex=self.request_index,
            )
            self.session.flush()

    def _new(self, record: ImportRecord, category_id: int | None) -> Article:
        slug = first_free_slug(slugify(record.title), self.slugs)
        self.slugs.add(slug)
        return service.new_article(
            self.ctx,
            title=record.title,
            summary=record.summary,
            body=record.body,
            tags=record.tags,
            category_id=category_id,
            visibility=record.visibility,
            source_type=SourceType.imported,
            external_id=record.external_id,
            status=record.status,
            slug=slug,
        )

    def _changes(self, record: ImportRecord, category_id: int | None) -> dict[str, Any]:
        """Only what the record carries: an omitted field keeps the article's current value."""
        given = record.model_fields_set
        changes: dict[str, Any] = {"title": record.title, "body": record.body}
        for name in ("summary", "tags", "visibility", "status"):
            if name in given:
                changes[name] = getattr(record, name)
        if "category" in given:
            changes["category_id"] = category_id
        return changes

    def _category_id(self, ref: str | None) -> int | None:
        if ref is None:
            return None
        for key in (ref, ref.lower(), slugify(ref, max_length=120, fallback="category")):
            if key in self.categories:
                return self.categories[key]
        category, _ = categories.create_category(self.session, self.ctx, CategoryCreate(name=ref))
        self.categories[category.slug] = category.id
        self.categories[ref.lower()] = category.id
        return category.id
