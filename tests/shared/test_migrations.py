"""Each service's Alembic history upgrades to head, matches its models, and downgrades to base."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from mnr_shared.db import create_engine
from mnr_shared.testing import drop_everything

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["roster", "requests", "matching", "portal", "notifier"]


def _alembic(service: str, url: str) -> Config:
    config = Config(str(ROOT / "services" / service / "alembic.ini"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def _inspect(url: str, service: str) -> tuple[set[str], list[Any]]:
    metadata = importlib.import_module(f"{service}_service.models").metadata

    def read(connection: Connection) -> tuple[set[str], list[Any]]:
        tables = set(inspect(connection).get_table_names())
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
        return tables, diffs

    async def run() -> tuple[set[str], list[Any]]:
        engine = create_engine(url)
        async with engine.connect() as connection:
            result = await connection.run_sync(read)
        await engine.dispose()
        return result

    return asyncio.run(run())


@pytest.mark.parametrize("service", SERVICES)
def test_upgrade_to_head_matches_models_and_downgrades_to_base(
    service: str, tmp_path: Path, pg_databases: dict[str, str], backend: str
) -> None:
    url = f"sqlite:///{tmp_path}/{service}.db" if backend == "sqlite" else pg_databases[service]
    if backend == "postgresql":
        asyncio.run(drop_everything(url))  # earlier tests leave (empty) tables behind
    config = _alembic(service, url)
    try:
        command.upgrade(config, "head")
        tables, diffs = _inspect(url, service)
        # Every domain service answers creating POSTs idempotently; the portal keeps only
        # sessions, the notifier its cursors, subscriptions and deliveries.
        own = {"portal": "portal_sessions", "notifier": "deliveries"}
        assert own.get(service, "idempotency_keys") in tables
        assert diffs == [], f"models and migrations disagree: {diffs}"
        command.downgrade(config, "base")
        tables, _ = _inspect(url, service)
        assert tables <= {"alembic_version"}
    finally:
        if backend == "postgresql":
            asyncio.run(drop_everything(url))
