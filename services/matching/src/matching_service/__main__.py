"""`python -m matching_service`: serve the matching service on MATCHING_HOST:MATCHING_PORT."""

import uvicorn

from matching_service.config import get_settings
from matching_service.main import create_app
from mnr_shared.observability import configure_logging

settings = get_settings()
configure_logging(settings.log_level, service="matching")
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_config=None,
    log_level=settings.log_level,
)
