"""Which calibrator a workspace uses, and refitting it from the workspace's own outcomes.

Labels come from what happened after the AI answered: the customer confirmed (right), said no or
reopened (wrong), or an auto-resolved ticket stayed resolved for `SETTLED_AFTER` (right). Until a
workspace has `MIN_SAMPLES` such outcomes with both kinds well represented, it uses the shipped
default calibrator.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context
from deskpilot.db.scoped import scoped
from deskpilot.triage import confidence as conf
from deskpilot.triage.confidence import Calibrator
from deskpilot.triage.models import AiCalibrator, AiDecision

log = logging.getLogger(__name__)

MIN_SAMPLES = 200
MIN_PER_CLASS = 20
# Refit only when the evidence grew by this share since the last fit.
REFIT_GROWTH = 0.1
SETTLED_AFTER = timedelta(days=7)
RIGHT = frozenset({"confirmed"})
# An answer followed by a hand-off did not settle the question; an agent resolving after it is
# ambiguous (the answer may have helped), so it is no label.
WRONG = frozenset({"rejected", "reopened", "escalated"})


def calibrator_for(session: Session, ctx: Context) -> Calibrator:
    row = session.scalars(
        scoped(ctx, AiCalibrator).order_by(AiCalibrator.version.desc()).limit(1)
    ).first()
    if row is None:
        return conf.default_calibrator()
    return Calibrator.from_params(row.params)


def labelled_outcomes(session: Session, ctx: Context) -> tuple[list[dict[str, float]], list[bool]]:
    """Feature rows and right/wrong labels of the workspace's answered tickets."""
    settled_before = utcnow() - SETTLED_AFTER
    rows = session.execute(
        select(AiDecision.inputs, AiDecision.outcome, AiDecision.decision, AiDecision.created_at)
        .where(AiDecision.workspace_id == ctx.workspace_id)
        .where(AiDecision.source == "ticket", AiDecision.decision.in_(("resolve", "confirm")))
    ).all()
    features: list[dict[str, float]] = []
    labels: list[bool] = []
    for inputs, outcome, decision, created_at in rows:
        values = (inputs or {}).get("features") or {}
        if not values or any(name not in values for name in conf.FEATURES):
            continue
        if outcome in RIGHT or (
            outcome is None and decision == "resolve" and created_at < settled_before
        ):
            labels.append(True)
        elif outcome in WRONG:
            labels.append(False)
        else:
            continue
        features.append({name: float(values[name]) for name in conf.FEATURES})
    return features, labels


def refit(session: Session, ctx: Context) -> AiCalibrator | None:
    """Fit and store the next calibrator version when there is enough evidence; else None."""
    features, labels = labelled_outcomes(session, ctx)
    right = sum(labels)
    if len(labels) < MIN_SAMPLES or min(right, len(labels) - right) < MIN_PER_CLASS:
        return None
    latest = session.scalars(
        scoped(ctx, AiCalibrator).order_by(AiCalibrator.version.desc()).limit(1)
    ).first()
    if latest is not None and len(labels) < latest.samples * (1 + REFIT_GROWTH):
        return None
    version = (latest.version if latest else 0) + 1
    calibrator = conf.fit_calibrator(
        features, labels, name=f"workspace-{ctx.workspace_id}-v{version}"
    )
    probabilities = [calibrator.probability(row) for row in features]
    table, ece = conf.reliability(probabilities, labels)
    metrics: dict[str, Any] = {"ece": ece, "reliability": table, "accuracy": right / len(labels)}
    row = AiCalibrator(
        workspace_id=ctx.workspace_id,
        version=version,
        method="logistic",
        params=calibrator.as_params(),
        samples=len(labels),
        metrics=metrics,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    log.info("refitted calibrator %s on %d outcomes (ece %.3f)", calibrator.name, len(labels), ece)
    return row
