"""Portal test helpers: a small published help center in acme (and globex), mail settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from deskpilot.db.engine import Database
from deskpilot.email.models import EmailMessage, MailSettings
from deskpilot.kb import categories
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.index import registry
from deskpilot.kb.models import Article, SearchLog
from deskpilot.kb.schemas import CategoryCreate
from tests.factories import Personas
from tests.kb.conftest import make_article, move_to

SUPPORT = "support@acme.example"


@dataclass
class HelpCenter:
    category_slug: str
    internal_category_slug: str
    password: str
    billing: str
    internal: str
    draft: str
    globex: str


@pytest.fixture
def help_center(db: Database, personas: Personas) -> HelpCenter:
    admin = personas.acme_admin.ctx
    with db.session(write=True) as s:
        account = categories.create_category(
            s, admin, CategoryCreate(name="Your account", description="Sign-in and passwords")
        )[0]
        secret = categories.create_category(
            s, admin, CategoryCreate(name="Staff only", visibility="internal")
        )[0]
        specs: list[dict[str, Any]] = [
            {
                "title": "Reset your password",
                "summary": "Choose a new password in two steps.",
                "body": "Open the sign-in page and choose **Forgot password**.",
                "category_id": account.id,
            },
            {"title": "Download your invoices", "body": "Invoices are under Billing."},
            {
                "title": "Internal escalation runbook",
                "body": "Page the on-call engineer.",
                "visibility": "internal",
            },
        ]
        published = [make_article(s, admin, **spec) for spec in specs]
        for article in published:
            move_to(s, admin, article, ArticleStatus.published)
        draft = make_article(s, admin, title="Unreleased feature", body="Coming soon.")
        gadmin = personas.globex_owner.ctx
        globex = make_article(s, gadmin, title="Globex secret plans", body="Globex only.")
        move_to(s, gadmin, globex, ArticleStatus.published)
        s.commit()
        result = HelpCenter(
            category_slug=account.slug,
            internal_category_slug=secret.slug,
            password=published[0].slug,
            billing=published[1].slug,
            internal=published[2].slug,
            draft=draft.slug,
            globex=globex.slug,
        )
    registry.forget()
    return result


@pytest.fixture
def mail_settings(db: Database, personas: Personas) -> None:
    with db.session(write=True) as s:
        s.add(MailSettings(workspace_id=personas.acme_owner.workspace_id, support_address=SUPPORT))
        s.commit()


def outbound_mail(db: Database) -> list[EmailMessage]:
    with db.session(write=False) as s:
        rows = list(
            s.scalars(
                select(EmailMessage)
                .where(EmailMessage.direction == "outbound")
                .order_by(EmailMessage.id)
            )
        )
        s.expunge_all()
    return rows


def search_logs(db: Database) -> list[SearchLog]:
    with db.session(write=False) as s:
        rows = list(s.scalars(select(SearchLog).order_by(SearchLog.id)))
        s.expunge_all()
    return rows


def article(db: Database, slug: str) -> Article:
    with db.session(write=False) as s:
        row = s.scalars(select(Article).where(Article.slug == slug)).one()
        s.expunge(row)
    return row
