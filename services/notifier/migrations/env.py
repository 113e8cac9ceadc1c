"""Alembic environment of the notifier: its own metadata, its own database URL."""

from mnr_shared.migrations import run_migrations
from notifier_service.config import get_settings
from notifier_service.models import metadata

run_migrations(metadata=metadata, default_url=get_settings().database_url)
