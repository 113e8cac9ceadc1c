"""`python -m roster_service`: serve the roster service on ROSTER_HOST:ROSTER_PORT."""

import uvicorn

from mnr_shared.observability import configure_logging
from roster_service.config import get_settings
from roster_service.main import create_app

settings = get_settings()
configure_logging(settings.log_level, service="roster")
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_config=None,
    log_level=settings.log_level,
)
