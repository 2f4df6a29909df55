"""KB search benchmark: index a generated KB of N articles, then search it over HTTP.

    python bench/kb_search.py                     # 10,000 articles (~50k chunks), SQLite
    python bench/kb_search.py --articles 2000     # quicker
    python bench/kb_search.py --database-url postgresql://postgres@127.0.0.1:5432/bench_kb

Reports indexing throughput (chunks embedded per second), the memory the in-memory index takes
per 10k chunks, and search latency through the HTTP API (p50/p95/p99) with the real server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen
import serverctl
from deskpilot.ai.embeddings import default_embedder
from deskpilot.auth import service as auth_service
from deskpilot.bootstrap import configure_runtime
from deskpilot.core.context import Context, Role
from deskpilot.db import migrate
from deskpilot.db.engine import open_database
from deskpilot.kb.importer import import_path
from deskpilot.kb.index import registry
from deskpilot.kb.indexing import (
    PreparedArticle,
    all_indexable_ids,
    apply_prepared,
    chunk_article,
    prepare_articles,
)
from deskpilot.kb.models import Article, KbChunk
from deskpilot.settings import Settings
from deskpilot.workspaces import service as workspaces_service

PRODUCTS = [
    "Acme Cloud",
    "Acme Mobile",
    "Acme Desktop",
    "Acme API",
    "Acme Analytics",
    "Acme Connect",
]
FEATURES = [
    "single sign-on",
    "two-factor authentication",
    "billing",
    "invoices",
    "data export",
    "CSV import",
    "webhooks",
    "notifications",
    "user roles",
    "audit log",
    "custom domains",
    "backups",
    "reports",
    "dashboards",
    "integrations",
    "Slack integration",
    "Salesforce sync",
    "API tokens",
    "rate limits",
    "file storage",
    "team workspaces",
    "password policy",
    "session timeout",
    "email templates",
    "mobile push",
    "offline mode",
    "calendar sync",
    "time zones",
    "localization",
    "search index",
]
ACTIONS = [
    "set up",
    "troubleshoot",
    "turn off",
    "configure",
    "migrate",
    "reset",
    "audit",
    "speed up",
]
PLATFORMS = [
    "on Windows",
    "on macOS",
    "on Linux",
    "in the browser",
    "on iOS",
    "on Android",
    "via the API",
]
WORDS = [
    "account",
    "admin",
    "setting",
    "page",
    "button",
    "option",
    "error",
    "message",
    "request",
    "response",
    "user",
    "team",
    "plan",
    "limit",
    "retry",
    "timeout",
    "permission",
    "token",
    "network",
    "proxy",
    "certificate",
    "browser",
    "cache",
    "cookie",
    "email",
    "address",
    "invoice",
    "payment",
    "card",
    "region",
    "server",
    "client",
    "device",
    "version",
    "update",
    "release",
    "log",
]


def sentence(rng: random.Random, feature: str) -> str:
    words = rng.sample(WORDS, 9)
    return (
        f"To {rng.choice(ACTIONS)} {feature}, check the {words[0]} {words[1]} and the {words[2]} "
        f"{words[3]} before you {words[4]} the {words[5]} {words[6]} for each {words[7]} {words[8]}."
    )


def article(rng: random.Random, i: int) -> dict[str, Any]:
    product, feature = rng.choice(PRODUCTS), rng.choice(FEATURES)
    action, platform = rng.choice(ACTIONS), rng.choice(PLATFORMS)
    title = f"How to {action} {feature} {platform} in {product} ({i})"
    sections = []
    for heading in ("Overview", "Before you start", "Steps", "Troubleshooting"):
        paragraph = " ".join(sentence(rng, feature) for _ in range(rng.randint(5, 8)))
        sections.append(f"## {heading}\n\n{paragraph}")
    return {
        "external_id": f"gen-{i}",
        "title": title,
        "body": "\n\n".join(sections),
        "tags": [feature.split()[0].lower()],
        "summary": f"{action} {feature} {platform}.",
    }


def query(rng: random.Random) -> str:
    return f"how do I {rng.choice(ACTIONS)} {rng.choice(FEATURES)} {rng.choice(PLATFORMS)}"


def all_indexable_ids_of(db: Any, workspace_id: int) -> list[int]:
    with db.session(write=False) as s:
        return all_indexable_ids(s, workspace_id)


def fill_with_sampled_vectors(
    db: Any, workspace_id: int, article_ids: list[int], rng: random.Random
) -> None:
    """Real chunks for `article_ids`, with vectors drawn from already embedded chunks plus noise,
    written by the index's own write path (`apply_prepared`)."""
    with db.session(write=False) as s:
        pool = np.vstack(
            [
                np.frombuffer(blob, dtype=np.float32)
                for blob in s.scalars(
                    select(KbChunk.embedding).where(KbChunk.workspace_id == workspace_id)
                )
            ]
        )
    noise = np.random.default_rng(rng.randint(0, 2**31))
    model = default_embedder().name
    for start in range(0, len(article_ids), 500):
        batch = article_ids[start : start + 500]
        with db.session(write=False) as s:
            articles = s.scalars(select(Article).where(Article.id.in_(batch))).all()
            items = []
            for article in articles:
                drafts = chunk_article(article)
                vectors = pool[noise.integers(0, len(pool), len(drafts))]
                vectors = vectors + noise.normal(0, 0.02, vectors.shape).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                items.append(
                    PreparedArticle(
                        article.id,
                        article.content_version,
                        False,
                        drafts,
                        vectors.astype(np.float32),
                        model,
                    )
                )
        with db.session(write=True) as s:
            apply_prepared(s, workspace_id, items)
            s.commit()


def rss_mb() -> float:
    """Current resident memory of this process (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--embed-sample",
        type=int,
        default=500,
        help="articles embedded for real (0 = all); the rest reuse their vectors",
    )
    parser.add_argument(
        "--ai-threads", type=int, default=1, help="torch threads (server default 1)"
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "articles": args.articles}
    with tempfile.TemporaryDirectory(prefix="deskpilot-kb-bench-") as tmp:
        workdir = Path(tmp)
        settings = Settings(
            env="test",
            data_dir=workdir / "data",
            secret_key="bench-" + "k" * 40,
            database_url=args.database_url,
        )
        settings.data_dir.mkdir(parents=True)
        url = settings.resolved_database_url
        report["database"] = url.split(":")[0]
        migrate.upgrade(url)
        db = open_database(url, pool_size=4)
        configure_runtime(settings, db, queue_mode="immediate")
        with db.session(write=True) as s:
            ws = workspaces_service.create_workspace(s, slug="kbbench", name="KB bench")
            system = Context.system(ws.id)
            member = auth_service.add_member(
                s, system, email="bench@example.com", role=Role.admin, password="bench-password"
            )
            token = auth_service.issue_token(
                s, Context(ws.id, member.user_id, Role.admin), user_id=member.user_id
            ).secret
            s.commit()
            workspace_id = ws.id
        kb_file = workdir / "kb.jsonl"
        with kb_file.open("w") as fh:
            for i in range(args.articles):
                fh.write(json.dumps(article(rng, i)) + "\n")
        started = time.perf_counter()
        with db.session(write=True) as s:
            summary = import_path(
                s, Context.system(workspace_id), kb_file, after_batch=s.commit, request_index=False
            )
            s.commit()
        report["import_seconds"] = round(time.perf_counter() - started, 1)
        report["imported"] = summary.imported
        print(f"imported {summary.imported} articles in {report['import_seconds']} s", flush=True)
        ids = all_indexable_ids_of(db, workspace_id)
        sample = ids[: args.embed_sample] if args.embed_sample else ids
        started = time.perf_counter()
        embedded_chunks = 0
        for start in range(0, len(sample), 32):
            with db.session(write=False) as s:
                items = prepare_articles(s, workspace_id, sample[start : start + 32])
            with db.session(write=True) as s:
                apply_prepared(s, workspace_id, items)
                s.commit()
            embedded_chunks += sum(len(i.chunks) for i in items)
        elapsed = time.perf_counter() - started
        report["embedded_articles"] = len(sample)
        report["embedded_chunks"] = embedded_chunks
        report["chunks_per_second"] = round(embedded_chunks / elapsed, 1)
        print(
            f"embedded {embedded_chunks} chunks of {len(sample)} articles in {elapsed:.1f} s "
            f"({report['chunks_per_second']} chunks/s)",
            flush=True,
        )
        rest = ids[len(sample) :]
        if rest:
            fill_with_sampled_vectors(db, workspace_id, rest, rng)
            report["note"] = (
                f"{len(rest)} articles were chunked for real but given vectors sampled from the "
                f"{embedded_chunks} embedded chunks, so the index has its full size without an "
                "hour of CPU embedding; pass --embed-sample 0 to embed everything."
            )
            print(report["note"], flush=True)
        with db.session(write=False) as s:
            rss_before = rss_mb()
            index = registry.get(s, workspace_id)
            arrays = index.arrays
            chunks = len(arrays.chunk_article)
            report["chunks"] = chunks
            matrix_bytes = (
                arrays.vectors.nbytes + arrays.bm25.data.nbytes + arrays.bm25.indices.nbytes
            )
            report["index_mb_per_10k_chunks"] = round(
                matrix_bytes / 1e6 * 10_000 / max(chunks, 1), 1
            )
            report["process_rss_growth_mb_per_10k_chunks"] = round(
                (rss_mb() - rss_before) * 10_000 / max(chunks, 1), 1
            )
        print(
            f"index: {chunks} chunks, arrays {report['index_mb_per_10k_chunks']} MB per 10k chunks, "
            f"process RSS +{report['process_rss_growth_mb_per_10k_chunks']} MB per 10k chunks",
            flush=True,
        )
        db.dispose()
        with serverctl.running_server(url, workdir, workers=args.workers) as (port, _proc):

            def make_request() -> loadgen.Request:
                q = urllib.parse.quote(query(rng))
                return ("GET", f"/api/v1/kb/search?q={q}&limit=10", b"", {}, "search")

            # The first search loads the index into the server process; keep it out of the figures.
            asyncio.run(
                loadgen.run_phase(
                    "warm-up",
                    host="127.0.0.1",
                    port=port,
                    token=token,
                    make_request=make_request,
                    expect=200,
                    concurrency=1,
                    duration=3.0,
                )
            )
            for concurrency in sorted({1, args.concurrency}):
                result = asyncio.run(
                    loadgen.run_phase(
                        f"search c={concurrency}",
                        host="127.0.0.1",
                        port=port,
                        token=token,
                        make_request=make_request,
                        expect=200,
                        concurrency=concurrency,
                        duration=args.duration,
                    )
                )
                summary_c = loadgen.summarize(result.samples, result.elapsed)
                summary_c["errors"] = dict(result.errors)
                report[f"search_concurrency_{concurrency}"] = summary_c
                print(
                    f"search, {concurrency} concurrent: {summary_c['ops_per_s']:.1f}/s, "
                    f"p50 {summary_c['p50_ms']:.1f} ms, p95 {summary_c['p95_ms']:.1f} ms",
                    flush=True,
                )
    print(json.dumps(report, indent=2))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"kb_search_{report['database']}_{int(time.time())}.json").write_text(
        json.dumps(report, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
