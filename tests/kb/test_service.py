"""Articles through the service: creation, edits and revisions, the lifecycle, who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context
from deskpilot.core.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from deskpilot.kb import history, service
from deskpilot.kb.content import TRANSITIONS, ArticleStatus
from deskpilot.kb.models import Article, ArticleEvent, ArticleRevision
from deskpilot.kb.schemas import ArticleUpdate
from tests.factories import Personas, make_ticket
from tests.kb.conftest import index_requests, make_article, move_to

S = ArticleStatus


def events(session: Session, article: Article) -> list[ArticleEvent]:
    return list(
        session.scalars(
            select(ArticleEvent)
            .where(ArticleEvent.article_id == article.id)
            .order_by(ArticleEvent.id)
        )
    )


def edit(session: Session, ctx: Context, article: Article, **fields: Any) -> Article:
    return service.update_article(session, ctx, article.id, ArticleUpdate.model_validate(fields))


# --- create ----------------------------------------------------------------------------------------


def test_create_makes_a_draft_with_a_first_revision_an_event_and_an_index_request(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    article = make_article(
        session, ann, title="Reset your password", summary="How-to", tags=["Login", "login", "SSO"]
    )
    assert (article.status, article.slug, article.content_version) == (
        "draft",
        "reset-your-password",
        1,
    )
    assert article.tags == ["login", "sso"]
    assert article.author_user_id == personas.ann.user_id
    assert article.body_html == "<p>Open <strong>Settings</strong>.</p>\n"
    revisions = history.list_revisions(session, ann, article.id)
    assert [(r.version, r.title, r.actor_user_id) for r in revisions] == [
        (1, "Reset your password", personas.ann.user_id)
    ]
    assert [e.kind for e in events(session, article)] == ["created"]
    assert index_requests(session, article.id) == 1


def test_slugs_come_from_the_title_and_are_deduplicated(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    slugs = [make_article(session, ann, title="Billing FAQ").slug for _ in range(3)]
    assert slugs == ["billing-faq", "billing-faq-2", "billing-faq-3"]
    # Slugs are unique per workspace only.
    assert make_article(session, personas.gina.ctx, title="Billing FAQ").slug == "billing-faq"


def test_a_slug_taken_by_a_concurrent_insert_moves_on_to_the_next(
    session: Session, personas: Personas, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between reading the taken slugs and inserting, another request may take the slug."""
    make_article(session, personas.ann.ctx, title="Race")
    stale = iter([set(), {"race"}])
    monkeypatch.setattr(service, "taken_slugs", lambda *_args: next(stale))
    article = make_article(session, personas.ann.ctx, title="Race")
    assert article.slug == "race-2"
    assert [e.kind for e in events(session, article)] == ["created"]


def test_an_explicit_slug_is_kept_and_a_taken_one_conflicts(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    assert make_article(session, ann, slug="custom-slug").slug == "custom-slug"
    with pytest.raises(Conflict) as exc:
        make_article(session, ann, slug="custom-slug")
    assert exc.value.details[0]["field"] == "slug"


def test_markdown_is_rendered_and_sanitized(session: Session, personas: Personas) -> None:
    body = (
        "<script>alert(1)</script>\n\n"
        '<img src="x" onerror="alert(2)">\n\n'
        "[click](javascript:alert(3)) ![pic](https://example.com/a.png)"
    )
    html = make_article(session, personas.ann.ctx, body=body).body_html
    assert "<script" not in html
    assert '<img src="x"' not in html
    assert 'href="javascript' not in html
    assert '<img src="https://example.com/a.png" alt="pic"' in html


def test_references_must_be_in_the_workspace(session: Session, personas: Personas) -> None:
    from deskpilot.kb import categories
    from deskpilot.kb.schemas import CategoryCreate

    globex_category, _ = categories.create_category(
        session, personas.globex_owner.ctx, CategoryCreate(name="Globex")
    )
    with pytest.raises(ValidationFailed) as exc:
        make_article(session, personas.ann.ctx, category_id=globex_category.id)
    assert exc.value.details == [{"field": "category_id", "message": "no category with this id"}]
    globex_ticket = make_ticket(session, personas.gina.ctx)
    with pytest.raises(ValidationFailed) as exc:
        make_article(
            session,
            personas.ann.ctx,
            source_type="ticket_derived",
            source_ticket_ids=[globex_ticket.id],
        )
    assert exc.value.details[0]["field"] == "source_ticket_ids"
    acme_ticket = make_ticket(session, personas.ann.ctx)
    derived = make_article(
        session, personas.ann.ctx, source_type="ticket_derived", source_ticket_ids=[acme_ticket.id]
    )
    assert (derived.source_type, derived.source_ticket_ids) == ("ticket_derived", [acme_ticket.id])


def test_customers_cannot_create_articles(session: Session, personas: Personas) -> None:
    with pytest.raises(PermissionDenied):
        make_article(session, personas.carol.ctx)


# --- edits and revisions -----------------------------------------------------------------------------


def test_content_edits_store_revisions_with_the_new_content_version(
    session: Session, personas: Personas
) -> None:
    ann, bob = personas.ann.ctx, personas.bob.ctx
    article = make_article(session, ann, body="first body")
    edit(session, bob, article, body="second body", title="New title")
    assert article.content_version == 2
    assert article.body_html == "<p>second body</p>\n"
    edit(session, ann, article, tags=["only-tags"])  # indexed, but not content: no revision
    edit(session, ann, article, summary="A summary")
    assert article.content_version == 4
    revisions = history.list_revisions(session, ann, article.id)
    assert [(r.version, r.title, r.actor_user_id) for r in revisions] == [
        (1, "Reset your password", personas.ann.user_id),
        (2, "New title", personas.bob.user_id),
        (4, "New title", personas.ann.user_id),
    ]
    assert history.get_revision(session, ann, article.id, 1).body == "first body"
    assert history.get_revision(session, ann, article.id, 2).body == "second body"
    assert history.get_revision(session, ann, article.id, 4).summary == "A summary"
    with pytest.raises(NotFound):
        history.get_revision(session, ann, article.id, 3)
    edited = [e for e in events(session, article) if e.kind == "edited"]
    assert edited[0].old_value == {"title": "Reset your password", "body": {"revision": 1}}
    assert edited[0].new_value == {"title": "New title", "body": {"revision": 2}}
    assert edited[0].actor_user_id == personas.bob.user_id


@pytest.mark.parametrize(
    ("fields", "indexed"),
    [
        ({"title": "Other"}, True),
        ({"summary": "Other"}, True),
        ({"body": "Other"}, True),
        ({"tags": ["other"]}, True),
        ({"visibility": "internal"}, True),
        ({"slug": "other-slug"}, False),
        ({"is_beta": True}, False),
    ],
)
def test_only_indexed_changes_bump_the_version_and_reindex(
    session: Session, personas: Personas, fields: dict[str, Any], indexed: bool
) -> None:
    article = make_article(session, personas.ann.ctx)
    edit(session, personas.ann.ctx, article, **fields)
    assert article.content_version == (2 if indexed else 1)
    assert index_requests(session, article.id) == (2 if indexed else 1)
    assert [e.kind for e in events(session, article)] == ["created", "edited"]


def test_an_edit_that_changes_nothing_records_nothing(session: Session, personas: Personas) -> None:
    article = make_article(session, personas.ann.ctx, tags=["a"])
    edit(session, personas.ann.ctx, article, title=article.title, tags=["A"], body=article.body)
    assert article.content_version == 1
    assert [e.kind for e in events(session, article)] == ["created"]
    assert len(history.list_revisions(session, personas.ann.ctx, article.id)) == 1


def test_changing_the_category_reindexes(session: Session, personas: Personas) -> None:
    from deskpilot.kb import categories
    from deskpilot.kb.schemas import CategoryCreate

    category, _ = categories.create_category(
        session, personas.acme_admin.ctx, CategoryCreate(name="Billing")
    )
    article = make_article(session, personas.ann.ctx)
    edit(session, personas.ann.ctx, article, category_id=category.id)
    assert (article.category_id, article.content_version) == (category.id, 2)
    assert index_requests(session, article.id) == 2


def test_required_fields_cannot_be_nulled() -> None:
    from pydantic import ValidationError

    for name in ("title", "body", "summary", "tags", "visibility", "slug"):
        with pytest.raises(ValidationError):
            ArticleUpdate.model_validate({name: None})
    assert ArticleUpdate.model_validate({"category_id": None}).category_id is None


# --- lifecycle ---------------------------------------------------------------------------------------


def test_every_from_to_pair(session: Session, personas: Personas) -> None:
    """Legal moves change status with an event and a reindex; illegal ones are 409s with targets."""
    admin = personas.acme_admin.ctx
    for source in S:
        for target in S:
            article = make_article(session, personas.ann.ctx, title=f"{source} to {target}")
            move_to(session, admin, article, source)
            version, kinds = article.content_version, len(events(session, article))
            if target == source:
                service.transition_article(session, admin, article.id, target)
                assert (article.status, article.content_version) == (source, version)
            elif target in TRANSITIONS[source]:
                service.transition_article(session, admin, article.id, target)
                assert article.status == target
                assert article.content_version == version + 1
                event = events(session, article)[-1]
                assert (event.kind, event.old_value, event.new_value) == (
                    "status_changed",
                    {"status": source.value},
                    {"status": target.value},
                )
                assert event.actor_user_id == personas.acme_admin.user_id
            else:
                with pytest.raises(IllegalTransition) as exc:
                    service.transition_article(session, admin, article.id, target)
                assert exc.value.status == 409
                assert exc.value.details == {
                    "from": source.value,
                    "to": target.value,
                    "allowed": sorted(t.value for t in TRANSITIONS[source]),
                }
                assert article.status == source
                assert len(events(session, article)) == kinds


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=st.lists(st.sampled_from(list(S)), max_size=8))
def test_any_sequence_of_requests_follows_the_table(
    session: Session, personas: Personas, moves: list[ArticleStatus]
) -> None:
    admin = personas.acme_admin.ctx
    article = make_article(session, admin)
    expected = S.draft
    for target in moves:
        if target == expected or target in TRANSITIONS[expected]:
            service.transition_article(session, admin, article.id, target)
            expected = target
        else:
            with pytest.raises(IllegalTransition):
                service.transition_article(session, admin, article.id, target)
        assert article.status == expected
    session.rollback()


@pytest.mark.parametrize(
    ("source", "target", "agent_may"),
    [
        (S.draft, S.in_review, True),
        (S.in_review, S.draft, True),
        (S.approved, S.draft, True),
        (S.in_review, S.approved, False),
        (S.approved, S.published, False),
        (S.published, S.archived, False),
        (S.published, S.draft, False),
        (S.archived, S.draft, False),
    ],
)
def test_agents_submit_and_admins_approve_publish_archive(
    session: Session,
    personas: Personas,
    source: ArticleStatus,
    target: ArticleStatus,
    agent_may: bool,
) -> None:
    article = make_article(session, personas.ann.ctx)
    move_to(session, personas.acme_admin.ctx, article, source)
    if agent_may:
        service.transition_article(session, personas.ann.ctx, article.id, target)
    else:
        with pytest.raises(PermissionDenied):
            service.transition_article(session, personas.ann.ctx, article.id, target)
        assert article.status == source
        service.transition_article(session, personas.acme_owner.ctx, article.id, target)
    assert article.status == target


def test_publishing_stamps_published_at(session: Session, personas: Personas) -> None:
    article = make_article(session, personas.ann.ctx)
    move_to(session, personas.acme_admin.ctx, article, S.approved)
    assert article.published_at is None
    service.transition_article(session, personas.acme_admin.ctx, article.id, S.published)
    assert article.published_at is not None


@pytest.mark.parametrize("status", [S.approved, S.published, S.archived])
def test_agents_cannot_edit_approved_or_later_but_admins_can(
    session: Session, personas: Personas, status: ArticleStatus
) -> None:
    article = make_article(session, personas.ann.ctx)
    move_to(session, personas.acme_admin.ctx, article, status)
    with pytest.raises(PermissionDenied):
        edit(session, personas.ann.ctx, article, body="agent edit")
    edit(session, personas.acme_admin.ctx, article, body="admin fix")
    assert (article.body, article.status) == ("admin fix", status)
    assert (
        history.get_revision(session, personas.ann.ctx, article.id, article.content_version).status
        == status
    )


def test_agents_edit_articles_in_review(session: Session, personas: Personas) -> None:
    article = make_article(session, personas.ann.ctx)
    move_to(session, personas.acme_admin.ctx, article, S.in_review)
    edit(session, personas.bob.ctx, article, body="review fix")
    assert article.body == "review fix"


# --- delete ------------------------------------------------------------------------------------------


def test_agents_delete_drafts_only_and_admins_anything(
    session: Session, personas: Personas
) -> None:
    draft = make_article(session, personas.ann.ctx)
    published = make_article(session, personas.ann.ctx)
    move_to(session, personas.acme_admin.ctx, published, S.published)
    with pytest.raises(PermissionDenied):
        service.delete_article(session, personas.ann.ctx, published.id)
    draft_id, published_id = draft.id, published.id
    service.delete_article(session, personas.ann.ctx, draft_id)
    service.delete_article(session, personas.acme_admin.ctx, published_id)
    session.commit()
    for article_id in (draft_id, published_id):
        assert session.get(Article, article_id) is None
        # The index job is told, so it can drop the article's chunks.
        assert index_requests(session, article_id) >= 2
    assert (
        session.scalars(
            select(ArticleRevision).where(ArticleRevision.article_id.in_([draft_id, published_id]))
        ).all()
        == []
    )


# --- who sees what -----------------------------------------------------------------------------------


def test_customers_read_only_published_external_articles(
    session: Session, personas: Personas
) -> None:
    admin, carol = personas.acme_admin.ctx, personas.carol.ctx
    by_case = {}
    for status in S:
        for visibility in ("external", "internal"):
            article = make_article(
                session, admin, title=f"{status} {visibility}", visibility=visibility
            )
            move_to(session, admin, article, status)
            by_case[(status, visibility)] = article.id
    visible = by_case[(S.published, "external")]
    for case, article_id in by_case.items():
        if article_id == visible:
            assert service.get_article(session, carol, article_id).id == visible
        else:
            with pytest.raises(NotFound):
                service.get_article(session, carol, article_id)
        assert service.get_article(session, personas.ann.ctx, article_id).id == article_id, case
    rows, _ = service.list_articles(session, carol, service.ArticleFilters(), limit=100)
    assert [a.id for a in rows] == [visible]
    rows, _ = service.list_articles(session, personas.bob.ctx, service.ArticleFilters(), limit=100)
    assert len(rows) == len(by_case)


def test_another_workspace_sees_nothing(session: Session, personas: Personas) -> None:
    article = make_article(session, personas.acme_admin.ctx)
    move_to(session, personas.acme_admin.ctx, article, S.published)
    gina, gus = personas.gina.ctx, personas.globex_owner.ctx
    for ctx in (gina, gus):
        with pytest.raises(NotFound):
            service.get_article(session, ctx, article.id)
        with pytest.raises(NotFound):
            history.list_revisions(session, ctx, article.id)
        with pytest.raises(NotFound):
            service.transition_article(session, ctx, article.id, S.archived)
        with pytest.raises(NotFound):
            edit(session, ctx, article, title="pwned")
        rows, _ = service.list_articles(session, ctx, service.ArticleFilters(), limit=100)
        assert rows == []
    assert article.title == "Reset your password"


# --- lists -------------------------------------------------------------------------------------------


def test_list_filters_and_pages(session: Session, personas: Personas) -> None:
    from deskpilot.kb import categories
    from deskpilot.kb.content import Visibility
    from deskpilot.kb.schemas import CategoryCreate

    admin = personas.acme_admin.ctx
    category, _ = categories.create_category(session, admin, CategoryCreate(name="Billing"))
    a = make_article(session, admin, title="Refund policy", tags=["billing", "refunds"])
    b = make_article(
        session, admin, title="Invoices 100%", category_id=category.id, tags=["billing"]
    )
    c = make_article(session, admin, title="SSO setup", visibility="internal", tags=["sso"])
    move_to(session, admin, a, S.published)

    def ids(**filters: Any) -> list[int]:
        rows, _ = service.list_articles(session, admin, service.ArticleFilters(**filters), limit=50)
        return [r.id for r in rows]

    assert ids() == [a.id, b.id, c.id]
    assert ids(status=[S.published]) == [a.id]
    assert ids(status=[S.draft, S.published]) == [a.id, b.id, c.id]
    assert ids(visibility=Visibility.internal) == [c.id]
    assert ids(category_id=category.id) == [b.id]
    assert ids(tag="Billing") == [a.id, b.id]
    assert ids(tag="refunds") == [a.id]
    assert ids(tag="bill") == []
    assert ids(q="refund") == [a.id]
    assert ids(q="100%") == [b.id]
    assert ids(q="%") == [b.id]

    first, cursor = service.list_articles(session, admin, service.ArticleFilters(), limit=2)
    assert [r.id for r in first] == [a.id, b.id]
    rest, end = service.list_articles(
        session, admin, service.ArticleFilters(), limit=2, cursor=cursor
    )
    assert ([r.id for r in rest], end) == ([c.id], None)
