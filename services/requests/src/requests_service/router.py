"""HTTP routes of the requests service (thin: parse, call the service, return)."""

from __future__ import annotations

from fastapi import APIRouter

from mnr_shared.problems import problem_responses

router = APIRouter(prefix="/v1", responses=problem_responses(401, 403))
