"""`python -m dev_issuer`: serve the dev identity issuer on AUTH_HOST:AUTH_PORT."""

import uvicorn

from dev_issuer.config import get_settings
from dev_issuer.main import create_app
from mnr_shared.observability import configure_logging

settings = get_settings()
configure_logging(settings.log_level, service="identity")
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_config=None,
    log_level=settings.log_level,
)
