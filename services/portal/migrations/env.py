"""Alembic environment of the portal: its own metadata (sessions only), its own database URL."""

from mnr_shared.migrations import run_migrations
from portal_service.config import get_settings
from portal_service.models import metadata

run_migrations(metadata=metadata, default_url=get_settings().database_url)
