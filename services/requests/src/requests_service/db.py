"""The requests service's own metadata (named constraints) and SQLModel base."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from mnr_shared.db import make_metadata
from mnr_shared.idempotency import IdempotencyStore, idempotency_table

metadata = make_metadata()


class Base(SQLModel, registry=registry(metadata=metadata)):
    """Base of every requests table; keeps them out of any other service's metadata."""


idempotency_keys = idempotency_table(metadata)
idempotency = IdempotencyStore(idempotency_keys)
