"""The notifier's own metadata (named constraints) and SQLModel base."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from mnr_shared.db import make_metadata

metadata = make_metadata()


class Base(SQLModel, registry=registry(metadata=metadata)):
    """Base of every notifier table; keeps them out of any other service's metadata."""
