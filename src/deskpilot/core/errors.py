"""Domain errors. Services raise these; the web layer maps each to one HTTP status and one body shape."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: `code` is a stable machine-readable identifier, `status` the HTTP mapping."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    """Missing, or belongs to another workspace: the two are indistinguishable on purpose."""

    code = "not_found"
    status = 404


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class PermissionDenied(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class ValidationFailed(DomainError):
    """Input that passed the schema but breaks a domain rule; details list {field, message}."""

    code = "validation_error"
    status = 422


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
