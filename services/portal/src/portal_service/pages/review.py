"""The Programme Division: the review queue, the explained shortlist, approval, matches."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from portal_service.pages.home import by_priority_and_age
from portal_service.upstream import ApiError
from portal_service.vocabulary import MATCH_STATUS
from portal_service.web import PageContext, SignedPage

router = APIRouter(include_in_schema=False)
QUEUE_PAGE = 20
SHORTLIST = 20


@router.get("/review")
async def review_queue(
    page: SignedPage,
    number: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1,
    notice: str | None = None,
) -> Response:
    """Submitted and in-review requests, most urgent and longest waiting first."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < 2000:  # the queue is small; sort it whole, then page it here
        params: dict[str, Any] = {"status": ["submitted", "in_review"], "limit": 200}
        if cursor:
            params["cursor"] = cursor
        data = await page.api.get("requests", "/v1/requests", params)
        items += data["items"]
        cursor = data["next_cursor"]
        if not cursor:
            break
    queue = by_priority_and_age(items)
    start = (number - 1) * QUEUE_PAGE
    return page.render(
        "review/queue.html",
        items=queue[start : start + QUEUE_PAGE],
        total=len(queue),
        number=number,
        has_next=start + QUEUE_PAGE < len(queue),
        notice=notice,
    )


async def _shortlist(page: PageContext, request_id: uuid.UUID) -> tuple[dict[str, Any], dict[str, Any]]:
    request = await page.api.get("requests", f"/v1/requests/{request_id}")
    ranking = await page.api.get("matching", f"/v1/requests/{request_id}/candidates", {"limit": SHORTLIST})
    return request, ranking


@router.get("/requests/{request_id}/shortlist")
async def shortlist(request_id: uuid.UUID, page: SignedPage) -> Response:
    request, ranking = await _shortlist(page, request_id)
    matches = (await page.api.get("matching", "/v1/matches", {"request_id": str(request_id), "limit": 5}))[
        "items"
    ]
    live = [m for m in matches if m["status"] in ("pending", "offered", "accepted")]
    return page.render("review/shortlist.html", request=request, ranking=ranking, live=live)


@router.get("/requests/{request_id}/shortlist/approve")
async def approve_confirm(request_id: uuid.UUID, expert_id: uuid.UUID, page: SignedPage) -> Response:
    request, ranking = await _shortlist(page, request_id)
    candidate = next((c for c in ranking["items"] if c["expert_id"] == str(expert_id)), None)
    if candidate is None:
        return page.redirect(f"/requests/{request_id}/shortlist")
    return page.render(
        "review/approve.html", request=request, candidate=candidate, idempotency_key=uuid.uuid4().hex
    )


@router.post("/requests/{request_id}/shortlist/approve")
async def approve(request_id: uuid.UUID, page: SignedPage) -> Response:
    data = await page.form()
    expert_id = str(data.get("expert_id", ""))
    note = str(data.get("note", "")).strip()[:1000] or None
    key = str(data.get("idempotency_key", ""))[:200] or uuid.uuid4().hex
    try:
        uuid.UUID(expert_id)
    except ValueError:
        return page.redirect(f"/requests/{request_id}/shortlist")
    body = {"request_id": str(request_id), "expert_id": expert_id, "note": note}
    try:
        await page.api.post("matching", "/v1/matches", json=body, headers={"Idempotency-Key": key})
    except ApiError as exc:
        if exc.status != 409:
            raise
        request = await page.api.get("requests", f"/v1/requests/{request_id}")
        return page.render(
            "review/conflict.html",
            status=409,
            request=request,
            detail=exc.detail,
            alternatives=exc.problem.get("alternatives") or [],
        )
    return page.redirect(f"/requests/{request_id}", notice="approved")


@router.get("/matches")
async def matches(
    page: SignedPage,
    status: Annotated[list[str], Query()] = [],  # noqa: B006
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    notice: str | None = None,
) -> Response:
    chosen = [s for s in status if s in MATCH_STATUS]
    params: dict[str, Any] = {"limit": 20, "status": chosen}
    if cursor:
        params["cursor"] = cursor
    data = await page.api.get("matching", "/v1/matches", params)
    return page.render(
        "review/matches.html",
        items=data["items"],
        next_cursor=data["next_cursor"],
        chosen=chosen,
        first_page=cursor is None,
        notice=notice,
    )


@router.get("/matches/{match_id}/cancel")
async def cancel_confirm(match_id: uuid.UUID, page: SignedPage) -> Response:
    match = await page.api.get("matching", f"/v1/matches/{match_id}")
    return page.render("review/cancel.html", match=match)


@router.post("/matches/{match_id}/cancel")
async def cancel(match_id: uuid.UUID, page: SignedPage) -> Response:
    data = await page.form()
    reason = str(data.get("reason", "")).strip()[:1000] or None
    try:
        await page.api.post("matching", f"/v1/matches/{match_id}/cancel", json={"reason": reason})
    except ApiError as exc:
        if exc.status != 409:
            raise
        return page.redirect("/matches", notice="conflict")
    return page.redirect("/matches", notice="cancelled")
