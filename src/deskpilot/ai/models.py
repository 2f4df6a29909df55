"""AI tables: trained intent classifiers (the weights live on disk under DATA_DIR/models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.core.clock import utcnow
from deskpilot.db.base import Base, IdMixin, JsonValue, WorkspaceScoped


class AiClassifier(IdMixin, WorkspaceScoped, Base):
    """One trained version of a named classifier; the newest version is the one in use."""

    __tablename__ = "ai_classifiers"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "version"),)

    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    labels: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonValue, default=dict)
    threshold: Mapped[float] = mapped_column(Float)
    artifact_path: Mapped[str] = mapped_column(String(500))
    embedding_model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
