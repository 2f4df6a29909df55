"""Pure content rules: the lifecycle table, slugs, tags and front matter."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deskpilot.core.context import Role
from deskpilot.kb.content import (
    TRANSITIONS,
    ArticleStatus,
    FrontMatterError,
    allowed_targets,
    first_free_slug,
    is_valid_slug,
    may_edit,
    may_transition,
    normalize_tags,
    slugify,
    split_front_matter,
)

S = ArticleStatus


def test_the_table_covers_every_status_and_everything_is_reachable_from_draft() -> None:
    assert set(TRANSITIONS) == set(ArticleStatus)
    seen = {S.draft}
    queue = deque([S.draft])
    while queue:
        for target in TRANSITIONS[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    assert seen == set(ArticleStatus)


def test_the_review_chain_and_the_ways_back() -> None:
    assert allowed_targets(S.draft) == ["in_review"]
    assert allowed_targets(S.in_review) == ["approved", "draft"]
    assert allowed_targets(S.approved) == ["draft", "published"]
    assert allowed_targets(S.published) == ["archived", "draft"]
    assert allowed_targets(S.archived) == ["draft"]


AGENT_MOVES = {(S.draft, S.in_review), (S.in_review, S.draft), (S.approved, S.draft)}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_who_may_make_each_move(source: ArticleStatus, target: ArticleStatus) -> None:
    legal = target in TRANSITIONS[source]
    assert may_transition(Role.owner, source, target) is legal
    assert may_transition(Role.admin, source, target) is legal
    assert may_transition(Role.agent, source, target) is (legal and (source, target) in AGENT_MOVES)
    assert may_transition(Role.customer, source, target) is False


def test_agents_edit_only_before_approval_and_admins_always() -> None:
    assert {s for s in S if may_edit(Role.agent, s)} == {S.draft, S.in_review}
    assert all(may_edit(Role.admin, s) and may_edit(Role.owner, s) for s in S)
    assert not any(may_edit(Role.customer, s) for s in S)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("How do I reset my password?", "how-do-i-reset-my-password"),
        ("  Crème brûlée -- 2FA & SSO  ", "creme-brulee-2fa-sso"),
        ("日本語", "article"),
        ("---", "article"),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


@given(st.text(max_size=400))
def test_slugify_always_gives_a_valid_slug_within_the_limit(title: str) -> None:
    slug = slugify(title, max_length=120)
    assert is_valid_slug(slug)
    assert len(slug) <= 120


def test_first_free_slug_counts_up_and_keeps_the_suffix_within_the_limit() -> None:
    assert first_free_slug("faq", set()) == "faq"
    assert first_free_slug("faq", {"faq"}) == "faq-2"
    assert first_free_slug("faq", {"faq", "faq-2", "faq-3"}) == "faq-4"
    long = "a" * 200
    assert first_free_slug(long, {long}, max_length=200) == "a" * 198 + "-2"


def test_tags_are_normalized_deduplicated_and_sorted() -> None:
    assert normalize_tags([" Billing ", "two  words", "billing", "", "  "]) == [
        "billing",
        "two-words",
    ]


def test_front_matter_and_body() -> None:
    meta, body = split_front_matter("---\ntitle: Hello\ntags: [a, b]\n---\n\n# Body\ntext\n")
    assert meta == {"title": "Hello", "tags": ["a", "b"]}
    assert body == "# Body\ntext\n"


def test_a_file_without_front_matter_is_all_body() -> None:
    assert split_front_matter("# Just text\n") == ({}, "# Just text\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("---\ntitle: x\nno end\n", "never closed"),
        ("---\ntitle: [unclosed\n---\nbody", "invalid YAML"),
        ("---\n- a list\n---\nbody", "mapping"),
    ],
)
def test_bad_front_matter_is_an_error(text: str, problem: str) -> None:
    with pytest.raises(FrontMatterError, match=problem):
        split_front_matter(text)
