"""`GET /metrics`: the Prometheus text exposition format.

Open to loopback clients only, unless DESKPILOT_METRICS_TOKEN is set: then any client with
`Authorization: Bearer <token>` (and no one without it).
"""

from __future__ import annotations

import ipaddress
import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from deskpilot.observability.metrics import exposition
from deskpilot.settings import Settings

router = APIRouter(tags=["ops"])
# The classic text format every Prometheus version reads (what `generate_latest` writes).
EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_denied(request: Request, token: str | None) -> Response | None:
    """None when the scraper may read the metrics; otherwise the response to send it."""
    if token:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and secrets.compare_digest(
            sent.strip().encode(), token.encode()
        ):
            return None
        return PlainTextResponse(
            "A valid metrics token is required.\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if is_loopback(request.client.host if request.client else None):
        return None
    return PlainTextResponse(
        "Metrics are served to loopback clients only; set DESKPILOT_METRICS_TOKEN to scrape "
        "from elsewhere.\n",
        status_code=403,
    )


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    denied = access_denied(request, settings.metrics_token)
    if denied is not None:
        return denied
    body = exposition(request.app.state.db, settings.prometheus_multiproc_dir)
    return Response(body, media_type=EXPOSITION_CONTENT_TYPE)
