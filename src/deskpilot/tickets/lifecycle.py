"""The ticket state machine: every legal status change is listed here and nowhere else."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    new = "new"
    triage = "triage"
    in_progress = "in_progress"
    waiting_customer = "waiting_customer"
    waiting_internal = "waiting_internal"
    pending_release = "pending_release"
    resolved = "resolved"
    closed = "closed"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Impact(StrEnum):
    single_user = "single_user"
    multiple_users = "multiple_users"
    site_down = "site_down"


class Channel(StrEnum):
    api = "api"
    portal = "portal"
    chat = "chat"
    email = "email"
    phone = "phone"


class TicketType(StrEnum):
    question = "question"
    bug = "bug"
    feature_request = "feature_request"
    billing = "billing"
    cancellation = "cancellation"
    account = "account"
    other = "other"


S = Status
WORKING = (S.in_progress, S.waiting_customer, S.waiting_internal)

TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.new: frozenset({S.triage, *WORKING, S.resolved}),
    S.triage: frozenset({*WORKING, S.resolved}),
    S.in_progress: frozenset(
        {S.waiting_customer, S.waiting_internal, S.pending_release, S.resolved}
    ),
    S.waiting_customer: frozenset(
        {S.in_progress, S.waiting_internal, S.pending_release, S.resolved}
    ),
    S.waiting_internal: frozenset(
        {S.in_progress, S.waiting_customer, S.pending_release, S.resolved}
    ),
    S.pending_release: frozenset({S.in_progress, S.waiting_customer, S.resolved}),
    S.resolved: frozenset({S.closed, S.in_progress}),
    S.closed: frozenset({S.in_progress}),
}
"""Agent-driven transitions. Moving back to in_progress from resolved or closed is a reopen."""

REOPEN_SOURCES = frozenset({S.resolved, S.closed})
OPEN_STATUSES = frozenset(set(Status) - {S.resolved, S.closed})


def allowed_targets(current: Status) -> list[str]:
    return sorted(t.value for t in TRANSITIONS[current])


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def is_reopen(current: Status, target: Status) -> bool:
    return current in REOPEN_SOURCES and target not in REOPEN_SOURCES
