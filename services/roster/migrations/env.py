"""Alembic environment of the roster service: its own metadata, its own database URL."""

from mnr_shared.migrations import run_migrations
from roster_service.config import get_settings
from roster_service.models import metadata

run_migrations(metadata=metadata, default_url=get_settings().database_url)
