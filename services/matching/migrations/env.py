"""Alembic environment of the matching service: its own metadata, its own database URL."""

from matching_service.config import get_settings
from matching_service.models import metadata
from mnr_shared.migrations import run_migrations

run_migrations(metadata=metadata, default_url=get_settings().database_url)
