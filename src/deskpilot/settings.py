"""The only module that reads the environment. Everything else receives a `Settings` object."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DESKPILOT_", env_file=None, extra="ignore")

    env: Literal["dev", "prod", "test"] = "dev"
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to a SQLite file under DATA_DIR."
    )
    redis_url: str | None = None
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_format: Literal["json", "text"] | None = None
    """One JSON object per log line, or plain text; unset means json in prod, text otherwise."""
    metrics_token: str | None = None
    """When set, `GET /metrics` needs `Authorization: Bearer <token>`; unset, loopback only."""
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("prometheus_multiproc_dir", "PROMETHEUS_MULTIPROC_DIR"),
    )
    """prometheus_client's own variable: share metrics between `serve --workers N` processes."""
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DESKPILOT_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    )
    """OTLP/HTTP collector URL; tracing stays off unless set (needs the `otel` extra)."""

    max_body_bytes: int = 1_048_576
    max_attachment_bytes: int = 10 * 1_048_576
    db_pool_size: int = 10
    web_threads: int = Field(default=2, ge=1, le=256)
    """Request handlers running at once per server process (the rest wait in line)."""
    gc_tuning: bool = True
    """Server processes freeze their startup heap out of the garbage collector's sight and
    collect less often (web/server.py)."""
    embedded_worker: bool = True
    embedded_worker_threads: int = 2
    job_max_attempts: int = 8
    ai_threads: int = Field(default=1, ge=1, le=64)
    """CPU threads for local model inference; one per request keeps latency steady under load."""
    ai_pipeline: bool = True
    """Run the AI engine on new tickets and customer replies (workspaces can still opt out)."""
    session_cookie_secure: bool = False
    session_max_age_seconds: int = 14 * 24 * 3600
    vendor_dir: Path | None = None
    """Where `npm install` put the front-end libraries (default: the source tree's
    `frontend/node_modules`). Pages work without them, only less smoothly."""

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.env == "prod" and (
            not self.secret_key or len(self.secret_key) < MIN_SECRET_KEY_LENGTH
        ):
            raise ValueError(
                "DESKPILOT_SECRET_KEY must be set to at least "
                f"{MIN_SECRET_KEY_LENGTH} characters when DESKPILOT_ENV=prod"
            )
        return self

    @property
    def resolved_vendor_dir(self) -> Path:
        if self.vendor_dir is not None:
            return self.vendor_dir
        return Path(__file__).resolve().parents[2] / "frontend" / "node_modules"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'deskpilot.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """In dev a key is generated once and kept under DATA_DIR so sessions survive restarts."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key

    @property
    def resolved_log_format(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.env == "prod" else "text"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def jobs_db_path(self) -> Path:
        return self.data_dir / "jobs.db"


def normalize_database_url(url: str) -> str:
    """Accept the usual `postgresql://` spelling and route it to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
