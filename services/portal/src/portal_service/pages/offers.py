"""Experts: their offers, accept, decline with a reason."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import Response

from portal_service.upstream import ApiError
from portal_service.web import SignedPage

router = APIRouter(include_in_schema=False)


@router.get("/offers")
async def offers(page: SignedPage, notice: str | None = None) -> Response:
    api = page.api
    open_offers = (await api.get("matching", "/v1/matches", {"status": "offered", "limit": 50}))["items"]
    answered = (
        await api.get(
            "matching",
            "/v1/matches",
            {"status": ["accepted", "declined", "expired", "cancelled"], "limit": 20},
        )
    )["items"]
    return page.render("offers/list.html", offers=open_offers, answered=answered, notice=notice)


@router.post("/offers/{match_id}/accept")
async def accept(match_id: uuid.UUID, page: SignedPage) -> Response:
    await page.form()
    try:
        await page.api.post("matching", f"/v1/matches/{match_id}/accept")
    except ApiError as exc:
        if exc.status != 409:
            raise
        return page.redirect("/offers", notice="offer_closed")
    return page.redirect("/offers", notice="accepted")


@router.get("/offers/{match_id}/decline")
async def decline_form(match_id: uuid.UUID, page: SignedPage) -> Response:
    match = await page.api.get("matching", f"/v1/matches/{match_id}")
    return page.render("offers/decline.html", match=match, reason="", error=None)


@router.post("/offers/{match_id}/decline")
async def decline(match_id: uuid.UUID, page: SignedPage) -> Response:
    form = await page.form()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        match = await page.api.get("matching", f"/v1/matches/{match_id}")
        return page.render(
            "offers/decline.html",
            status=422,
            match=match,
            reason=reason,
            error=page.gettext("Please say why."),
        )
    try:
        await page.api.post("matching", f"/v1/matches/{match_id}/decline", json={"reason": reason[:1000]})
    except ApiError as exc:
        if exc.status != 409:
            raise
        return page.redirect("/offers", notice="offer_closed")
    return page.redirect("/offers", notice="declined")
