"""JSON log lines: fields, request ids, and the request's id carried into the jobs it starts."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deskpilot.core.correlation import correlation_id
from deskpilot.db.engine import Database
from deskpilot.jobs import queue
from deskpilot.jobs.models import Job
from deskpilot.observability.logging import JsonFormatter, make_handler, uvicorn_log_config
from deskpilot.settings import Settings
from deskpilot.web.server import reset_multiprocess_metrics
from tests.factories import Personas

ARTICLE = {"title": "Export your data", "body": "Go to Settings > Export."}


class JsonLines:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def by(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["logger"] == logger]


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    """Everything logged at INFO and above, through the JSON formatter, one object a line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield JsonLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def test_a_record_becomes_one_json_line_with_extras_and_the_exception() -> None:
    logger = logging.getLogger("deskpilot.test")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        record = logger.makeRecord(
            "deskpilot.test", logging.ERROR, __file__, 1, "failed for %s", ("ticket 7",),
            sys.exc_info(), extra={"ticket_id": 7},
        )  # fmt: skip
    token = correlation_id.set("req-unit")
    try:
        line = JsonFormatter().format(record)
    finally:
        correlation_id.reset(token)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "ERROR"
    assert data["logger"] == "deskpilot.test"
    assert data["message"] == "failed for ticket 7"
    assert data["request_id"] == "req-unit"
    assert data["ticket_id"] == 7
    assert data["exc_type"] == "ValueError"
    assert "bad\nvalue" in data["exc_info"]
    assert data["time"].endswith("+00:00")
    assert "workspace_id" not in data  # unknown here


def test_a_request_logs_its_id_and_its_job_logs_the_same_id(
    client: TestClient, personas: Personas, json_logs: JsonLines
) -> None:
    headers = personas.ann.headers | {"X-Request-ID": "req-obs-1"}
    r = client.post("/api/v1/kb/articles", json=ARTICLE, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["x-request-id"] == "req-obs-1"

    [access] = [line for line in json_logs.by("deskpilot.access") if line["method"] == "POST"]
    assert access["request_id"] == "req-obs-1"
    assert (access["route"], access["path"], access["status"]) == (
        "/api/v1/kb/articles",
        "/api/v1/kb/articles",
        201,
    )
    assert access["duration_ms"] >= 0
    [job_line] = json_logs.by("deskpilot.jobs.queue")
    assert "(kb.index_article) done" in job_line["message"]
    assert job_line["request_id"] == "req-obs-1"
    assert job_line["workspace_id"] == personas.ann.workspace_id


def test_a_job_run_later_by_a_worker_logs_the_id_of_the_request_that_enqueued_it(
    client: TestClient,
    db: Database,
    personas: Personas,
    json_logs: JsonLines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatched: list[int] = []
    monkeypatch.setattr(queue, "dispatch", lambda job_id, delay=None: dispatched.append(job_id))
    headers = personas.ann.headers | {"X-Request-ID": "req-obs-2"}
    assert client.post("/api/v1/kb/articles", json=ARTICLE, headers=headers).status_code == 201
    [job_id] = dispatched
    with db.session(write=False) as s:
        assert s.scalars(select(Job.correlation_id).where(Job.id == job_id)).one() == "req-obs-2"

    assert correlation_id.get() is None  # a worker: no request around it
    assert queue.execute_job(job_id) == "done"
    [job_line] = json_logs.by("deskpilot.jobs.queue")
    assert job_line["request_id"] == "req-obs-2"
    assert job_line["workspace_id"] == personas.ann.workspace_id
    assert correlation_id.get() is None  # restored after the job


def test_an_unhandled_error_is_logged_with_the_request_id(
    client: TestClient, json_logs: JsonLines
) -> None:
    def explode() -> None:
        raise RuntimeError("boom")

    client.app.add_api_route("/api/v1/observability-boom", explode)  # type: ignore[attr-defined]
    r = client.get("/api/v1/observability-boom", headers={"X-Request-ID": "req-boom"})
    assert r.status_code == 500
    [error] = [line for line in json_logs.all() if line["level"] == "ERROR"]
    assert error["request_id"] == "req-boom"
    assert error["exc_type"] == "RuntimeError"


def test_log_format_defaults_to_json_in_production_and_text_elsewhere() -> None:
    secret = "k" * 40
    assert Settings(env="prod", secret_key=secret).resolved_log_format == "json"
    assert Settings(env="dev").resolved_log_format == "text"
    assert Settings(env="prod", secret_key=secret, log_format="text").resolved_log_format == "text"
    assert Settings(env="dev", log_format="json").resolved_log_format == "json"
    assert isinstance(make_handler("json").formatter, JsonFormatter)
    assert not isinstance(make_handler("text").formatter, JsonFormatter)


def test_uvicorn_logs_in_the_same_format() -> None:
    config = uvicorn_log_config("json", "info")
    assert config["formatters"]["deskpilot"]["()"].endswith("JsonFormatter")
    assert config["loggers"]["uvicorn"]["level"] == "INFO"
    assert "format" in uvicorn_log_config("text", "info")["formatters"]["deskpilot"]


def test_serve_clears_stale_multiprocess_metric_files(tmp_path: Path) -> None:
    directory = tmp_path / "prom"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    (directory / "keep.txt").write_text("not ours")
    reset_multiprocess_metrics(directory)
    assert sorted(p.name for p in directory.iterdir()) == ["keep.txt"]
