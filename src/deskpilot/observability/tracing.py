"""Optional OpenTelemetry tracing: on when an OTLP endpoint is configured and the packages exist.

Configured by DESKPILOT_OTEL_ENDPOINT or the standard OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over
HTTP, e.g. `http://collector:4318`); the packages come with `pip install 'deskpilot[otel]'`.
Instruments FastAPI (one span per request), SQLAlchemy (one span per statement) and httpx.
Not configured: nothing is imported and nothing happens.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI

from deskpilot import __version__
from deskpilot.db.engine import Database
from deskpilot.settings import Settings

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
_configured = False  # the tracer provider is process-wide and can be set once


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP wants the full traces URL; a bare collector address gets `/v1/traces`."""
    if urlsplit(endpoint).path.strip("/"):
        return endpoint
    return endpoint.rstrip("/") + TRACES_PATH


def setup_tracing(app: FastAPI, settings: Settings, db: Database) -> bool:
    """Instrument the app if tracing is configured; returns whether it is on."""
    global _configured
    if not settings.otel_endpoint:
        return False
    try:
        modules = _import_otel()
    except ImportError as exc:
        log.warning(
            "OpenTelemetry tracing is configured (%s) but its packages are not installed (%s); "
            "tracing is off. Install them with: pip install 'deskpilot[otel]'",
            settings.otel_endpoint,
            exc.name or exc,
        )
        return False
    if not _configured:
        provider = modules["TracerProvider"](
            resource=modules["Resource"].create(
                {"service.name": "deskpilot", "service.version": __version__}
            )
        )
        exporter = modules["OTLPSpanExporter"](endpoint=traces_url(settings.otel_endpoint))
        provider.add_span_processor(modules["BatchSpanProcessor"](exporter))
        modules["trace"].set_tracer_provider(provider)
        modules["HTTPXClientInstrumentor"]().instrument()
        # Instrumentors are process-wide singletons: a second call would be ignored anyway.
        engines = list(dict.fromkeys((db.read_engine, db.write_engine)))
        modules["SQLAlchemyInstrumentor"]().instrument(engines=engines)
        _configured = True
    modules["FastAPIInstrumentor"].instrument_app(app, excluded_urls="/health,/ready,/metrics")
    log.info("OpenTelemetry tracing on, exporting to %s", traces_url(settings.otel_endpoint))
    return True


def _import_otel() -> dict[str, Any]:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return {
        "trace": trace,
        "OTLPSpanExporter": OTLPSpanExporter,
        "FastAPIInstrumentor": FastAPIInstrumentor,
        "HTTPXClientInstrumentor": HTTPXClientInstrumentor,
        "SQLAlchemyInstrumentor": SQLAlchemyInstrumentor,
        "Resource": Resource,
        "TracerProvider": TracerProvider,
        "BatchSpanProcessor": BatchSpanProcessor,
    }
