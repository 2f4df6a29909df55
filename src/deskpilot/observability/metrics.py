"""Prometheus metrics: their definitions, the helpers that record them, and the scrape.

Services import the `record_*` / `observe_*` helpers; this module depends on prometheus_client and
the jobs table only, never on the web layer. Counters that describe committed facts (AI decisions,
tokens and cost, SLA breaches) are incremented by their callers from an after-commit hook, so a
rolled-back transaction is not counted. HTTP and job metrics describe what a process did, committed
or not.

Metrics live in this process's default registry. With several server processes, each answers
`/metrics` for itself, unless PROMETHEUS_MULTIPROC_DIR is set (see docs/operations.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from deskpilot.core.clock import utcnow
from deskpilot.db.engine import Database
from deskpilot.jobs.models import Job

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "unmatched"
"""The route label of requests no route matched (a raw path would let anyone add label values)."""
MAX_MODEL_LABEL = 100

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

HTTP_REQUEST_DURATION = Histogram(
    "deskpilot_http_request_duration_seconds",
    "HTTP request latency by route template, method and status class (event streams: time to "
    "the response headers).",
    ("method", "route", "status_class"),
    buckets=HTTP_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "deskpilot_http_requests",
    "HTTP requests by route template, method and status code.",
    ("method", "route", "status"),
)
JOB_DURATION = Histogram(
    "deskpilot_job_duration_seconds",
    "Background job runs by job name and outcome (done, retry, failed), in seconds.",
    ("name", "outcome"),
    buckets=JOB_BUCKETS,
)
AI_DECISIONS = Counter(
    "deskpilot_ai_decisions",
    "Committed AI engine decisions by source (ticket, chat, dry_run) and decision (resolve, "
    "confirm, clarify, escalate).",
    ("source", "decision"),
)
AI_DECISION_OUTCOMES = Counter(
    "deskpilot_ai_decision_outcomes",
    "Committed outcomes of AI decisions (confirmed, rejected, reopened, escalated, "
    "resolved_by_agent).",
    ("outcome",),
)
LLM_REQUEST_DURATION = Histogram(
    "deskpilot_llm_request_duration_seconds",
    "Language-model calls (retries included) by provider and status (ok, error, fallback, "
    "over_budget), in seconds.",
    ("provider", "status"),
    buckets=LLM_BUCKETS,
)
LLM_TOKENS = Counter(
    "deskpilot_llm_tokens",
    "Language-model tokens billed, by provider, model and kind (input, output).",
    ("provider", "model", "kind"),
)
LLM_COST = Counter(
    "deskpilot_llm_cost_usd",
    "Language-model cost in US dollars (from the workspace's configured prices).",
    ("provider", "model"),
)
SLA_BREACHES = Counter(
    "deskpilot_sla_breaches",
    "SLA targets breached, by metric (first_response, next_response, resolution) and how the "
    "breach was detected (sweep, on_stop).",
    ("metric", "detected"),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "OTHER"
    HTTP_REQUEST_DURATION.labels(method, route, f"{status // 100}xx").observe(seconds)
    HTTP_REQUESTS.labels(method, route, str(status)).inc()


def observe_job(name: str, outcome: str, seconds: float) -> None:
    JOB_DURATION.labels(name, outcome).observe(max(seconds, 0.0))


def record_ai_decision(source: str, decision: str) -> None:
    AI_DECISIONS.labels(source, decision).inc()


def record_ai_outcome(outcome: str) -> None:
    AI_DECISION_OUTCOMES.labels(outcome).inc()


def record_llm_call(
    *,
    provider: str,
    model: str,
    status: str,
    latency_ms: float,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
) -> None:
    model = model[:MAX_MODEL_LABEL]
    LLM_REQUEST_DURATION.labels(provider, status).observe(max(latency_ms, 0.0) / 1000.0)
    LLM_TOKENS.labels(provider, model, "input").inc(max(input_tokens, 0))
    LLM_TOKENS.labels(provider, model, "output").inc(max(output_tokens, 0))
    LLM_COST.labels(provider, model).inc(max(cost_usd, 0.0))


def record_sla_breaches(metric: str, detected: str, count: int = 1) -> None:
    SLA_BREACHES.labels(metric, detected).inc(count)


class JobQueueCollector(Collector):
    """Queue depth read from the `jobs` table at scrape time (not kept in memory), so every
    process and every queue mode (embedded, Redis) reports the same truth.

    Two reads on the `(status, run_after)` index: pending jobs by name, and the oldest due one.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterable[Metric]:
        now = utcnow()
        try:
            with self.db.read_engine.connect() as conn:
                pending = conn.execute(
                    select(Job.name, func.count())
                    .where(Job.status == "pending")
                    .group_by(Job.name)
                    .order_by(Job.name)
                ).all()
                oldest_due = conn.execute(
                    select(func.min(Job.run_after)).where(
                        Job.status == "pending", Job.run_after <= now
                    )
                ).scalar()
        except SQLAlchemyError:
            log.exception("metrics: could not read the job queue")
            return
        depth = GaugeMetricFamily(
            "deskpilot_jobs_pending", "Jobs waiting to run (status pending), by job name.",
            labels=("name",),
        )  # fmt: skip
        for name, count in pending:
            depth.add_metric((name,), count)
        yield depth
        yield GaugeMetricFamily(
            "deskpilot_jobs_oldest_due_seconds",
            "How long the oldest due, pending job has waited past its run time (0 when none).",
            value=_seconds_since(oldest_due, now),
        )


def _seconds_since(moment: datetime | None, now: datetime) -> float:
    if moment is None:
        return 0.0
    return max((now - moment).total_seconds(), 0.0)


class _ThisProcess(Collector):
    """Everything registered in this process's default registry (ours and the process stats)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def exposition(db: Database, multiproc_dir: Path | None = None) -> bytes:
    """The text exposition format for one scrape: this process's metrics (or, in multiprocess
    mode, every process's) plus the queue depth."""
    registry = CollectorRegistry()
    if multiproc_dir is not None:
        MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(JobQueueCollector(db))
    return generate_latest(registry)
