"""Typed calls to roster and requests with this service's own client-credentials token.

Requests and bookings are parsed once, here, into the models of `clients.models`; the rest of
the service never reads their JSON. Change-feed pages go to the index as they come (parsed with
orjson; the index encodes each projection itself), and refusals carry roster's or requests'
problem document. Read paths may reuse a request read a moment ago (`RequestsClient.cached`);
every status move through the client drops it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from typing import Any

import httpx
import orjson

from matching_service.clients.models import Booking, BookingList, RequestPage, RequestStatus, UpstreamRequest
from mnr_shared.etag import make_etag
from mnr_shared.problems import Forbidden, NotFound


class UpstreamUnavailable(Exception):
    """The upstream did not answer usefully (down, timeout, 5xx, 401, 429): try again later.

    `cause` is one of a fixed set (`connect`, `timeout`, `http_5xx`, `http_401`, `http_429`,
    `missing`), safe as a metric label.
    """

    def __init__(self, message: str, *, cause: str = "connect") -> None:
        super().__init__(message)
        self.cause = cause


class UpstreamRefused(Exception):
    """The upstream refused the call for good (a 4xx other than 401 and 429): retrying the same
    call cannot help. Carries the status and the upstream's problem document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail') or problem.get('title') or 'refused'}")
        self.status = status
        self.problem = problem


class HoldConflict(UpstreamRefused):
    """Roster refused the hold: the expert is not free (409)."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(409, problem)


class TransitionRefused(UpstreamRefused):
    """Requests refused a status change (409): the request is no longer where we thought."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(409, problem)


def _problem(response: httpx.Response) -> dict[str, Any]:
    """The problem document of a refusal (a minimal one when the body is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"status": response.status_code, "detail": f"answered {response.status_code}"}


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 500 or response.status_code in (401, 429):
        cause = "http_5xx" if response.status_code >= 500 else f"http_{response.status_code}"
        raise UpstreamUnavailable(f"{response.request.url.path} answered {response.status_code}", cause=cause)
    return response


def _refuse_4xx(response: httpx.Response) -> httpx.Response:
    """Raise UpstreamRefused for any 4xx left (401 and 429 are already unavailable)."""
    if 400 <= response.status_code < 500:
        raise UpstreamRefused(response.status_code, _problem(response))
    return response


async def _send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return _check(await client.request(method, url, **kwargs))
    except httpx.TimeoutException as exc:
        raise UpstreamUnavailable(f"{url}: {type(exc).__name__}", cause="timeout") from exc
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"{url}: {type(exc).__name__}", cause="connect") from exc


class RosterClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def changes(
        self, *, after: int, limit: int = 1000, sent: asyncio.Event | None = None
    ) -> dict[str, Any]:
        """One page of the change feed, parsed with orjson. `sent` is set once the request is on
        the wire, so that a caller can work while roster answers (an in-process transport never
        sets it: it sends nothing)."""
        extensions: dict[str, Any] | None = None
        if sent is not None:

            async def trace(event: str, info: dict[str, Any]) -> None:
                if event.endswith("send_request_body.complete"):
                    sent.set()

            extensions = {"trace": trace}
        response = await _send(
            self.http, "GET", "/v1/changes", params={"after": after, "limit": limit}, extensions=extensions
        )
        response.raise_for_status()
        body: dict[str, Any] = orjson.loads(response.content)
        return body

    async def hold(
        self, *, expert_id: uuid.UUID, start: date, end: date, request_id: uuid.UUID, match_id: uuid.UUID
    ) -> Booking:
        """The booking (201 new, 200 replay); HoldConflict on 409, UpstreamRefused on another 4xx."""
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
            raise HoldConflict(_problem(response))
        _refuse_4xx(response)
        return Booking.model_validate_json(response.content)

    async def booking_for_match(self, *, match_id: uuid.UUID) -> Booking | None:
        """The booking placed for a match, if roster holds one; UpstreamRefused on a 4xx."""
        response = await _send(self.http, "GET", "/v1/bookings", params={"match_id": str(match_id)})
        _refuse_4xx(response)
        items = BookingList.model_validate_json(response.content).items
        return items[0] if items else None

    async def confirm(self, *, booking_id: uuid.UUID) -> Booking:
        """The confirmed booking (repeatable); UpstreamRefused on a 4xx (released: 409)."""
        response = await _send(self.http, "POST", f"/v1/bookings/{booking_id}/confirm")
        _refuse_4xx(response)
        return Booking.model_validate_json(response.content)

    async def release(self, *, booking_id: uuid.UUID) -> None:
        """Free the booking's dates (repeatable; a booking roster does not know is free already);
        UpstreamRefused on another 4xx."""
        response = await _send(self.http, "POST", f"/v1/bookings/{booking_id}/release")
        if response.status_code != 404:
            _refuse_4xx(response)


class RequestCache:
    """Requests as read a moment ago, by id: each for `seconds` (0: none kept), at most `size`
    of them (the one stored first goes first).

    `drop` moves a generation on and `put` stores only under the generation its read began in,
    so a read that was under way while a request was dropped never stores what it read.
    """

    def __init__(self, *, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self.generation = 0
        self._items: OrderedDict[uuid.UUID, tuple[float, UpstreamRequest]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, request_id: uuid.UUID) -> UpstreamRequest | None:
        found = self._items.get(request_id)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self._items[request_id]
            return None
        return found[1]

    def put(self, request_id: uuid.UUID, request: UpstreamRequest, *, generation: int) -> None:
        if self.seconds <= 0 or generation != self.generation:
            return
        self._items.pop(request_id, None)
        self._items[request_id] = (time.monotonic() + self.seconds, request)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, request_id: uuid.UUID) -> None:
        self.generation += 1
        self._items.pop(request_id, None)


class RequestsClient:
    def __init__(
        self, http: httpx.AsyncClient, *, cache_seconds: float = 0.0, cache_size: int = 10_000
    ) -> None:
        self.http = http
        self.cache = RequestCache(seconds=cache_seconds, size=cache_size)

    async def cached(self, request_id: uuid.UUID) -> UpstreamRequest:
        """The request as read at most `cache_seconds` ago, for read paths only (a shortlist):
        whatever decides or moves anything reads it fresh with `get`."""
        found = self.cache.get(request_id)
        if found is not None:
            return found
        generation = self.cache.generation
        request = await self.get(request_id)
        self.cache.put(request_id, request, generation=generation)
        return request

    async def get(self, request_id: uuid.UUID) -> UpstreamRequest:
        """The request as the requests service holds it now."""
        response = await _send(self.http, "GET", f"/v1/requests/{request_id}")
        if response.status_code == 404:
            raise NotFound("No such request.")
        if response.status_code == 403:
            raise Forbidden("The requests service refused this service's token.")
        _refuse_4xx(response)
        return UpstreamRequest.model_validate_json(response.content)

    async def page(
        self, *, status: Sequence[RequestStatus], cursor: str | None = None, limit: int = 200
    ) -> RequestPage:
        """One page of the requests in any of `status`, oldest first; UpstreamRefused on a 4xx."""
        params: dict[str, Any] = {"status": [s.value for s in status], "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await _send(self.http, "GET", "/v1/requests", params=params)
        _refuse_4xx(response)
        return RequestPage.model_validate_json(response.content)

    async def transition(
        self,
        *,
        request_id: uuid.UUID,
        action: str,
        note: str | None = None,
        if_version: int | None = None,
    ) -> UpstreamRequest:
        """The updated request; TransitionRefused on 409, UpstreamRefused on another 4xx (412
        when `if_version` is given and the request has changed since). Whatever the answer (or
        none), the cached read of the request is dropped, before and after the call."""
        payload: dict[str, Any] = {"action": action}
        if note:
            payload["note"] = note
        headers = {"If-Match": make_etag(request_id, if_version)} if if_version is not None else None
        self.cache.drop(request_id)
        try:
            response = await _send(
                self.http, "POST", f"/v1/requests/{request_id}/transitions", json=payload, headers=headers
            )
        finally:
            self.cache.drop(request_id)
        if response.status_code == 409:
            raise TransitionRefused(_problem(response))
        _refuse_4xx(response)
        return UpstreamRequest.model_validate_json(response.content)
