"""The shortlist's fast path: the policy from memory, the request from a short-lived cache (read
paths only), and the index fed page after page with the next page fetched while one is applied.

Calls to the requests service and roster are counted at matching's network edge."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from matching_service import models as matching_models
from matching_service.clients.upstream import UpstreamUnavailable
from matching_service.config import Settings as MatchingSettings
from matching_service.feed import IndexFollower
from matching_service.index import ExpertIndex
from matching_service.main import create_app as create_matching
from matching_service.service import Context
from mnr_shared.auth import AuthSettings
from mnr_shared.testing import RoutingTransport, bearer, running

Headers = dict[str, dict[str, str]]
NEW_WEIGHTS = {"expertise": 0.4, "language": 0.3, "region": 0.2, "availability": 0.1}


class Recorder(httpx.AsyncBaseTransport):
    """Matching's network edge: records every outbound call, then passes it on; `fail` answers
    the call it matches with an outage instead."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, before: Callable[[httpx.Request], None] | None = None
    ):
        self.inner = inner
        self.calls: list[httpx.Request] = []
        self.before = before
        self.fail: Callable[[httpx.Request], bool] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.before is not None:
            self.before(request)
        if self.fail is not None and self.fail(request):
            return httpx.Response(503, json={"status": 503, "detail": "injected"}, request=request)
        return await self.inner.handle_async_request(request)

    def reads_of(self, request_id: str) -> int:
        """How many times matching read this request from the requests service."""
        path = f"/v1/requests/{request_id}"
        return sum(
            1
            for r in self.calls
            if r.method == "GET" and r.url.host == "requests.test" and r.url.path == path
        )


@dataclass
class Replica:
    """A matching process of its own on the same database as `system`, its calls recorded."""

    app: FastAPI
    client: httpx.AsyncClient
    edge: Recorder
    headers: Headers = field(default_factory=dict)

    @property
    def ctx(self) -> Context:
        ctx: Context = self.app.state.ctx
        return ctx

    async def candidates(self, request_id: str, who: str = "pd") -> httpx.Response:
        return await self.client.get(f"/v1/requests/{request_id}/candidates", headers=self.headers[who])


MakeReplica = Callable[..., Awaitable[Replica]]


@pytest.fixture
async def make_replica(
    system: Any, people: Headers, auth_settings: AuthSettings, transport: RoutingTransport
) -> AsyncIterator[MakeReplica]:
    """`await make_replica(policy_cache_seconds=…, request_cache_seconds=…)` → a second matching
    process, started and with its index loaded."""
    stack: list[Any] = []

    async def make(**overrides: Any) -> Replica:
        settings = MatchingSettings(
            database_url=system.ctx.settings.database_url,
            roster_url="http://roster.test",
            requests_url="http://requests.test",
            token_url="http://identity.test/token",
            upstream_retries=0,
            **overrides,
        )
        edge = Recorder(transport)
        app = create_matching(settings, auth=auth_settings, transport=edge, background=False)
        context = running(app, f"matching-{len(stack) + 2}.test")
        client = await context.__aenter__()
        stack.append(context)
        replica = Replica(app, client, edge, people)
        await replica.ctx.follower.sync()
        return replica

    yield make
    for context in reversed(stack):
        await context.__aexit__(None, None, None)


# --- the policy -------------------------------------------------------------------------------


async def _put_policy(
    client: httpx.AsyncClient, people: Headers, weights: dict[str, float]
) -> dict[str, Any]:
    current = await client.get("/v1/policy", headers=people["admin"])
    changed = await client.put(
        "/v1/policy", json=weights, headers={**people["admin"], "If-Match": current.headers["etag"]}
    )
    assert changed.status_code == 200, changed.text
    body: dict[str, Any] = changed.json()
    return body


async def test_candidates_and_search_rank_with_a_new_policy_as_soon_as_it_is_put(
    system: Any, people: Headers, make_request: Any, make_expert: Any
) -> None:
    await make_expert(1)
    request = await make_request()
    path = f"/v1/requests/{request['id']}/candidates"
    before = await system.matching.get(path, headers=people["pd"])
    assert before.json()["policy_version"] == 1
    put = await _put_policy(system.matching, people, NEW_WEIGHTS)
    assert put["version"] == 2
    # Within the default cache time (5 s): only the PUT itself can have replaced it.
    after = await system.matching.get(path, headers=people["pd"])
    assert after.status_code == 200, after.text
    assert after.json()["policy_version"] == 2
    weights = {name: c["weight"] for name, c in after.json()["items"][0]["components"].items()}
    assert weights == NEW_WEIGHTS
    searched = await system.matching.post(
        "/v1/search",
        json={
            k: request[k]
            for k in (
                "country",
                "capabilities",
                "languages",
                "modality",
                "start_date",
                "end_date",
                "effort_days",
            )
        },
        headers=people["pd"],
    )
    assert searched.status_code == 200, searched.text
    assert searched.json()["policy_version"] == 2


async def test_a_policy_another_replica_writes_shows_up_after_the_cache_time(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    await make_expert(1)
    request = await make_request()
    replica = await make_replica(policy_cache_seconds=0.5)
    assert (await replica.candidates(request["id"])).json()["policy_version"] == 1
    await _put_policy(system.matching, people, NEW_WEIGHTS)  # the other replica commits version 2
    # Still held in memory: the replica does not read the database for every shortlist.
    assert (await replica.candidates(request["id"])).json()["policy_version"] == 1
    seen = 1
    deadline = time.monotonic() + 5
    while seen == 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        seen = (await replica.candidates(request["id"])).json()["policy_version"]
    assert seen == 2


async def test_a_policy_written_straight_into_the_database_shows_up_after_the_cache_time(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    await make_expert(1)
    request = await make_request()
    replica = await make_replica(policy_cache_seconds=0.2)
    assert (await replica.candidates(request["id"])).json()["policy_version"] == 1
    async with system.ctx.sessions() as session:
        session.add(
            matching_models.PolicyVersion(
                version=7,
                created_by="another-replica",
                expertise=0.4,
                language=0.3,
                region=0.2,
                availability=0.1,
            )
        )
        await session.commit()
    await asyncio.sleep(0.25)
    assert (await replica.candidates(request["id"])).json()["policy_version"] == 7


# --- the request ------------------------------------------------------------------------------


async def test_a_second_shortlist_within_the_cache_time_does_not_read_the_request_again(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    await make_expert(1)
    request = await make_request()
    replica = await make_replica(request_cache_seconds=60)
    first = await replica.candidates(request["id"])
    second = await replica.candidates(request["id"])
    assert first.status_code == second.status_code == 200
    assert second.json()["items"] == first.json()["items"]
    assert replica.edge.reads_of(request["id"]) == 1
    # Another request is read on its own.
    other = await make_request()
    assert (await replica.candidates(other["id"])).status_code == 200
    assert replica.edge.reads_of(other["id"]) == 1


async def test_the_request_is_read_again_after_the_cache_time(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    await make_expert(1)
    request = await make_request()
    replica = await make_replica(request_cache_seconds=0.2)
    assert (await replica.candidates(request["id"])).status_code == 200
    withdrawn = await system.requests.post(
        f"/v1/requests/{request['id']}/transitions", json={"action": "withdraw"}, headers=people["office"]
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await asyncio.sleep(0.25)
    assert (await replica.candidates(request["id"])).status_code == 200
    assert replica.edge.reads_of(request["id"]) == 2
    cached = replica.ctx.requests.cache.get(uuid.UUID(request["id"]))
    assert cached is not None
    assert cached.status == "withdrawn"


async def test_approval_reads_the_request_fresh_whatever_the_shortlist_cached(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    replica = await make_replica(request_cache_seconds=60)
    assert (await replica.candidates(request["id"])).status_code == 200  # cached as in review
    withdrawn = await system.requests.post(
        f"/v1/requests/{request['id']}/transitions", json={"action": "withdraw"}, headers=people["office"]
    )
    assert withdrawn.status_code == 200, withdrawn.text
    approved = await replica.client.post(
        "/v1/matches", json={"request_id": request["id"], "expert_id": expert["id"]}, headers=people["pd"]
    )
    assert approved.status_code == 409, approved.text
    assert approved.json()["request_status"] == "withdrawn"
    assert replica.edge.reads_of(request["id"]) == 2


async def test_a_request_the_saga_moves_is_read_again_by_the_next_shortlist(
    system: Any,
    people: Headers,
    make_request: Any,
    make_expert: Any,
    make_replica: MakeReplica,
    token_for: Any,
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    request_id = uuid.UUID(request["id"])
    replica = await make_replica(request_cache_seconds=60)
    assert (await replica.candidates(request["id"])).status_code == 200
    assert replica.ctx.requests.cache.get(request_id) is not None

    approved = await replica.client.post(
        "/v1/matches", json={"request_id": request["id"], "expert_id": expert["id"]}, headers=people["pd"]
    )
    assert approved.status_code == 201, approved.text
    assert replica.ctx.requests.cache.get(request_id) is None  # the saga moved it: dropped
    reads = replica.edge.reads_of(request["id"])
    assert (await replica.candidates(request["id"])).status_code == 200
    assert replica.edge.reads_of(request["id"]) == reads + 1
    cached = replica.ctx.requests.cache.get(request_id)
    assert cached is not None
    assert cached.status == "matched"

    # The expert declines: the saga reopens the request, and drops it again.
    expert_headers = bearer(await token_for("expert", sub="cand-1", expert_id=expert["id"]))
    declined = await replica.client.post(
        f"/v1/matches/{approved.json()['id']}/decline",
        json={"reason": "Not free after all."},
        headers=expert_headers,
    )
    assert declined.status_code == 200, declined.text
    assert replica.ctx.requests.cache.get(request_id) is None
    assert (await replica.candidates(request["id"])).status_code == 200
    cached = replica.ctx.requests.cache.get(request_id)
    assert cached is not None
    assert cached.status == "in_review"


async def test_a_country_office_gets_404_for_another_offices_request_on_a_cache_hit(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    await make_expert(1)
    request = await make_request()  # filed by the Kenyan office
    replica = await make_replica(request_cache_seconds=60)
    assert (await replica.candidates(request["id"], "pd")).status_code == 200
    assert (await replica.candidates(request["id"], "office")).status_code == 200
    refused = await replica.candidates(request["id"], "other_office")
    assert refused.status_code == 404, refused.text
    assert replica.edge.reads_of(request["id"]) == 1  # both answers came from the cached read


async def test_the_reconciler_drops_a_request_it_reopens(
    system: Any, people: Headers, make_request: Any, make_expert: Any, make_replica: MakeReplica
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    request_id = uuid.UUID(request["id"])
    replica = await make_replica(request_cache_seconds=60)
    approved = await replica.client.post(
        "/v1/matches", json={"request_id": request["id"], "expert_id": expert["id"]}, headers=people["pd"]
    )
    assert approved.status_code == 201, approved.text
    assert (await replica.candidates(request["id"])).status_code == 200
    assert replica.ctx.requests.cache.get(request_id) is not None
    # The match disappears behind the saga's back: the request is `matched` without a live match.
    async with system.ctx.sessions() as session:
        match = await session.get(matching_models.Match, uuid.UUID(approved.json()["id"]))
        assert match is not None
        match.status = matching_models.MatchStatus.FAILED
        await session.commit()
    await replica.ctx.reconciler.reconcile()
    assert replica.ctx.requests.cache.get(request_id) is None
    assert (await replica.candidates(request["id"])).status_code == 200
    cached = replica.ctx.requests.cache.get(request_id)
    assert cached is not None
    assert cached.status == "in_review"


# --- the feed ---------------------------------------------------------------------------------


async def test_the_follower_applies_a_multi_page_feed_in_order_fetching_ahead(
    system: Any, people: Headers, make_expert: Any, etag_of_expert: Any
) -> None:
    experts = [await make_expert(n) for n in range(1, 8)]
    renamed = await system.roster.patch(
        f"/v1/experts/{experts[0]['id']}",
        json={"full_name": "Renamed Candidate"},
        headers={**people["pd"], "If-Match": await etag_of_expert(experts[0]["id"])},
    )
    assert renamed.status_code == 200, renamed.text
    erased = await system.roster.delete(
        f"/v1/experts/{experts[1]['id']}",
        headers={**people["admin"], "If-Match": await etag_of_expert(experts[1]["id"])},
    )
    assert erased.status_code == 204, erased.text

    index = ExpertIndex()
    asked: list[tuple[int, int]] = []  # (after asked for, the index's seq when asked)

    def note(request: httpx.Request) -> None:
        if request.url.path == "/v1/changes":
            asked.append((int(request.url.params["after"]), index.seq))

    edge = Recorder(system.faults.inner, before=note)
    system.faults.inner = edge
    follower = IndexFollower(
        roster=system.ctx.roster, index=index, interval_seconds=1, page_size=2, sessions=system.ctx.sessions
    )
    applied = await follower.sync()

    feed = (await system.roster.get("/v1/changes", params={"limit": 1000}, headers=people["matching"])).json()
    seqs = [item["seq"] for item in feed["items"]]
    assert applied == len(seqs) == 9
    assert index.seq == seqs[-1]
    # Every page after the one before it, in order, up to the short last page.
    assert [after for after, _ in asked] == [0, *seqs[1::2]]
    # Each next page was asked for before the page before it was applied.
    assert all(seen < after for after, seen in asked[1:])
    assert all(seen == earlier for (_, seen), (earlier, _) in zip(asked[2:], asked[1:], strict=False))
    assert len(index) == 6
    assert experts[1]["id"] not in index
    row = index.row_of(experts[0]["id"])
    assert row is not None
    assert index.full_name(row) == "Renamed Candidate"
    assert follower.loaded.is_set()


async def test_a_page_that_fails_leaves_the_index_at_the_last_page_applied(
    system: Any, people: Headers, make_expert: Any
) -> None:
    for n in range(1, 6):
        await make_expert(n)
    index = ExpertIndex()
    edge = Recorder(system.faults.inner)
    calls = 0

    def third_page(request: httpx.Request) -> bool:
        nonlocal calls
        calls += request.url.path == "/v1/changes"
        return request.url.path == "/v1/changes" and calls == 3

    edge.fail = third_page
    system.faults.inner = edge
    follower = IndexFollower(
        roster=system.ctx.roster, index=index, interval_seconds=1, page_size=2, sessions=system.ctx.sessions
    )
    with pytest.raises(UpstreamUnavailable):
        await follower.sync()
    feed = (await system.roster.get("/v1/changes", params={"limit": 1000}, headers=people["matching"])).json()
    seqs = [item["seq"] for item in feed["items"]]
    assert index.seq == seqs[3]  # two pages applied, the third refused
    assert len(index) == 4
    edge.fail = None
    assert await follower.sync() == 1
    assert index.seq == seqs[-1]
    assert len(index) == 5


@pytest.fixture
def etag_of_expert(system: Any, people: Headers) -> Callable[[str], Awaitable[str]]:
    async def read(expert_id: str) -> str:
        response = await system.roster.get(f"/v1/experts/{expert_id}", headers=people["pd"])
        assert response.status_code == 200, response.text
        return str(response.headers["etag"])

    return read
