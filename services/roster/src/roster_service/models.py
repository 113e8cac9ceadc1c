"""Tables of the roster service."""

from __future__ import annotations

from roster_service.db import Base, idempotency_keys, metadata

__all__ = ["Base", "idempotency_keys", "metadata"]
