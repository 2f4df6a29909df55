"""An article's history: its revisions (who saved what, when), one revision with a line diff, and
the audit trail of lifecycle moves. Read-only, staff only. Routes under /admin/kb/articles/{id}.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from deskpilot.kb import admin_queries, history, service
from deskpilot.kb.admin_views import KbAdminPage
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import StaffPage
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(route_class=TransactionalRoute)

VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_DIFF_LINES = 2_000
EVENT_LABELS = {
    "created": "Created",
    "imported": "Imported",
    "edited": "Edited",
    "status_changed": "Status changed",
    "related_changed": "Related articles changed",
}


@dataclass(frozen=True)
class RevisionRow:
    version: int
    status: str
    title: str
    author: str
    created_at: datetime
    is_current: bool


@dataclass(frozen=True)
class EventRow:
    label: str
    detail: str
    author: str
    created_at: datetime


@dataclass(kw_only=True)
class RevisionsPage(KbAdminPage):
    article_id: int
    article_title: str
    revisions: list[RevisionRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)


def _event_detail(kind: str, old: Any, new: Any) -> str:
    if kind == "status_changed" and isinstance(old, dict) and isinstance(new, dict):
        return f"{old.get('status', '?')} \u2192 {new.get('status', '?')}"
    if kind == "edited" and isinstance(new, dict):
        return "Changed " + ", ".join(sorted(name.replace("_", " ") for name in new))
    return ""


@router.get("/admin/kb/articles/{article_id}/revisions")
def revisions(
    request: Request, session: DbSession, auth: StaffPage, article_id: IdPath
) -> Response:
    ctx = auth.ctx
    article = service.get_article(session, ctx, article_id)
    rows = history.list_revisions(session, ctx, article_id)
    events = history.list_events(session, ctx, article_id)
    names = admin_queries.people_names(
        session, ctx, {r.actor_user_id for r in rows} | {e.actor_user_id for e in events}
    )
    latest = rows[-1].version if rows else None
    page = RevisionsPage(
        title=f"History: {article.title}",
        viewer=auth.viewer,
        article_id=article.id,
        article_title=article.title,
        revisions=[
            RevisionRow(
                version=r.version,
                status=r.status,
                title=r.title,
                author=names.get(r.actor_user_id or 0, "System"),
                created_at=r.created_at,
                is_current=r.version == latest,
            )
            for r in reversed(rows)
        ],
        events=[
            EventRow(
                label=EVENT_LABELS.get(e.kind, e.kind.replace("_", " ").capitalize()),
                detail=_event_detail(e.kind, e.old_value, e.new_value),
                author=names.get(e.actor_user_id or 0, "System"),
                created_at=e.created_at,
            )
            for e in reversed(events)
        ],
    )
    return render(request, "kb/admin_revisions.html", page, partial="kb/admin_revision_list.html")


@dataclass(frozen=True)
class DiffLine:
    kind: str  # add | del | ctx | hunk
    text: str


@dataclass(kw_only=True)
class RevisionPage(KbAdminPage):
    article_id: int
    article_title: str
    version: int
    status: str
    revision_title: str
    summary: str
    body: str
    author: str
    created_at: datetime
    compare: str
    compared_label: str
    diff: list[DiffLine] = field(default_factory=list)
    diff_truncated: bool = False
    prev_version: int | None = None
    next_version: int | None = None


def line_diff(old: str, new: str) -> tuple[list[DiffLine], bool]:
    """A unified line diff from `old` to `new`, cut at MAX_DIFF_LINES lines."""
    lines: list[DiffLine] = []
    for raw in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2):
        if raw.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(raw[:1], "ctx")
        lines.append(DiffLine(kind, raw if kind == "hunk" else raw[1:]))
        if len(lines) >= MAX_DIFF_LINES:
            return lines, True
    return lines, False


def _as_text(title: str, summary: str, body: str) -> str:
    return f"# {title}\n\n{summary}\n\n{body}" if summary else f"# {title}\n\n{body}"


@router.get("/admin/kb/articles/{article_id}/revisions/{version}")
def revision(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    article_id: IdPath,
    version: VersionPath,
    compare: Annotated[str, Query(max_length=10)] = "previous",
) -> Response:
    """One revision's content, and its changes from the previous revision (or to the current
    article with `?compare=current`)."""
    ctx = auth.ctx
    article = service.get_article(session, ctx, article_id)
    shown = history.get_revision(session, ctx, article_id, version)
    versions = [r.version for r in history.list_revisions(session, ctx, article_id)]
    earlier = [v for v in versions if v < version]
    later = [v for v in versions if v > version]
    this_text = _as_text(shown.title, shown.summary, shown.body)
    if compare == "current":
        diff, truncated = line_diff(
            this_text, _as_text(article.title, article.summary, article.body)
        )
        label = "Changes from this revision to the current article"
    else:
        compare = "previous"
        if earlier:
            before = history.get_revision(session, ctx, article_id, earlier[-1])
            old_text = _as_text(before.title, before.summary, before.body)
            label = f"Changes since revision {before.version}"
        else:
            old_text = ""
            label = "First revision: everything is new"
        diff, truncated = line_diff(old_text, this_text)
    names = admin_queries.people_names(session, ctx, {shown.actor_user_id})
    page = RevisionPage(
        title=f"Revision {version}: {article.title}",
        viewer=auth.viewer,
        article_id=article.id,
        article_title=article.title,
        version=shown.version,
        status=shown.status,
        revision_title=shown.title,
        summary=shown.summary,
        body=shown.body,
        author=names.get(shown.actor_user_id or 0, "System"),
        created_at=shown.created_at,
        compare=compare,
        compared_label=label,
        diff=diff,
        diff_truncated=truncated,
        prev_version=earlier[-1] if earlier else None,
        next_version=later[0] if later else None,
    )
    return render(request, "kb/admin_revision.html", page, partial="kb/admin_revision_diff.html")
