"""Country offices (and the Programme Division): list, file, edit, submit, withdraw, comment."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from mnr_shared.reference import COMMON_LANGUAGES, countries
from portal_service.forms import RequestForm
from portal_service.i18n import Formats
from portal_service.upstream import Api, ApiError
from portal_service.vocabulary import STATUS
from portal_service.web import PageContext, SignedPage

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
CEFR_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")
# Which buttons a request page offers, by status; the service still decides (403/409).
OFFICE_ACTIONS = {"draft": ("submit", "withdraw"), "submitted": ("withdraw",), "in_review": ("withdraw",)}
PROGRAMME_ACTIONS = {"submitted": ("start_review", "reject"), "in_review": ("reject",)}
EDITABLE = ("draft", "submitted")


@router.get("/requests")
async def list_requests(
    page: SignedPage,
    status: Annotated[list[str], Query()] = [],  # noqa: B006
    q: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    notice: str | None = None,
) -> Response:
    chosen = [s for s in status if s in STATUS]
    params: dict[str, Any] = {"order": "newest", "limit": PAGE_SIZE, "status": chosen}
    if q.strip():
        params["q"] = q.strip()
    if cursor:
        params["cursor"] = cursor
    data = await page.api.get("requests", "/v1/requests", params)
    return page.render(
        "requests/list.html",
        items=data["items"],
        next_cursor=data["next_cursor"],
        chosen=chosen,
        q=q,
        first_page=cursor is None,
        notice=notice,
    )


def _choices(page: PageContext) -> dict[str, Any]:
    user = page.user
    names = countries()
    offices = [code for code in user.offices if code in names]
    if user.has("programme_division", "admin"):
        offices = sorted(names)
    fmt = Formats(page.lang)
    return {
        "country_choices": sorted(offices, key=fmt.country),
        "language_choices": sorted(COMMON_LANGUAGES, key=fmt.language),
        "cefr_levels": CEFR_LEVELS,
    }


async def feasibility_of(api: Api, form: RequestForm) -> dict[str, Any]:
    """The "can this be filled?" answer for the form as it stands (or why it cannot be asked)."""
    body = form.search_body()
    needed = ("country", "start_date", "end_date", "effort_days")
    if any(name not in body for name in needed) or not body["capabilities"]:
        return {"state": "incomplete"}
    try:
        answer = await api.post("matching", "/v1/search/feasibility", json=body)
    except ApiError as exc:
        if exc.status in (400, 403, 422):
            return {"state": "invalid", "detail": exc.detail}
        return {"state": "unavailable"}
    reasons = sorted(((r, n) for r, n in answer["excluded"].items() if n), key=lambda item: -item[1])
    return {
        "state": "answer",
        "eligible": answer["eligible"],
        "total": answer["total"],
        "reasons": reasons[:4],
    }


def _render_form(
    page: PageContext,
    form: RequestForm,
    *,
    status: int = 200,
    request: dict[str, Any] | None = None,
    feasibility: dict[str, Any] | None = None,
    etag: str = "",
    message: str | None = None,
    new_row: str | None = None,
) -> Response:
    return page.render(
        "requests/form.html",
        status=status,
        form=form,
        request=request,
        feasibility=feasibility or {"state": "incomplete"},
        etag=etag,
        idempotency_key=uuid.uuid4().hex,
        message=message,
        new_row=new_row,
        **_choices(page),
    )


def _added(action: str) -> str | None:
    return action.split(":")[1] if action.startswith("add:") else None


@router.get("/requests/new")
async def new_request(page: SignedPage) -> Response:
    offices = page.user.offices
    return _render_form(page, RequestForm.blank(offices[0] if len(offices) == 1 else None))


@router.post("/requests/feasibility")
async def feasibility(page: SignedPage) -> Response:
    """The panel alone, for the form's script to swap in as the person types."""
    form = RequestForm.from_form(await page.form())
    return page.render("requests/_feasibility.html", feasibility=await feasibility_of(page.api, form))


@router.post("/requests/new")
async def file_request(page: SignedPage) -> Response:
    data = await page.form()
    form = RequestForm.from_form(data)
    action = str(data.get("action", "draft"))
    if form.apply_row_action(action):
        return _render_form(page, form, new_row=_added(action))
    if action == "check":
        return _render_form(page, form, feasibility=await feasibility_of(page.api, form))
    key = str(data.get("idempotency_key", ""))[:200] or uuid.uuid4().hex
    try:
        created = await page.api.post(
            "requests", "/v1/requests", json=form.body(), headers={"Idempotency-Key": key}
        )
    except ApiError as exc:
        if exc.status not in (400, 403, 422):
            raise
        form.errors = exc.field_errors() or {"": exc.detail}
        return _render_form(page, form, status=422, feasibility=await feasibility_of(page.api, form))
    if action == "submit":
        return await _transition(page, created["id"], "submit", None, done="submitted")
    return page.redirect(f"/requests/{created['id']}", notice="saved")


@router.get("/requests/{request_id}")
async def request_page(request_id: uuid.UUID, page: SignedPage, notice: str | None = None) -> Response:
    api, user = page.api, page.user
    request = await api.get("requests", f"/v1/requests/{request_id}")
    history = (await api.get("requests", f"/v1/requests/{request_id}/history", {"limit": 200}))["items"]
    comments = (await api.get("requests", f"/v1/requests/{request_id}/comments", {"limit": 200}))["items"]
    matches = (await api.get("matching", "/v1/matches", {"request_id": str(request_id), "limit": 20}))[
        "items"
    ]
    actions: list[str] = []
    if user.has("country_office", "programme_division", "admin"):
        actions += OFFICE_ACTIONS.get(request["status"], ())
    if user.has("programme_division", "admin"):
        actions += [a for a in PROGRAMME_ACTIONS.get(request["status"], ()) if a not in actions]
    return page.render(
        "requests/detail.html",
        request=request,
        history=history,
        comments=comments,
        matches=matches,
        actions=actions,
        editable=request["status"] in EDITABLE,
        can_review=user.has("programme_division", "admin") and request["status"] == "in_review",
        idempotency_key=uuid.uuid4().hex,
        notice=notice,
    )


@router.get("/requests/{request_id}/edit")
async def edit_form(request_id: uuid.UUID, page: SignedPage) -> Response:
    answer = await page.api.call("requests", "GET", f"/v1/requests/{request_id}")
    request = answer.data
    return _render_form(page, RequestForm.from_request(request), request=request, etag=answer.etag or "")


@router.post("/requests/{request_id}/edit")
async def edit(request_id: uuid.UUID, page: SignedPage) -> Response:
    data = await page.form()
    form = RequestForm.from_form(data)
    etag = str(data.get("etag", ""))
    action = str(data.get("action", "save"))
    request = await page.api.get("requests", f"/v1/requests/{request_id}")
    if form.apply_row_action(action):
        return _render_form(page, form, request=request, etag=etag, new_row=_added(action))
    if action == "check":
        feasible = await feasibility_of(page.api, form)
        return _render_form(page, form, request=request, etag=etag, feasibility=feasible)
    try:
        await page.api.call(
            "requests", "PATCH", f"/v1/requests/{request_id}", json=form.body(), headers={"If-Match": etag}
        )
    except ApiError as exc:
        if exc.status == 412:
            message = page.gettext(
                "Someone changed this request after you opened it. Your changes are below; "
                "compare them with the current request, then save again."
            )
            fresh = await page.api.call("requests", "GET", f"/v1/requests/{request_id}")
            return _render_form(
                page, form, status=409, request=fresh.data, etag=fresh.etag or "", message=message
            )
        if exc.status not in (400, 403, 409, 422, 428):
            raise
        form.errors = exc.field_errors() or {"": exc.detail}
        return _render_form(page, form, status=422, request=request, etag=etag)
    return page.redirect(f"/requests/{request_id}", notice="saved")


async def _transition(
    page: PageContext, request_id: str, action: str, note: str | None, *, done: str
) -> Response:
    try:
        await page.api.post(
            "requests", f"/v1/requests/{request_id}/transitions", json={"action": action, "note": note}
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        return page.redirect(f"/requests/{request_id}", notice="conflict")
    return page.redirect(f"/requests/{request_id}", notice=done)


DONE = {
    "submit": "submitted",
    "withdraw": "withdrawn",
    "start_review": "review_started",
    "reject": "rejected",
}


@router.post("/requests/{request_id}/transition")
async def transition(request_id: uuid.UUID, page: SignedPage) -> Response:
    data = await page.form()
    action = str(data.get("action", ""))
    if action not in DONE:
        return page.redirect(f"/requests/{request_id}")
    note = str(data.get("note", "")).strip()[:2000] or None
    if action == "reject" and not note:
        return page.redirect(f"/requests/{request_id}", notice="reason_needed")
    back = str(data.get("back", ""))
    response = await _transition(page, str(request_id), action, note, done=DONE[action])
    if back == "review" and response.status_code == 303:
        return page.redirect("/review", notice=DONE[action])
    return response


@router.post("/requests/{request_id}/comments")
async def comment(request_id: uuid.UUID, page: SignedPage) -> Response:
    data = await page.form()
    body = str(data.get("body", "")).strip()
    if body:
        key = str(data.get("idempotency_key", ""))[:200] or uuid.uuid4().hex
        await page.api.post(
            "requests",
            f"/v1/requests/{request_id}/comments",
            json={"body": body[:4000]},
            headers={"Idempotency-Key": key},
        )
    return page.redirect(f"/requests/{request_id}#comments", notice="commented" if body else None)
