"""`python -m portal_service`: serve the portal on PORTAL_HOST:PORTAL_PORT."""

import uvicorn

from mnr_shared.observability import configure_logging
from portal_service.config import get_settings
from portal_service.main import create_app

settings = get_settings()
configure_logging(settings.log_level, service="portal")
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_config=None,
    log_level=settings.log_level,
)
