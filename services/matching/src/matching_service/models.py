"""Tables of the matching service."""

from __future__ import annotations

from matching_service.db import Base, idempotency_keys, metadata

__all__ = ["Base", "idempotency_keys", "metadata"]
