"""Demo tests: cheap password hashing, since seeding sets a password for every demo login."""

from __future__ import annotations

import pytest

from tests.factories import use_fast_password_hashing


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_password_hashing(monkeypatch)
