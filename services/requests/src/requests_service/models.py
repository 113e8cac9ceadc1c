"""Tables of the requests service."""

from __future__ import annotations

from requests_service.db import Base, idempotency_keys, metadata

__all__ = ["Base", "idempotency_keys", "metadata"]
