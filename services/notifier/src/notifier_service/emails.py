"""Emails: which events write to whom, and the mailer that writes them — at most once each.

The follower records one `EmailJob` per (event, audience) in the transaction that moves its
cursor (`record`), so a page read twice records nothing twice. The mailer claims a job
(`sending`, committed) before it talks to the SMTP server and marks it `sent` after; a job
found `sending` at start-up was interrupted mid-attempt and becomes `uncertain`, never sent
again. Failures that happen before any message could have been accepted (the server cannot be
reached, an upstream lookup fails) put the job back to `pending` for a later attempt.

Facts come from the services with the notifier's own scopes: the request (`requests:read`)
and the expert's address (`roster:read` + `roster:pii`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from mnr_shared.db import utcnow
from notifier_service.config import Mailbox, Settings
from notifier_service.messages import LANGUAGES, Facts, Message, render
from notifier_service.models import EmailJob, EmailStatus

log = logging.getLogger("notifier.emails")

# Event type → (message, audiences).
TRIGGERS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "match.offered": (("offer", ("expert",)), ("offer_reminder", ("expert",))),
    "match.accepted": (("accepted", ("office", "pd")),),
    "match.declined": (("declined", ("office", "pd")),),
    "match.expired": (("expired", ("office", "pd")),),
    "request.submitted": (("submitted", ("pd",)),),
}
# An offer that is no longer open calls off its reminder.
CLOSES_OFFER = ("match.accepted", "match.declined", "match.cancelled", "match.expired", "match.failed")
RETRY_SECONDS = 60.0


class NoRecipient(Exception):
    """Nobody to write to for this audience (no mailbox configured, no address known)."""


class NotSent(Exception):
    """The attempt failed before any message could have been accepted: safe to try again."""


def expert_language(expert: dict[str, Any]) -> str:
    """The language an expert reads messages in: their profile's choice when it has one, else
    the best of our four languages they speak, else English."""
    chosen = expert.get("preferred_language")
    if chosen in LANGUAGES:
        return str(chosen)
    spoken = sorted(
        (
            lang
            for lang in expert.get("languages") or ()
            if str(lang.get("tag", "")).split("-")[0] in LANGUAGES
        ),
        key=lambda lang: str(lang.get("level", "")),
        reverse=True,
    )
    return str(spoken[0]["tag"]).split("-")[0] if spoken else "en"


class Mailer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        roster: httpx.AsyncClient,
        requests: httpx.AsyncClient,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.roster = roster
        self.requests = requests
        self.settings = settings
        self.clock = clock

    # --- recording (inside the follower's transaction) ----------------------------------------

    async def record(self, session: AsyncSession, events: Sequence[dict[str, Any]]) -> int:
        if not self.settings.email_enabled:
            return 0
        rows: list[EmailJob] = []
        for event in events:
            if event["type"] in CLOSES_OFFER:
                await session.execute(
                    update(EmailJob)
                    .where(
                        col(EmailJob.about) == str(event["subject"]),
                        col(EmailJob.trigger) == "offer_reminder",
                        col(EmailJob.status) == EmailStatus.PENDING,
                    )
                    .values(
                        status=EmailStatus.SKIPPED,
                        next_attempt_at=None,
                        last_error=f"called off by {event['type']}",
                    )
                )
            for trigger, audiences in TRIGGERS.get(event["type"], ()):
                due = self._due(trigger, event)
                if due is None:
                    continue
                rows += [
                    EmailJob(
                        event_id=uuid.UUID(str(event["id"])),
                        event_type=event["type"],
                        trigger=trigger,
                        audience=audience,
                        about=str(event["subject"]),
                        event={"subject": event["subject"], "data": event["data"]},
                        next_attempt_at=due,
                    )
                    for audience in audiences
                ]
        session.add_all(rows)
        return len(rows)

    def _due(self, trigger: str, event: dict[str, Any]) -> datetime | None:
        """When to write: now, or for a reminder `offer_reminder_hours` before the offer lapses
        (None: no reminder, as for an offer without an expiry or one lapsing sooner than that)."""
        now = self.clock()
        if trigger != "offer_reminder":
            return now
        expires = event["data"].get("expires_at")
        if not expires:
            return None
        due = datetime.fromisoformat(str(expires)) - timedelta(hours=self.settings.offer_reminder_hours)
        return due if due > now else None

    # --- writing ------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Jobs left `sending` by a stop mid-attempt become `uncertain` (never sent twice)."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(EmailJob)
                .where(col(EmailJob.status) == EmailStatus.SENDING)
                .values(
                    status=EmailStatus.UNCERTAIN, last_error="interrupted during an attempt; not sent again"
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def send_due(self, limit: int = 20) -> int:
        """Write every due email (oldest first); answers how many were attempted."""
        async with self.sessions() as session:
            due = (
                await session.scalars(
                    select(col(EmailJob.id))
                    .where(
                        col(EmailJob.status) == EmailStatus.PENDING,
                        col(EmailJob.next_attempt_at) <= self.clock(),
                    )
                    .order_by(col(EmailJob.next_attempt_at), col(EmailJob.id))
                    .limit(limit)
                )
            ).all()
        attempted = 0
        for job_id in due:
            attempted += await self.send(job_id)
        return attempted

    async def _claim(self, job_id: uuid.UUID) -> EmailJob | None:
        async with self.sessions.begin() as session:
            claimed = await session.execute(
                update(EmailJob)
                .where(col(EmailJob.id) == job_id, col(EmailJob.status) == EmailStatus.PENDING)
                .values(status=EmailStatus.SENDING, attempts=col(EmailJob.attempts) + 1)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return None  # someone else has it, or it is no longer pending
            job = await session.get(EmailJob, job_id)
            if job is not None:
                session.expunge(job)
            return job

    async def send(self, job_id: uuid.UUID) -> int:
        job = await self._claim(job_id)
        if job is None:
            return 0
        try:
            recipient, language, facts = await self._resolve(job)
            message = render(job.trigger, facts, language)
            await self._smtp(job, recipient, message)
        except NoRecipient as exc:
            await self._settle(job_id, EmailStatus.SKIPPED, error=str(exc))
        except NotSent as exc:
            gave_up = job.attempts >= self.settings.email_attempts
            await self._settle(job_id, EmailStatus.FAILED if gave_up else EmailStatus.PENDING, error=str(exc))
        except aiosmtplib.SMTPException as exc:
            # Refused by the server (a bad address, say): trying again would not help.
            await self._settle(job_id, EmailStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:500])
        else:
            await self._settle(job_id, EmailStatus.SENT, recipient=recipient, message=message)
        return 1

    async def _settle(
        self,
        job_id: uuid.UUID,
        status: EmailStatus,
        *,
        error: str | None = None,
        recipient: str | None = None,
        message: Message | None = None,
    ) -> None:
        now = self.clock()
        async with self.sessions.begin() as session:
            job = await session.get(EmailJob, job_id)
            if job is None:
                return
            job.status, job.last_error = status, error
            if status == EmailStatus.PENDING:
                job.next_attempt_at = now + timedelta(seconds=RETRY_SECONDS * job.attempts)
            else:
                job.next_attempt_at = None
            if message is not None:
                job.recipient, job.language, job.subject, job.sent_at = (
                    recipient,
                    message.language,
                    message.subject,
                    now,
                )

    # --- facts and recipients -----------------------------------------------------------------

    async def _get(self, client: httpx.AsyncClient, path: str) -> dict[str, Any]:
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            raise NotSent(f"{path}: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise NoRecipient(f"{path} is gone")
        if response.status_code != 200:
            raise NotSent(f"{path} answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    async def _resolve(self, job: EmailJob) -> tuple[str, str, Facts]:
        data = job.event["data"]
        request_id = data.get("request_id") or job.event["subject"]
        request = await self._get(self.requests, f"/v1/requests/{request_id}")
        portal = self.settings.portal_url.rstrip("/")
        link = {
            "offer": f"{portal}/offers",
            "offer_reminder": f"{portal}/offers",
            "submitted": f"{portal}/review",
        }.get(job.trigger, f"{portal}/requests/{request_id}")
        expires = data.get("expires_at")
        facts = Facts(
            reference=request["reference"],
            title=request["title"],
            country=request["country"],
            start=date.fromisoformat(data.get("start") or request["start_date"]),
            end=date.fromisoformat(data.get("end") or request["end_date"]),
            effort_days=int(request["effort_days"]),
            link=link,
            expires_at=datetime.fromisoformat(expires) if expires else None,
            priority=request.get("priority"),
        )
        if job.audience == "expert":
            expert = await self._get(self.roster, f"/v1/experts/{data['expert_id']}")
            if not expert.get("email"):
                raise NoRecipient("the expert has no email address")
            return str(expert["email"]), expert_language(expert), facts
        mailbox: Mailbox | None = (
            self.settings.pd_mailbox
            if job.audience == "pd"
            else self.settings.office_mailboxes.get(facts.country)
        )
        if mailbox is None:
            raise NoRecipient(f"no mailbox configured for the {facts.country} country office")
        return mailbox.address, mailbox.language, facts

    async def _smtp(self, job: EmailJob, recipient: str, message: Message) -> None:
        email = EmailMessage()
        email["From"] = self.settings.mail_from
        email["To"] = recipient
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        # The same id on any copy of this (event, audience): a duplicate is recognisable.
        email["Message-ID"] = f"<{job.event_id}.{job.audience}@mnr-expert-roster>"
        email["Content-Language"] = message.language
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        password = self.settings.smtp_password.get_secret_value()
        try:
            await aiosmtplib.send(
                email,
                hostname=self.settings.smtp_host,
                port=self.settings.smtp_port,
                use_tls=self.settings.smtp_tls == "tls",
                start_tls=self.settings.smtp_tls == "starttls",
                username=self.settings.smtp_username or None,
                password=password or None,
                timeout=self.settings.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError, OSError) as exc:
            raise NotSent(f"the SMTP server could not be reached: {exc}"[:500]) from exc
