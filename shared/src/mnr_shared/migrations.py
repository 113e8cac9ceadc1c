"""The one Alembic environment every service's `migrations/env.py` runs (async engine; batch
mode on SQLite so column changes work there too)."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from mnr_shared.db import create_engine, is_sqlite


def run_migrations(*, metadata: MetaData, default_url: str) -> None:
    """Migrate the database at `config.attributes["database_url"]` (tests) or `default_url`
    (the service's settings), online, or print the SQL when Alembic runs offline."""
    config = context.config
    if config.config_file_name is not None and config.attributes.get("configure_logger", True):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url: str = config.attributes.get("database_url") or default_url

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection, target_metadata=metadata, render_as_batch=is_sqlite(url), compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_engine(url)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(online())
