"""Per-workspace calibrators refitted from the workspace's own outcomes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from deskpilot.core.clock import utcnow
from deskpilot.triage import calibration
from deskpilot.triage import confidence as conf
from deskpilot.triage.models import AiDecision
from deskpilot.triage.tasks import refit_calibrators
from tests.factories import Personas, make_ticket


def outcome_rows(
    session: Session, personas: Personas, count: int, *, workspace: str = "ann"
) -> None:
    persona = getattr(personas, workspace)
    ticket = make_ticket(session, persona.ctx)
    old = utcnow() - timedelta(days=30)
    for i in range(count):
        strong = i % 2 == 0
        values = dict.fromkeys(conf.FEATURES, 0.0) | {
            "margin_2": 3.0 if strong else 0.5,
            "passage_cosine": 0.8 if strong else 0.3,
        }
        # Mostly right when strong, mostly wrong when weak, with some noise both ways.
        right = strong != (i % 10 == 0)
        session.add(
            AiDecision(
                workspace_id=persona.workspace_id,
                ticket_id=ticket.id,
                source="ticket",
                query=f"q{i}",
                decision="confirm",
                confidence=0.5,
                rule="threshold",
                inputs={"features": values},
                outcome="confirmed" if right else "rejected",
                created_at=old,
            )
        )
    session.flush()


def test_too_few_outcomes_keep_the_shipped_calibrator(session: Session, personas: Personas) -> None:
    outcome_rows(session, personas, 50)
    assert calibration.refit(session, personas.ann.ctx) is None
    assert calibration.calibrator_for(session, personas.ann.ctx) == conf.default_calibrator()


def test_enough_outcomes_fit_a_workspace_calibrator(session: Session, personas: Personas) -> None:
    outcome_rows(session, personas, 240)
    row = calibration.refit(session, personas.ann.ctx)
    assert row is not None
    assert row.version == 1
    assert row.samples == 240
    assert 0.0 <= row.metrics["ece"] <= 1.0
    mine = calibration.calibrator_for(session, personas.ann.ctx)
    assert mine.name == f"workspace-{personas.ann.workspace_id}-v1"
    strong = dict.fromkeys(conf.FEATURES, 0.0) | {"margin_2": 3.0, "passage_cosine": 0.8}
    weak = dict.fromkeys(conf.FEATURES, 0.0) | {"margin_2": 0.5, "passage_cosine": 0.3}
    # 90% of strong answers were confirmed, 90% of weak ones rejected.
    assert mine.probability(strong) > 0.75
    assert mine.probability(weak) < 0.25
    # Nothing new since: no second version. Globex is untouched.
    assert calibration.refit(session, personas.ann.ctx) is None
    assert calibration.calibrator_for(session, personas.gina.ctx) == conf.default_calibrator()


def test_the_hourly_job_refits_every_workspace_that_qualifies(
    session: Session, personas: Personas
) -> None:
    outcome_rows(session, personas, 240)
    refit_calibrators(session)
    assert calibration.calibrator_for(session, personas.ann.ctx).name.endswith("-v1")
    assert calibration.calibrator_for(session, personas.gina.ctx) == conf.default_calibrator()


def test_unsettled_and_foreign_outcomes_are_not_labels(
    session: Session, personas: Personas
) -> None:
    outcome_rows(session, personas, 30, workspace="gina")
    ticket = make_ticket(session, personas.ann.ctx)
    session.add(
        AiDecision(
            workspace_id=personas.ann.workspace_id,
            ticket_id=ticket.id,
            source="ticket",
            query="fresh",
            decision="resolve",
            confidence=0.9,
            rule="threshold",
            inputs={"features": dict.fromkeys(conf.FEATURES, 1.0)},
            created_at=utcnow(),
        )
    )
    session.flush()
    features, labels = calibration.labelled_outcomes(session, personas.ann.ctx)
    assert features == []
    assert labels == []
