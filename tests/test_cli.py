"""The `deskpilot` command, run in-process against the test database through its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from deskpilot.auth import service as auth_service
from deskpilot.auth.models import Membership, User
from deskpilot.cli import main
from deskpilot.db.engine import Database
from deskpilot.demo.seed import DEMO_PASSWORD
from deskpilot.tickets.lifecycle import Status
from deskpilot.tickets.models import Ticket
from deskpilot.web import server
from deskpilot.web import workers as server_workers
from deskpilot.workspaces.models import Workspace
from tests.conftest import TEST_SECRET
from tests.factories import use_fast_password_hashing

PASSWORD = "s3cure-enough"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@pytest.fixture(autouse=True)
def _no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads DESKPILOT_* itself; a developer's own settings must not leak into tests."""
    for name in list(os.environ):
        if name.startswith("DESKPILOT_") and not name.startswith("DESKPILOT_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "cli-data"


@pytest.fixture
def cli_env(db: Database, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at the test database; nothing from the developer's shell leaks in."""
    monkeypatch.setenv("DESKPILOT_ENV", "test")
    monkeypatch.setenv("DESKPILOT_DATABASE_URL", db.url)
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DESKPILOT_SECRET_KEY", TEST_SECRET)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def create_admin(slug: str, email: str, *extra: str, password: str = PASSWORD) -> Result:
    return run(
        "admin", "create", "--workspace", slug, "--email", email, "--password", password, *extra
    )


def count(db: Database, stmt: Any) -> int:
    with db.session(write=False) as s:
        return int(s.scalar(stmt) or 0)


# --- workspace, admin, token ---------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_workspace_create_and_duplicate(db: Database) -> None:
    result = run("workspace", "create", "acme", "--name", "Acme Support")
    assert result.exit_code == 0, result.output
    assert "Created workspace 'acme'" in result.output
    with db.session(write=False) as s:
        assert s.scalars(select(Workspace.name).where(Workspace.slug == "acme")).one() == (
            "Acme Support"
        )

    again = run("workspace", "create", "acme", "--name", "Other")
    assert again.exit_code == 1
    assert "already exists" in again.stderr


@pytest.mark.usefixtures("cli_env")
def test_workspace_create_rejects_bad_slug(db: Database) -> None:
    result = run("workspace", "create", "Not A Slug", "--name", "x")
    assert result.exit_code == 1
    assert "Invalid workspace slug" in result.stderr
    assert count(db, select(func.count(Workspace.id))) == 0


@pytest.mark.usefixtures("cli_env")
def test_admin_create_first_owner_then_admins(db: Database) -> None:
    assert run("workspace", "create", "acme", "--name", "Acme").exit_code == 0
    first = create_admin("acme", "Olivia@Example.com", "--name", "Olivia")
    second = create_admin("acme", "adam@example.com")
    assert first.exit_code == 0, first.output
    assert "olivia@example.com as owner" in first.output
    assert second.exit_code == 0, second.output
    assert "adam@example.com as admin" in second.output

    with db.session(write=False) as s:
        roles = dict(s.execute(select(User.email, Membership.role).join(Membership)).all())
        assert roles == {"olivia@example.com": "owner", "adam@example.com": "admin"}
        ctx = auth_service.authenticate(s, "acme", "olivia@example.com", PASSWORD)
        assert ctx.role == "owner"


@pytest.mark.usefixtures("cli_env")
def test_admin_create_explicit_role_and_errors(db: Database) -> None:
    assert run("workspace", "create", "acme", "--name", "Acme").exit_code == 0
    explicit = create_admin("acme", "a@example.com", "--role", "admin")
    assert explicit.exit_code == 0
    assert "as admin" in explicit.output

    short = create_admin("acme", "b@example.com", password="short")
    assert short.exit_code == 1
    assert "Password too short" in short.stderr

    missing = create_admin("nope", "c@example.com")
    assert missing.exit_code == 1
    assert "'nope' not found" in missing.stderr

    duplicate = create_admin("acme", "a@example.com")
    assert duplicate.exit_code == 1
    assert "already a member" in duplicate.stderr
    assert count(db, select(func.count(Membership.id))) == 1


@pytest.mark.usefixtures("cli_env")
def test_token_create_prints_only_a_working_token(client: TestClient) -> None:
    assert run("workspace", "create", "acme", "--name", "Acme").exit_code == 0
    assert create_admin("acme", "olivia@example.com").exit_code == 0

    result = run("token", "create", "--workspace", "acme", "--email", "olivia@example.com")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("dp_")

    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "owner"


@pytest.mark.usefixtures("cli_env")
def test_token_create_for_a_non_member_fails() -> None:
    assert run("workspace", "create", "acme", "--name", "Acme").exit_code == 0
    assert run("workspace", "create", "globex", "--name", "Globex").exit_code == 0
    assert create_admin("globex", "gus@example.com").exit_code == 0

    for email in ("gus@example.com", "nobody@example.com"):
        result = run("token", "create", "--workspace", "acme", "--email", email)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert "is not a member of 'acme'" in result.stderr


# --- demo ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_demo_seeds_every_status_and_is_idempotent(db: Database) -> None:
    result = run("demo", "--if-empty")
    assert result.exit_code == 0, result.output
    assert "Seeded workspace 'demo'" in result.output
    assert DEMO_PASSWORD in result.output
    assert "sam@acmecloud.example.com" in result.output

    with db.session(write=False) as s:
        statuses = set(s.scalars(select(Ticket.status).distinct()))
    assert statuses == {status.value for status in Status}
    tickets = count(db, select(func.count(Ticket.id)))
    assert tickets >= 40

    for args in (("demo", "--if-empty"), ("demo",)):
        again = run(*args)
        assert again.exit_code == 0, again.output
        assert "already exists" in again.output
        assert DEMO_PASSWORD in again.output
    assert count(db, select(func.count(Ticket.id))) == tickets
    assert count(db, select(func.count(Workspace.id))) == 1


@pytest.mark.usefixtures("cli_env")
def test_demo_if_empty_leaves_a_used_database_alone(db: Database) -> None:
    assert run("workspace", "create", "acme", "--name", "Acme").exit_code == 0
    result = run("demo", "--if-empty")
    assert result.exit_code == 0
    assert "skipping the demo" in result.output
    assert count(db, select(func.count(Workspace.id))) == 1


# --- database ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_db_upgrade_is_repeatable_and_db_check_passes() -> None:
    upgrade = run("db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    assert "latest schema" in upgrade.output
    check = run("db", "check")
    assert check.exit_code == 0, check.output
    assert "Models and migrations agree" in check.output


@pytest.mark.usefixtures("cli_env")
def test_db_check_fails_and_prints_the_difference(db: Database) -> None:
    with db.write_engine.begin() as conn:
        conn.execute(text("CREATE TABLE stray_table (id INTEGER PRIMARY KEY)"))
    try:
        result = run("db", "check")
    finally:
        with db.write_engine.begin() as conn:
            conn.execute(text("DROP TABLE stray_table"))
    assert result.exit_code == 1
    assert "stray_table" in result.output
    assert "difference(s) between the models and the migrations" in result.stderr


def test_db_upgrade_creates_a_fresh_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(tmp_path / "fresh"))
    assert run("db", "upgrade").exit_code == 0
    assert (tmp_path / "fresh" / "deskpilot.db").exists()
    assert run("db", "check").exit_code == 0


def test_commands_on_an_unmigrated_database_explain_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKPILOT_DATA_DIR", str(tmp_path / "empty"))
    result = run("workspace", "create", "acme", "--name", "Acme")
    assert result.exit_code == 1
    assert "deskpilot db upgrade" in result.stderr


def test_invalid_settings_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKPILOT_ENV", "prod")
    result = run("db", "check")
    assert result.exit_code == 1
    assert "DESKPILOT_SECRET_KEY must be set" in result.stderr


# --- serve and worker ----------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(server.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    return calls


@pytest.mark.usefixtures("cli_env")
def test_serve_runs_uvicorn_on_the_app_factory(
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
) -> None:
    result = run("serve", "--port", "8765")
    assert result.exit_code == 0, result.output
    [(app, options)] = uvicorn_calls
    assert app == "deskpilot.web.server:app_factory"
    assert options["factory"] is True
    assert options["workers"] == 1
    assert options["port"] == 8765
    assert options["host"] == "127.0.0.1"


@pytest.mark.usefixtures("cli_env")
def test_serve_with_workers_supervises_processes_with_their_own_sockets(
    uvicorn_calls: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[server_workers.Supervisor] = []
    monkeypatch.setattr(server_workers.Supervisor, "run", lambda self: started.append(self))
    result = run("serve", "--port", "8765", "--workers", "3")
    assert result.exit_code == 0, result.output
    assert uvicorn_calls == []
    [supervisor] = started
    assert supervisor.workers == 3
    assert supervisor.config.app == "deskpilot.web.server:app_factory"
    assert supervisor.config.factory is True
    assert (supervisor.config.host, supervisor.config.port) == ("127.0.0.1", 8765)


@pytest.mark.usefixtures("cli_env")
def test_serve_rejects_reload_with_several_workers(
    uvicorn_calls: list[tuple[Any, dict[str, Any]]],
) -> None:
    result = run("serve", "--reload", "--workers", "2")
    assert result.exit_code == 1
    assert "--reload runs a single process" in result.stderr
    assert uvicorn_calls == []


@pytest.mark.usefixtures("cli_env")
def test_worker_without_redis_points_to_serve() -> None:
    result = run("worker")
    assert result.exit_code == 1
    assert "DESKPILOT_REDIS_URL" in result.stderr
    assert "deskpilot serve" in result.stderr


HOLD_LOCK = """
import sys
from pathlib import Path
from deskpilot.web.server import try_acquire_worker_lock
print(try_acquire_worker_lock(Path(sys.argv[1])), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def lock_held_elsewhere(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process (like a second uvicorn worker) that took the consumer lock first."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "True"
    yield proc
    proc.communicate("")


@pytest.fixture
def started_workers(monkeypatch: pytest.MonkeyPatch) -> list[bool | None]:
    seen: list[bool | None] = []

    def fake_create_app(_settings: Any, *, start_worker: bool | None = None) -> object:
        seen.append(start_worker)
        return object()

    monkeypatch.setattr(server, "create_app", fake_create_app)
    # Leave the test process's logging configuration alone.
    monkeypatch.setattr(server, "configure_logging", lambda *_args, **_kwargs: None)
    return seen


@pytest.mark.usefixtures("cli_env")
def test_only_the_lock_holder_runs_the_embedded_consumer(
    data_dir: Path,
    lock_held_elsewhere: subprocess.Popen[str],
    started_workers: list[bool | None],
) -> None:
    server.app_factory()
    assert started_workers == [False]
    assert server.try_acquire_worker_lock(data_dir) is False

    lock_held_elsewhere.communicate("")  # that process exits and the OS drops its lock
    server.app_factory()
    assert started_workers == [False, True]
    server.release_worker_lock(data_dir)


@pytest.mark.usefixtures("cli_env")
def test_no_embedded_consumer_with_redis_or_when_disabled(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, started_workers: list[bool | None]
) -> None:
    monkeypatch.setenv("DESKPILOT_REDIS_URL", "redis://127.0.0.1:6379/15")
    server.app_factory()
    monkeypatch.delenv("DESKPILOT_REDIS_URL")
    monkeypatch.setenv("DESKPILOT_EMBEDDED_WORKER", "false")
    server.app_factory()
    assert started_workers == [False, False]
    assert not (data_dir / server.WORKER_LOCK_NAME).exists()
