"""Engine test helpers: a small published help center and policy shortcuts."""

from __future__ import annotations

from typing import Any

import pytest

from deskpilot.db.engine import Database
from deskpilot.kb.content import ArticleStatus
from deskpilot.kb.index import registry
from deskpilot.triage.policy import update_policy
from tests.factories import Persona, Personas
from tests.kb.conftest import make_article, move_to

ARTICLES: list[dict[str, Any]] = [
    {
        "title": "Reset your password",
        "body": "Open the sign-in page and choose Forgot password. We email a reset link that "
        "is valid for one hour. Follow the link and choose a new password.",
        "external_id": "pw",
    },
    {
        "title": "Download your invoices",
        "body": "Invoices are listed under Billing > Invoices. Each invoice can be downloaded "
        "as a PDF. Invoices are emailed on the first day of the month.",
        "external_id": "invoices",
    },
    {
        "title": "Export your data",
        "body": "Go to Settings > Export and choose CSV or JSON. Large exports are emailed to "
        "you as a download link when they are ready.",
        "external_id": "export",
    },
]


def publish(db: Database, admin: Persona, specs: list[dict[str, Any]]) -> dict[str, int]:
    with db.session(write=True) as s:
        ids = {}
        for spec in specs:
            article = make_article(s, admin.ctx, **spec)
            move_to(s, admin.ctx, article, ArticleStatus.published)
            ids[spec["external_id"]] = article.id
        s.commit()
    registry.forget()
    return ids


@pytest.fixture
def acme_help(db: Database, personas: Personas) -> dict[str, int]:
    return publish(db, personas.acme_admin, ARTICLES)


def set_policy(db: Database, admin: Persona, **fields: Any) -> None:
    with db.session(write=True) as s:
        update_policy(s, admin.ctx, fields)
        s.commit()


# Thresholds that force one decision whatever the calibrated confidence.
ALWAYS_RESOLVE = {"resolve_threshold": 0.0, "confirm_threshold": 0.0, "clarify_enabled": False}
ALWAYS_CONFIRM = {"resolve_threshold": 1.0, "confirm_threshold": 0.0, "clarify_enabled": False}
NEVER_ANSWER = {"resolve_threshold": 1.0, "confirm_threshold": 1.0, "clarify_enabled": False}
