"""Shared helpers: cursors, ETags, idempotency keys, retrying clients, service tokens, reference data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mnr_shared import reference
from mnr_shared.api import Result
from mnr_shared.auth import Principal
from mnr_shared.db import create_engine, make_metadata, session_factory
from mnr_shared.etag import check_if_match, make_etag
from mnr_shared.http import build_client
from mnr_shared.idempotency import IdempotencyStore, idempotency_table, key_scope
from mnr_shared.observability import _request_id
from mnr_shared.pagination import decode_cursor, decode_time_cursor, encode_cursor
from mnr_shared.problems import PreconditionFailed, PreconditionRequired, UnprocessableContent
from mnr_shared.service_token import ServiceTokenAuth, ServiceTokenClient
from mnr_shared.testing import Databases, RoutingTransport

# --- cursors and ETags ------------------------------------------------------------------------


def test_cursor_round_trips_the_sort_key() -> None:
    cursor = encode_cursor("2026-11-28T10:00:00", "0b7c")
    assert decode_cursor(cursor, arity=2) == ["2026-11-28T10:00:00", "0b7c"]


@pytest.mark.parametrize("bad", ["%%%", "bm90IGpzb24", encode_cursor(1, 2, 3), encode_cursor()])
def test_foreign_cursor_is_422(bad: str) -> None:
    with pytest.raises(UnprocessableContent):
        decode_cursor(bad, arity=2)


def test_time_cursor_without_a_zone_is_422_not_a_database_error() -> None:
    with pytest.raises(UnprocessableContent):
        decode_time_cursor(encode_cursor("2026-11-28T10:00:00", "0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f"))
    when, ident = decode_time_cursor(
        encode_cursor("2026-11-28T10:00:00+00:00", "0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f")
    )
    assert (when.isoformat(), str(ident)) == (
        "2026-11-28T10:00:00+00:00",
        "0b7c3c9e-7a7e-4d7e-9f0a-1a2b3c4d5e6f",
    )


def test_etag_changes_with_version() -> None:
    assert make_etag("x", 1) != make_etag("x", 2)
    assert make_etag("x", 1) == make_etag("x", 1)


def test_if_match_missing_is_428_and_stale_is_412() -> None:
    current = make_etag("x", 2)
    with pytest.raises(PreconditionRequired):
        check_if_match(None, current)
    with pytest.raises(PreconditionFailed):
        check_if_match(make_etag("x", 1), current)
    with pytest.raises(PreconditionFailed):
        check_if_match(f"W/{current}", current)
    check_if_match(current, current)
    check_if_match(f'"other", {current}', current)
    check_if_match("*", current)


# --- idempotency against a real database --------------------------------------------------------


class Thing(BaseModel):
    id: int
    name: str


class ThingCreate(BaseModel):
    name: str


def _idempotency_schema() -> tuple[MetaData, Table, IdempotencyStore]:
    metadata = make_metadata()
    things = Table(
        "things",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False),
    )
    return metadata, things, IdempotencyStore(idempotency_table(metadata))


ALICE, BOB = Principal(sub="sub-1"), Principal(sub="sub-2")


async def test_idempotent_create_runs_once_and_replays_with_its_etag(databases: Databases) -> None:
    metadata, things, store = _idempotency_schema()
    engine = create_engine(await databases.url("scratch", metadata))
    sessions = session_factory(engine)
    calls = 0

    async def work(session: AsyncSession) -> Result[Thing]:
        nonlocal calls
        calls += 1
        result = await session.execute(things.insert().values(name="a").returning(things.c.id))
        return Result(Thing(id=result.scalar_one(), name="a"), etag='"1-x"', status_code=201)

    def run(by: Principal, body: ThingCreate) -> Awaitable[Result[Thing]]:
        return store.run(
            sessions, by=by, operation="create-thing", key="k-1", body=body, model=Thing, work=work
        )

    first = await run(ALICE, ThingCreate(name="a"))
    again = await run(ALICE, ThingCreate(name="a"))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.item == first.item
    assert (again.status_code, again.etag) == (201, '"1-x"')
    assert calls == 1
    with pytest.raises(UnprocessableContent):
        await run(ALICE, ThingCreate(name="b"))
    other_caller = await run(BOB, ThingCreate(name="a"))
    assert other_caller.replayed is False
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(things))).scalar() == 2
    await engine.dispose()


async def test_racing_creates_with_one_key_write_once(databases: Databases) -> None:
    metadata, things, store = _idempotency_schema()
    engine = create_engine(await databases.url("scratch", metadata))
    sessions = session_factory(engine)

    async def work(session: AsyncSession) -> Result[Thing]:
        result = await session.execute(things.insert().values(name="x").returning(things.c.id))
        await asyncio.sleep(0.01)  # widen the race window
        return Result(Thing(id=result.scalar_one(), name="x"), status_code=201)

    results = await asyncio.gather(
        *[
            store.run(
                sessions,
                by=ALICE,
                operation="op",
                key="same",
                body=ThingCreate(name="x"),
                model=Thing,
                work=work,
            )
            for _ in range(10)
        ]
    )
    assert len({r.item.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(things))).scalar() == 1
    await engine.dispose()


async def test_bad_idempotency_key_is_422(databases: Databases) -> None:
    metadata, _, store = _idempotency_schema()
    engine = create_engine(await databases.url("scratch", metadata))

    async def work(session: AsyncSession) -> Result[Thing]:
        raise AssertionError("must not run")

    with pytest.raises(UnprocessableContent):
        await store.run(
            session_factory(engine),
            by=ALICE,
            operation="op",
            key="has space",
            body=ThingCreate(name="x"),
            model=Thing,
            work=work,
        )
    await engine.dispose()


def test_a_very_long_subject_keeps_its_key_scope_within_the_column() -> None:
    long = Principal(sub="s" * 400)
    scope = key_scope("create-thing", long)
    assert len(scope) <= 300
    assert scope != key_scope("create-thing", Principal(sub="s" * 401))


# --- the HTTP client factory ------------------------------------------------------------------


def _flaky_upstream(failures: int) -> tuple[FastAPI, dict[str, Any]]:
    """An upstream that answers 503 `failures` times, then 200; records what it saw."""
    app = FastAPI()
    seen: dict[str, Any] = {"calls": 0, "request_ids": []}

    @app.api_route("/thing", methods=["GET", "POST"])
    async def thing(request: Request) -> Response:
        seen["calls"] += 1
        seen["request_ids"].append(request.headers.get("x-request-id"))
        if seen["calls"] <= failures:
            return Response(status_code=503)
        return Response(status_code=200, content=b"{}")

    return app, seen


async def test_get_is_retried_until_the_upstream_recovers() -> None:
    app, seen = _flaky_upstream(failures=2)
    async with build_client(
        "http://up.test", retries=3, backoff_seconds=0.001, transport=RoutingTransport({"up.test": app})
    ) as client:
        response = await client.get("/thing")
    assert response.status_code == 200
    assert seen["calls"] == 3


async def test_post_without_idempotency_key_is_not_retried() -> None:
    app, seen = _flaky_upstream(failures=1)
    async with build_client(
        "http://up.test", retries=3, backoff_seconds=0.001, transport=RoutingTransport({"up.test": app})
    ) as client:
        response = await client.post("/thing", json={})
    assert response.status_code == 503
    assert seen["calls"] == 1


async def test_post_with_idempotency_key_is_retried() -> None:
    app, seen = _flaky_upstream(failures=1)
    async with build_client(
        "http://up.test", retries=3, backoff_seconds=0.001, transport=RoutingTransport({"up.test": app})
    ) as client:
        response = await client.post("/thing", json={}, headers={"Idempotency-Key": "m-1"})
    assert response.status_code == 200
    assert seen["calls"] == 2


async def test_connection_failures_are_retried_then_raised() -> None:
    transport = RoutingTransport()
    async with build_client(
        "http://down.test", retries=2, backoff_seconds=0.001, transport=transport
    ) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/thing")
    assert transport.seen_hosts == ["down.test"] * 3


async def test_request_id_is_propagated_to_upstreams() -> None:
    app, seen = _flaky_upstream(failures=0)
    token = _request_id.set("req-42")
    try:
        async with build_client("http://up.test", transport=RoutingTransport({"up.test": app})) as client:
            await client.get("/thing")
    finally:
        _request_id.reset(token)
    assert seen["request_ids"] == ["req-42"]


# --- service tokens -----------------------------------------------------------------------------


async def test_service_token_is_fetched_once_and_reused(
    issuer: httpx.AsyncClient, transport: RoutingTransport
) -> None:
    async with build_client(transport=transport) as http:
        tokens = ServiceTokenClient(
            http=http,
            token_url="http://identity.test/token",
            client_id="matching-service",
            client_secret="dev-secret-matching-service",
        )
        first = await tokens.token()
        assert await tokens.token() == first
        assert tokens.fetches == 1


async def test_service_token_auth_refreshes_once_on_401(
    issuer: httpx.AsyncClient, transport: RoutingTransport
) -> None:
    upstream = FastAPI()
    seen: list[str] = []

    @upstream.get("/protected")
    async def protected(request: Request) -> Response:
        seen.append(request.headers["authorization"])
        return Response(status_code=401 if len(seen) == 1 else 200)

    transport.add("up.test", upstream)
    async with build_client(transport=transport) as http:
        tokens = ServiceTokenClient(
            http=http,
            token_url="http://identity.test/token",
            client_id="matching-service",
            client_secret="dev-secret-matching-service",
        )
        async with build_client(
            "http://up.test", transport=transport, auth=ServiceTokenAuth(tokens)
        ) as client:
            response = await client.get("/protected")
    assert response.status_code == 200
    assert len(seen) == 2
    assert all(h.startswith("Bearer ") for h in seen)
    assert tokens.fetches == 2


async def test_wrong_service_secret_is_503_not_a_crash(
    issuer: httpx.AsyncClient, transport: RoutingTransport
) -> None:
    from mnr_shared.problems import ServiceUnavailable

    async with build_client(transport=transport) as http:
        tokens = ServiceTokenClient(
            http=http,
            token_url="http://identity.test/token",
            client_id="matching-service",
            client_secret="wrong-secret",
        )
        with pytest.raises(ServiceUnavailable):
            await tokens.token()


# --- reference data -----------------------------------------------------------------------------


def test_capabilities_are_the_21_of_mnr_2016_in_6_domains() -> None:
    caps = reference.capabilities()
    assert [c.number for c in caps] == list(range(1, 22))
    assert len({c.domain_code for c in caps}) == 6
    assert caps[3].name == "Dedicated Law Enforcement"


def test_regions_are_7_with_158_members_including_kosovo() -> None:
    regions = reference.regions()
    assert sorted(r.code for r in regions) == ["EAPRO", "ECARO", "ESARO", "LACRO", "MENARO", "ROSA", "WCARO"]
    assert sum(len(r.countries) for r in regions) == 158
    assert reference.region_of("XKX") == "ECARO"
    assert reference.region_of("ken") == "ESARO"
    assert reference.region_of("FRA") is None


@pytest.mark.parametrize(
    ("raw", "normalised"), [("en", "en"), ("EN-gb", "en-GB"), ("eng", "en"), ("sr-latn", "sr-Latn")]
)
def test_language_tags_are_normalised(raw: str, normalised: str) -> None:
    assert reference.normalize_language(raw) == normalised


@pytest.mark.parametrize("bad", ["", "zz", "english", "xx-YY", "12"])
def test_invalid_language_tags_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="BCP 47"):
        reference.normalize_language(bad)


@pytest.mark.parametrize(("raw", "ok"), [("KEN", True), ("xkx", True), ("ZZZ", False), ("KE", False)])
def test_countries_are_iso3_plus_kosovo(raw: str, ok: bool) -> None:
    if ok:
        assert reference.validate_country(raw) == raw.upper()
    else:
        with pytest.raises(ValueError, match="ISO 3166"):
            reference.validate_country(raw)


def test_cefr_levels_rank_in_order() -> None:
    assert [level.rank for level in reference.CEFR] == [1, 2, 3, 4, 5, 6]
