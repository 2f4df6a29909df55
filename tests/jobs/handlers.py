"""Test-only job handlers and the recorder they report to.

Handlers run in the test thread (immediate mode) or in consumer threads (embedded, Redis), so the
recorder is guarded by a lock. Tests script failures through `RECORDER` instead of globals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from deskpilot.core.correlation import correlation_id
from deskpilot.jobs.registry import job
from deskpilot.workspaces.models import Workspace


@dataclass
class Call:
    name: str
    args: dict[str, Any]
    thread: str
    correlation_id: str | None


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)
    crash_with: type[BaseException] | None = None
    failures_left: int = 0
    prepare_error: Exception | None = None
    probe: Callable[[], Any] | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Condition = field(default_factory=threading.Condition)

    def record(self, name: str, args: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(
                Call(name, dict(args), threading.current_thread().name, correlation_id.get())
            )
            self.lock.notify_all()

    def wait_for_calls(self, name: str, count: int, timeout: float) -> bool:
        """Block until `name` ran `count` times (True) or the timeout passed (False)."""
        with self.lock:
            return self.lock.wait_for(
                lambda: sum(c.name == name for c in self.calls) >= count, timeout
            )

    def all(self) -> list[Call]:
        with self.lock:
            return list(self.calls)

    def names(self) -> list[str]:
        with self.lock:
            return [c.name for c in self.calls]

    def args_of(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c.args for c in self.calls if c.name == name]

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
        self.crash_with = None
        self.failures_left = 0
        self.prepare_error = None
        self.probe = None
        self.entered = threading.Event()
        self.release = threading.Event()


RECORDER = Recorder()


@job("test.record")
def record(session: Session, **args: Any) -> None:
    RECORDER.record("test.record", args)


@job("test.read_workspace_name")
def read_workspace_name(session: Session, *, ws_id: int) -> None:
    workspace = session.get(Workspace, ws_id)
    RECORDER.record("test.read_workspace_name", {"name": workspace.name if workspace else None})


@job("test.rename_workspace")
def rename_workspace(session: Session, *, ws_id: int, new_name: str) -> None:
    RECORDER.record("test.rename_workspace", {"new_name": new_name})
    workspace = session.get(Workspace, ws_id)
    assert workspace is not None
    workspace.name = new_name


@job("test.rename_then_fail", max_attempts=5)
def rename_then_fail(session: Session, *, ws_id: int, new_name: str) -> None:
    RECORDER.record("test.rename_then_fail", {"new_name": new_name})
    workspace = session.get(Workspace, ws_id)
    assert workspace is not None
    workspace.name = new_name
    session.flush()
    raise RuntimeError("failed after writing")


@job("test.rename_and_break_commit", max_attempts=5)
def rename_and_break_commit(session: Session, *, ws_id: int, taken_slug: str) -> None:
    """Writes that only fail when the runner commits (the duplicate slug flushes at commit)."""
    RECORDER.record("test.rename_and_break_commit", {})
    workspace = session.get(Workspace, ws_id)
    assert workspace is not None
    workspace.name = "renamed by a job that never committed"
    session.add(Workspace(slug=taken_slug, name="duplicate", ticket_seq=0, settings={}))


@job("test.always_fails", max_attempts=4)
def always_fails(session: Session, **args: Any) -> None:
    RECORDER.record("test.always_fails", args)
    raise ValueError(f"always fails ({len(RECORDER.args_of('test.always_fails'))})")


@job("test.flaky")
def flaky(session: Session, **args: Any) -> None:
    """Fails while `RECORDER.failures_left` is positive, then succeeds."""
    RECORDER.record("test.flaky", args)
    with RECORDER.lock:
        failing = RECORDER.failures_left > 0
        RECORDER.failures_left -= 1 if failing else 0
    if failing:
        raise ConnectionError("flaky dependency")


@job("test.crash", max_attempts=3)
def crash(session: Session, *, ws_id: int | None = None) -> None:
    """Simulates a worker dying mid-job while `RECORDER.crash_with` is set."""
    crash_with = RECORDER.crash_with  # read first: the test may clear it once we have recorded
    RECORDER.record("test.crash", {})
    if ws_id is not None:
        workspace = session.get(Workspace, ws_id)
        assert workspace is not None
        workspace.name = "written before the crash"
        session.flush()
    if crash_with is not None:
        raise crash_with()


@job("test.blocking")
def blocking(session: Session, *, ws_id: int) -> None:
    """Holds the job's transaction open until the test releases it."""
    RECORDER.record("test.blocking", {})
    workspace = session.get(Workspace, ws_id)
    assert workspace is not None
    workspace.name = f"{workspace.name}+"
    session.flush()
    RECORDER.entered.set()
    if not RECORDER.release.wait(timeout=30):
        raise TimeoutError("test never released the blocking job")


@job("test.workspace_aware")
def workspace_aware(session: Session, **args: Any) -> None:
    """Jobs are documented to take IDs plus workspace_id: report what the runner passed."""
    RECORDER.record("test.workspace_aware", args)


def _probe() -> Any:
    return RECORDER.probe() if RECORDER.probe is not None else None


def _prepare_workspace_name(session: Session, *, ws_id: int) -> dict[str, Any]:
    RECORDER.record("test.prepared:prepare", {"probe": _probe()})
    if RECORDER.prepare_error is not None:
        raise RECORDER.prepare_error
    workspace = session.get(Workspace, ws_id)
    return {"name": workspace.name if workspace else None}


@job("test.prepared", prepare=_prepare_workspace_name, max_attempts=3)
def prepared(session: Session, *, prepared: dict[str, Any], ws_id: int) -> None:
    RECORDER.record("test.prepared", {"prepared": prepared, "probe": _probe()})
    workspace = session.get(Workspace, ws_id)
    assert workspace is not None
    workspace.name = f"{prepared['name']} (prepared)"
