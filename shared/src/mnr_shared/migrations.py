"""The one Alembic environment every service's `migrations/env.py` runs (async engine; batch
mode on SQLite so column changes work there too)."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from mnr_shared.db import UTCDateTime, create_engine, is_sqlite


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


def create_outbox(table: str = "outbox_events") -> None:
    """Create a service's outbox table (`mnr_shared.events.OutboxColumns`) as first written.

    Every service's migration that introduces its outbox calls this, so the three stay one
    shape. Never edit it to change the table: a later change is a new migration in each service.
    """
    op.create_table(
        table,
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=220), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=f"pk_{table}"),
        sa.UniqueConstraint("id", name=f"uq_{table}_id"),
    )
    op.create_index(f"ix_{table}_type", table, ["type"])
