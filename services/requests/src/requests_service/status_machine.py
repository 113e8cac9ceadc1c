"""The status machine (DESIGN §4): its transition table, the actions a status allows, and applying one.

`TRANSITIONS` is the single source of the table; `transition_table_markdown` renders it for the
OpenAPI document. `withdrawn`, `rejected`, `cancelled` and `closed` are final. Any other
(status, action) pair is refused with 409 naming the current status and the actions it allows;
an action the caller's role may not take is 403; a request of another office is 404 (never 403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from mnr_shared.api import Result
from mnr_shared.auth import Principal
from mnr_shared.db import utcnow
from mnr_shared.etag import check_if_match, make_etag
from requests_service.access import MATCHING, OFFICE, PROGRAMME, WRITE_SCOPE, acting_role, load_request
from requests_service.activity import record
from requests_service.db import idempotency
from requests_service.errors import Conflict, Forbidden, UnprocessableContent
from requests_service.models import Action, ActorRole, AssistanceRequest, HistoryKind, RequestStatus
from requests_service.schemas import RequestRead, TransitionCreate
from requests_service.service import read_many

_S = RequestStatus


@dataclass(frozen=True)
class Transition:
    """One action: the statuses it leaves from, the status it leads to, and who may take it."""

    sources: frozenset[RequestStatus]
    target: RequestStatus
    roles: frozenset[ActorRole]
    note_required: bool = False


TRANSITIONS: dict[Action, Transition] = {
    Action.SUBMIT: Transition(frozenset({_S.DRAFT}), _S.SUBMITTED, OFFICE),
    Action.WITHDRAW: Transition(
        frozenset({_S.DRAFT, _S.SUBMITTED, _S.IN_REVIEW, _S.MATCHED}), _S.WITHDRAWN, OFFICE
    ),
    Action.START_REVIEW: Transition(frozenset({_S.SUBMITTED}), _S.IN_REVIEW, PROGRAMME),
    Action.REJECT: Transition(
        frozenset({_S.SUBMITTED, _S.IN_REVIEW}), _S.REJECTED, PROGRAMME, note_required=True
    ),
    Action.MATCH: Transition(frozenset({_S.IN_REVIEW}), _S.MATCHED, MATCHING),
    Action.FULFIL: Transition(frozenset({_S.MATCHED}), _S.FULFILLED, MATCHING),
    Action.REOPEN: Transition(frozenset({_S.MATCHED}), _S.IN_REVIEW, MATCHING),
    Action.CLOSE: Transition(frozenset({_S.FULFILLED}), _S.CLOSED, PROGRAMME),
    Action.CANCEL: Transition(frozenset({_S.SUBMITTED, _S.IN_REVIEW, _S.MATCHED}), _S.CANCELLED, PROGRAMME),
}

_ROLE_WORDS = {
    ActorRole.COUNTRY_OFFICE: "its country office",
    ActorRole.SERVICE: "matching (`requests:write`)",
    ActorRole.PROGRAMME_DIVISION: "PD",
    ActorRole.ADMIN: "admin",
}


def allowed_actions(status: RequestStatus) -> list[Action]:
    """The actions the status machine accepts from `status`, in table order."""
    return [action for action, rule in TRANSITIONS.items() if status in rule.sources]


def transition_table_markdown() -> str:
    """The status machine as a Markdown table, for the OpenAPI description (never out of date)."""
    order = list(RequestStatus)
    lines = ["| action | from | to | who may ask it |", "|---|---|---|---|"]
    for action, rule in TRANSITIONS.items():
        sources = ", ".join(s.value for s in order if s in rule.sources)
        who = ", ".join(word for role, word in _ROLE_WORDS.items() if role in rule.roles)
        note = " (note required)" if rule.note_required else ""
        lines.append(f"| `{action.value}` | {sources} | {rule.target.value} | {who}{note} |")
    return "\n".join(lines)


async def transition_request(
    *,
    sessions: async_sessionmaker[AsyncSession],
    by: Principal,
    request_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
    idempotency_key: str | None,
) -> Result[RequestRead]:
    """Applies one status-machine action atomically (of racing ones exactly one applies), once per key."""
    role = acting_role(by, scope=WRITE_SCOPE)

    async def work(session: AsyncSession) -> Result[RequestRead]:
        read = await _apply_transition(
            session, by=by, role=role, request_id=request_id, body=body, if_match=if_match
        )
        return Result(read, etag=make_etag(read.id, read.version))

    return await idempotency.run(
        sessions,
        by=by,
        operation=f"transition:{request_id}",
        key=idempotency_key,
        body=body,
        model=RequestRead,
        work=work,
    )


async def _apply_transition(
    session: AsyncSession,
    *,
    by: Principal,
    role: ActorRole,
    request_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> RequestRead:
    rule = TRANSITIONS[body.action]
    row = await load_request(session, request_id=request_id, by=by, role=role, lock=True)
    if role not in rule.roles:
        raise Forbidden(
            f"Your role may not '{body.action}' a request.",
            slug="action-forbidden",
            extra={"action": body.action},
        )
    if rule.note_required and not body.note:
        raise UnprocessableContent(
            f"'{body.action}' needs a note giving the reason.",
            slug="validation",
            extra={"errors": [{"loc": ["body", "note"], "msg": f"a reason is required to {body.action}"}]},
        )
    if if_match is not None and if_match.strip():  # optional here: a blank header is no precondition
        check_if_match(if_match, make_etag(row.id, row.version))
    before = RequestStatus(row.status)
    if before not in rule.sources:
        allowed = allowed_actions(before)
        raise Conflict(
            f"A request in status '{before}' cannot '{body.action}'; "
            f"from '{before}' the allowed actions are: {', '.join(allowed) or 'none (final status)'}.",
            slug="transition-not-allowed",
            extra={"current_status": before, "action": body.action, "allowed_actions": allowed},
        )
    now = utcnow()
    # The WHERE on status and version makes the write conditional even without the row lock.
    result = cast(
        CursorResult[Any],
        await session.execute(
            update(AssistanceRequest)
            .where(
                col(AssistanceRequest.id) == row.id,
                col(AssistanceRequest.status) == before,
                col(AssistanceRequest.version) == row.version,
            )
            .values(status=rule.target, version=row.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        raise Conflict(
            "The request changed while this transition ran; read it again.", slug="concurrent-change"
        )
    # The row now holds what the UPDATE wrote; record it as loaded, not as a change to flush.
    for name, value in (("status", rule.target), ("version", row.version + 1), ("updated_at", now)):
        set_committed_value(row, name, value)
    await record(
        session,
        row,
        by=by,
        role=role,
        kind=HistoryKind.TRANSITION,
        before=before,
        at=now,
        action=body.action,
        note=body.note,
    )
    return (await read_many(session, [row]))[0]
