"""The house rules of CONTRIBUTING.md that a machine can check: thin routers, files that stay small."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from mnr_shared.auth import AuthSettings

ROOT = Path(__file__).resolve().parents[2]
ROUTERS = sorted((ROOT / "services").glob("*/src/*/**/router.py"))
# A router translates HTTP to one service call; transactions, idempotency records, ETags and
# queries belong to the service layer.
FORBIDDEN_IN_ROUTERS = (
    "sqlalchemy",
    "sqlmodel",
    "mnr_shared.db",
    "mnr_shared.idempotency",
    "mnr_shared.etag",
    "mnr_shared.pagination",
)
MAX_LINES = 600
SOURCE_ROOTS = ("shared/src", "services", "deploy", "bench", "devkit/src")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_service_has_routers_to_check() -> None:
    services = {path.relative_to(ROOT / "services").parts[0] for path in ROUTERS}
    assert {"roster", "requests", "matching"} <= services


@pytest.mark.parametrize("router", ROUTERS, ids=lambda path: str(path.relative_to(ROOT)))
def test_router_imports_no_database_or_idempotency_module(router: Path) -> None:
    package = router.relative_to(ROOT / "services").parts[2]
    forbidden = (*FORBIDDEN_IN_ROUTERS, f"{package}.db")
    wrong = sorted(
        name for name in _imports(router) if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    )
    assert wrong == [], f"{router.relative_to(ROOT)} imports {wrong}: call a service function instead"


def test_no_source_file_outgrows_the_limit() -> None:
    sources = [
        path
        for root in SOURCE_ROOTS
        for path in (ROOT / root).rglob("*.py")
        if "migrations" not in path.parts and ".venv" not in path.parts
    ]
    assert sources
    long = {
        str(path.relative_to(ROOT)): lines
        for path in sources
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by topic (CONTRIBUTING.md): {long}"


def _dependency_calls(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependency_calls(sub)


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, included routers' too (FastAPI keeps an included router as one route)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(included.routes)


def _apps() -> dict[str, FastAPI]:
    from matching_service.config import Settings as MatchingSettings
    from matching_service.main import create_app as create_matching
    from requests_service.config import Settings as RequestsSettings
    from requests_service.main import create_app as create_requests
    from roster_service.config import Settings as RosterSettings
    from roster_service.main import create_app as create_roster

    url = "sqlite:///unused.db"  # never connected: no lifespan runs
    auth = AuthSettings(issuer="http://identity.test", dev_mode=True)
    return {
        "roster": create_roster(RosterSettings(database_url=url), auth=auth),
        "requests": create_requests(RequestsSettings(database_url=url), auth=auth),
        "matching": create_matching(MatchingSettings(database_url=url), auth=auth),
    }


def test_every_dependency_is_async() -> None:
    """FastAPI runs a plain `def` dependency in a worker thread: a thread hop per request (about a
    tenth of the lean GET's time) to return one attribute. Dependencies here are `async def`."""
    sync = sorted(
        f"{service} {route.path}: {call.call.__module__}.{call.call.__qualname__}"
        for service, app in _apps().items()
        for route in _api_routes(app.routes)
        for call in _dependency_calls(route.dependant)
        if call.call is not None
        and not inspect.iscoroutinefunction(call.call)
        and not inspect.isasyncgenfunction(call.call)
        and not inspect.iscoroutinefunction(type(call.call).__call__)
    )
    assert sync == []
    assert sum(1 for app in _apps().values() for _ in _api_routes(app.routes)) > 40
