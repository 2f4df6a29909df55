"""Fallback server entry point for the benchmark when `deskpilot serve` is not available.

python -m uvicorn server_app:app_factory --factory --app-dir bench
"""

from __future__ import annotations

from fastapi import FastAPI

from deskpilot.main import create_app
from deskpilot.settings import load_settings


def app_factory() -> FastAPI:
    return create_app(load_settings())
