"""The requests service's own metadata (named constraints), SQLModel base and session-factory dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from mnr_shared.db import make_metadata
from mnr_shared.idempotency import IdempotencyStore, idempotency_table

metadata = make_metadata()


class Base(SQLModel, registry=registry(metadata=metadata)):
    """Base of every requests table; keeps them out of any other service's metadata."""


idempotency_keys = idempotency_table(metadata)
idempotency = IdempotencyStore(idempotency_keys)


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """The factory the lifespan built; for writes that own their transaction (idempotent creates)."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return factory


SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
