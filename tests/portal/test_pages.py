"""Portal pages one by one: who gets in, CSRF, cookies and headers, errors beside fields,
languages, expiry and sign-out."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import update

from mnr_shared.db import utcnow
from portal_service.models import PortalSession
from portal_service.sessions import COOKIE

OFFICE = {"role": "country_office", "offices": "KEN", "name": "Kenya Country Office"}


async def test_anonymous_sees_the_landing_page_and_is_sent_to_sign_in(kit: Any) -> None:
    browser = await kit.browser()
    landing = await browser.get("/")
    assert landing.status_code == 200
    assert kit.h1(landing.text) == "MNR Expert Roster"
    assert 'href="/login"' in landing.text
    for path in ("/requests", "/requests/new", "/review", "/offers", "/matches"):
        sent = await browser.get(path)
        assert sent.status_code == 303, path
        assert sent.headers["location"] == f"/login?next=%2F{path[1:].replace('/', '%2F')}"


async def test_sign_in_returns_to_the_page_asked_for_with_a_safe_cookie(kit: Any) -> None:
    browser = await kit.browser()
    page = await kit.sign_in(browser, **OFFICE, next="/requests?status=draft")
    assert page.status_code == 200
    assert kit.h1(page.text) == "Requests"
    assert str(page.request.url).endswith("/requests?status=draft")
    cookie = next(c for c in browser.cookies.jar if c.name == COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite", "").lower() == "lax"
    assert not cookie.secure  # plain http on loopback; https public URLs get Secure


async def test_login_uses_pkce_state_and_nonce_and_refuses_a_foreign_callback(kit: Any) -> None:
    browser = await kit.browser()
    started = await browser.get("/login")
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["state"]
    assert query["nonce"]
    assert query["response_type"] == ["code"]
    # A callback this browser did not start (login CSRF) signs nobody in.
    stranger = await kit.browser()
    refused = await stranger.get("/auth/callback", params={"code": "x", "state": query["state"][0]})
    assert refused.status_code == 400
    assert not any(c.name == COOKIE for c in stranger.cookies.jar)


async def test_pages_carry_a_strict_content_security_policy(kit: Any) -> None:
    office = await kit.browser(**OFFICE)
    page = await office.get("/requests/new")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text
    assert " style=" not in page.text


async def test_a_form_without_the_csrf_token_is_refused(kit: Any, system: Any) -> None:
    office = await kit.browser(**OFFICE)
    from_elsewhere = await office.post("/requests/new", data={"title": "x", "action": "draft"})
    assert from_elsewhere.status_code == 403
    wrong = await office.post("/requests/new", data={"title": "x", "action": "draft", "csrf_token": "nope"})
    assert wrong.status_code == 403
    listed = await system.requests.get("/v1/requests", headers=await _pd(kit, system))
    assert listed.json()["items"] == []


async def _pd(kit: Any, system: Any) -> dict[str, str]:
    response = await kit.clients[0].post(
        "http://identity.test/dev/token", json={"roles": ["programme_division"]}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_errors_are_shown_beside_their_fields_and_the_input_is_kept(kit: Any) -> None:
    office = await kit.browser(**OFFICE)
    csrf = kit.csrf((await office.get("/requests/new")).text)
    answer = await office.post(
        "/requests/new",
        data={
            "csrf_token": csrf,
            "action": "draft",
            "title": "",
            "description": "Keep this text, please.",
            "country": "KEN",
            "start_date": "2027-03-01",
            "end_date": "2027-03-31",
            "effort_days": "10",
            "capabilities-0-capability": "3",
            "capabilities-0-min_level": "3",
            "capabilities-0-importance": "required",
        },
    )
    assert answer.status_code == 422
    assert 'id="title-error"' in answer.text
    assert 'aria-describedby="title-error"' in answer.text
    assert "Keep this text, please." in answer.text
    assert 'role="alert"' in answer.text


async def test_need_rows_are_added_and_removed_in_place_keeping_the_rest(kit: Any) -> None:
    office = await kit.browser(**OFFICE)
    csrf = kit.csrf((await office.get("/requests/new")).text)
    base = {"csrf_token": csrf, "title": "Kept", "capabilities-0-capability": "3"}
    added = await office.post("/requests/new", data={**base, "action": "add:capabilities"})
    assert added.status_code == 200
    assert 'name="capabilities-1-capability"' in added.text
    assert 'value="Kept"' in added.text
    removed = await office.post(
        "/requests/new",
        data={**base, "capabilities-1-capability": "5", "action": "remove:capabilities:0"},
    )
    assert 'name="capabilities-1-capability"' not in removed.text
    assert re.search(r'<option value="5" selected>', removed.text)


async def test_another_offices_request_is_not_found(kit: Any, make_request: Any) -> None:
    request = await make_request("submitted")  # filed by the Kenya office
    uganda = await kit.browser(role="country_office", offices="UGA", name="Uganda Country Office")
    page = await uganda.get(f"/requests/{request['id']}")
    assert page.status_code == 404
    assert kit.h1(page.text) == "Page not found"
    listed = await uganda.get("/requests")
    assert request["reference"] not in listed.text
    kenya = await kit.browser(**OFFICE)
    assert request["reference"] in (await kenya.get("/requests")).text


async def test_arabic_pages_are_right_to_left_and_the_choice_is_remembered(kit: Any) -> None:
    office = await kit.browser(**OFFICE)
    page = await office.get("/requests?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page.text
    assert kit.h1(page.text) != "Requests"
    again = await office.get("/requests")
    assert '<html lang="ar" dir="rtl">' in again.text
    french = await office.get("/requests", params={"lang": "fr"})
    assert '<html lang="fr" dir="ltr">' in french.text


async def test_accept_language_chooses_when_nothing_else_does(kit: Any) -> None:
    browser = await kit.browser()
    page = await browser.get("/", headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"})
    assert '<html lang="es" dir="ltr">' in page.text


async def test_an_expired_token_sends_the_person_through_login_and_back(
    kit: Any, portal_app: FastAPI
) -> None:
    office = await kit.browser(**OFFICE)
    async with portal_app.state.store.sessions.begin() as session:
        await session.execute(update(PortalSession).values(access_expires_at=utcnow() - timedelta(seconds=1)))
    sent = await office.get("/requests?status=draft")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/login?next=%2Frequests%3Fstatus%3Ddraft"


async def test_sign_out_ends_the_session_here_and_at_the_provider(kit: Any) -> None:
    office = await kit.browser(**OFFICE)
    home = await office.get("/")
    out = await office.post("/logout", data={"csrf_token": kit.csrf(home.text)})
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "http://identity.test/logout"
    assert parse_qs(target.query)["post_logout_redirect_uri"] == ["http://portal.test/"]
    after = await office.get("/requests")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


@pytest.mark.parametrize("path", ["/requests/not-a-uuid", "/nowhere"])
async def test_unknown_pages_are_html_404s(kit: Any, path: str) -> None:
    office = await kit.browser(**OFFICE)
    page = await office.get(path)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
