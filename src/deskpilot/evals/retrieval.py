"""`deskpilot eval retrieval`: P@1, MRR and Recall@5 of KB search on labelled queries.

The KB is imported into a throwaway workspace through the normal importer and indexed with the
built-in model; lexical-only, dense-only and hybrid rankings are scored, then the workspace's
embedder is adapted to its KB (what a real workspace gets automatically) and hybrid is scored
again. Query embeddings are cached per model for the quality runs; latency is measured separately
on uncached, end-to-end searches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deskpilot.ai.embeddings import embedder_for
from deskpilot.ai.ports import Embedder, Vectors
from deskpilot.evals.common import Sandbox, percentiles, read_jsonl, sandbox
from deskpilot.kb import search as kb_search
from deskpilot.kb.adapt import switch_workspace_model, train_workspace_model
from deskpilot.kb.importer import import_path
from deskpilot.kb.tasks import reindex_workspace

MODES = {
    "lexical": kb_search.LEXICAL_ONLY,
    "dense": kb_search.DENSE_ONLY,
    "hybrid": kb_search.HYBRID,
}
LATENCY_SAMPLE = 300


@dataclass
class Labelled:
    query: str
    answer: str


class CachedQueries:
    """Embeds all queries in one batch per model, then answers from the cache."""

    def __init__(self, queries: list[str]) -> None:
        self.queries = queries
        self.cache: dict[str, dict[str, np.ndarray]] = {}

    def __call__(self, model: str) -> Embedder:
        if model not in self.cache:
            base = embedder_for(model)
            vectors = base.embed(self.queries)
            self.cache[model] = {q: vectors[i] for i, q in enumerate(self.queries)}
        return _Lookup(embedder_for(model), self.cache[model])


class _Lookup:
    def __init__(self, base: Embedder, table: dict[str, np.ndarray]) -> None:
        self.base = base
        self.table = table

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def dim(self) -> int:
        return self.base.dim

    def embed(self, texts: Any) -> Vectors:
        return np.vstack(
            [self.table[t] if t in self.table else self.base.embed([t])[0] for t in texts]
        )


def rank_metrics(positions: list[int]) -> dict[str, float]:
    """Positions are 0-based ranks of the right article; -1 when it was not returned."""
    pos = np.array([p if p >= 0 else 10**6 for p in positions])
    return {
        "p_at_1": round(float((pos == 0).mean()), 4),
        "mrr": round(float((1.0 / (pos + 1)).mean()), 4),
        "recall_at_5": round(float((pos < 5).mean()), 4),
        "queries": len(positions),
    }


def _positions(
    box: Sandbox,
    labelled: list[Labelled],
    weights: kb_search.Weights,
    embedder_for_model: Callable[[str], Embedder],
    depth: int,
) -> list[int]:
    positions = []
    with box.db.session(write=False) as session:
        for item in labelled:
            result = kb_search.search(
                session,
                box.ctx,
                item.query,
                limit=depth,
                weights=weights,
                embedder_for_model=embedder_for_model,
            )
            ids = [hit.external_id for hit in result.hits]
            positions.append(ids.index(item.answer) if item.answer in ids else -1)
    return positions


def _latency(box: Sandbox, labelled: list[Labelled]) -> dict[str, float]:
    samples = []
    with box.db.session(write=False) as session:
        kb_search.search(session, box.ctx, "warm up", limit=5)
        for item in labelled[:LATENCY_SAMPLE]:
            started = time.perf_counter()
            kb_search.search(session, box.ctx, item.query, limit=5)
            samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def run(kb_path: Path, queries_path: Path, *, adapt: bool = True) -> dict[str, Any]:
    raw = read_jsonl(queries_path)
    labelled = [Labelled(str(q["query"]), str(q["answer_external_id"])) for q in raw]
    report: dict[str, Any] = {"kb": str(kb_path), "queries": str(queries_path)}
    with sandbox() as box:
        with box.db.session(write=True) as session:
            summary = import_path(
                session, box.ctx, kb_path, after_batch=session.commit, request_index=False
            )
            session.commit()
        report["import"] = {"imported": summary.imported, "failed": summary.failed}
        started = time.perf_counter()
        indexed = reindex_workspace(box.db, box.workspace_id, only_stale=True)
        report["index"] = {"articles": indexed, "seconds": round(time.perf_counter() - started, 2)}
        depth = max(summary.imported, 10)
        cached = CachedQueries([item.query for item in labelled])
        report["base"] = {
            mode: rank_metrics(_positions(box, labelled, weights, cached, depth))
            for mode, weights in MODES.items()
        }
        report["base"]["latency"] = _latency(box, labelled)
        if adapt:
            started = time.perf_counter()
            with box.db.session(write=False) as session:
                model = train_workspace_model(session, box.workspace_id)
            trained = time.perf_counter() - started
            if model is not None:
                with box.db.session(write=True) as session:
                    switch_workspace_model(session, box.workspace_id, model)
                    session.commit()
                reindex_workspace(box.db, box.workspace_id, only_stale=True)
                report["adapted"] = {
                    mode: rank_metrics(_positions(box, labelled, weights, cached, depth))
                    for mode, weights in MODES.items()
                }
                report["adapted"]["latency"] = _latency(box, labelled)
                report["adapted"]["training_seconds"] = round(trained, 1)
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [f"KB: {report['kb']}  queries: {report['queries']}"]
    lines.append(
        f"indexed {report['index']['articles']} articles in {report['index']['seconds']} s"
    )
    lines.append(f"{'run':<18}{'P@1':>8}{'MRR':>8}{'R@5':>8}")
    for stage in ("base", "adapted"):
        if stage not in report:
            continue
        for mode in MODES:
            m = report[stage][mode]
            lines.append(
                f"{stage + ' ' + mode:<18}{m['p_at_1']:>8.3f}{m['mrr']:>8.3f}{m['recall_at_5']:>8.3f}"
            )
        lat = report[stage]["latency"]
        lines.append(
            f"{stage + ' latency':<18} p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms (search incl. query embedding)"
        )
    if "adapted" in report:
        lines.append(f"adaptation training: {report['adapted']['training_seconds']} s")
    shipped = report.get("adapted", report["base"])["hybrid"]
    which = "KB-adapted model" if "adapted" in report else "built-in model (--no-adapt)"
    lines.append(
        f"=> hybrid search as a workspace runs it ({which}): P@1 {shipped['p_at_1']:.3f}, "
        f"MRR {shipped['mrr']:.3f}, Recall@5 {shipped['recall_at_5']:.3f}"
    )
    return "\n".join(lines)
