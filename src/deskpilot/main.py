"""Application factory: settings in, a wired FastAPI app out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from deskpilot import __version__
from deskpilot.ai.api import router as ai_router
from deskpilot.analytics.api import router as analytics_router
from deskpilot.analytics.pages import router as analytics_pages_router
from deskpilot.auth.admin_pages import router as people_admin_router
from deskpilot.auth.api import router as auth_router
from deskpilot.auth.pages import router as auth_pages_router
from deskpilot.auth.users_api import router as users_router
from deskpilot.automation.api import router as automation_router
from deskpilot.automation.pages import router as automation_admin_router
from deskpilot.bootstrap import configure_runtime
from deskpilot.chat.api import router as chat_router
from deskpilot.chat.pages import router as chat_pages_router
from deskpilot.customers.api import router as customers_router
from deskpilot.customers.pages import router as customers_pages_router
from deskpilot.db.engine import Database, open_database
from deskpilot.email.api import router as email_router
from deskpilot.email.links_api import router as email_links_router
from deskpilot.email.pages import router as email_admin_router
from deskpilot.email.templates_api import router as email_templates_router
from deskpilot.escalations.api import router as escalations_router
from deskpilot.jobs import queue
from deskpilot.kb.admin_pages import router as kb_admin_router
from deskpilot.kb.api import router as kb_router
from deskpilot.kb.pages import router as help_center_router
from deskpilot.kb.search_api import router as kb_search_router
from deskpilot.llm.api import router as llm_router
from deskpilot.macros.api import router as macros_router
from deskpilot.macros.pages import router as macros_admin_router
from deskpilot.observability.middleware import MetricsMiddleware, RequestIdMiddleware
from deskpilot.observability.routes import router as metrics_router
from deskpilot.observability.tracing import setup_tracing
from deskpilot.portal.pages import router as portal_router
from deskpilot.routing.api import router as routing_router
from deskpilot.routing.pages import router as agent_status_router
from deskpilot.settings import Settings
from deskpilot.sla.api import router as sla_router
from deskpilot.sla.pages import router as sla_admin_router
from deskpilot.tickets.api import router as tickets_router
from deskpilot.tickets.attachments import AttachmentStore
from deskpilot.tickets.pages import router as tickets_pages_router
from deskpilot.tickets.ticket_pages import router as ticket_page_router
from deskpilot.triage import pipeline
from deskpilot.triage.api import router as triage_router
from deskpilot.triage.pages import router as ai_admin_router
from deskpilot.triage.policy_api import router as ai_policy_router
from deskpilot.web.deps import TokenCache
from deskpilot.web.errors import install_error_handlers
from deskpilot.web.limits import BodySizeLimitMiddleware
from deskpilot.web.nul_guard import NulGuardMiddleware
from deskpilot.web.routing import set_request_threads
from deskpilot.web.sessions import SessionCodec
from deskpilot.web.static import mount_static
from deskpilot.webhooks.api import router as webhooks_router
from deskpilot.webhooks.pages import router as webhooks_admin_router
from deskpilot.workspaces.api import router as workspaces_router
from deskpilot.workspaces.pages import router as workspace_admin_router

log = logging.getLogger(__name__)
# Where request bodies may be as large as an attachment (uploads and forms that carry files).
UPLOAD_PATHS = (
    "/api/v1/attachments",
    "/api/v1/email/inbound",
    "/app/tickets/",
    "/help/",
    "/admin/kb/import",
)


def queue_mode_for(settings: Settings) -> Literal["embedded", "redis"]:
    return "redis" if settings.redis_url else "embedded"


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    queue_mode: Literal["immediate", "embedded", "redis"] | None = None,
    start_worker: bool | None = None,
) -> FastAPI:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = db or open_database(settings.resolved_database_url, pool_size=settings.db_pool_size)
    mode = queue_mode or queue_mode_for(settings)
    configure_runtime(settings, database, queue_mode=mode)
    set_request_threads(settings.web_threads)
    run_worker = (
        start_worker
        if start_worker is not None
        else (mode == "embedded" and settings.embedded_worker)
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        consumer = (
            queue.start_consumer(settings.embedded_worker_threads, embedded=True)
            if run_worker
            else None
        )
        if consumer is not None and settings.ai_pipeline:
            pipeline.warm_up_in_background()
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop(graceful=True)
            if db is None:
                database.dispose()

    app = FastAPI(
        title="Deskpilot API",
        version=__version__,
        description="AI-first help desk. Authenticate with `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.token_cache = TokenCache()
    app.state.session_codec = SessionCodec(
        settings.resolved_secret_key, settings.session_max_age_seconds
    )
    app.state.attachment_store = AttachmentStore(
        settings.attachments_dir, settings.max_attachment_bytes
    )
    # Added first, so it runs inside the size limit and never buffers an oversized body.
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_max_bytes=settings.max_attachment_bytes + 64 * 1024,
        upload_paths=UPLOAD_PATHS,
    )
    # Outermost: metrics also time rejected bodies; the request id wraps the metrics middleware
    # so its access-log line still carries the id.
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    setup_tracing(app, settings, database)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/ready", tags=["ops"])
    def ready(request: Request) -> JSONResponse:
        try:
            with request.app.state.db.read_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not ready"; the details go to the log
            log.exception("readiness check failed")
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable"}, status_code=503
            )
        return JSONResponse({"status": "ok", "database": "ok"})

    mount_static(app, settings)
    for router in (
        metrics_router,
        auth_pages_router,
        tickets_pages_router,
        ticket_page_router,
        help_center_router,
        portal_router,
        chat_pages_router,
        chat_router,
        kb_admin_router,
        workspace_admin_router,
        people_admin_router,
        agent_status_router,
        ai_admin_router,
        sla_admin_router,
        automation_admin_router,
        macros_admin_router,
        customers_pages_router,
        email_admin_router,
        webhooks_admin_router,
        auth_router,
        users_router,
        workspaces_router,
        customers_router,
        tickets_router,
        escalations_router,
        kb_search_router,
        kb_router,
        ai_router,
        llm_router,
        ai_policy_router,
        triage_router,
        routing_router,
        macros_router,
        automation_router,
        sla_router,
        analytics_pages_router,
        analytics_router,
        email_router,
        email_templates_router,
        email_links_router,
        webhooks_router,
    ):
        app.include_router(router)
    return app
