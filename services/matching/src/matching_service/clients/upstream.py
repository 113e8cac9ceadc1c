"""Typed calls to roster and requests with this service's own client-credentials token.

Requests and bookings are parsed once, here, into the models of `clients.models`; the rest of
the service never reads their JSON. Change-feed pages go to the index as they come (it encodes
each projection itself), and refusals carry roster's or requests' problem document.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from matching_service.clients.models import Booking, BookingList, UpstreamRequest
from mnr_shared.problems import Forbidden, NotFound


class UpstreamUnavailable(Exception):
    """The upstream did not answer usefully (down, timeout, 5xx): try again later."""


class HoldConflict(Exception):
    """Roster refused the hold: the expert is not free (409)."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", "conflict"))
        self.problem = problem


class TransitionRefused(Exception):
    """Requests refused a status change (409): the request is no longer where we thought."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", "conflict"))
        self.problem = problem


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 500 or response.status_code in (401, 429):
        raise UpstreamUnavailable(f"{response.request.url.path} answered {response.status_code}")
    return response


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return _check(await client.request(method, url, **kwargs))
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"{url}: {type(exc).__name__}") from exc


class RosterClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def changes(self, *, after: int, limit: int = 1000) -> dict[str, Any]:
        response = await _send(self.http, "GET", "/v1/changes", params={"after": after, "limit": limit})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def hold(
        self, *, expert_id: uuid.UUID, start: date, end: date, request_id: uuid.UUID, match_id: uuid.UUID
    ) -> Booking:
        """The booking (201 new, 200 replay); HoldConflict on 409."""
        response = await _send(
            self.http,
            "POST",
            f"/v1/experts/{expert_id}/bookings",
            json={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "request_id": str(request_id),
                "match_id": str(match_id),
            },
            headers={"Idempotency-Key": str(match_id)},
        )
        if response.status_code == 409:
            raise HoldConflict(response.json())
        if response.status_code == 404:
            raise NotFound("No such expert in the roster.")
        response.raise_for_status()
        return Booking.model_validate_json(response.content)

    async def booking_for_match(self, *, match_id: uuid.UUID) -> Booking | None:
        """The booking placed for a match, if roster holds one."""
        response = await _send(self.http, "GET", "/v1/bookings", params={"match_id": str(match_id)})
        response.raise_for_status()
        items = BookingList.model_validate_json(response.content).items
        return items[0] if items else None

    async def confirm(self, *, booking_id: uuid.UUID) -> Booking:
        response = await _send(self.http, "POST", f"/v1/bookings/{booking_id}/confirm")
        response.raise_for_status()
        return Booking.model_validate_json(response.content)

    async def release(self, *, booking_id: uuid.UUID) -> None:
        response = await _send(self.http, "POST", f"/v1/bookings/{booking_id}/release")
        if response.status_code != 404:
            response.raise_for_status()


class RequestsClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, request_id: uuid.UUID) -> UpstreamRequest:
        response = await _send(self.http, "GET", f"/v1/requests/{request_id}")
        if response.status_code == 404:
            raise NotFound("No such request.")
        if response.status_code == 403:
            raise Forbidden("The requests service refused this service's token.")
        response.raise_for_status()
        return UpstreamRequest.model_validate_json(response.content)

    async def transition(
        self, *, request_id: uuid.UUID, action: str, note: str | None = None
    ) -> UpstreamRequest:
        """The updated request; TransitionRefused on 409."""
        payload: dict[str, Any] = {"action": action}
        if note:
            payload["note"] = note
        response = await _send(self.http, "POST", f"/v1/requests/{request_id}/transitions", json=payload)
        if response.status_code == 409:
            raise TransitionRefused(response.json())
        response.raise_for_status()
        return UpstreamRequest.model_validate_json(response.content)
