"""Job handlers register here by name; domain `tasks.py` modules declare them with `@job`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

Handler = Callable[..., Any]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: Handler
    max_attempts: int | None = None
    prepare: Handler | None = None
    """Optional slow, read-only phase `prepare(session, **args) -> dict`, run before the write
    transaction opens; its result reaches the handler as `prepared=`. Keeps work such as
    embedding outside SQLite's write lock."""


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    handler: Callable[[Session], Any]
    every_minutes: int = field(default=1)


JOBS: dict[str, JobSpec] = {}
PERIODIC: dict[str, PeriodicSpec] = {}


def job(
    name: str, *, max_attempts: int | None = None, prepare: Handler | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler(session, **args)`. Args must be JSON-serialisable primitives (IDs)."""

    def register(handler: Handler) -> Handler:
        if name in JOBS and JOBS[name].handler is not handler:
            raise ValueError(f"job {name!r} registered twice")
        JOBS[name] = JobSpec(name, handler, max_attempts, prepare)
        return handler

    return register


def periodic(name: str, *, every_minutes: int = 1) -> Callable[[Handler], Handler]:
    """Register a schedule entry; each run opens its own transaction like any job."""

    def register(handler: Handler) -> Handler:
        PERIODIC[name] = PeriodicSpec(name, handler, every_minutes)
        return handler

    return register
