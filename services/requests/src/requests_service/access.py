"""Who the caller acts as here, and which requests they may see: scopes, roles, office scoping.

A country office sees only the requests of its own `offices`; any other request is 404, never
403, so its existence is not revealed (OWASP API1). Every service function goes through
`load_request` or `visible_to`, so no route can forget it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from mnr_shared.auth import Principal, Role
from requests_service.errors import Forbidden, NotFound
from requests_service.models import ActorRole, AssistanceRequest

READ_SCOPE = "requests:read"
WRITE_SCOPE = "requests:write"

OFFICE = frozenset({ActorRole.COUNTRY_OFFICE, ActorRole.PROGRAMME_DIVISION, ActorRole.ADMIN})
PROGRAMME = frozenset({ActorRole.PROGRAMME_DIVISION, ActorRole.ADMIN})
# Only matching (the `requests:write` client) moves a request to `matched`, `fulfilled` or back:
# PD and admin act through matching's approve and cancel, so a hold always goes with the status.
MATCHING = frozenset({ActorRole.SERVICE})
EDITORS = OFFICE
COMMENTERS = OFFICE
REPORTERS = PROGRAMME


def acting_role(principal: Principal, *, scope: str = READ_SCOPE) -> ActorRole:
    """The capacity the caller acts in here (a client needs `scope`); 403 for anyone else."""
    if principal.is_service:
        if principal.has_scopes(scope):
            return ActorRole.SERVICE
    elif principal.has_role(Role.ADMIN):
        return ActorRole.ADMIN
    elif principal.has_role(Role.PROGRAMME_DIVISION):
        return ActorRole.PROGRAMME_DIVISION
    elif principal.has_role(Role.COUNTRY_OFFICE):
        return ActorRole.COUNTRY_OFFICE
    raise Forbidden("Assistance requests are open to country offices, the programme division and services.")


def check_office(principal: Principal, role: ActorRole, country: str) -> None:
    """403 unless a country office acts for one of its own countries (others may act for any)."""
    if role is ActorRole.COUNTRY_OFFICE and country not in principal.offices:
        raise Forbidden(
            f"Your offices ({', '.join(sorted(principal.offices))}) may not file or move "
            f"requests for {country}.",
            slug="office-scope",
        )


def visible_to(principal: Principal, role: ActorRole) -> list[Any]:
    """WHERE clauses that keep a country office to its own countries (OWASP API1)."""
    if role is ActorRole.COUNTRY_OFFICE:
        return [col(AssistanceRequest.country).in_(sorted(principal.offices))]
    return []


async def load_request(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    by: Principal,
    role: ActorRole,
    lock: bool = False,
) -> AssistanceRequest:
    """The request if the caller may see it (locked for update when `lock`); 404 otherwise."""
    statement = select(AssistanceRequest).where(
        col(AssistanceRequest.id) == request_id, *visible_to(by, role)
    )
    if lock:
        # PostgreSQL: a racing writer waits here and then sees the winner's status.
        # SQLite ignores FOR UPDATE; its BEGIN IMMEDIATE already serialises writers.
        statement = statement.with_for_update()
    row = (await session.execute(statement)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"There is no assistance request {request_id} that you can see.", slug="not-found")
    return row
