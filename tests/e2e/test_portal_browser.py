"""The portal in a real headless Chromium against real processes (`deploy/run_local.py` on free
ports, demo data loaded): sign in through the dev issuer's persona page, file, review, approve,
accept — in English and in Arabic. Screenshots of every page go to var/screenshots/.

Chromium is Debian's (`make install` puts it there when it can); Playwright drives it through
`executable_path`. Without it these tests skip, unless MNR_REQUIRE_BROWSER is set (CI), where a
missing browser fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def _chromium() -> str | None:
    candidate = os.environ.get("MNR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return candidate if candidate and Path(candidate).exists() else None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    binary = _chromium()
    if binary is None:
        message = (
            "Chromium is not installed: run `make install` as root, or `sudo apt-get install -y chromium`"
        )
        if os.environ.get("MNR_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        # As root (CI containers) Chromium's sandbox cannot start; the pages are our own.
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        yield browser
        browser.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def persona(browser: Browser, portal: str, button: str, *, lang: str = "en") -> Page:
    """A fresh browser profile signed in by one of the persona buttons."""
    page = browser.new_context(locale=lang, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{portal}/?lang={lang}")
    page.locator('a[href="/login"]').first.click()
    page.get_by_role("button", name=button).click()
    expect(page.locator("h1")).to_have_count(1)
    return page


def test_file_review_approve_accept_by_clicking(shared_system: Any, chromium: Browser) -> None:
    portal = shared_system.url("portal")
    start = date.today() + timedelta(days=60)

    landing = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    landing.goto(portal)
    expect(landing.locator("h1")).to_have_text("MNR Expert Roster")
    shot(landing, "01-landing")
    landing.get_by_role("link", name="Sign in").click()
    expect(landing.get_by_role("button", name="Kenya Country Office")).to_be_visible()
    expect(landing.get_by_label("Expert ID")).to_be_visible()
    shot(landing, "02-sign-in-personas")

    office = persona(chromium, portal, "Kenya Country Office")
    expect(office.locator("h1")).to_have_text(re.compile("^Welcome"))
    shot(office, "03-home-country-office")
    office.get_by_role("link", name="New request").click()
    office.get_by_label("Title").fill("Advice on a national OCSEA hotline")
    office.get_by_label("Description").fill("Help the ministry design a national hotline with industry.")
    office.get_by_label("Start date").fill(start.isoformat())
    office.get_by_label("End date").fill((start + timedelta(days=41)).isoformat())
    office.get_by_label("Effort (days)").fill("10")
    need = office.get_by_role("group", name="Capability 1")
    need.get_by_label("Capability", exact=True).select_option("3")
    need.get_by_label("Minimum level", exact=True).select_option("2")
    office.get_by_role("button", name="Add a language").click()
    language = office.get_by_role("group", name="Language 1")
    language.get_by_label("Language", exact=True).select_option("en")
    language.get_by_label("Minimum level (CEFR)").select_option("B2")
    panel = office.locator("#feasibility")
    expect(panel).to_contain_text(re.compile(r"\d+ active experts? would qualify"))
    assert office.get_by_label("Title").input_value() == "Advice on a national OCSEA hotline"
    shot(office, "04-request-form-with-panel")
    office.get_by_role("button", name="Submit for review").click()
    expect(office.get_by_role("status")).to_contain_text("submitted")
    request_url = office.url.split("?")[0]
    reference = office.locator("h1").inner_text().split(" ")[0]
    shot(office, "05-request-submitted")

    pd = persona(chromium, portal, "Programme Division officer")
    pd.get_by_role("link", name="Review", exact=True).click()
    expect(pd.locator("h1")).to_have_text("Review queue")
    shot(pd, "06-review-queue")
    pd.get_by_role("button", name=f"Start review of {reference}").click()
    expect(pd.get_by_role("status")).to_contain_text("Review started")
    pd.get_by_role("link", name=f"Shortlist for {reference}").click()
    expect(pd.locator("meter").first).to_be_visible()
    shot(pd, "07-shortlist")
    pd.get_by_role("link", name=re.compile("^Approve")).first.click()
    expert_id = pd.locator('input[name="expert_id"]').input_value()
    expert_name = pd.locator("h1").inner_text().removeprefix("Approve ").split(" for ")[0]
    shot(pd, "08-approve-confirmation")
    pd.get_by_role("button", name="Yes, approve").click()
    expect(pd.get_by_role("status")).to_contain_text("approved")

    expert = chromium.new_context(viewport={"width": 1280, "height": 900}).new_page()
    expert.goto(f"{portal}/login")
    expert.get_by_label("Role").select_option("expert")
    expert.get_by_label("Expert ID").fill(expert_id)
    expert.get_by_label("Name").fill(expert_name)
    expert.get_by_role("button", name="Sign in", exact=True).click()
    expert.get_by_role("link", name="My offers").click()
    offer = expert.locator("li.offer", has_text=reference)
    expect(offer).to_be_visible()
    shot(expert, "09-expert-offers")
    offer.get_by_role("button", name=re.compile("^Accept")).click()
    expect(expert.get_by_role("status")).to_contain_text("You accepted")

    office.goto(request_url)
    expect(office.locator(".badge-fulfilled").first).to_be_visible()
    expect(office.get_by_text(expert_name).first).to_be_visible()
    shot(office, "10-request-fulfilled")

    # A form posted without the session's CSRF token changes nothing.
    refused = office.request.post(f"{portal}/requests/new", form={"title": "x", "action": "draft"})
    assert refused.status == 403
    # Uganda's office cannot reach Kenya's request.
    uganda = persona(chromium, portal, "Uganda Country Office")
    response = uganda.goto(request_url)
    assert response is not None
    assert response.status == 404


def test_arabic_is_right_to_left_and_translated(shared_system: Any, chromium: Browser) -> None:
    portal = shared_system.url("portal")
    page = persona(chromium, portal, "Kenya Country Office", lang="ar")
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    assert not page.locator("h1").inner_text().startswith("Welcome")
    shot(page, "11-home-arabic")
    page.goto(f"{portal}/requests/new")
    heading = page.locator("h1").inner_text()
    assert heading
    assert heading != "Request technical assistance"
    expect(page.locator('label[for="title"]')).not_to_have_text("Title")
    shot(page, "12-request-form-arabic")
    page.goto(f"{portal}/requests")
    assert page.locator("h1").inner_text() != "Requests"
    shot(page, "13-requests-arabic")
