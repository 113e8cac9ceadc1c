"""ETags and `If-Match`: optimistic concurrency for single resources (428 missing, 412 stale)."""

from __future__ import annotations

import hashlib

from mnr_shared.problems import PreconditionFailed, PreconditionRequired


def make_etag(resource_id: object, version: int) -> str:
    """A strong ETag that changes with every write of the resource."""
    digest = hashlib.sha256(f"{resource_id}:{version}".encode()).hexdigest()[:16]
    return f'"{version}-{digest}"'


def check_if_match(if_match: str | None, current: str) -> None:
    """Refuse a write unless the client proves it saw the current version."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "This write needs an If-Match header carrying the resource's current ETag.",
            slug="if-match-required",
        )
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates:
        return
    # Weak validators never match for a write (RFC 9110 §13.1.1 strong comparison).
    if current not in candidates:
        raise PreconditionFailed(
            "The resource changed since you read it; fetch it again and retry with its ETag.",
            slug="stale-etag",
            extra={"current_etag": current},
        )
