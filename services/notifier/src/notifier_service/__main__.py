"""`python -m notifier_service`: serve the notifier on NOTIFIER_HOST:NOTIFIER_PORT."""

import uvicorn

from mnr_shared.observability import configure_logging
from notifier_service.config import get_settings
from notifier_service.main import create_app

settings = get_settings()
configure_logging(settings.log_level, service="notifier")
uvicorn.run(
    create_app(settings),
    host=settings.host,
    port=settings.port,
    log_config=None,
    log_level=settings.log_level,
)
