"""Per-workspace embedder adaptation: train on the KB, switch the workspace to the new model.

Training always starts from the built-in model (no drift across rounds). Switching only records
the target model; the stale-index sweep then re-embeds every chunk, and searches meanwhile embed
the query with whichever model each chunk carries, so results stay right during the switch.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deskpilot.ai.adaptation import AdaptationConfig, ArticleText, fine_tune, training_pairs
from deskpilot.ai.embeddings import BUILTIN_MODEL, builtin_model_path, models_dir
from deskpilot.core.clock import utcnow
from deskpilot.kb.chunking import chunk_markdown
from deskpilot.kb.indexing import bump_index_version
from deskpilot.kb.models import Article, KbIndexState

MIN_TRAINING_PAIRS = 40
ADAPTED_STATUSES = ("approved", "published")
READAPT_AFTER = timedelta(days=7)
READAPT_CHANGED_SHARE = 0.2


def workspace_articles(session: Session, workspace_id: int) -> list[ArticleText]:
    rows = session.scalars(
        select(Article)
        .where(Article.workspace_id == workspace_id, Article.status.in_(ADAPTED_STATUSES))
        .order_by(Article.id)
    )
    return [
        ArticleText(a.title, a.summary, [c.text for c in chunk_markdown(a.body or "")])
        for a in rows
    ]


def train_workspace_model(
    session: Session, workspace_id: int, config: AdaptationConfig | None = None
) -> str | None:
    """Train an adapted model from the workspace's reviewed articles (read-only, slow)."""
    config = config or AdaptationConfig()
    pairs = training_pairs(workspace_articles(session, workspace_id), config)
    if len(pairs) < MIN_TRAINING_PAIRS:
        return None
    name = f"{BUILTIN_MODEL}@ws{workspace_id}-{utcnow():%Y%m%d%H%M%S}"
    fine_tune(builtin_model_path(), pairs, models_dir() / name, config)
    return name


def switch_workspace_model(session: Session, workspace_id: int, model_name: str) -> None:
    """Make `model_name` the workspace's target; older adapted models beyond the previous go."""
    state = session.get(KbIndexState, workspace_id, with_for_update=True)
    if state is None:
        bump_index_version(session, workspace_id, "")
        state = session.get(KbIndexState, workspace_id, with_for_update=True)
        assert state is not None
    previous = state.target_model
    state.target_model = model_name
    state.adapted_at = utcnow()
    state.version += 1
    keep = {model_name, previous}
    for path in models_dir().glob(f"{BUILTIN_MODEL}@ws{workspace_id}-*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def needs_adaptation(session: Session, workspace_id: int) -> bool:
    """Adapt when never adapted, or weekly once a fifth of reviewed articles changed since."""
    total = (
        session.scalar(
            select(func.count()).where(
                Article.workspace_id == workspace_id, Article.status.in_(ADAPTED_STATUSES)
            )
        )
        or 0
    )
    if total < 5:
        return False
    state = session.get(KbIndexState, workspace_id)
    if state is None or state.adapted_at is None:
        return True
    if utcnow() - state.adapted_at < READAPT_AFTER:
        return False
    changed = (
        session.scalar(
            select(func.count()).where(
                Article.workspace_id == workspace_id,
                Article.status.in_(ADAPTED_STATUSES),
                Article.updated_at > state.adapted_at,
            )
        )
        or 0
    )
    return changed >= READAPT_CHANGED_SHARE * total
