"""Hybrid search at the service level, with the real offline MiniLM model."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import ValidationFailed
from deskpilot.db.engine import Database
from deskpilot.kb import service
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.index import registry
from deskpilot.kb.indexing import bump_index_version, stale_article_ids
from deskpilot.kb.models import Article, KbChunk
from deskpilot.kb.schemas import ArticleUpdate
from deskpilot.kb.search import SearchFilters, highlight, search
from deskpilot.kb.tasks import reindex_stale
from tests.factories import Personas
from tests.kb.conftest import make_article, move_to

pytestmark = pytest.mark.real_embedder

ARTICLES: list[dict[str, Any]] = [
    {
        "title": "Reset your password",
        "body": "# Steps\nOpen the sign-in page and choose *Forgot password*. We email a link "
        "that is valid for one hour.",
        "external_id": "pw",
    },
    {
        "title": "Update your billing details",
        "body": "Change the credit card used for your subscription under Billing > Payment "
        "methods. Invoices are emailed on the first day of the month.",
        "external_id": "billing",
    },
    {
        "title": "Fix TLS handshake errors",
        "body": "The error ERR_TLS_HANDSHAKE_7781 means your proxy intercepts TLS. Add our "
        "certificate to the trust store.",
        "external_id": "tls",
    },
]


def publish_all(db: Database, admin: Context, specs: list[dict[str, Any]]) -> list[int]:
    with db.session(write=True) as s:
        articles = [make_article(s, admin, **spec) for spec in specs]
        for article in articles:
            move_to(s, admin, article, ArticleStatus.published)
        s.commit()
        return [a.id for a in articles]


@pytest.fixture
def acme_kb(db: Database, personas: Personas) -> list[int]:
    registry.forget()
    return publish_all(db, personas.acme_admin.ctx, ARTICLES)


def ids_for(db: Database, ctx: Context, query: str, **kwargs: Any) -> list[str | None]:
    with db.session(write=False) as s:
        return [hit.external_id for hit in search(s, ctx, query, **kwargs).hits]


def test_a_paraphrase_finds_the_right_article(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    assert ids_for(db, personas.ann.ctx, "I forgot my login credentials")[0] == "pw"
    assert ids_for(db, personas.ann.ctx, "how do I change the card you charge")[0] == "billing"


def test_a_rare_exact_term_is_found(db: Database, personas: Personas, acme_kb: list[int]) -> None:
    assert ids_for(db, personas.ann.ctx, "ERR_TLS_HANDSHAKE_7781")[0] == "tls"


def test_hits_carry_snippet_score_and_chunk(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    with db.session(write=False) as s:
        hit = search(s, personas.ann.ctx, "forgot password link", limit=1).hits[0]
        chunk = s.get(KbChunk, hit.chunk_id)
    assert chunk is not None
    assert chunk.article_id == hit.article_id
    assert chunk.kind == "passage"
    assert "<mark>" in hit.snippet
    assert hit.title == "Reset your password"


def test_drafts_and_internal_articles_follow_the_rules(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    admin = personas.acme_admin.ctx
    with db.session(write=True) as s:
        draft = make_article(
            s, admin, title="Rotate API keys", body="Rotate keys in Settings > API."
        )
        internal = make_article(
            s,
            admin,
            title="Escalating to engineering",
            body="Page the on-call engineer.",
            visibility="internal",
        )
        move_to(s, admin, internal, ArticleStatus.published)
        s.commit()
        draft_id = draft.id
    agent, carol = personas.ann.ctx, personas.carol.ctx
    assert draft_id not in _article_ids(db, agent, "rotate api keys")
    assert draft_id in _article_ids(
        db, agent, "rotate api keys", filters=SearchFilters(statuses=frozenset({"draft"}))
    )
    assert "Escalating to engineering" in _titles(db, agent, "on-call engineer")
    assert "Escalating to engineering" not in _titles(db, carol, "on-call engineer")
    anyone = SearchFilters(statuses=frozenset({"draft", "published"}))
    assert draft_id not in _article_ids(db, carol, "rotate api keys", filters=anyone)


def _article_ids(db: Database, ctx: Context, query: str, **kwargs: Any) -> list[int]:
    with db.session(write=False) as s:
        return [h.article_id for h in search(s, ctx, query, **kwargs).hits]


def _titles(db: Database, ctx: Context, query: str) -> list[str]:
    with db.session(write=False) as s:
        return [h.title for h in search(s, ctx, query).hits]


def test_edits_and_archiving_reach_the_index(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    admin = personas.acme_admin.ctx
    tls_id = acme_kb[2]
    assert ids_for(db, admin, "ERR_TLS_HANDSHAKE_7781")[0] == "tls"
    with db.session(write=True) as s:
        service.update_article(
            s,
            admin,
            tls_id,
            ArticleUpdate(body="Error QUOTA_EXCEEDED_4410 means you hit the limit."),
        )
        s.commit()
    assert ids_for(db, admin, "QUOTA_EXCEEDED_4410")[0] == "tls"
    with db.session(write=True) as s:
        service.transition_article(s, admin, tls_id, ArticleStatus.archived)
        s.commit()
    assert "tls" not in ids_for(db, admin, "QUOTA_EXCEEDED_4410")
    with db.session(write=False) as s:
        assert s.scalars(select(KbChunk).where(KbChunk.article_id == tls_id)).all() == []


def test_workspaces_never_see_each_others_chunks(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    globex = personas.globex_owner.ctx
    assert ids_for(db, globex, "reset password") == []
    publish_all(
        db,
        globex,
        [
            {
                "title": "Reset your password",
                "body": "Globex: call the helpdesk.",
                "external_id": "globex-pw",
            }
        ],
    )
    hits = ids_for(db, globex, "reset password", filters=SearchFilters())
    assert hits == ["globex-pw"]
    assert "globex-pw" not in ids_for(db, personas.ann.ctx, "reset password")


def test_a_lost_index_is_rebuilt_from_the_database(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    registry.forget()
    assert ids_for(db, personas.ann.ctx, "forgot my password")[0] == "pw"


def test_chunks_from_another_model_are_stale_and_the_sweep_reindexes_them(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    ws = personas.ann.workspace_id
    with db.session(write=True) as s:
        s.execute(
            update(KbChunk)
            .where(KbChunk.article_id == acme_kb[0])
            .values(embedding_model="old-model")
        )
        s.commit()
        assert stale_article_ids(s, ws, "all-MiniLM-L6-v2") == [acme_kb[0]]
    with db.session(write=True) as s:
        reindex_stale(s)
        s.commit()
    with db.session(write=False) as s:
        assert stale_article_ids(s, ws, "all-MiniLM-L6-v2") == []
        models = set(s.scalars(select(KbChunk.embedding_model).where(KbChunk.workspace_id == ws)))
    assert models == {"all-MiniLM-L6-v2"}


def test_bad_queries_are_rejected(db: Database, personas: Personas) -> None:
    with db.session(write=False) as s:
        for query in ("", "   ", "x" * 1001):
            with pytest.raises(ValidationFailed):
                search(s, personas.ann.ctx, query)


def test_an_empty_kb_returns_nothing(db: Database, personas: Personas, session: Session) -> None:
    registry.forget()
    anonymous = Context(workspace_id=personas.ann.workspace_id, user_id=None, role=Role.customer)
    assert search(session, anonymous, "anything").hits == []


def test_highlight_escapes_html_and_marks_terms() -> None:
    snippet = highlight("Use <b>Settings</b> to reset the password.", {"password", "reset"})
    assert "&lt;b&gt;" in snippet
    assert "<mark>reset</mark>" in snippet
    assert "<mark>password</mark>" in snippet


def test_indexed_articles_record_the_model_and_version(db: Database, acme_kb: list[int]) -> None:
    with db.session(write=False) as s:
        article = s.get(Article, acme_kb[0])
        chunks = s.scalars(select(KbChunk).where(KbChunk.article_id == acme_kb[0])).all()
    assert article is not None
    assert article.indexed_version == article.content_version
    assert {c.embedding_model for c in chunks} == {"all-MiniLM-L6-v2"}
    assert {c.embedding_dim for c in chunks} == {384}
    assert next(c.kind for c in sorted(chunks, key=lambda c: c.ordinal)) == "title"


def test_a_missing_adapted_model_degrades_search_instead_of_failing(
    db: Database, personas: Personas, acme_kb: list[int]
) -> None:
    ws = personas.ann.workspace_id
    with db.session(write=True) as s:
        s.execute(
            update(KbChunk)
            .where(KbChunk.workspace_id == ws, KbChunk.article_id == acme_kb[0])
            .values(embedding_model="all-MiniLM-L6-v2@ws1-gone")
        )
        s.execute(update(Article).where(Article.id == acme_kb[0]).values(index_stamp=999))
        bump_index_version(s, ws, "all-MiniLM-L6-v2")
        s.commit()
    hits = ids_for(db, personas.ann.ctx, "change the card for my subscription")
    assert hits[0] == "billing"
