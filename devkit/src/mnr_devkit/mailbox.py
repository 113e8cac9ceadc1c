"""The dev mail inbox: an SMTP sink that keeps every message it is sent and shows them over HTTP.

`make run` starts it so that mail the system sends in development lands here, never in a real
mailbox. It accepts every message for every recipient, keeps the newest 1000 as one JSON file
each under the store folder (so they survive a restart), and serves them as JSON
(`/api/v1/messages`) and as a small HTML inbox (`/`). Both servers share one event loop, so
the store needs no lock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.policy
import json
import logging
import os
import re
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import MIMEPart
from pathlib import Path
from typing import TypedDict

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mnr_shared.observability import configure_logging

log = logging.getLogger("mnr_devkit.mailbox")

MAX_MESSAGES = 1000
# Nanoseconds since the epoch, then a random tail: ids sort by arrival and are safe file names.
MESSAGE_ID = re.compile(r"\d{20}-[0-9a-f]{6}")
# The HTML part of a message is shown in a sandboxed frame (no scripts, no forms, its own
# origin); inline styles stay allowed because HTML mail is styled inline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data: http: https:; frame-ancestors 'none'"

# A functional TypedDict because `from` is a keyword.
Message = TypedDict(
    "Message",
    {"id": str, "from": str, "to": list[str], "subject": str, "date": str, "text": str, "html": str | None},
)


@dataclass(frozen=True)
class Options:
    host: str
    smtp_port: int
    http_port: int
    store: Path
    stop_with_parent: bool = False


def parse_message(raw: bytes, *, id: str, received: datetime, sender: str, recipients: list[str]) -> Message:
    """The stored form of one message: `to` is the envelope's recipients (Bcc included), so a
    test can find what was delivered to an address whatever the headers say."""
    parsed = message_from_bytes(raw, policy=email.policy.default)
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    return {
        "id": id,
        "from": str(parsed["from"] or sender),
        "to": recipients,
        # Unfolding a long header keeps the space it was folded at: not part of the subject.
        "subject": str(parsed["subject"] or "").strip(),
        "date": received.astimezone(UTC).isoformat(timespec="seconds"),
        "text": _content(text) if text is not None else "",
        "html": _content(html) if html is not None else None,
    }


def _content(part: MIMEPart) -> str:
    try:
        content = str(part.get_content())
    except LookupError:  # a charset Python does not know: show the text rather than refuse the mail
        content = bytes(part.get_payload(decode=True)).decode("utf-8", "replace")
    # SMTP carries lines ending in CRLF; whoever reads the message expects plain newlines.
    return content.replace("\r\n", "\n")


class MailStore:
    """Messages on disk, one `<id>.json` each, and in memory in arrival order (ids sort by it)."""

    def __init__(self, folder: Path, *, limit: int = MAX_MESSAGES) -> None:
        self.folder = folder
        self.limit = limit
        folder.mkdir(parents=True, exist_ok=True)
        self._messages: dict[str, Message] = {}
        for path in sorted(folder.glob("*.json")):
            if not MESSAGE_ID.fullmatch(path.stem):
                continue
            try:
                message: Message = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable message %s: %s", path.name, exc)
                continue
            # The file name is the id that counts (it names the file to delete).
            message["id"] = path.stem
            self._messages[path.stem] = message
        self._last_ns = max((int(key[:20]) for key in self._messages), default=0)
        self._prune()

    def add(self, raw: bytes, *, sender: str, recipients: list[str]) -> Message:
        """Parses and keeps one message (its file written whole or not at all), dropping the oldest."""
        # Strictly increasing even when the clock stands still, so the id order is arrival order.
        ns = self._last_ns = max(time.time_ns(), self._last_ns + 1)
        message = parse_message(
            raw,
            id=f"{ns:020d}-{secrets.token_hex(3)}",
            received=datetime.fromtimestamp(ns / 1e9, UTC),
            sender=sender,
            recipients=recipients,
        )
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=self.folder, prefix=".", suffix=".tmp", delete=False
        ) as handle:
            json.dump(message, handle, ensure_ascii=False)
        os.replace(handle.name, self.folder / f"{message['id']}.json")
        self._messages[message["id"]] = message
        self._prune()
        return message

    def newest_first(self, *, to: str | None = None) -> list[Message]:
        """Every kept message, newest first; with `to`, those with a recipient containing it (any case)."""
        needle = (to or "").casefold()
        return [
            message
            for message in reversed(self._messages.values())
            if not needle or any(needle in recipient.casefold() for recipient in message["to"])
        ]

    def get(self, id: str) -> Message | None:
        return self._messages.get(id)

    def clear(self) -> None:
        for id in list(self._messages):
            self._forget(id)

    def _prune(self) -> None:
        while len(self._messages) > self.limit:
            self._forget(next(iter(self._messages)))

    def _forget(self, id: str) -> None:
        # Ids come from the store (MESSAGE_ID), never from a request, so they are safe as file names.
        del self._messages[id]
        (self.folder / f"{id}.json").unlink(missing_ok=True)


class Sink:
    """The aiosmtpd handler: every message for every recipient is accepted and kept."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = self.store.add(
            envelope.original_content or b"",
            sender=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
        )
        log.info("received %s from %s to %s", message["id"], message["from"], ", ".join(message["to"]))
        return "250 Message accepted for delivery"


TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}{% endblock %} · dev mail inbox</title>
<style>
body { font: 1rem/1.5 system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; }
table { border-collapse: collapse; inline-size: 100%; }
th, td { text-align: start; padding: 0.35rem 0.6rem; border-block-end: 1px solid #ccc; vertical-align: top; }
pre { white-space: pre-wrap; background: #f4f4f4; padding: 0.75rem; }
iframe { inline-size: 100%; block-size: 32rem; border: 1px solid #ccc; }
dt { font-weight: bold; }
a { color: #0645ad; }
</style>
</head>
<body>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
""",
    "inbox.html": """{% extends "base.html" %}
{% block title %}Inbox{% endblock %}
{% block main %}
<h1>Dev mail inbox</h1>
<p>Every message sent to this SMTP server is kept here, newest first ({{ messages | length }}).</p>
{% if messages %}
<table>
<caption>Messages, newest first</caption>
<thead>
<tr><th scope="col">Date</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Subject</th></tr>
</thead>
<tbody>
{% for message in messages %}
<tr>
<td><time datetime="{{ message.date }}">{{ message.date }}</time></td>
<td>{{ message["from"] }}</td>
<td>{{ message.to | join(", ") }}</td>
<td><a href="/messages/{{ message.id }}">{{ message.subject or "(no subject)" }}</a></td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No messages yet.</p>
{% endif %}
{% endblock %}
""",
    "message.html": """{% extends "base.html" %}
{% block title %}{{ message.subject or "(no subject)" }}{% endblock %}
{% block main %}
<p><a href="/">Back to the inbox</a></p>
<h1>{{ message.subject or "(no subject)" }}</h1>
<dl>
<dt>From</dt><dd>{{ message["from"] }}</dd>
<dt>To</dt><dd>{{ message.to | join(", ") }}</dd>
<dt>Date</dt><dd><time datetime="{{ message.date }}">{{ message.date }}</time></dd>
</dl>
<h2>Text</h2>
<pre>{{ message.text }}</pre>
{% if message.html is not none %}
<h2>HTML</h2>
<iframe sandbox title="The HTML part of the message" srcdoc="{{ message.html }}"></iframe>
{% endif %}
{% endblock %}
""",
    "missing.html": """{% extends "base.html" %}
{% block title %}Not found{% endblock %}
{% block main %}
<h1>No such message</h1>
<p>It may have been cleared. <a href="/">Back to the inbox</a></p>
{% endblock %}
""",
}
PAGES = Environment(loader=DictLoader(TEMPLATES), autoescape=True)


def create_app(store: MailStore) -> Starlette:
    """The inbox over HTTP: JSON under /api/v1, HTML pages at / and /messages/{id}."""

    def page(name: str, status_code: int = 200, **context: object) -> HTMLResponse:
        body = PAGES.get_template(name).render(**context)
        return HTMLResponse(body, status_code=status_code, headers={"Content-Security-Policy": CSP})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "mailbox"})

    async def list_messages(request: Request) -> JSONResponse:
        messages = store.newest_first(to=request.query_params.get("to"))
        return JSONResponse([{k: v for k, v in m.items() if k != "html"} for m in messages])

    async def get_message(request: Request) -> JSONResponse:
        message = store.get(request.path_params["id"])
        if message is None:
            return JSONResponse(
                {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no such message"},
                status_code=404,
                media_type="application/problem+json",
            )
        return JSONResponse(message)

    async def clear_messages(request: Request) -> Response:
        store.clear()
        return Response(status_code=204)

    async def inbox(request: Request) -> HTMLResponse:
        return page("inbox.html", messages=store.newest_first())

    async def message_page(request: Request) -> HTMLResponse:
        message = store.get(request.path_params["id"])
        if message is None:
            return page("missing.html", status_code=404)
        return page("message.html", message=message)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/v1/messages", list_messages, methods=["GET"]),
            Route("/api/v1/messages", clear_messages, methods=["DELETE"]),
            Route("/api/v1/messages/{id}", get_message, methods=["GET"]),
            Route("/", inbox),
            Route("/messages/{id}", message_page),
        ]
    )


async def serve(options: Options) -> None:
    """Both servers on one loop until SIGTERM or SIGINT, then both closed."""
    store = MailStore(options.store)
    loop = asyncio.get_running_loop()
    smtp = await loop.create_server(
        lambda: SMTP(Sink(store), hostname="mailbox", enable_SMTPUTF8=True),
        host=options.host,
        port=options.smtp_port,
    )
    http = uvicorn.Server(
        uvicorn.Config(create_app(store), host=options.host, port=options.http_port, log_config=None)
    )
    # uvicorn takes these signals while it serves; this catches one that comes before it
    # starts or after it stops, and keeps a re-raised SIGTERM from killing the process
    # before the SMTP server is closed.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, setattr, http, "should_exit", True)
    watch = asyncio.create_task(_stop_with_parent(http)) if options.stop_with_parent else None
    host = options.host
    log.info("SMTP on %s:%d, inbox on http://%s:%d", host, options.smtp_port, host, options.http_port)
    try:
        await http.serve()
    finally:
        if watch is not None:
            watch.cancel()
        smtp.close()
        # Newer Pythons wait here for open client connections; a stuck client must not hold the stop.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(smtp.wait_closed(), timeout=2)


async def _stop_with_parent(http: uvicorn.Server) -> None:
    """Stops the servers once the process that started this one is gone (it is re-parented): a
    killed `make run` must not leave an inbox holding the fixed ports the next one needs."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event announces a parent exit; poll
        await asyncio.sleep(0.5)
    log.info("the parent process is gone; stopping")
    http.should_exit = True


def parse_options(argv: list[str] | None = None) -> Options:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m mnr_devkit.mailbox",
        description="Dev mail inbox: an SMTP server that keeps every message and a web inbox to read them.",
        epilog="Example: python -m mnr_devkit.mailbox --smtp-port 1025 --http-port 8025 --store var/mail",
    )
    parser.add_argument(
        "--host",
        default=env.get("MAILBOX_HOST", "127.0.0.1"),
        help="address both servers listen on (env MAILBOX_HOST, default %(default)s)",
    )
    # String defaults pass through `type`, so a bad variable is reported like a bad option.
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=env.get("MAILBOX_SMTP_PORT", "1025"),
        help="SMTP port (env MAILBOX_SMTP_PORT, default %(default)s)",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=env.get("MAILBOX_HTTP_PORT", "8025"),
        help="HTTP port of the inbox and its JSON API (env MAILBOX_HTTP_PORT, default %(default)s)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=env.get("MAILBOX_STORE", "var/mail"),
        help=f"folder that keeps the newest {MAX_MESSAGES} messages (env MAILBOX_STORE, default %(default)s)",
    )
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="stop when the process that started this one exits, even if it was killed",
    )
    args = parser.parse_args(argv)
    return Options(
        host=args.host,
        smtp_port=args.smtp_port,
        http_port=args.http_port,
        store=args.store,
        stop_with_parent=args.stop_with_parent,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    configure_logging("info", service="mailbox")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command
    try:
        asyncio.run(serve(options))
    except OSError as exc:
        log.error("cannot start the mailbox: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
