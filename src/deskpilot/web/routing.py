"""One worker-thread hop per request: run, commit and serialize a sync endpoint together.

FastAPI runs each sync dependency, the endpoint, the response validation and the session
dependency's exit in separate thread-pool calls (five per request here). `TransactionalRoute`
wraps a sync endpoint so that in its one thread-pool call it also commits the request's session
(or rolls it back on error) and serializes the returned models to JSON; FastAPI then has nothing
left to do off the event loop. The commit still happens before the response is sent.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from sqlalchemy.orm import Session

_MODEL_LIST = TypeAdapter(list[BaseModel])


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


class TransactionalRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = transactional(endpoint, kwargs.get("status_code"))
        super().__init__(path, endpoint, **kwargs)
