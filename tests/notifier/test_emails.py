"""Emails through a real SMTP server: who gets what, in their language, once."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from mnr_shared.testing import bearer
from notifier_service.messages import LANGUAGES, TEXTS, Facts, render
from notifier_service.models import EmailJob, EmailStatus

KENYA_OFFICE = "kenya.ta@example.org"
PD_MAILBOX = "pd.ta@example.org"


async def _offer(
    system: Any, people: dict[str, dict[str, str]], request: dict[str, Any], expert: dict[str, Any]
) -> Any:
    answer = await system.matching.post(
        "/v1/matches", headers=people["pd"], json={"request_id": request["id"], "expert_id": expert["id"]}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_the_offer_reaches_the_expert_and_the_submission_the_programme_division_once(
    notifier: Any, system: Any, people: dict[str, dict[str, str]], make_expert: Any, make_request: Any
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    await _offer(system, people, request, expert)

    await notifier.pump()
    await notifier.pump()  # a second pass writes nothing new

    [offer] = notifier.mail(to=expert["email"])
    assert offer["subject"].startswith(f"[{request['reference']}] You are offered an assignment")
    assert request["title"] in offer["subject"]
    assert "https://portal.example.org/offers" in offer["text"]
    assert "accept or decline" in offer["text"]
    assert "10 working days" in offer["text"]
    [submitted] = notifier.mail(to=PD_MAILBOX)
    assert submitted["subject"] == f"[{request['reference']}] New request to review: {request['title']}"
    assert "https://portal.example.org/review" in submitted["text"]
    assert len(notifier.mail()) == 2


async def test_an_answer_reaches_the_office_in_its_language_and_the_programme_division(
    notifier: Any,
    system: Any,
    people: dict[str, dict[str, str]],
    make_expert: Any,
    make_request: Any,
    token_for: Any,
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    me = bearer(await token_for("expert", sub="cand-1", expert_id=expert["id"]))
    assert (await system.matching.post(f"/v1/matches/{match['id']}/accept", headers=me)).status_code == 200

    await notifier.pump()

    [office] = notifier.mail(to=KENYA_OFFICE)
    assert (
        office["subject"] == f"[{request['reference']}] L'expert ou l'experte a accepté : {request['title']}"
    )
    assert f"https://portal.example.org/requests/{request['id']}" in office["text"]
    assert "Kenya" in office["text"]
    accepted = [m for m in notifier.mail(to=PD_MAILBOX) if "accepted" in m["subject"]]
    assert [m["subject"] for m in accepted] == [
        f"[{request['reference']}] The expert accepted: {request['title']}"
    ]


async def test_an_attempt_interrupted_midway_is_never_sent_again(
    notifier: Any, system: Any, people: dict[str, dict[str, str]], make_expert: Any, make_request: Any
) -> None:
    await make_request()
    await notifier.app.state.follower.sync()
    mailer = notifier.app.state.mailer
    async with notifier.app.state.sessionmaker() as session:
        [job] = (await session.scalars(select(EmailJob))).all()
    assert await mailer._claim(job.id) is not None  # the process dies here, mid-attempt

    assert await mailer.recover() == 1
    await notifier.pump()

    assert notifier.mail() == []
    async with notifier.app.state.sessionmaker() as session:
        assert (await session.get(EmailJob, job.id)).status == EmailStatus.UNCERTAIN


async def test_an_unreachable_server_is_tried_again_later_and_then_sends_once(
    notifier: Any, system: Any, make_request: Any
) -> None:
    mailer = notifier.app.state.mailer
    port = mailer.settings.smtp_port
    mailer.settings = mailer.settings.model_copy(update={"smtp_port": 9})  # nothing listens there
    await make_request()

    await notifier.pump()
    async with notifier.app.state.sessionmaker() as session:
        [job] = (await session.scalars(select(EmailJob))).all()
    assert (job.status, job.attempts) == (EmailStatus.PENDING, 1)
    assert "could not be reached" in job.last_error
    mailer.settings = mailer.settings.model_copy(update={"smtp_port": port})
    await notifier.pump()
    assert notifier.mail() == []  # not due yet
    notifier.clock.advance(61)
    await notifier.pump()
    await notifier.pump()

    assert len(notifier.mail(to=PD_MAILBOX)) == 1


FACTS = Facts(
    reference="TA-2027-0042",
    title="Hotline <design> & referral",
    country="KEN",
    start=date(2027, 3, 1),
    end=date(2027, 4, 9),
    effort_days=10,
    link="https://portal.example.org/offers",
    expires_at=datetime(2027, 2, 8, 9, 0),
    priority="urgent",
)


@pytest.mark.parametrize("trigger", sorted(TEXTS))
def test_every_message_is_written_in_four_languages(trigger: str) -> None:
    rendered = {language: render(trigger, FACTS, language) for language in LANGUAGES}

    for language, message in rendered.items():
        assert message.language == language
        assert message.subject.startswith("[TA-2027-0042] ")
        assert "Hotline <design> & referral" in message.subject
        assert FACTS.link in message.text
        assert "Hotline &lt;design&gt; &amp; referral" in message.html
        assert "<design>" not in message.html
        assert f'lang="{language}"' in message.html
    assert len({m.subject for m in rendered.values()}) == 4
    assert len({m.text for m in rendered.values()}) == 4
    assert 'dir="rtl"' in rendered["ar"].html
    assert 'dir="ltr"' in rendered["fr"].html
    assert "Kenya" in rendered["en"].text
    assert "كينيا" in rendered["ar"].text
    assert "2027" in rendered["es"].text
    assert "marzo" in rendered["es"].text


def test_an_unknown_language_falls_back_to_english() -> None:
    assert render("offer", FACTS, "sw").subject == render("offer", FACTS, "en").subject


def test_offer_mentions_when_it_lapses() -> None:
    text = render("offer", FACTS, "en").text
    assert "February 8, 2027" in text
    assert (FACTS.end - FACTS.start) > timedelta(days=1)


async def test_an_unanswered_offer_is_recalled_to_the_expert_once_two_days_before_it_lapses(
    notifier: Any, system: Any, people: dict[str, dict[str, str]], make_expert: Any, make_request: Any
) -> None:
    expert = await make_expert(1)
    request = await make_request()
    match = await _offer(system, people, request, expert)
    lapses = datetime.fromisoformat(match["expires_at"])

    await notifier.pump()
    reminders = [m for m in notifier.mail(to=expert["email"]) if "Reminder" in m["subject"]]
    assert reminders == []
    async with notifier.app.state.sessionmaker() as session:
        [job] = (await session.scalars(select(EmailJob).where(EmailJob.trigger == "offer_reminder"))).all()
    assert job.status == EmailStatus.PENDING
    assert job.next_attempt_at == lapses - timedelta(hours=48)
    notifier.clock.now = job.next_attempt_at + timedelta(seconds=1)
    await notifier.pump()
    await notifier.pump()

    [reminder] = [m for m in notifier.mail(to=expert["email"]) if "Reminder" in m["subject"]]
    assert reminder["subject"].startswith(
        f"[{request['reference']}] Reminder: the offer for {request['title']}"
    )
    assert "/offers" in reminder["text"]


async def test_an_answered_offer_calls_off_its_reminder(
    notifier: Any,
    system: Any,
    people: dict[str, dict[str, str]],
    make_expert: Any,
    make_request: Any,
    token_for: Any,
) -> None:
    expert = await make_expert(1)
    match = await _offer(system, people, await make_request(), expert)
    await notifier.pump()
    me = bearer(await token_for("expert", sub="cand-1", expert_id=expert["id"]))
    assert (
        await system.matching.post(f"/v1/matches/{match['id']}/decline", headers=me, json={"reason": "Busy"})
    ).status_code == 200

    await notifier.pump()
    notifier.clock.advance(8 * 24 * 3600)
    await notifier.pump()

    assert [m for m in notifier.mail(to=expert["email"]) if "Reminder" in m["subject"]] == []
    async with notifier.app.state.sessionmaker() as session:
        [job] = (await session.scalars(select(EmailJob).where(EmailJob.trigger == "offer_reminder"))).all()
    assert (job.status, job.last_error) == (EmailStatus.SKIPPED, "called off by match.declined")
