"""Lists: every filter, office scoping, deterministic keyset pagination, and the reporting stats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

Json = dict[str, Any]


def _cap(number: int, importance: str = "required") -> Json:
    return {"capability": number, "min_level": 2, "importance": importance}


# name → (filing overrides, actions PD takes after filing)
DATASET: dict[str, tuple[Json, list[str]]] = {
    "A": ({"country": "KEN", "title": "Hotline set-up", "capabilities": [_cap(12)], "priority": "high"}, []),
    "B": (
        {"country": "UGA", "title": "Legislation review", "capabilities": [_cap(3), _cap(5, "desired")]},
        ["submit"],
    ),
    "C": (
        {
            "country": "PHL",
            "title": "Victim identification training",
            "capabilities": [_cap(7)],
            "priority": "urgent",
        },
        ["submit", "start_review"],
    ),
    "D": (
        {
            "country": "XKX",
            "title": "Child HELPLINE review",
            "capabilities": [_cap(11), _cap(3, "desired")],
            "priority": "low",
        },
        ["submit"],
    ),
    "E": ({"country": "KEN", "title": "Coverage of 100% of districts", "capabilities": [_cap(13)]}, []),
}


@pytest.fixture
async def dataset(file_request: Any, transition: Any) -> dict[str, Json]:
    """The five requests of DATASET, filed in order A–E, by name."""
    filed: dict[str, Json] = {}
    for name, (overrides, actions) in DATASET.items():
        request = await file_request("pd", **overrides)
        for action in actions:
            response = await transition(request["id"], action)
            assert response.status_code == 200, response.text
            request = response.json()
        filed[name] = request
    return filed


async def _names(
    api: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any], dataset: dict[str, Json]
) -> str:
    response = await api.get("/v1/requests", params=params, headers=headers)
    assert response.status_code == 200, response.text
    by_id = {request["id"]: name for name, request in dataset.items()}
    return "".join(by_id[item["id"]] for item in response.json()["items"])


async def test_each_filter_selects_exactly_the_matching_requests_in_creation_order(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], dataset: dict[str, Json]
) -> None:
    year = datetime.now(UTC).year
    cases: dict[str, dict[str, Any]] = {
        "none": {},
        "one status": {"status": "submitted"},
        "two statuses": {"status": ["submitted", "in_review"]},
        "country": {"country": "KEN"},
        "country in lower case": {"country": "ken"},
        "region": {"region": "ESARO"},
        "other region": {"region": "ecaro"},
        "capability, required or desired": {"capability": 3},
        "any of two capabilities": {"capability": [7, 12]},
        "priority": {"priority": "urgent"},
        "two priorities": {"priority": ["low", "high"]},
        "text, any case": {"q": "helpline"},
        "text with a wildcard character": {"q": "%"},
        "reference": {"q": f"TA-{year}-0003"},
        "filters together": {"region": "ESARO", "status": "draft"},
        "nothing matches": {"country": "BRA"},
    }
    expected = {
        "none": "ABCDE",
        "one status": "BD",
        "two statuses": "BCD",
        "country": "AE",
        "country in lower case": "AE",
        "region": "ABE",
        "other region": "D",
        "capability, required or desired": "BD",
        "any of two capabilities": "AC",
        "priority": "C",
        "two priorities": "AD",
        "text, any case": "D",
        "text with a wildcard character": "E",
        "reference": "C",
        "filters together": "AE",
        "nothing matches": "",
    }
    observed = {
        name: await _names(requests_api, callers["pd"], params, dataset) for name, params in cases.items()
    }
    assert observed == expected


async def test_created_after_and_before_split_the_list_at_a_timestamp(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], dataset: dict[str, Json]
) -> None:
    at = dataset["C"]["created_at"]
    naive = datetime.fromisoformat(at).replace(tzinfo=None).isoformat()  # no zone: read as UTC
    pd = callers["pd"]
    assert await _names(requests_api, pd, {"created_after": at}, dataset) == "CDE"
    assert await _names(requests_api, pd, {"created_before": at}, dataset) == "AB"
    assert await _names(requests_api, pd, {"created_after": naive}, dataset) == "CDE"
    assert await _names(
        requests_api, pd, {"created_after": at, "created_before": dataset["E"]["created_at"]}, dataset
    ) == ("CD")


async def test_country_office_lists_only_its_own_whatever_the_filter(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], dataset: dict[str, Json]
) -> None:
    office = callers["office"]
    assert await _names(requests_api, office, {}, dataset) == "AE"
    assert await _names(requests_api, office, {"country": "UGA"}, dataset) == ""
    assert await _names(requests_api, office, {"region": "ESARO"}, dataset) == "AE"


async def test_pages_walk_every_request_once_in_a_stable_order(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    filed = [(await file_request(title=f"Request {n}"))["id"] for n in range(7)]
    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await requests_api.get("/v1/requests", params=params, headers=callers["office"])).json()
        sizes.append(len(page["items"]))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [3, 3, 1]
    assert seen == filed


async def test_newest_first_walks_the_pages_backwards_in_time(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    filed = [(await file_request(title=f"Request {n}"))["id"] for n in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, "order": "newest", **({"cursor": cursor} if cursor else {})}
        page = (await requests_api.get("/v1/requests", params=params, headers=callers["office"])).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == filed[::-1]
    bad = await requests_api.get("/v1/requests", params={"order": "sideways"}, headers=callers["pd"])
    assert bad.status_code == 422


async def test_cursor_keeps_its_place_when_requests_are_filed_meanwhile(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    first = [(await file_request())["id"] for _ in range(3)]
    page = (await requests_api.get("/v1/requests", params={"limit": 2}, headers=callers["pd"])).json()
    later = (await file_request())["id"]
    rest = (
        await requests_api.get(
            "/v1/requests", params={"limit": 10, "cursor": page["next_cursor"]}, headers=callers["pd"]
        )
    ).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [*first, later]
    assert rest["next_cursor"] is None


async def test_pagination_respects_filters(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], file_request: Any
) -> None:
    urgent = []
    for n in range(6):
        request = await file_request(priority="urgent" if n % 2 else "low")
        if n % 2:
            urgent.append(request["id"])
    params: dict[str, str | int] = {"priority": "urgent", "limit": 2}
    first = (await requests_api.get("/v1/requests", params=params, headers=callers["pd"])).json()
    second = (
        await requests_api.get(
            "/v1/requests", params={**params, "cursor": first["next_cursor"]}, headers=callers["pd"]
        )
    ).json()
    assert [item["id"] for item in first["items"] + second["items"]] == urgent
    assert second["next_cursor"] is None


async def test_stats_count_by_status_and_region_and_by_capability(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], dataset: dict[str, Json]
) -> None:
    response = await requests_api.get("/v1/requests/stats", headers=callers["admin"])
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["total"] == 5
    assert stats["by_status_and_region"] == [
        {"status": "draft", "region": "ESARO", "count": 2},
        {"status": "submitted", "region": "ECARO", "count": 1},
        {"status": "submitted", "region": "ESARO", "count": 1},
        {"status": "in_review", "region": "EAPRO", "count": 1},
    ]
    by_capability = {row["capability"]: (row["requests"], row["required"]) for row in stats["by_capability"]}
    assert len(by_capability) == 21
    assert {number: counts for number, counts in by_capability.items() if counts != (0, 0)} == {
        3: (2, 1),
        5: (1, 0),
        7: (1, 1),
        11: (1, 1),
        12: (1, 1),
        13: (1, 1),
    }
    assert next(row["name"] for row in stats["by_capability"] if row["capability"] == 3) == "Legislation"


async def test_stats_can_be_limited_to_a_creation_period(
    requests_api: httpx.AsyncClient, callers: dict[str, dict[str, str]], dataset: dict[str, Json]
) -> None:
    params = {"created_after": dataset["D"]["created_at"]}
    stats = (await requests_api.get("/v1/requests/stats", params=params, headers=callers["pd"])).json()
    assert stats["total"] == 2
    assert {(cell["status"], cell["region"]) for cell in stats["by_status_and_region"]} == {
        ("submitted", "ECARO"),
        ("draft", "ESARO"),
    }
