"""The dev mail inbox as `make run` starts it: a real process on free loopback ports, real SMTP
(smtplib), real HTTP, a store folder per test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from mnr_devkit.mailbox import MailStore

pytestmark = pytest.mark.e2e


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the mailbox exited with code {process.returncode} before it was healthy")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"{url} did not become healthy")


@dataclass
class Mailbox:
    process: subprocess.Popen[bytes]
    smtp_port: int
    http_port: int
    store: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def send(
        self,
        *,
        subject: str,
        to: str = "office@ken.example.org",
        text: str = "Plain body",
        html: str | None = None,
        bcc: str | None = None,
    ) -> None:
        message = EmailMessage()
        message["From"] = "Notifier <notifier@mnr.example.org>"
        message["To"] = to
        if bcc:
            message["Bcc"] = bcc
        message["Subject"] = subject
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    def listing(self, **params: str) -> list[dict[str, object]]:
        response = httpx.get(self.url("/api/v1/messages"), params=params)
        assert response.status_code == 200
        items: list[dict[str, object]] = response.json()
        return items

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=15)


StartMailbox = Callable[..., Mailbox]


@pytest.fixture
def start_mailbox(tmp_path: Path) -> Iterator[StartMailbox]:
    """Starts `python -m mnr_devkit.mailbox` on free ports (store: tmp_path/mail unless given)."""
    started: list[Mailbox] = []

    def start(store: Path | None = None, *, via_environment: bool = False) -> Mailbox:
        smtp_port, http_port = _free_ports(2)
        store = store or tmp_path / "mail"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOX_")}
        argv = [sys.executable, "-m", "mnr_devkit.mailbox"]
        settings = {"HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "HTTP_PORT": str(http_port)}
        if via_environment:
            env |= {f"MAILBOX_{name}": value for name, value in settings.items()}
            env["MAILBOX_STORE"] = str(store)
        else:
            for name, value in settings.items():
                argv += [f"--{name.lower().replace('_', '-')}", value]
            argv += ["--store", str(store)]
        process = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        mailbox = Mailbox(process, smtp_port, http_port, store)
        started.append(mailbox)
        _wait_healthy(mailbox.url("/healthz"), process)
        return mailbox

    yield start
    for mailbox in started:
        if mailbox.process.poll() is None:
            mailbox.process.kill()
            mailbox.process.wait()


def test_multipart_message_is_listed_without_html_and_read_in_full(start_mailbox: StartMailbox) -> None:
    mailbox = start_mailbox()
    mailbox.send(
        subject="Offer: Kenya, 10 days",
        to="Amina Otieno <amina@experts.example.org>",
        bcc="audit@mnr.example.org",
        text="You have a new offer.\n",
        html="<p>You have a <b>new</b> offer.</p>\n",
    )

    [item] = mailbox.listing()
    assert set(item) == {"id", "from", "to", "subject", "date", "text"}
    assert item["from"] == "Notifier <notifier@mnr.example.org>"
    # The envelope's recipients: the Bcc is there although no header names it.
    assert item["to"] == ["amina@experts.example.org", "audit@mnr.example.org"]
    assert item["subject"] == "Offer: Kenya, 10 days"
    assert item["text"] == "You have a new offer.\n"
    received = datetime.fromisoformat(str(item["date"]))
    assert received.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=1)

    response = httpx.get(mailbox.url(f"/api/v1/messages/{item['id']}"))
    assert response.status_code == 200
    assert response.json() == {**item, "html": "<p>You have a <b>new</b> offer.</p>\n"}
    stored = json.loads((mailbox.store / f"{item['id']}.json").read_text(encoding="utf-8"))
    assert stored == response.json()


def test_a_text_only_message_has_no_html(start_mailbox: StartMailbox) -> None:
    mailbox = start_mailbox()
    mailbox.send(subject="Plain", text="Only text\n")

    [item] = mailbox.listing()
    full = httpx.get(mailbox.url(f"/api/v1/messages/{item['id']}")).json()
    assert (full["text"], full["html"]) == ("Only text\n", None)


def test_list_is_newest_first_and_filters_by_recipient_substring_in_any_case(
    start_mailbox: StartMailbox,
) -> None:
    mailbox = start_mailbox()
    mailbox.send(subject="first", to="office@ken.example.org")
    mailbox.send(subject="second", to="pd@hq.example.org")
    mailbox.send(subject="third", to="Office@UGA.example.org")

    assert [m["subject"] for m in mailbox.listing()] == ["third", "second", "first"]
    assert [m["subject"] for m in mailbox.listing(to="OFFICE@")] == ["third", "first"]
    assert [m["subject"] for m in mailbox.listing(to="hq.example")] == ["second"]
    assert mailbox.listing(to="nobody@") == []


def test_delete_clears_every_message_and_its_file(start_mailbox: StartMailbox) -> None:
    mailbox = start_mailbox()
    mailbox.send(subject="one")
    mailbox.send(subject="two")
    [newest, _] = mailbox.listing()
    assert len(list(mailbox.store.glob("*.json"))) == 2

    response = httpx.delete(mailbox.url("/api/v1/messages"))
    assert (response.status_code, response.content) == (204, b"")
    assert mailbox.listing() == []
    assert list(mailbox.store.glob("*.json")) == []
    assert httpx.get(mailbox.url(f"/api/v1/messages/{newest['id']}")).status_code == 404


def test_messages_survive_a_restart_on_the_same_store(start_mailbox: StartMailbox, tmp_path: Path) -> None:
    first = start_mailbox(tmp_path / "kept")
    first.send(subject="before the restart")
    [before] = first.listing()
    assert first.stop() == 0

    second = start_mailbox(tmp_path / "kept")
    assert second.listing() == [before]
    second.send(subject="after the restart")
    assert [m["subject"] for m in second.listing()] == ["after the restart", "before the restart"]


def test_the_store_keeps_only_the_newest_messages(tmp_path: Path) -> None:
    store = MailStore(tmp_path / "mail", limit=2)
    for n in range(3):
        store.add(f"Subject: message {n}\r\n\r\nbody\r\n".encode(), sender="a@x.org", recipients=["b@x.org"])

    kept = store.newest_first()
    assert [m["subject"] for m in kept] == ["message 2", "message 1"]
    assert sorted(p.stem for p in (tmp_path / "mail").glob("*.json")) == sorted(m["id"] for m in kept)
    assert [m["subject"] for m in MailStore(tmp_path / "mail", limit=2).newest_first()] == [
        "message 2",
        "message 1",
    ]


def test_inbox_page_lists_messages_newest_first_with_subjects_escaped(start_mailbox: StartMailbox) -> None:
    mailbox = start_mailbox()
    mailbox.send(subject="Welcome to the roster")
    mailbox.send(subject="<script>alert(1)</script> & more")
    [hostile, welcome] = mailbox.listing()

    page = httpx.get(mailbox.url("/"))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.text.count("<h1") == 1
    assert "<script" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page.text
    assert f'<a href="/messages/{welcome["id"]}">Welcome to the roster</a>' in page.text
    assert page.text.index(f"/messages/{hostile['id']}") < page.text.index(f"/messages/{welcome['id']}")


def test_message_page_shows_text_in_pre_and_html_in_a_sandboxed_frame(start_mailbox: StartMailbox) -> None:
    mailbox = start_mailbox()
    mailbox.send(
        subject="<b>Offer</b>",
        text="Dear <expert>,\nplease answer.\n",
        html='<p class="x">Dear expert</p><script>alert("mail")</script>\n',
    )
    [item] = mailbox.listing()

    page = httpx.get(mailbox.url(f"/messages/{item['id']}"))
    assert page.status_code == 200
    assert page.text.count("<h1") == 1
    assert "<h1>&lt;b&gt;Offer&lt;/b&gt;</h1>" in page.text
    assert "<pre>Dear &lt;expert&gt;,\nplease answer.\n</pre>" in page.text
    assert (
        '<iframe sandbox title="The HTML part of the message" srcdoc="&lt;p class=&#34;x&#34;&gt;Dear expert'
        '&lt;/p&gt;&lt;script&gt;alert(&#34;mail&#34;)&lt;/script&gt;\n"></iframe>'
    ) in page.text
    assert "<script" not in page.text
    assert "notifier@mnr.example.org" in page.text


def test_unknown_message_is_404_in_json_and_in_html(start_mailbox: StartMailbox) -> None:
    mailbox = start_mailbox()

    api = httpx.get(mailbox.url("/api/v1/messages/00000000000000000000-000000"))
    assert (api.status_code, api.headers["content-type"]) == (404, "application/problem+json")
    assert api.json()["status"] == 404
    page = httpx.get(mailbox.url("/messages/../../etc/passwd"))
    assert page.status_code == 404


def test_ports_and_store_come_from_the_environment(start_mailbox: StartMailbox, tmp_path: Path) -> None:
    mailbox = start_mailbox(tmp_path / "from-env", via_environment=True)
    assert httpx.get(mailbox.url("/healthz")).json() == {"status": "ok", "service": "mailbox"}
    mailbox.send(subject="via env")

    [item] = mailbox.listing()
    assert (tmp_path / "from-env" / f"{item['id']}.json").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_both_servers_cleanly(start_mailbox: StartMailbox, signum: int) -> None:
    mailbox = start_mailbox()
    assert _listening(mailbox.smtp_port)

    assert mailbox.stop(signum) == 0
    assert not _listening(mailbox.smtp_port)
    assert not _listening(mailbox.http_port)


def test_stop_with_parent_frees_the_ports_when_the_parent_is_killed(tmp_path: Path) -> None:
    smtp_port, http_port = _free_ports(2)
    starter = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-m', 'mnr_devkit.mailbox', '--stop-with-parent',"
        f" '--smtp-port', '{smtp_port}', '--http-port', '{http_port}', '--store', {str(tmp_path)!r}],"
        " stderr=subprocess.DEVNULL, start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 20
        while not _listening(http_port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening(smtp_port)
        parent.kill()
        parent.wait()

        deadline = time.monotonic() + 10
        while (_listening(http_port) or _listening(smtp_port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _listening(http_port)
        assert not _listening(smtp_port)
    finally:
        parent.kill()
        parent.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)  # only when the test failed: it should be gone


def test_a_bad_port_variable_is_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "MAILBOX_SMTP_PORT": "twenty-five"}
    result = subprocess.run(
        [sys.executable, "-m", "mnr_devkit.mailbox", "--store", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--smtp-port: invalid int value: 'twenty-five'" in result.stderr
