"""One worker-thread hop per request: run, commit and serialize a sync endpoint together.

FastAPI runs each sync dependency, the endpoint, the response validation and the session
dependency's exit in separate thread-pool calls (five per request here). `TransactionalRoute`
wraps a sync endpoint so that in its one thread-pool call it also commits the request's session
(or rolls it back on error) and serializes the returned models to JSON; FastAPI then has nothing
left to do off the event loop. The commit still happens before the response is sent.

That hop goes through a small per-process limiter (`DESKPILOT_WEB_THREADS`, default 2), not
anyio's pool of 40: request handlers are CPU-bound Python under one GIL, so 8 of them at once in
a process only interleave, each taking 8 times as long, and the unlucky ones far longer. Queued
in line instead, they finish in arrival order (bench/api_load.py, 2 processes, 16 connections:
list page p95 184-208 ms -> 75-89 ms, create p95 252-260 -> 187-200 ms, 10-20% more
throughput). Endpoints that wait on another service (a language model, an SMTP server) are
marked `@waits_on_network` and use their own wide limiter, so a slow provider never holds the
line for everyone.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.orm import Session

_MODEL_LIST = TypeAdapter(list[BaseModel])
NETWORK_THREADS = 40
_WAITS_ON_NETWORK = "_deskpilot_waits_on_network"
_request_threads = 2
# Limiters belong to an event loop (tests start several): one of each per loop.
_REQUEST_LIMITER: RunVar[CapacityLimiter] = RunVar("deskpilot_request_limiter")
_NETWORK_LIMITER: RunVar[CapacityLimiter] = RunVar("deskpilot_network_limiter")

F = TypeVar("F", bound=Callable[..., Any])


def set_request_threads(count: int) -> None:
    """How many request handlers of this process run at once (DESKPILOT_WEB_THREADS)."""
    global _request_threads
    _request_threads = max(1, count)


def waits_on_network(endpoint: F) -> F:
    """Mark a sync endpoint that waits on another service, so it runs outside the narrow line."""
    setattr(endpoint, _WAITS_ON_NETWORK, True)
    return endpoint


def _limiter(var: RunVar[CapacityLimiter], size: int) -> CapacityLimiter:
    try:
        return var.get()
    except LookupError:
        limiter = CapacityLimiter(size)
        var.set(limiter)
        return limiter


def _json(result: Any) -> bytes | None:
    if isinstance(result, BaseModel):
        return result.model_dump_json().encode()
    if isinstance(result, list) and all(isinstance(item, BaseModel) for item in result):
        return b"[" + b",".join(item.model_dump_json().encode() for item in result) + b"]"
    return None


def transactional(endpoint: Callable[..., Any], status_code: int | None) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        sessions = [v for v in kwargs.values() if isinstance(v, Session)]
        try:
            result = endpoint(*args, **kwargs)
            body = _json(result)
            for session in sessions:
                session.commit()
        except BaseException:
            for session in sessions:
                session.rollback()
            raise
        if body is None:
            return result
        sub = next((v for v in kwargs.values() if isinstance(v, Response)), None)
        status = (sub.status_code if sub is not None else None) or status_code or 200
        response = Response(content=body, status_code=status, media_type="application/json")
        if sub is not None:
            for name, value in sub.headers.items():
                if name.lower() != "content-length":
                    response.headers[name] = value
        return response

    return run


def in_line(endpoint: Callable[..., Any], status_code: int | None) -> Callable[..., Any]:
    """The sync endpoint as an async one that runs it (transactionally) on a limited thread."""
    run = transactional(endpoint, status_code)
    network = getattr(endpoint, _WAITS_ON_NETWORK, False)

    @functools.wraps(endpoint)
    async def handle(*args: Any, **kwargs: Any) -> Any:
        if network:
            limiter = _limiter(_NETWORK_LIMITER, NETWORK_THREADS)
        else:
            limiter = _limiter(_REQUEST_LIMITER, _request_threads)
        return await anyio.to_thread.run_sync(
            functools.partial(run, *args, **kwargs), limiter=limiter
        )

    return handle


class TransactionalRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = in_line(endpoint, kwargs.get("status_code"))
        super().__init__(path, endpoint, **kwargs)
