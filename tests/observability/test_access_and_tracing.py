"""Who may scrape /metrics, and optional tracing (off unless configured)."""

from __future__ import annotations

import logging
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deskpilot.db.engine import Database
from deskpilot.main import create_app
from deskpilot.observability import tracing
from deskpilot.settings import Settings
from tests.observability.conftest import LOOPBACK, parse

TOKEN = "metrics-token-0123456789"


def client_at(app: FastAPI, host: str) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, client=(host, 50000))


@pytest.fixture
def token_app(settings: Settings, db: Database) -> FastAPI:
    return create_app(
        settings.model_copy(update={"metrics_token": TOKEN}),
        db=db,
        queue_mode="immediate",
        start_worker=False,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1"])
def test_without_a_token_loopback_clients_may_scrape(app: FastAPI, host: str) -> None:
    r = client_at(app, host).get("/metrics")
    assert r.status_code == 200
    assert parse(r.text).value("deskpilot_jobs_oldest_due_seconds") == 0
    assert "# TYPE deskpilot_http_request_duration_seconds histogram" in r.text


@pytest.mark.parametrize("host", ["10.1.2.3", "203.0.113.9", "testclient"])
def test_without_a_token_other_clients_are_refused(app: FastAPI, host: str) -> None:
    r = client_at(app, host).get("/metrics")
    assert r.status_code == 403
    assert "DESKPILOT_METRICS_TOKEN" in r.text
    assert "deskpilot_" not in r.text


def test_with_a_token_only_the_bearer_of_the_token_may_scrape(token_app: FastAPI) -> None:
    remote = client_at(token_app, "203.0.113.9")
    good = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert good.status_code == 200
    assert "deskpilot_jobs_oldest_due_seconds" in good.text
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = remote.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "deskpilot_" not in r.text
    # Loopback is no exception once a token is set.
    assert client_at(token_app, LOOPBACK[0]).get("/metrics").status_code == 401


def test_metrics_are_not_part_of_the_api_schema(app: FastAPI) -> None:
    assert "/metrics" not in app.openapi()["paths"]


def test_tracing_is_off_and_silent_when_not_configured(
    app: FastAPI, settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.otel_endpoint is None
    with caplog.at_level(logging.DEBUG, logger="deskpilot.observability.tracing"):
        assert tracing.setup_tracing(app, settings, db) is False
    assert caplog.records == []


def test_tracing_configured_without_its_packages_warns_and_stays_off(
    app: FastAPI,
    settings: Settings,
    db: Database,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    configured = settings.model_copy(update={"otel_endpoint": "http://collector:4318"})
    with caplog.at_level(logging.WARNING, logger="deskpilot.observability.tracing"):
        assert tracing.setup_tracing(app, configured, db) is False
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert "http://collector:4318" in warning.getMessage()
    assert "pip install 'deskpilot[otel]'" in warning.getMessage()


def test_the_standard_otel_variable_configures_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    assert Settings().otel_endpoint == "http://otel:4318"
    monkeypatch.setenv("DESKPILOT_OTEL_ENDPOINT", "http://mine:4318")
    assert Settings().otel_endpoint == "http://mine:4318"


def test_the_traces_url_gets_the_otlp_path_only_when_missing() -> None:
    assert tracing.traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert tracing.traces_url("https://x.example/otlp/v1/traces") == (
        "https://x.example/otlp/v1/traces"
    )
