"""Keyset pagination: opaque cursors and the `{items, next_cursor}` page shape."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from mnr_shared.problems import UnprocessableContent

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1–200).")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`.")
]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*values: Any) -> str:
    """Pack the sort key of the last item served; clients treat it as opaque."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, *, arity: int) -> list[Any]:
    """The sort key a cursor carries; a cursor that is not one of ours is a 422, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor()
    return values


def invalid_cursor() -> UnprocessableContent:
    return UnprocessableContent(
        "The cursor is not valid; pass `next_cursor` from a previous page unchanged.",
        slug="validation",
        extra={"errors": [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]},
    )
