"""Errors the roster service raises; rendered as problem+json by the shared handlers."""

from __future__ import annotations

from mnr_shared.problems import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ProblemError,
    ServiceUnavailable,
    UnprocessableContent,
)

__all__ = [
    "BadRequest",
    "Conflict",
    "ContentTooLarge",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "PreconditionRequired",
    "ProblemError",
    "ServiceUnavailable",
    "UnprocessableContent",
]


class ContentTooLarge(ProblemError):
    """413: an upload past the size limit."""

    status = 413
