#!/bin/sh
# Start one MNR service: apply its database migrations, then serve it.
#
#   start.sh [SERVICE [ACTION]]
#
# SERVICE is identity, roster, requests, matching, portal or notifier (default: $SERVICE, which the image sets).
# ACTION is one of
#   run          migrate, then serve (the default; what docker compose uses)
#   migrate      `alembic upgrade head` only (the Kubernetes migration Job)
#   serve        `python -m <module>` only (the Kubernetes Deployment, migrated by the Job)
#   healthcheck  exit 0 when GET /healthz answers 200 (the image's HEALTHCHECK)
set -eu

service="${1:-${SERVICE:-}}"
action="${2:-run}"

# Paths below are relative to the repository root, which is /app in the image.
cd "$(dirname "$0")/.."

# The identity issuer has no database, hence no alembic.ini.
case "$service" in
    identity) module=dev_issuer alembic_ini= ;;
    roster)   module=roster_service alembic_ini=services/roster/alembic.ini ;;
    requests) module=requests_service alembic_ini=services/requests/alembic.ini ;;
    matching) module=matching_service alembic_ini=services/matching/alembic.ini ;;
    portal)   module=portal_service alembic_ini=services/portal/alembic.ini ;;
    notifier) module=notifier_service alembic_ini=services/notifier/alembic.ini ;;
    *)
        echo "usage: start.sh identity|roster|requests|matching|portal|notifier [run|migrate|serve|healthcheck]" >&2
        exit 64
        ;;
esac

migrate() {
    if [ -n "$alembic_ini" ]; then
        # The database URL comes from <PREFIX>_DATABASE_URL through the service's settings.
        alembic -c "$alembic_ini" upgrade head
    fi
}

serve() {
    # exec: the service becomes PID 1 and gets SIGTERM from `docker stop` or the kubelet itself.
    exec python -m "$module"
}

healthcheck() {
    # The port comes from the service's own settings, so a <PREFIX>_PORT override is honoured.
    exec python - "$module" <<'PY'
import importlib
import sys
import urllib.request

port = importlib.import_module(sys.argv[1] + ".config").get_settings().port
with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
    sys.exit(0 if response.status == 200 else 1)
PY
}

case "$action" in
    run)         migrate; serve ;;
    migrate)     migrate ;;
    serve)       serve ;;
    healthcheck) healthcheck ;;
    *)
        echo "unknown action '$action' (run, migrate, serve or healthcheck)" >&2
        exit 64
        ;;
esac
