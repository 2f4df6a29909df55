"""`deskpilot ai calibrate`: fit a confidence calibrator on labelled KB questions.

The KB is imported into a throwaway workspace, indexed and (by default) its embedder adapted, as a
real workspace's is; every query is retrieved exactly as the engine retrieves for a customer, and
the calibrator learns P(the top article is the right one) from the features. The default
calibrator shipped in `deskpilot/triage/data/` is this command's output on the CovidFAQ
development queries (see docs/ai.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deskpilot.evals.common import Sandbox, read_jsonl, sandbox
from deskpilot.kb.adapt import switch_workspace_model, train_workspace_model
from deskpilot.kb.importer import import_path
from deskpilot.kb.tasks import reindex_workspace
from deskpilot.triage import answering
from deskpilot.triage import confidence as conf


@contextmanager
def prepared_workspace(kb_path: Path, *, adapt: bool) -> Iterator[tuple[Sandbox, dict[str, Any]]]:
    """A sandbox workspace holding the KB, indexed (and adapted) as a real workspace would be."""
    report: dict[str, Any] = {"kb": str(kb_path)}
    with sandbox() as box:
        with box.db.session(write=True) as session:
            summary = import_path(
                session, box.ctx, kb_path, after_batch=session.commit, request_index=False
            )
            session.commit()
        report["imported"] = summary.imported
        reindex_workspace(box.db, box.workspace_id, only_stale=True)
        if adapt:
            started = time.perf_counter()
            with box.db.session(write=False) as session:
                model = train_workspace_model(session, box.workspace_id)
            if model is not None:
                with box.db.session(write=True) as session:
                    switch_workspace_model(session, box.workspace_id, model)
                    session.commit()
                reindex_workspace(box.db, box.workspace_id, only_stale=True)
            report["adapted"] = model is not None
            report["adaptation_seconds"] = round(time.perf_counter() - started, 1)
        yield box, report


def labelled_queries(queries_path: Path) -> list[tuple[str, str]]:
    return [(str(q["query"]), str(q["answer_external_id"])) for q in read_jsonl(queries_path)]


def collect_features(
    box: Sandbox, labelled: list[tuple[str, str]]
) -> list[tuple[dict[str, float], bool]]:
    """Retrieval features and whether the top article is right, as the engine computes them."""
    out = []
    with box.db.session(write=False) as session:
        for query, expected in labelled:
            hits = answering.retrieve(session, box.ctx, query)
            out.append((conf.features(query, hits), bool(hits) and hits[0].external_id == expected))
    return out


def calibrate(kb_path: Path, queries_path: Path, *, adapt: bool = True) -> dict[str, Any]:
    """Fit a calibrator on labelled queries (the shipped default comes from this)."""
    labelled = labelled_queries(queries_path)
    with prepared_workspace(kb_path, adapt=adapt) as (box, _):
        rows = [(f, right) for f, right in collect_features(box, labelled) if f]
    calibrator = conf.fit_calibrator(
        [f for f, _ in rows],
        [right for _, right in rows],
        name=f"{queries_path.parent.name}-{queries_path.stem}",
    )
    probabilities = [calibrator.probability(f) for f, _ in rows]
    table, ece = conf.reliability(probabilities, [right for _, right in rows])
    return {"calibrator": calibrator.as_params(), "ece_in_sample": ece, "reliability": table}
