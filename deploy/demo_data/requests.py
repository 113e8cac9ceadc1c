"""Synthetic technical-assistance requests in the shape of the requests API, drawn from the tables.

A record is what the requests service's `RequestCreate` accepts, plus the `reference` it is
numbered with, the `office` that files it and the `status` `deploy/load_demo.py` walks it to.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from deploy.demo_data.tables import ASSIGNMENTS, REQUEST_MIX, Assignment, pick
from mnr_shared.reference import countries
from requests_service.models import Importance, Modality, Priority, RequestStatus
from requests_service.schemas import working_days

T = TypeVar("T")


def country_display_name(iso3: str) -> str:
    """`Moldova, Republic of` → `Republic of Moldova`, for use in running text."""
    name = countries()[iso3]
    if ", " in name:
        head, tail = name.split(", ", 1)
        return f"{tail} {head}"
    return name


def _cycle(rng: random.Random, items: Sequence[T], n: int) -> list[T]:
    """n items: every item once per shuffled round, so small samples stay varied."""
    result: list[T] = []
    while len(result) < n:
        round_ = list(items)
        rng.shuffle(round_)
        result.extend(round_)
    return result[:n]


def _request_statuses(rng: random.Random, n: int) -> list[RequestStatus]:
    weights = REQUEST_MIX.statuses
    statuses = list(weights)[:n]
    statuses += rng.choices(list(weights), weights=list(weights.values()), k=n - len(statuses))
    rng.shuffle(statuses)
    return statuses


def generate_requests(rng: random.Random, n: int, today: date) -> list[dict[str, Any]]:
    """n synthetic technical-assistance requests, numbered TA-<year of today>-0001 onwards."""
    assignments: list[Assignment] = _cycle(rng, ASSIGNMENTS, n)
    country_codes: list[str] = _cycle(rng, sorted(REQUEST_MIX.countries), n)
    statuses = _request_statuses(rng, n)
    next_monday = today + timedelta(days=7 - today.weekday())
    requests: list[dict[str, Any]] = []
    required, desired = Importance.REQUIRED.value, Importance.DESIRED.value
    for index in range(n):
        assignment, country, status = assignments[index], country_codes[index], statuses[index]
        priority = pick(rng, REQUEST_MIX.priorities)
        # Urgent requests start soon; the others are planned weeks to months ahead.
        weeks_ahead = rng.randint(1, 3) if priority is Priority.URGENT else rng.randint(1, 19)
        start = next_monday + timedelta(weeks=weeks_ahead)
        weeks = rng.randint(2, 12)
        end = start + timedelta(weeks=weeks, days=-3)  # the Friday of the last week
        weekdays = working_days(start, end)
        # Consultancies are part-time over their window, but rarely below a working week.
        effort = min(weekdays, max(5, math.floor(weekdays * rng.uniform(0.35, 0.9))))
        modality = pick(rng, REQUEST_MIX.modalities)
        spoken = REQUEST_MIX.countries[country]
        languages = [
            {"tag": spoken.working, "min_level": rng.choice(["B2", "C1", "C1"]), "importance": required}
        ]
        if spoken.working != "en":
            languages.append({"tag": "en", "min_level": "B2", "importance": desired})
        for tag in spoken.local:
            if rng.random() < 0.6:
                languages.append({"tag": tag, "min_level": rng.choice(["B1", "B2"]), "importance": desired})
        caps: list[dict[str, Any]] = [
            {
                "capability": number,
                "min_level": rng.choices([2, 3, 4], weights=[2, 5, 2])[0],
                "importance": required,
            }
            for number in assignment.required
        ]
        caps += [
            {"capability": number, "min_level": rng.choice([1, 2, 2, 3]), "importance": desired}
            for number in assignment.desired
        ]
        name = country_display_name(country)
        where = {
            Modality.REMOTE: "remotely",
            Modality.IN_COUNTRY: f"in {name}",
            Modality.EITHER: f"remotely or in {name}",
        }[modality]
        description = (
            f"{assignment.description.format(country=name)} Expected deliverables: "
            f"{assignment.deliverables}. The assignment is {effort} working days between "
            f"{start.isoformat()} and {end.isoformat()}, {where}."
        )
        requests.append(
            {
                "reference": f"TA-{today.year}-{index + 1:04d}",
                "country": country,
                "office": country,
                "title": assignment.title,
                "description": description,
                "capabilities": caps,
                "languages": languages,
                "modality": modality.value,
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "effort_days": effort,
                "priority": priority.value,
                "nationality_preference": pick(rng, REQUEST_MIX.nationality_preferences).value,
                "status": status.value,
            }
        )
    return requests
