"""`python -m requests_service`: serve the requests service on REQUESTS_HOST:REQUESTS_PORT."""

import uvicorn

from mnr_shared.observability import configure_logging
from requests_service.config import get_settings
from requests_service.main import create_app

settings = get_settings()
configure_logging(settings.log_level, service="requests")
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_config=None,
    log_level=settings.log_level,
)
