"""Run the whole system locally: migrate, seed demo data once, start the issuer, the services, the inbox.

Used by `make run`. Everything lives under one folder (default `var/`): the SQLite databases,
the dev signing key, the demo data and the dev mail inbox's messages. Ports and database URLs
come from the same environment variables the services read (AUTH_PORT, ROSTER_PORT,
ROSTER_DATABASE_URL, MAILBOX_SMTP_PORT, ...). Ctrl-C stops every process.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    prefix: str
    default_port: int
    migrates: bool


SERVICES = (
    Service("identity", "dev_issuer", "AUTH", 8000, migrates=False),
    Service("roster", "roster_service", "ROSTER", 8001, migrates=True),
    Service("requests", "requests_service", "REQUESTS", 8002, migrates=True),
    Service("matching", "matching_service", "MATCHING", 8003, migrates=True),
    Service("portal", "portal_service", "PORTAL", 8004, migrates=True),
    Service("notifier", "notifier_service", "NOTIFIER", 8005, migrates=True),
)


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


def build_environment(var: Path) -> dict[str, str]:
    """The environment every child gets: the caller's, with local defaults filled in."""
    env = dict(os.environ)
    env.setdefault("AUTH_DEV_MODE", "1")
    env.setdefault("AUTH_SIGNING_KEY_FILE", str(var / "dev-issuer-key.pem"))
    env.setdefault("AUTH_ISSUER", f"http://127.0.0.1:{port_of(SERVICES[0], env)}")
    for service in SERVICES[1:]:
        env.setdefault(f"{service.prefix}_DATABASE_URL", f"sqlite:///{var / service.name}.db")
    roster, requests, matching = SERVICES[1], SERVICES[2], SERVICES[3]
    for client in ("MATCHING", "PORTAL", "NOTIFIER"):
        env.setdefault(f"{client}_ROSTER_URL", f"http://{host_of(roster, env)}:{port_of(roster, env)}")
        env.setdefault(f"{client}_REQUESTS_URL", f"http://{host_of(requests, env)}:{port_of(requests, env)}")
    for client in ("PORTAL", "NOTIFIER"):
        env.setdefault(f"{client}_MATCHING_URL", f"http://{host_of(matching, env)}:{port_of(matching, env)}")
    env.setdefault("PORTAL_OIDC_ISSUER", env["AUTH_ISSUER"])
    portal = SERVICES[4]
    # Links in emails point at this portal.
    env.setdefault("NOTIFIER_PORTAL_URL", f"http://{host_of(portal, env)}:{port_of(portal, env)}")
    # The dev sign-in page lists demo experts by name once the demo data is loaded.
    env.setdefault("AUTH_PERSONAS_FILE", str(var / "demo" / "personas.json"))
    env.setdefault("MAILBOX_STORE", str(var / "mail"))
    host, smtp_port, _ = mailbox_address(env)
    env.setdefault("NOTIFIER_SMTP_HOST", host)
    env.setdefault("NOTIFIER_SMTP_PORT", str(smtp_port))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def port_of(service: Service, env: dict[str, str]) -> int:
    return int(env.get(f"{service.prefix}_PORT", service.default_port))


def host_of(service: Service, env: dict[str, str]) -> str:
    return env.get(f"{service.prefix}_HOST", "127.0.0.1")


def mailbox_address(env: dict[str, str]) -> tuple[str, int, int]:
    """Host, SMTP port and HTTP port of the dev mail inbox, from the variables it reads itself."""
    host = env.get("MAILBOX_HOST", "127.0.0.1")
    return host, int(env.get("MAILBOX_SMTP_PORT", 1025)), int(env.get("MAILBOX_HTTP_PORT", 8025))


def spawn(module: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own keeps the terminal's Ctrl-C from reaching children twice.
    return subprocess.Popen([sys.executable, "-m", module, *args], env=env, cwd=ROOT, start_new_session=True)


def migrate(env: dict[str, str]) -> None:
    """Upgrade every service database to head, in this process (one interpreter start, not three)."""
    from alembic import command
    from alembic.config import Config

    for service in SERVICES:
        if not service.migrates:
            continue
        url = env[f"{service.prefix}_DATABASE_URL"]
        say(f"migrating {service.name} ({url})")
        config = Config(str(ROOT / "services" / service.name / "alembic.ini"))
        config.attributes["database_url"] = url
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")


def seed(var: Path, env: dict[str, str]) -> None:
    """Generate the demo data (once per seed and day: request windows start after today)."""
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "seed.py"),
            "--out",
            str(var / "demo"),
            "--today",
            date.today().isoformat(),
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )


def load_demo(var: Path, env: dict[str, str]) -> None:
    """Put the demo data into the running services through their APIs (once per database)."""
    urls = {service.name: f"http://{host_of(service, env)}:{port_of(service, env)}" for service in SERVICES}
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "load_demo.py"),
            "--demo",
            str(var / "demo"),
            "--issuer",
            urls["identity"],
            "--roster",
            urls["roster"],
            "--requests",
            urls["requests"],
            "--matching",
            urls["matching"],
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with code {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy within {timeout:.0f}s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_banner(env: dict[str, str]) -> None:
    lines = ["", "MNR Expert Roster is running:"]
    for service in SERVICES:
        base = f"http://{host_of(service, env)}:{port_of(service, env)}"
        lines.append(f"  {service.name:<9} {base:<24} docs: {base}/docs")
    issuer = f"http://{host_of(SERVICES[0], env)}:{port_of(SERVICES[0], env)}"
    roster = f"http://{host_of(SERVICES[1], env)}:{port_of(SERVICES[1], env)}"
    portal = SERVICES[4]
    mail_host, smtp_port, http_port = mailbox_address(env)
    lines += [
        "",
        f"Open the portal in a browser: http://{host_of(portal, env)}:{port_of(portal, env)}",
        "  (sign in as a demo country office, the Programme Division, an admin or an expert)",
        "",
        f"Mail inbox: http://{mail_host}:{http_port} (SMTP {mail_host}:{smtp_port})",
        "",
        "Get a token and call the roster:",
        f"  TOKEN=$(curl -s -X POST {issuer}/dev/token -H 'content-type: application/json' \\",
        '      -d \'{"roles":["programme_division"]}\' | python3 -c \'import json,sys; '
        'print(json.load(sys.stdin)["access_token"])\')',
        f'  curl -s {roster}/v1/reference/capabilities -H "Authorization: Bearer $TOKEN"',
        "",
        "Press Ctrl-C to stop every service.",
    ]
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Example: ROSTER_PORT=9001 python deploy/run_local.py --var /tmp/mnr",
    )
    parser.add_argument(
        "--var",
        type=Path,
        default=ROOT / "var",
        help="folder for databases, the dev signing key and demo data (default: var/)",
    )
    parser.add_argument("--no-seed", action="store_true", help="do not generate demo data")
    args = parser.parse_args(argv)
    var: Path = args.var.resolve()
    var.mkdir(parents=True, exist_ok=True)
    env = build_environment(var)
    migrate(env)
    if not args.no_seed:
        seed(var, env)

    running: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        # The dev mail inbox is no service (no database, no token): it starts beside the issuer.
        # --stop-with-parent: should this process be killed, the inbox frees its fixed ports.
        mail_host, smtp_port, http_port = mailbox_address(env)
        say(f"starting the mail inbox on ports {http_port} (HTTP) and {smtp_port} (SMTP)")
        mailbox = spawn("mnr_devkit.mailbox", "--stop-with-parent", env=env)
        running.append(("mailbox", mailbox))
        # The issuer first (the services fetch its keys), then the services side by side.
        for group in (SERVICES[:1], SERVICES[1:]):
            started = []
            for service in group:
                say(f"starting {service.name} on port {port_of(service, env)}")
                started.append((service, spawn(service.module, env=env)))
            running += [(service.name, process) for service, process in started]
            for service, process in started:
                wait_healthy(f"http://{host_of(service, env)}:{port_of(service, env)}/healthz", process)
        wait_healthy(f"http://{mail_host}:{http_port}/healthz", mailbox)
        if not args.no_seed:
            load_demo(var, env)
        print_banner(env)
        while not stopping:
            for name, process in running:
                if process.poll() is not None:
                    say(f"{name} exited with code {process.returncode}; stopping all")
                    return 1
            time.sleep(0.5)
        say("stopping")
        return 0
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        say(str(exc))
        return 1
    finally:
        stop([process for _, process in running])
        say("all processes stopped")


if __name__ == "__main__":
    sys.exit(main())
