"""Views, helpful votes and related articles."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deskpilot.core.context import Context, Role
from deskpilot.core.errors import NotFound, PermissionDenied, ValidationFailed
from deskpilot.kb import feedback, service
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.models import Article, ArticleDailyMetric, ArticleVote
from tests.factories import Personas
from tests.kb.conftest import make_article, move_to

ANON_KEY = "visitor-0123456789abcdef"


def published(session: Session, personas: Personas, **fields: object) -> Article:
    article = make_article(session, personas.ann.ctx, **fields)
    move_to(session, personas.acme_admin.ctx, article, ArticleStatus.published)
    return article


def anonymous(personas: Personas) -> Context:
    return Context(workspace_id=personas.carol.workspace_id, user_id=None, role=Role.customer)


def daily(session: Session, article: Article) -> ArticleDailyMetric | None:
    return session.scalars(
        select(ArticleDailyMetric).where(ArticleDailyMetric.article_id == article.id)
    ).one_or_none()


def counts(article: Article) -> tuple[int, int, float | None]:
    ratio = article.helpfulness
    return (
        article.helpful_count,
        article.not_helpful_count,
        None if ratio is None else round(ratio, 3),
    )


# --- votes -------------------------------------------------------------------------------------------


def test_one_vote_per_voter_switching_moves_the_counts(
    session: Session, personas: Personas
) -> None:
    article = published(session, personas)
    carol, bob = personas.carol.ctx, personas.bob.ctx
    assert counts(article) == (0, 0, None)
    feedback.vote(session, carol, article.id, True)
    assert counts(article) == (1, 0, 1.0)
    feedback.vote(session, carol, article.id, True)  # the same vote again changes nothing
    assert counts(article) == (1, 0, 1.0)
    feedback.vote(session, bob, article.id, True)
    assert counts(article) == (2, 0, 1.0)
    feedback.vote(session, carol, article.id, False)
    assert counts(article) == (1, 1, 0.5)
    feedback.vote(session, anonymous(personas), article.id, False, anonymous_key=ANON_KEY)
    assert counts(article) == (1, 2, 0.333)
    session.commit()
    session.expire_all()
    stored = session.get(Article, article.id)
    assert stored is not None
    assert counts(stored) == (1, 2, 0.333)
    votes = session.execute(
        select(ArticleVote.voter_key, ArticleVote.helpful).where(
            ArticleVote.article_id == article.id
        )
    ).all()
    assert sorted(tuple(v) for v in votes) == [
        (f"anon:{ANON_KEY}", False),
        (f"user:{personas.bob.user_id}", True),
        (f"user:{personas.carol.user_id}", False),
    ]


def test_votes_are_counted_in_the_daily_metrics(session: Session, personas: Personas) -> None:
    article = published(session, personas)
    feedback.vote(session, personas.carol.ctx, article.id, True)
    feedback.vote(session, personas.carol.ctx, article.id, True)
    feedback.vote(session, personas.bob.ctx, article.id, False)
    metric = daily(session, article)
    assert metric is not None
    assert (metric.helpful, metric.not_helpful) == (1, 1)


def test_a_vote_is_not_an_edit(session: Session, personas: Personas) -> None:
    article = published(session, personas)
    before = (article.updated_at, article.content_version)
    feedback.vote(session, personas.carol.ctx, article.id, True)
    feedback.record_view(session, personas.carol.ctx, article.id)
    session.expire(article)
    assert (article.updated_at, article.content_version) == before


def test_anonymous_voters_need_a_key_and_signed_in_users_vote_as_themselves(
    session: Session, personas: Personas
) -> None:
    article = published(session, personas)
    for bad in (None, "short", "has spaces in it!!!!"):
        with pytest.raises(ValidationFailed):
            feedback.vote(session, anonymous(personas), article.id, True, anonymous_key=bad)
    feedback.vote(session, personas.carol.ctx, article.id, True, anonymous_key=ANON_KEY)
    feedback.vote(session, personas.carol.ctx, article.id, True, anonymous_key="x" * 20)
    assert counts(article)[:2] == (1, 0)


def test_customers_cannot_vote_on_unpublished_or_internal_articles(
    session: Session, personas: Personas
) -> None:
    draft = make_article(session, personas.ann.ctx)
    internal = published(session, personas, visibility="internal")
    for article in (draft, internal):
        with pytest.raises(NotFound):
            feedback.vote(session, personas.carol.ctx, article.id, True)
    feedback.vote(session, personas.ann.ctx, draft.id, True)  # staff may rate drafts
    assert draft.helpful_count == 1


# --- views -------------------------------------------------------------------------------------------


def test_customer_views_count_and_staff_views_do_not(session: Session, personas: Personas) -> None:
    article = published(session, personas)
    assert feedback.record_view(session, personas.carol.ctx, article.id) is True
    assert feedback.record_view(session, anonymous(personas), article.id) is True
    assert feedback.record_view(session, personas.ann.ctx, article.id) is False
    assert article.view_count == 2
    metric = daily(session, article)
    assert metric is not None
    assert metric.views == 2


def test_views_of_hidden_articles_are_not_found(session: Session, personas: Personas) -> None:
    draft = make_article(session, personas.ann.ctx)
    with pytest.raises(NotFound):
        feedback.record_view(session, personas.carol.ctx, draft.id)
    with pytest.raises(NotFound):
        feedback.record_view(session, personas.gina.ctx, draft.id)


# --- related articles --------------------------------------------------------------------------------


def test_related_articles_are_replaced_in_order(session: Session, personas: Personas) -> None:
    ann = personas.ann.ctx
    main, a, b, c = (make_article(session, ann, title=t) for t in ("Main", "A", "B", "C"))
    service.set_related(session, ann, main.id, [c.id, a.id, c.id])
    assert [r.title for r in service.related_articles(session, ann, main)] == ["C", "A"]
    service.set_related(session, ann, main.id, [b.id, c.id])
    assert [r.title for r in service.related_articles(session, ann, main)] == ["B", "C"]
    service.set_related(session, ann, main.id, [])
    assert service.related_articles(session, ann, main) == []


def test_related_ids_must_be_other_articles_of_the_workspace(
    session: Session, personas: Personas
) -> None:
    ann = personas.ann.ctx
    main = make_article(session, ann)
    globex = make_article(session, personas.gina.ctx)
    for ids in ([main.id], [globex.id], [987_654_321]):
        with pytest.raises(ValidationFailed) as exc:
            service.set_related(session, ann, main.id, ids)
        assert exc.value.details[0]["field"] == "article_ids"
    with pytest.raises(NotFound):
        service.set_related(session, personas.gina.ctx, main.id, [globex.id])


def test_customers_see_only_readable_related_articles(session: Session, personas: Personas) -> None:
    main = published(session, personas, title="Main")
    public = published(session, personas, title="Public")
    draft = make_article(session, personas.ann.ctx, title="Draft")
    service.set_related(session, personas.acme_admin.ctx, main.id, [draft.id, public.id])
    assert [r.title for r in service.related_articles(session, personas.carol.ctx, main)] == [
        "Public"
    ]
    assert len(service.related_articles(session, personas.ann.ctx, main)) == 2


def test_agents_cannot_change_relations_of_published_articles(
    session: Session, personas: Personas
) -> None:
    main = published(session, personas)
    other = make_article(session, personas.ann.ctx)
    with pytest.raises(PermissionDenied):
        service.set_related(session, personas.ann.ctx, main.id, [other.id])
