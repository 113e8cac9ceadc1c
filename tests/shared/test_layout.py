"""The house rules of CONTRIBUTING.md that a machine can check: thin routers, files that stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
