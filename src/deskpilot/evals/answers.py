"""`deskpilot eval answers` and `deskpilot ai calibrate`: how often the engine's answers are right,
how well its confidence is calibrated, and what auto-answering costs in mistakes.

The KB is imported into a throwaway workspace and indexed; the workspace's embedder is adapted to
its KB as a real workspace's is (`--no-adapt` skips that). Every query then runs through the
engine exactly as `POST /api/v1/ai/answer` does (classification, retrieval, builtin answer,
grounding, calibrated confidence, decision rules). An answer is right when the article it cites
first is the query's labelled article.

Reported: P@1 of the cited article, decisions, the auto-answer error rate and coverage at the
workspace's default thresholds, the risk-coverage curve, a reliability table with the expected
calibration error, and latency. `--folds K` also reports the same with calibrators cross-fitted
on the queries themselves (each query scored by a calibrator that never saw it), which is the
honest number for the development queries the shipped calibrator was fitted on.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from deskpilot.evals.calibration import labelled_queries, prepared_workspace
from deskpilot.evals.common import Sandbox, percentiles
from deskpilot.triage import confidence as conf
from deskpilot.triage import engine
from deskpilot.triage.answering import Turn
from deskpilot.triage.confidence import Calibrator
from deskpilot.triage.decide import decide
from deskpilot.triage.policy import DecisionPolicy
from deskpilot.triage.service import ANSWERED

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))


@dataclass
class Scored:
    query: str
    expected: str
    cited: str | None
    features: dict[str, float]
    run: engine.EngineRun

    @property
    def right(self) -> bool:
        return self.cited is not None and self.cited == self.expected


def _score_all(box: Sandbox, labelled: list[tuple[str, str]]) -> tuple[list[Scored], list[float]]:
    scored: list[Scored] = []
    samples: list[float] = []
    with box.db.session(write=True) as session:
        for query, expected in labelled:
            started = time.perf_counter()
            run = engine.run(session, box.ctx, engine.Question(turns=(Turn("customer", query),)))
            samples.append((time.perf_counter() - started) * 1000)
            session.rollback()  # a dry run stores nothing here, not even usage rows
            first = run.citations[0]["external_id"] if run.citations else None
            if first is None and run.hits:
                first = run.hits[0].external_id
            scored.append(Scored(query, expected, first, run.features, run))
    return scored, samples


def _decisions(scored: list[Scored], confidences: list[float], policy: DecisionPolicy) -> list[str]:
    return [
        decide(policy, dataclasses.replace(s.run.decision_inputs, confidence=c)).decision
        for s, c in zip(scored, confidences, strict=True)
    ]


def summarise(
    scored: list[Scored], confidences: list[float], policy: DecisionPolicy
) -> dict[str, Any]:
    right = np.array([s.right for s in scored])
    conf_array = np.asarray(confidences)
    decisions = np.array(_decisions(scored, confidences, policy))
    total = len(scored)

    def band(mask: np.ndarray) -> dict[str, Any]:
        count = int(mask.sum())
        wrong = int((mask & ~right).sum())
        return {
            "count": count,
            "coverage": round(count / total, 4) if total else 0.0,
            "right_coverage": round(int((mask & right).sum()) / total, 4) if total else 0.0,
            "wrong": wrong,
            "wrong_rate": round(wrong / count, 4) if count else 0.0,
        }

    curve = []
    for threshold in THRESHOLDS:
        mask = conf_array >= threshold
        item = band(mask)
        curve.append(
            {
                "threshold": threshold,
                "coverage": item["right_coverage"],
                "risk": item["wrong_rate"],
                "answered": item["count"],
            }
        )
    table, ece = conf.reliability(conf_array.tolist(), right.tolist())
    return {
        "decisions": {
            d: int((decisions == d).sum()) for d in ("resolve", "confirm", "clarify", "escalate")
        },
        "auto_resolved": band(decisions == "resolve"),
        "answered": band(np.isin(decisions, ANSWERED)),
        "risk_coverage": curve,
        "reliability": table,
        "ece": ece,
        "mean_confidence": round(float(conf_array.mean()), 4) if total else 0.0,
    }


def cross_fitted(scored: list[Scored], folds: int) -> list[float]:
    """Each query's confidence from a calibrator fitted on the other folds."""
    confidences = [0.0] * len(scored)
    usable = [i for i, s in enumerate(scored) if s.features]
    splitter = KFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(usable):
        fold: Calibrator = conf.fit_calibrator(
            [scored[usable[i]].features for i in train],
            [scored[usable[i]].right for i in train],
            name="fold",
        )
        for i in test:
            s = scored[usable[i]]
            grounded = bool(s.run.grounding and s.run.grounding.grounded)
            confidences[usable[i]] = conf.confidence(fold, s.features, grounded=grounded)
    return confidences


def run(kb_path: Path, queries_path: Path, *, adapt: bool = True, folds: int = 0) -> dict[str, Any]:
    labelled = labelled_queries(queries_path)
    with prepared_workspace(kb_path, adapt=adapt) as (box, report):
        report["queries"] = str(queries_path)
        scored, samples = _score_all(box, labelled)
    policy = DecisionPolicy()
    report["policy"] = {
        "resolve_threshold": policy.resolve_threshold,
        "confirm_threshold": policy.confirm_threshold,
    }
    report["calibrator"] = scored[0].run.calibrator if scored else ""
    report["p_at_1_cited"] = round(float(np.mean([s.right for s in scored])), 4) if scored else 0.0
    report["shipped"] = summarise(scored, [s.run.confidence for s in scored], policy)
    if folds >= 2:
        report["cross_fitted"] = summarise(scored, cross_fitted(scored, folds), policy)
        report["cross_fitted"]["folds"] = folds
    report["latency"] = percentiles(samples)
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"KB: {report['kb']} ({report['imported']} articles)  queries: {report['queries']}",
        f"adapted embedder: {report.get('adapted', False)}  calibrator: {report['calibrator']}",
        f"P@1 of the cited article: {report['p_at_1_cited']:.3f}",
        f"engine latency per question: p50 {report['latency']['p50_ms']} ms, "
        f"p95 {report['latency']['p95_ms']} ms",
    ]
    for key in ("shipped", "cross_fitted"):
        if key not in report:
            continue
        part = report[key]
        title = (
            "shipped calibrator" if key == "shipped" else f"cross-fitted ({part['folds']} folds)"
        )
        auto, sent = part["auto_resolved"], part["answered"]
        lines += [
            "",
            f"== {title}: ECE {part['ece']:.3f}, decisions {part['decisions']}",
            f"auto-resolved (resolve): {auto['count']} = coverage {auto['coverage']:.3f}, "
            f"wrong {auto['wrong']} = {auto['wrong_rate']:.3f} of auto-answers",
            f"answers sent (resolve + confirm): {sent['count']} = coverage {sent['coverage']:.3f}, "
            f"wrong {sent['wrong']} = {sent['wrong_rate']:.3f}",
            f"{'threshold':>10}{'coverage':>10}{'risk':>8}{'answered':>10}",
        ]
        lines += [
            f"{p['threshold']:>10.2f}{p['coverage']:>10.3f}{p['risk']:>8.3f}{p['answered']:>10}"
            for p in part["risk_coverage"]
        ]
        lines.append(f"{'confidence':>12}{'count':>7}{'mean':>8}{'accuracy':>10}")
        lines += [
            f"{r['bin']:>12}{r['count']:>7}{r['confidence']:>8.3f}{r['accuracy']:>10.3f}"
            for r in part["reliability"]
        ]
    return "\n".join(lines)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
