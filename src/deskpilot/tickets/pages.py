"""The agent console's ticket queues (under /app): views, filters, bulk changes, live updates.

`GET /app` renders the queue (the results table alone for htmx requests); every filter lives in
the query string, so a view is a link. `GET /app/queue/views` renders the sidebar's view counts
(refreshed on live events), `POST /app/bulk` applies one change to the selected tickets and
`GET /app/events` is the Server-Sent Events stream that tells open queues to refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from deskpilot.core.errors import ValidationFailed
from deskpilot.core.ids import MAX_DB_ID, parse_id
from deskpilot.tickets import listing, live, queue
from deskpilot.tickets.lifecycle import Channel, Priority, Status, TicketType
from deskpilot.tickets.listing import TicketFilters
from deskpilot.web.deps import DbSession, get_database
from deskpilot.web.page_deps import StaffPage, redirect, safe_next
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import PageContext, render

router = APIRouter(tags=["pages"], route_class=TransactionalRoute, include_in_schema=False)

PAGE_SIZE = 50
SORTS = {
    "newest": ("Newest first", "-created_at"),
    "oldest": ("Oldest first", "created_at"),
    "updated": ("Recently updated", "-updated_at"),
    "number": ("Ticket number", "number"),
}
DEFAULT_SORT = "newest"
QUEUE_PATH = "/app"
ListParam = Annotated[list[str], Query(max_length=20)]
TextParam = Annotated[str, Query(max_length=200)]
CursorParam = Annotated[str, Query(max_length=512)]


@dataclass
class QueueQuery:
    """The queue's URL parameters, as typed (invalid values are dropped, not errors)."""

    view: str = queue.DEFAULT_VIEW
    q: str = ""
    status: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    channel: list[str] = field(default_factory=list)
    category: str = ""
    tag: str = ""
    assignee: str = ""  # a user id, "none" for unassigned, or "" for anyone
    team: str = ""
    created_from: str = ""
    created_to: str = ""
    sort: str = DEFAULT_SORT

    def params(self, **changes: str) -> list[tuple[str, str]]:
        values = {**self.__dict__, **changes}
        pairs: list[tuple[str, str]] = []
        for name, value in values.items():
            if name == "view" and value == queue.DEFAULT_VIEW:
                continue
            if name == "sort" and value == DEFAULT_SORT:
                continue
            for item in value if isinstance(value, list) else [value]:
                if item:
                    pairs.append((name, item))
        return pairs

    def url(self, **changes: str) -> str:
        query = urlencode(self.params(**changes))
        return f"{QUEUE_PATH}?{query}" if query else QUEUE_PATH

    @property
    def has_filters(self) -> bool:
        return any(name not in ("view", "sort") for name, _ in self.params())


@dataclass(kw_only=True)
class QueuePage(PageContext):
    query: QueueQuery
    view_label: str
    views: list[queue.QueueView]
    rows: list[queue.QueueRow]
    staff: list[queue.StaffMember]
    teams: list[tuple[int, str]]
    statuses: list[str]
    priorities: list[str]
    types: list[str]
    channels: list[str]
    sorts: list[tuple[str, str]]
    results_url: str
    views_url: str
    next_url: str = ""
    prev_url: str = ""
    select_all: bool = False
    select_all_url: str = ""
    return_url: str = ""
    """This page without the select-all switch: where a bulk change comes back to."""
    clear_url: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class QueueViewsPage(PageContext):
    query: QueueQuery
    views: list[queue.QueueView]
    views_url: str


def _only(values: list[str], allowed: type[Status | Priority | TicketType | Channel]) -> list[str]:
    known = set(allowed.__members__)
    return list(dict.fromkeys(v for v in values if v in known))


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def _queue_query(
    view: str,
    q: str,
    status: list[str],
    priority: list[str],
    type_: list[str],
    channel: list[str],
    category: str,
    tag: str,
    assignee: str,
    team: str,
    created_from: str,
    created_to: str,
    sort: str,
) -> QueueQuery:
    start, end = _date(created_from), _date(created_to)
    return QueueQuery(
        view=view.strip() or queue.DEFAULT_VIEW,
        q=q.strip(),
        status=_only(status, Status),
        priority=_only(priority, Priority),
        type=_only(type_, TicketType),
        channel=_only(channel, Channel),
        category=category.strip(),
        tag=listing.normalize_tag(tag)[:64],
        assignee=assignee if assignee == "none" or parse_id(assignee) else "",
        team=team if parse_id(team) else "",
        created_from=start.isoformat() if start else "",
        created_to=end.isoformat() if end else "",
        sort=sort if sort in SORTS else DEFAULT_SORT,
    )


def _user_filters(query: QueueQuery) -> TicketFilters:
    """The filters in the URL; the page ANDs them with the view's own."""
    start, end = _date(query.created_from), _date(query.created_to)
    return TicketFilters(
        status=[Status(s) for s in query.status],
        priority=[Priority(p) for p in query.priority],
        type=list(query.type),
        channel=list(query.channel),
        category=[query.category] if query.category else [],
        tag=query.tag or None,
        unassigned=query.assignee == "none",
        assignee_id=parse_id(query.assignee),
        team_id=parse_id(query.team),
        created_after=datetime.combine(start, time.min, tzinfo=UTC) if start else None,
        # The "to" date is inclusive: up to the start of the next day (UTC).
        created_before=(
            datetime.combine(
                min(end, date.max - timedelta(days=1)) + timedelta(days=1), time.min, tzinfo=UTC
            )
            if end
            else None
        ),
        text=query.q or None,
    )


BulkIds = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_DB_ID)]], Form(max_length=queue.MAX_BULK)
]


@router.get("/app")
def queue_page(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    view: TextParam = queue.DEFAULT_VIEW,
    q: TextParam = "",
    status: ListParam = [],  # noqa: B006
    priority: ListParam = [],  # noqa: B006
    type_: Annotated[list[str], Query(alias="type", max_length=20)] = [],  # noqa: B006
    channel: ListParam = [],  # noqa: B006
    category: TextParam = "",
    tag: TextParam = "",
    assignee: TextParam = "",
    team: TextParam = "",
    created_from: TextParam = "",
    created_to: TextParam = "",
    sort: TextParam = DEFAULT_SORT,
    after: CursorParam = "",
    before: CursorParam = "",
    select: TextParam = "",
) -> Response:
    ctx = auth.ctx
    query = _queue_query(
        view, q, status, priority, type_, channel, category, tag, assignee, team,
        created_from, created_to, sort,
    )  # fmt: skip
    teams = queue.all_teams(session, ctx)
    staff = queue.staff_members(session, ctx)
    result = listing.page_tickets(
        session,
        ctx,
        queue.view_filters(ctx, query.view, teams),
        also=[_user_filters(query)],
        sort=SORTS[query.sort][1],
        limit=PAGE_SIZE,
        after=after or None,
        before=before or None,
    )
    rows = queue.queue_rows(session, ctx, result.rows, staff, teams)
    page = QueuePage(
        title=queue.view_label(query.view, teams),
        viewer=auth.viewer,
        nav="tickets",
        query=query,
        view_label=queue.view_label(query.view, teams),
        views=queue.queue_views(session, ctx, teams),
        rows=rows,
        staff=staff,
        teams=[(t.id, t.name) for t in teams],
        statuses=[s.value for s in Status],
        priorities=[p.value for p in Priority],
        types=[t.value for t in TicketType],
        channels=[c.value for c in Channel],
        sorts=[(key, label) for key, (label, _) in SORTS.items()],
        results_url=_current_url(request),
        views_url=_views_url(query),
        next_url=query.url(after=result.next_cursor) if result.next_cursor else "",
        prev_url=query.url(before=result.prev_cursor) if result.prev_cursor else "",
        select_all=select == "all",
        select_all_url=_with_param(request, "select", "all"),
        return_url=_with_param(request, "select", None),
        clear_url=QueueQuery(view=query.view).url(),
    )
    return render(request, "tickets/queue.html", page, partial="tickets/_queue_results.html")


@router.get("/app/queue/views")
def queue_views(
    request: Request, session: DbSession, auth: StaffPage, view: TextParam = queue.DEFAULT_VIEW
) -> Response:
    """The sidebar's views and counts alone (what a live update refreshes)."""
    query = QueueQuery(view=view.strip() or queue.DEFAULT_VIEW)
    teams = queue.all_teams(session, auth.ctx)
    queue.view_filters(auth.ctx, query.view, teams)  # an unknown view is a 404 here too
    page = QueueViewsPage(
        title="Queues",
        viewer=auth.viewer,
        nav="tickets",
        query=query,
        views=queue.queue_views(session, auth.ctx, teams),
        views_url=_views_url(query),
    )
    return render(request, "tickets/_queue_views.html", page)


@router.post("/app/bulk")
def bulk_update(
    request: Request,
    session: DbSession,
    auth: StaffPage,
    ticket_ids: BulkIds = [],  # noqa: B006
    action: Annotated[str, Form(max_length=16)] = "",
    assignee: Annotated[str, Form(max_length=20)] = "",
    status: Annotated[str, Form(max_length=32)] = "",
    priority: Annotated[str, Form(max_length=16)] = "",
    tag: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    back = safe_next(next, QUEUE_PATH)
    if not back.startswith(QUEUE_PATH):
        back = QUEUE_PATH
    if action not in queue.BulkAction.__members__:
        return redirect(request, back, flash="Choose what to change.", kind="error")
    chosen = queue.BulkAction(action)
    value = {"assign": assignee, "status": status, "priority": priority, "tag": tag}[chosen]
    try:
        outcome = queue.bulk_update(session, auth.ctx, ticket_ids, chosen, value)
    except ValidationFailed as exc:
        return redirect(request, back, flash=exc.message, kind="error")
    kind = "success" if not outcome.skipped else ("error" if not outcome.updated else "info")
    return redirect(request, back, flash=outcome.summary(), kind=kind)


@router.get("/app/events")
async def queue_events(request: Request, auth: StaffPage) -> StreamingResponse:
    """Server-Sent Events: `changed` whenever a ticket of the viewer's workspace changes."""
    database = get_database(request)
    ctx = auth.ctx

    def read_marker() -> str:
        # A short read session per poll: no connection is held while the stream waits.
        with database.session(write=False) as session:
            return live.change_marker(session, ctx)

    async def load_marker() -> str:
        return await run_in_threadpool(read_marker)

    stream = live.event_stream(
        load_marker,
        request.is_disconnected,
        last_event_id=request.headers.get("last-event-id"),
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _current_url(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _with_param(request: Request, name: str, value: str | None) -> str:
    """This page's URL with `name` set to `value` (or removed when None)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != name]
    if value is not None:
        pairs.append((name, value))
    return f"{request.url.path}?{urlencode(pairs)}" if pairs else request.url.path


def _views_url(query: QueueQuery) -> str:
    return f"/app/queue/views?{urlencode({'view': query.view})}"
