"""The API reference in docs/api.md names every route the app serves."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_api_route_is_documented(app: FastAPI) -> None:
    documented = {_normalise(p) for p in re.findall(r"(/api/v1/[^\s`|]*)", DOC.read_text())}
    served = {_normalise(path) for path in app.openapi()["paths"] if path.startswith("/api/v1/")}
    missing = sorted(served - documented)
    assert missing == [], f"document these routes in docs/api.md: {missing}"
