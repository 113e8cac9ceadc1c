"""The home page: what needs this person's attention, by role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from portal_service.web import Page

router = APIRouter(include_in_schema=False)
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def by_priority_and_age(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most urgent first; within a priority, the one waiting longest first."""
    return sorted(items, key=lambda r: (PRIORITY_ORDER.get(r["priority"], 9), r["created_at"]))


@router.get("/")
async def home(page: Page) -> Response:
    if page.signed is None:
        return page.render("landing.html")
    user, api = page.user, page.api
    context: dict[str, Any] = {}
    if user.has("programme_division", "admin"):
        waiting = await api.get(
            "requests", "/v1/requests", {"status": ["submitted", "in_review"], "limit": 200}
        )
        queue = by_priority_and_age(waiting["items"])
        context["submitted"] = [r for r in queue if r["status"] == "submitted"]
        context["in_review"] = [r for r in queue if r["status"] == "in_review"]
        context["offers"] = (await api.get("matching", "/v1/matches", {"status": "offered", "limit": 5}))[
            "items"
        ]
    elif user.has("country_office"):
        context["drafts"] = (
            await api.get("requests", "/v1/requests", {"status": "draft", "order": "newest", "limit": 5})
        )["items"]
        context["recent"] = (
            await api.get(
                "requests",
                "/v1/requests",
                {"status": ["submitted", "in_review", "matched", "fulfilled"], "order": "newest", "limit": 5},
            )
        )["items"]
    if user.has("expert") and user.expert_id:
        context["my_offers"] = (await api.get("matching", "/v1/matches", {"status": "offered", "limit": 20}))[
            "items"
        ]
    return page.render("home.html", **context)
