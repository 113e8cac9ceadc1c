"""The whole path through the portal's pages, in-process: a country office files and submits,
the Programme Division reviews and approves, the expert accepts, the office sees it fulfilled."""

from __future__ import annotations

import re
from typing import Any

FORM = {
    "title": "Review draft OCSEA legislation",
    "description": "Review the draft bill against the MNR legislation capability.",
    "country": "KEN",
    "priority": "high",
    "start_date": "2027-03-01",
    "end_date": "2027-03-31",
    "effort_days": "10",
    "modality": "either",
    "nationality_preference": "any",
    "capabilities-0-capability": "3",
    "capabilities-0-min_level": "3",
    "capabilities-0-importance": "required",
    "languages-0-tag": "en",
    "languages-0-min_level": "B2",
    "languages-0-importance": "required",
}


def _request_id(location: str) -> str:
    found = re.fullmatch(r"/requests/([0-9a-f-]{36})\?notice=\w+", location)
    assert found, location
    return found.group(1)


async def test_office_files_pd_approves_expert_accepts(kit: Any, make_expert: Any, system: Any) -> None:
    expert = await make_expert(1, full_name="Amina Otieno")
    office = await kit.browser(role="country_office", offices="KEN", name="Kenya Country Office")

    home = await office.get("/")
    assert kit.h1(home.text) == "Welcome, Kenya Country Office"
    form_page = await office.get("/requests/new")
    assert form_page.status_code == 200
    html = form_page.text
    for label in ("Title", "Description", "Country", "Start date", "End date", "Effort (days)"):
        assert re.search(rf'<label for="[^"]+">{re.escape(label)}</label>', html), label
    csrf = kit.csrf(html)

    panel = await office.post("/requests/feasibility", data={**FORM, "csrf_token": csrf})
    assert panel.status_code == 200
    assert "1 active expert would qualify" in kit.text(panel.text)

    filed = await office.post("/requests/new", data={**FORM, "csrf_token": csrf, "action": "submit"})
    assert filed.status_code == 303, filed.text
    request_id = _request_id(filed.headers["location"])
    detail = await office.get(filed.headers["location"])
    assert "Your request is submitted" in detail.text
    assert "badge-submitted" in detail.text

    pd = await kit.browser(role="programme_division", name="Programme Officer")
    queue = await pd.get("/review")
    assert kit.h1(queue.text) == "Review queue"
    assert request_id in queue.text
    started = await pd.post(
        f"/requests/{request_id}/transition",
        data={"csrf_token": kit.csrf(queue.text), "action": "start_review", "back": "review"},
    )
    assert started.status_code == 303
    assert started.headers["location"] == "/review?notice=review_started"

    shortlist = await pd.get(f"/requests/{request_id}/shortlist")
    assert shortlist.status_code == 200
    assert "Amina Otieno" in shortlist.text
    assert shortlist.text.count("<meter") >= 4  # a bar per score component
    approve_link = f"/requests/{request_id}/shortlist/approve?expert_id={expert['id']}"
    assert approve_link in shortlist.text.replace("&amp;", "&")
    confirm = await pd.get(approve_link)
    assert kit.h1(confirm.text).startswith("Approve Amina Otieno for TA-")
    approved = await pd.post(
        f"/requests/{request_id}/shortlist/approve",
        data={"csrf_token": kit.csrf(confirm.text), "expert_id": expert["id"], "idempotency_key": "k-1"},
    )
    assert approved.status_code == 303, approved.text
    assert approved.headers["location"] == f"/requests/{request_id}?notice=approved"

    me = await kit.browser(role="expert", expert_id=expert["id"], name="Amina Otieno")
    offers = await me.get("/offers")
    assert kit.h1(offers.text) == "My offers"
    assert "Review draft OCSEA legislation" in offers.text  # what the offer is for, not just its number
    match_id = re.search(r'action="/offers/([0-9a-f-]{36})/accept"', offers.text)
    assert match_id, offers.text
    accepted = await me.post(
        f"/offers/{match_id.group(1)}/accept", data={"csrf_token": kit.csrf(offers.text)}
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/offers?notice=accepted"

    fulfilled = await office.get(f"/requests/{request_id}")
    assert "badge-fulfilled" in fulfilled.text
    assert "Amina Otieno" in fulfilled.text
    timeline = kit.text(fulfilled.text)
    assert "Review started" in timeline
    assert "Expert confirmed" in timeline
