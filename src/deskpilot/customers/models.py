from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from deskpilot.db.base import Base, BigId, IdMixin, TimestampMixin, WorkspaceScoped


class Organization(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "organizations"
    __table_args__ = (Index("ix_organizations_ws_domain", "workspace_id", "domain"),)

    name: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(120), default=None)
    crm_id: Mapped[str | None] = mapped_column(String(120), default=None)
    domain: Mapped[str | None] = mapped_column(String(253), default=None)
    tier: Mapped[str | None] = mapped_column(String(40), default=None)
    mrr: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)


class Contact(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    organization_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("organizations.id", ondelete="SET NULL"), default=None, index=True
    )
    crm_id: Mapped[str | None] = mapped_column(String(120), default=None)
