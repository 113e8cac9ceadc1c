"""The published contract: every route says who may call it, documents its problems, and shows examples."""

from __future__ import annotations

from typing import Any

import httpx

TABLE_ORDER = ["submit", "withdraw", "start_review", "reject", "match", "fulfil", "reopen", "close", "cancel"]


async def _spec(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def _gaps(name: str, operation: dict[str, Any]) -> list[str]:
    """What the operation fails to document."""
    responses = operation["responses"]

    def problem(status: str) -> bool:
        return "application/problem+json" in responses.get(status, {}).get("content", {})

    checks = {
        "summary": bool(operation.get("summary")),
        "who may call": "**Who may call:**" in operation.get("description", ""),
        "bearer auth": operation.get("security") == [{"HTTPBearer": []}],
        "problem 401": problem("401"),
        "problem 403": problem("403"),
        "problem 422": problem("422"),
        "problem 404": problem("404") or "{request_id}" not in name,
    }
    return [check for check, ok in checks.items() if not ok]


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/requests")
        for method, operation in methods.items()
    }


async def test_every_requests_route_is_documented_and_protected(requests_api: httpx.AsyncClient) -> None:
    operations = _operations(await _spec(requests_api))
    assert set(operations) == {
        "POST /v1/requests",
        "GET /v1/requests",
        "GET /v1/requests/stats",
        "GET /v1/requests/{request_id}",
        "PATCH /v1/requests/{request_id}",
        "POST /v1/requests/{request_id}/transitions",
        "GET /v1/requests/{request_id}/history",
        "POST /v1/requests/{request_id}/comments",
        "GET /v1/requests/{request_id}/comments",
    }
    gaps = {name: _gaps(name, operation) for name, operation in operations.items()}
    assert {name: missing for name, missing in gaps.items() if missing} == {}


async def test_write_bodies_carry_examples(requests_api: httpx.AsyncClient) -> None:
    schemas = (await _spec(requests_api))["components"]["schemas"]
    for name in ("RequestCreate", "RequestUpdate", "TransitionCreate", "CommentCreate"):
        assert schemas[name].get("examples"), name
    example = schemas["RequestCreate"]["examples"][0]
    assert set(schemas["RequestCreate"]["required"]) <= set(example)


async def test_transitions_route_documents_the_status_machine(requests_api: httpx.AsyncClient) -> None:
    spec = await _spec(requests_api)
    description = spec["paths"]["/v1/requests/{request_id}/transitions"]["post"]["description"]
    rows = [line for line in description.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == TABLE_ORDER
    assert "| `reopen` | matched | in_review |" in description
    assert "| `reject` | submitted, in_review | rejected | PD, admin (note required) |" in description
    assert "| action |" in spec["info"]["description"]


async def test_single_resources_document_their_etag(requests_api: httpx.AsyncClient) -> None:
    spec = await _spec(requests_api)
    for path, method, status in [
        ("/v1/requests", "post", "201"),
        ("/v1/requests/{request_id}", "get", "200"),
        ("/v1/requests/{request_id}", "patch", "200"),
        ("/v1/requests/{request_id}/transitions", "post", "200"),
    ]:
        assert "ETag" in spec["paths"][path][method]["responses"][status]["headers"], (path, method)
