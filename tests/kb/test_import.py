"""Importing articles from JSONL and from folders of Markdown files with front matter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import PermissionDenied
from deskpilot.kb import service
from deskpilot.kb.importer import import_path
from deskpilot.kb.models import Article, ArticleEvent, ArticleRevision, KbCategory
from tests.factories import Personas
from tests.kb.conftest import index_requests, make_article


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def system(personas: Personas) -> Context:
    return Context.system(personas.acme_admin.workspace_id)


def by_external_id(session: Session, ctx: Context) -> dict[str, Article]:
    rows = session.scalars(
        select(Article).where(
            Article.workspace_id == ctx.workspace_id, Article.external_id.is_not(None)
        )
    )
    return {a.external_id: a for a in rows if a.external_id}


def revision_versions(session: Session, article: Article) -> list[int]:
    return list(
        session.scalars(
            select(ArticleRevision.version)
            .where(ArticleRevision.article_id == article.id)
            .order_by(ArticleRevision.version)
        )
    )


ROWS = [
    {"external_id": "a1", "title": "Reset password", "body": "Click **reset**."},
    {
        "external_id": "a2",
        "title": "Refunds",
        "body": "Within 30 days.",
        "summary": "Refund policy",
        "tags": ["Billing"],
        "category": "Billing & Payments",
        "visibility": "internal",
        "status": "draft",
    },
    '{"external_id": "broken", "title": ',
    {"external_id": "a3", "title": "Invoices", "body": "PDF.", "category": "billing-payments"},
    {"external_id": "bad", "title": "", "body": "x"},
    [1, 2],
    "",
    {"external_id": "a4", "title": "Invoices", "body": "Other", "category": "billing & payments"},
]


def test_jsonl_import_reports_bad_lines_by_number_and_goes_on(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    ctx = system(personas)
    summary = import_path(session, ctx, write_jsonl(tmp_path / "kb.jsonl", ROWS))
    assert (summary.imported, summary.updated, summary.unchanged, summary.failed) == (4, 0, 0, 3)
    assert [where for where, _ in summary.errors] == ["line 3", "line 5", "line 6"]
    assert "invalid JSON" in summary.errors[0][1]
    assert summary.errors[1][1].startswith("title:")
    assert summary.errors[2][1] == "expected a JSON object"
    articles = by_external_id(session, ctx)
    a1, a2, a3, a4 = (articles[k] for k in ("a1", "a2", "a3", "a4"))
    assert (a1.status, a1.visibility, a1.source_type) == ("published", "external", "imported")
    assert a1.published_at is not None
    assert a1.body_html == "<p>Click <strong>reset</strong>.</p>\n"
    assert (a2.status, a2.visibility, a2.summary, a2.tags) == (
        "draft",
        "internal",
        "Refund policy",
        ["billing"],
    )
    # One category, found again by slug and by name in any case.
    assert a2.category_id is not None
    assert a2.category_id == a3.category_id == a4.category_id
    category = session.get(KbCategory, a2.category_id)
    assert category is not None
    assert (category.name, category.slug) == ("Billing & Payments", "billing-payments")
    assert (a3.slug, a4.slug) == ("invoices", "invoices-2")
    assert revision_versions(session, a1) == [1]
    assert index_requests(session, a1.id) == 1
    kinds = session.scalars(select(ArticleEvent.kind).where(ArticleEvent.article_id == a1.id))
    assert list(kinds) == ["imported"]


def test_reimport_updates_without_duplicates(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    ctx = system(personas)
    first = [
        {"external_id": "same", "title": "Same", "body": "unchanged"},
        {"external_id": "body", "title": "Body", "body": "old body"},
        {"external_id": "tags", "title": "Tags", "body": "b", "tags": ["old"]},
        {"external_id": "status", "title": "Status", "body": "b"},
    ]
    import_path(session, ctx, write_jsonl(tmp_path / "one.jsonl", first))
    session.commit()
    before = by_external_id(session, ctx)
    ids = {k: a.id for k, a in before.items()}
    second = [
        {"external_id": "same", "title": "Same", "body": "unchanged"},
        {"external_id": "body", "title": "Body", "body": "new body"},
        {"external_id": "tags", "title": "Tags", "body": "b", "tags": ["new"]},
        {"external_id": "status", "title": "Status", "body": "b", "status": "archived"},
        {"external_id": "fresh", "title": "Fresh", "body": "b"},
    ]
    summary = import_path(session, ctx, write_jsonl(tmp_path / "two.jsonl", second))
    assert (summary.imported, summary.updated, summary.unchanged, summary.failed) == (1, 3, 1, 0)
    after = by_external_id(session, ctx)
    assert {k: a.id for k, a in after.items() if k != "fresh"} == ids
    count = session.scalar(
        select(func.count()).select_from(Article).where(Article.workspace_id == ctx.workspace_id)
    )
    assert count == 5
    assert (after["same"].content_version, revision_versions(session, after["same"])) == (1, [1])
    assert after["body"].body == "new body"
    assert revision_versions(session, after["body"]) == [1, 2]
    # Tags are indexed but not content: a new version, no new revision.
    assert (after["tags"].tags, after["tags"].content_version) == (["new"], 2)
    assert revision_versions(session, after["tags"]) == [1]
    assert after["status"].status == "archived"
    assert index_requests(session, ids["same"]) == 1
    assert index_requests(session, ids["body"]) == 2


def test_fields_missing_on_reimport_keep_their_values(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    ctx = system(personas)
    full = {
        "external_id": "x",
        "title": "T",
        "body": "B",
        "summary": "S",
        "tags": ["t"],
        "status": "draft",
        "visibility": "internal",
        "category": "Cat",
    }
    import_path(session, ctx, write_jsonl(tmp_path / "a.jsonl", [full]))
    summary = import_path(
        session,
        ctx,
        write_jsonl(tmp_path / "b.jsonl", [{"external_id": "x", "title": "T", "body": "B"}]),
    )
    assert summary.unchanged == 1
    article = by_external_id(session, ctx)["x"]
    assert (article.summary, article.tags, article.status, article.visibility) == (
        "S",
        ["t"],
        "draft",
        "internal",
    )
    assert article.category_id is not None


def test_an_article_created_by_hand_is_updated_by_its_external_id(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    manual = make_article(session, personas.ann.ctx, external_id="crm-1", title="Manual")
    summary = import_path(
        session,
        system(personas),
        write_jsonl(
            tmp_path / "a.jsonl", [{"external_id": "crm-1", "title": "Imported", "body": "b"}]
        ),
    )
    assert (summary.imported, summary.updated) == (0, 1)
    # The record names no status, so the article keeps its own.
    assert (manual.title, manual.status) == ("Imported", "draft")


def test_the_same_external_id_twice_in_one_file_keeps_the_last(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    ctx = system(personas)
    rows = [
        {"external_id": "dup", "title": "First", "body": "1"},
        {"external_id": "other", "title": "Other", "body": "o"},
        {"external_id": "dup", "title": "Second", "body": "2"},
        {"external_id": "dup", "title": "Third", "body": "3"},
    ]
    for batch_size in (500, 2):
        path = write_jsonl(tmp_path / f"dup{batch_size}.jsonl", rows)
        import_path(session, ctx, path, batch_size=batch_size)
        articles = by_external_id(session, ctx)
        assert set(articles) == {"dup", "other"}
        assert (articles["dup"].title, articles["dup"].body, articles["dup"].slug) == (
            "Third",
            "3",
            "third",
        )


def test_after_batch_runs_once_per_batch(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    rows = [{"external_id": f"e{i}", "title": f"T{i}", "body": "b"} for i in range(5)]
    calls: list[int] = []
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    summary = import_path(
        session, system(personas), path, batch_size=2, after_batch=lambda: calls.append(1)
    )
    assert summary.imported == 5
    assert len(calls) == 3


def test_bulk_imports_can_leave_indexing_to_a_batch_reindex(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    ctx = system(personas)
    rows = [{"external_id": "e", "title": "T", "body": "b"}]
    import_path(session, ctx, write_jsonl(tmp_path / "a.jsonl", rows), request_index=False)
    rows[0]["body"] = "changed"
    import_path(session, ctx, write_jsonl(tmp_path / "b.jsonl", rows), request_index=False)
    article = by_external_id(session, ctx)["e"]
    assert (article.body, article.content_version) == ("changed", 2)
    assert index_requests(session, article.id) == 0


def test_invalid_utf8_lines_are_reported(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    good = json.dumps({"external_id": "ok", "title": "OK", "body": "b"}).encode()
    path.write_bytes(b'{"external_id": "\xff\xfe"}\n' + good + b"\n")
    summary = import_path(session, system(personas), path)
    assert (summary.imported, summary.errors) == (1, [("line 1", "not valid UTF-8")])


def test_only_admins_import(session: Session, personas: Personas, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", ROWS[:1])
    with pytest.raises(PermissionDenied):
        import_path(session, personas.ann.ctx, path)
    assert import_path(session, personas.acme_admin.ctx, path).imported == 1


# --- markdown folders --------------------------------------------------------------------------------


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def test_markdown_folder_with_front_matter(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    write(
        root / "billing" / "refunds.md",
        "---\ntitle: Refunds\nsummary: Money back\ntags: billing, money\ncategory: Billing\n"
        "visibility: internal\nstatus: approved\n---\n\n# Refunds\n\nWithin 30 days.\n",
    )
    write(root / "login.md", "---\ntitle: Login help\nexternal_id: 1042\n---\nUse SSO.\n")
    write(root / "notes.txt", "not markdown, ignored")
    write(root / "broken.md", "---\ntitle: [oops\n---\nbody")
    write(root / "untitled.md", "# No front matter\n")
    write(root / "latin1.md", "---\ntitle: caf\xe9\n---\n".encode("latin-1"))
    ctx = system(personas)
    summary = import_path(session, ctx, root)
    assert (summary.imported, summary.failed) == (2, 3)
    problems = dict(summary.errors)
    assert set(problems) == {"broken.md", "untitled.md", "latin1.md"}
    assert "invalid YAML" in problems["broken.md"]
    assert problems["untitled.md"].startswith("title:")
    assert problems["latin1.md"] == "not valid UTF-8"
    articles = by_external_id(session, ctx)
    refunds, login = articles["billing/refunds"], articles["1042"]
    assert (refunds.title, refunds.summary, refunds.tags) == (
        "Refunds",
        "Money back",
        ["billing", "money"],
    )
    assert (refunds.visibility, refunds.status) == ("internal", "approved")
    assert refunds.body == "# Refunds\n\nWithin 30 days.\n"
    assert "<h1>Refunds</h1>" in refunds.body_html
    assert (login.title, login.body, login.status) == ("Login help", "Use SSO.\n", "published")

    write(
        root / "login.md",
        "---\ntitle: Login help\nexternal_id: 1042\n---\nUse SSO or a password.\n",
    )
    again = import_path(session, ctx, root)
    assert (again.imported, again.updated, again.unchanged) == (0, 1, 1)
    assert by_external_id(session, ctx)["1042"].body == "Use SSO or a password.\n"


def test_a_single_markdown_file(session: Session, personas: Personas, tmp_path: Path) -> None:
    write(tmp_path / "one.md", "---\ntitle: One\n---\nBody\n")
    assert import_path(session, system(personas), tmp_path / "one.md").imported == 1
    assert by_external_id(session, system(personas))["one"].title == "One"


# --- scale -------------------------------------------------------------------------------------------


def test_statements_per_article_stay_constant(
    session: Session, personas: Personas, tmp_path: Path
) -> None:
    """Queries do not grow per article beyond the inserts each new article needs."""
    ctx = system(personas)

    def statements_for(n: int) -> int:
        rows = [{"external_id": f"{n}-{i}", "title": f"T {i}", "body": "b"} for i in range(n)]
        path = write_jsonl(tmp_path / f"{n}.jsonl", rows)
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(args[2])

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            import_path(session, ctx, path, batch_size=1000)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return sum(1 for s in seen if s.lstrip().upper().startswith("SELECT"))

    assert statements_for(50) == statements_for(200)
    rows, _ = service.list_articles(session, ctx, service.ArticleFilters(), limit=100)
    assert len(rows) == 100
