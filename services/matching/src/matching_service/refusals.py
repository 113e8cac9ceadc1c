"""What an upstream's refusal of a saga step means for the caller: the 409 problem it answers.

A refusal (a 4xx) is final: the saga fails or undoes the match and answers 409 — never a 500,
never a retry. The slugs: `expert-not-eligible` and `expert-not-free` (the hold), `hold-refused`
(roster refused the hold otherwise), `request-not-in-review` and `request-not-open` (the request
moved on or ended), `request-refused` (requests refused otherwise) and `confirmation-refused`
(roster no longer holds the dates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matching_service.clients.models import RequestStatus
from matching_service.clients.upstream import UpstreamRefused
from matching_service.errors import Conflict
from matching_service.models import Match, MatchStatus, Step


@dataclass(frozen=True)
class Refusal:
    """An upstream refused a step for good; the saga failed or compensated the match."""

    step: Step
    slug: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


class SagaRefused(Conflict):
    """409: the saga could not do what was asked and undid what it had done (or left the undoing
    to the worker as a durable step). Carries the refusal and the match as it stands."""

    def __init__(self, refusal: Refusal, match: Match) -> None:
        super().__init__(
            refusal.detail,
            slug=refusal.slug,
            extra={**refusal.extra, "match_id": str(match.id), "match_status": match.status.value},
        )
        self.refusal = refusal
        self.match = match


def request_not_open(status: RequestStatus | None, match_status: MatchStatus) -> Conflict:
    said = status.value if status else "gone"
    return Conflict(
        f"The request is {said}, no longer open: the offer cannot be answered or cancelled, and "
        "the expert's dates are released.",
        slug="request-not-open",
        extra={"request_status": said, "match_status": match_status.value},
    )


def hold_refusal(exc: UpstreamRefused) -> Refusal:
    """What a refused hold means for the caller of approve."""
    upstream_type = str(exc.problem.get("type") or "")
    if exc.status == 404 or upstream_type.endswith(":expert-not-active"):
        reason = "not_in_roster" if exc.status == 404 else "not_active"
        return Refusal(
            Step.HOLD,
            "expert-not-eligible",
            f"This expert is not eligible for the request ({reason}); nothing was held.",
            {"reason": reason},
        )
    if exc.status == 409:
        return Refusal(
            Step.HOLD,
            "expert-not-free",
            "The expert is no longer free for these dates; nothing was changed.",
            {"conflicting": exc.problem.get("conflicting")},
        )
    return Refusal(
        Step.HOLD,
        "hold-refused",
        f"Roster refused to hold the expert's dates ({exc.status}); nothing was held.",
        {"upstream_status": exc.status, "upstream_type": exc.problem.get("type")},
    )


def request_refusal(
    step: Step, exc: UpstreamRefused, status: RequestStatus | None, *, open_status: RequestStatus
) -> Refusal:
    """What a refused status move means: the request ended or moved on, or requests refused."""
    if status is None or status != open_status:
        said = status.value if status else "gone"
        slug = "request-not-open" if step == Step.FULFIL_REQUEST else "request-not-in-review"
        return Refusal(
            step,
            slug,
            f"The request is {said}: the match cannot go on; the expert's dates are released.",
            {"request_status": said},
        )
    return Refusal(
        step,
        "request-refused",
        f"The requests service refused to {'match' if step == Step.MATCH_REQUEST else 'fulfil'} "
        f"the request ({exc.status}); the expert's dates are released.",
        {
            "upstream_status": exc.status,
            "upstream_type": exc.problem.get("type"),
            "request_status": status.value,
        },
    )
