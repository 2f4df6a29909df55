"""Test harness: a real database per test (SQLite file or PostgreSQL), eager jobs, named personas.

Tests commit for real instead of rolling back one outer transaction, because jobs and concurrent
requests open their own connections and must see committed data exactly as in production. SQLite
gets a fresh copy of a migrated template file per test; PostgreSQL is truncated after each test.
Choose the database with DESKPILOT_TEST_DATABASE_URL (unset or "sqlite" means SQLite).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from deskpilot.ai.embeddings import set_default_embedder
from deskpilot.db import migrate
from deskpilot.db.engine import Database, open_database
from deskpilot.kb.index import registry
from deskpilot.main import create_app
from deskpilot.models import metadata
from deskpilot.settings import Settings, normalize_database_url
from tests.clock import FrozenClock, frozen_clock
from tests.factories import Personas, make_personas, use_fast_password_hashing
from tests.fakes import HashingEmbedder

# The AI pipeline would answer every ticket a test creates; tests that exercise it ask for the
# `ai_pipeline` fixture.
os.environ["DESKPILOT_AI_PIPELINE"] = "false"
# A test process builds many apps; freezing its heap each time would only pin garbage.
os.environ["DESKPILOT_GC_TUNING"] = "false"

TEST_DATABASE_URL = os.environ.get("DESKPILOT_TEST_DATABASE_URL", "sqlite")
IS_POSTGRES = TEST_DATABASE_URL.startswith("postgres")
TEST_SECRET = "test-secret-key-" + "x" * 32


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: they are the slowest, and a failure elsewhere shows sooner."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to this machine only (database, Redis, loopback servers)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        local = host.startswith(("127.", "/")) or host in ("localhost", "::1")
        if isinstance(host, str) and self.family != socket.AF_UNIX and not local:
            raise RuntimeError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _embedder(request: pytest.FixtureRequest) -> Iterator[None]:
    """A hashing fake unless the test is marked `real_embedder` (offline MiniLM, slower)."""
    registry.forget()
    if request.node.get_closest_marker("real_embedder") is None:
        set_default_embedder(HashingEmbedder())
    yield
    set_default_embedder(None)
    registry.forget()


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run: a template SQLite file, or a clean PostgreSQL schema."""
    if IS_POSTGRES:
        url = normalize_database_url(TEST_DATABASE_URL)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        migrate.upgrade(url)
        yield url
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    yield str(path)


@pytest.fixture(scope="session")
def _pg_database(_template: str) -> Iterator[Database | None]:
    if not IS_POSTGRES:
        yield None
        return
    db = open_database(_template, pool_size=10)
    yield db
    db.dispose()


def _reset_postgres(database: Database) -> None:
    """Empty every table and restart id sequences: DELETE is ~10x faster than TRUNCATE here."""
    statements = [f'DELETE FROM "{t.name}"' for t in reversed(metadata.sorted_tables)]  # noqa: S608
    statements += [
        f"SELECT setval(pg_get_serial_sequence('\"{t.name}\"', 'id'), 1, false)"
        for t in metadata.sorted_tables
        if "id" in t.c and t.c["id"].autoincrement is True
    ]
    with database.write_engine.begin() as conn:
        conn.exec_driver_sql("; ".join(statements))


@pytest.fixture
def db(_template: str, _pg_database: Database | None, tmp_path: Path) -> Iterator[Database]:
    if _pg_database is not None:
        yield _pg_database
        _reset_postgres(_pg_database)
        return
    path = tmp_path / "deskpilot.db"
    shutil.copyfile(_template, path)
    database = open_database(f"sqlite:///{path}", pool_size=5)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path / "data",
        database_url=db.url,
        secret_key=TEST_SECRET,
        embedded_worker=False,
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db, queue_mode="immediate", start_worker=False)


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """deskpilot's clock frozen at a Monday 09:00 UTC; move it with `clock.advance(...)`."""
    yield from frozen_clock()


@pytest.fixture
def ai_pipeline(app: FastAPI) -> Iterator[None]:
    """Run the AI engine on new tickets and customer replies, as production does."""
    from deskpilot.triage import pipeline

    pipeline.set_enabled(True)
    yield
    pipeline.set_enabled(False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def session(db: Database, app: FastAPI) -> Iterator[Session]:
    """A write session for service-level tests; the test commits what it wants to keep."""
    with db.session(write=True) as s:
        yield s


@pytest.fixture
def personas(db: Database, app: FastAPI) -> Personas:
    with db.session(write=True) as s:
        people = make_personas(s)
        s.commit()
    return people
