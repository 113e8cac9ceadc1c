"""Synthetic expert records in the shape of the roster API, drawn from the tables.

A record is what roster's `ExpertCreate` accepts, plus the `id` it is generated with and the
`unavailability` periods that `deploy/load_demo.py` posts after creating the expert.
"""

from __future__ import annotations

import random
import re
import unicodedata
import uuid
from datetime import date, timedelta
from typing import Any

from deploy.demo_data.tables import CULTURES, EXPERT_MIX, EXPERTISE, INTERNATIONAL, Culture, Tier, pick
from mnr_shared.reference import CEFR, capabilities, region_of, regions
from roster_service.models import ExpertStatus

EMAIL_DOMAIN = "example.org"

_FOLD = str.maketrans({"đ": "d", "Đ": "D", "ø": "o", "ß": "ss", "æ": "ae", "ł": "l", "ı": "i"})


def slug(text: str) -> str:
    """ASCII e-mail part of a name: `Nguyễn` → `nguyen`, `O'Brien` → `obrien`."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore")
    lowered = ascii_text.decode("ascii").lower().replace("'", "")
    return re.sub(r"[^a-z]+", "-", lowered).strip("-")


def _sample_weighted(rng: random.Random, weights: dict[int, float], k: int) -> list[int]:
    """k distinct keys, each draw proportional to the remaining weights."""
    remaining = {key: weight for key, weight in weights.items() if weight > 0}
    chosen: list[int] = []
    while remaining and len(chosen) < k:
        keys = list(remaining)
        key = rng.choices(keys, weights=[remaining[x] for x in keys])[0]
        chosen.append(key)
        del remaining[key]
    return chosen


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _domains() -> dict[str, list[int]]:
    members: dict[str, list[int]] = {}
    for capability in capabilities():
        members.setdefault(capability.domain_code, []).append(capability.number)
    return members


def _region_names() -> dict[str, str]:
    return {region.code: region.name for region in regions()}


def _homes(group: str) -> list[str]:
    return sorted({iso3 for culture in CULTURES[group].values() for iso3 in culture.homes})


def _name(rng: random.Random, culture: Culture, female: bool) -> tuple[str, str, str]:
    """(full name, given-name part, family-name part) of the e-mail address."""
    given = rng.choice(culture.female if female else culture.male)
    forms = rng.choice(culture.surnames).split("/")
    family = forms[-1] if female else forms[0]
    email_family = family
    if rng.random() < culture.double_surname:
        # Two family names (father's, then mother's); the address uses the first.
        second = rng.choice([s for s in culture.surnames if s != family]).split("/")[0]
        family = f"{family} {second}"
    full = f"{family} {given}" if culture.family_first else f"{given} {family}"
    return full, given, email_family


def _languages(rng: random.Random, culture: Culture, home: str) -> list[dict[str, str]]:
    mother_tongues = culture.homes[home]
    # The first listed mother tongue is the most common one in that country.
    weights = [3.0] + [1.0] * (len(mother_tongues) - 1)
    mother = rng.choices(mother_tongues, weights=weights)[0]
    languages = [{"tag": mother, "level": CEFR.C2.value}]
    for tag, extra in culture.extras.items():
        if tag != mother and rng.random() < extra.chance:
            languages.append({"tag": tag, "level": rng.choice(extra.levels).value})
    return languages


def _capabilities(rng: random.Random, years: int) -> tuple[list[dict[str, int]], str]:
    """The expert's capabilities and main domain, clustered in one or two domains."""
    domains = _domains()
    primary = pick(rng, EXPERTISE.domains)
    secondary: str | None = None
    if rng.random() < 0.65:
        secondary = pick(rng, {d: w for d, w in EXPERTISE.domains.items() if d != primary})
    tier: dict[int, Tier] = {capability.number: "other" for capability in capabilities()}
    tier.update(dict.fromkeys(domains.get(secondary or "", []), "secondary"))
    tier.update(dict.fromkeys(domains[primary], "primary"))
    draw_weight = {"primary": 6.0, "secondary": 3.0, "other": 0.4}
    count = rng.choices([2, 3, 4, 5, 6, 7], weights=[2, 4, 4, 3, 2, 1])[0]
    chosen = _sample_weighted(rng, {n: draw_weight[tier[n]] for n in tier}, count)
    result: list[dict[str, int]] = []
    for number in sorted(chosen):
        level = rng.choices([1, 2, 3, 4], weights=EXPERTISE.levels[tier[number]])[0]
        if years < 10:
            # Nobody is a leading expert after only a few years in the field.
            level = min(level, 3)
        result.append({"capability": number, "level": level})
    return result, primary


def _summary(
    rng: random.Random,
    primary: str,
    years: int,
    caps: list[dict[str, int]],
    group: str,
    country_count: int,
) -> str:
    role = rng.choice(EXPERTISE.roles[primary])
    strongest = sorted(caps, key=lambda c: (-c["level"], c["capability"]))[:3]
    areas = [EXPERTISE.focus[c["capability"]] for c in strongest]
    focus = areas[0] if len(areas) == 1 else f"{', '.join(areas[:-1])} and {areas[-1]}"
    if group == INTERNATIONAL:
        where = f"in {country_count} programme countr{'y' if country_count == 1 else 'ies'}"
    else:
        where = f"mostly in {_region_names()[group]}"
    return (
        f"{role} with {years} years of experience, {where}. Main areas of work: {focus}. "
        f"{rng.choice(EXPERTISE.closings)}"
    )


def _vetting(rng: random.Random, status: ExpertStatus, today: date) -> dict[str, str | None]:
    def before(max_days: int, min_days: int = 7) -> str:
        return (today - timedelta(days=rng.randint(min_days, max_days))).isoformat()

    if status is ExpertStatus.ACTIVE:
        # Within a year, so the data still passes roster's vetting gate (a check valid for 24
        # months by default) for a year after its `today`.
        return {
            "references_checked_on": before(3 * 365, 30),
            "safeguarding_check_on": before(365),
            "bsafe_completed_on": before(3 * 365),
        }
    if status is ExpertStatus.APPLICANT:
        # Applicants are still being vetted: references usually come back first.
        references = before(60, 1) if rng.random() < 0.5 else None
        return {
            "references_checked_on": references,
            "safeguarding_check_on": None,
            "bsafe_completed_on": None,
        }
    if status is ExpertStatus.SUSPENDED:
        return {
            "references_checked_on": before(5 * 365, 365),
            "safeguarding_check_on": before(4 * 365, 180),
            "bsafe_completed_on": before(4 * 365, 180),
        }
    return {
        "references_checked_on": before(6 * 365, 365),
        "safeguarding_check_on": before(5 * 365, 365) if rng.random() < 0.7 else None,
        "bsafe_completed_on": before(5 * 365, 365) if rng.random() < 0.7 else None,
    }


def _unavailability(rng: random.Random, today: date) -> list[dict[str, str]]:
    """About a quarter of experts have 1–3 blocked periods within the next six months."""
    if rng.random() >= 0.25:
        return []
    horizon = today + timedelta(days=182)
    periods: list[dict[str, str]] = []
    cursor = today
    for _ in range(rng.randint(1, 3)):
        start = cursor + timedelta(days=rng.randint(2, 50))
        if start > horizon:
            break
        end = min(start + timedelta(days=rng.randint(2, 21)), horizon)
        periods.append({"start": start.isoformat(), "end": end.isoformat()})
        cursor = end
    return periods


def _experience(rng: random.Random, group: str, residence: str) -> list[str]:
    count = rng.choices([1, 2, 3, 4, 5, 6], weights=[2, 3, 3, 2, 1, 1])[0]
    all_homes = [iso3 for g in CULTURES if g != INTERNATIONAL for iso3 in _homes(g)]
    picked: set[str] = set()
    if region_of(residence) is not None and rng.random() < 0.85:
        picked.add(residence)
    if group == INTERNATIONAL:
        focus_groups = rng.sample([g for g in CULTURES if g != INTERNATIONAL], k=2)
        local = [iso3 for g in focus_groups for iso3 in _homes(g)]
    else:
        local = _homes(group)
    while len(picked) < count:
        # Mostly in the expert's own region; occasionally further afield.
        pool = local if rng.random() < 0.8 else all_homes
        picked.add(rng.choice(pool))
    return sorted(picked)


def generate_experts(rng: random.Random, n: int, today: date) -> list[dict[str, Any]]:
    """n synthetic experts; deterministic for a given rng state and today."""
    international_homes = _homes(INTERNATIONAL)
    experts: list[dict[str, Any]] = []
    for index in range(1, n + 1):
        group = pick(rng, EXPERT_MIX.groups)
        culture = CULTURES[group][pick(rng, {key: c.weight for key, c in CULTURES[group].items()})]
        home = rng.choice(sorted(culture.homes))
        nationalities = [home]
        if rng.random() < 0.06:
            # Dual nationals, mostly diaspora with a second passport from abroad.
            second = rng.choice([c for c in international_homes + _homes(group) if c != home])
            nationalities.append(second)
        residence = home
        if group == INTERNATIONAL and rng.random() < 0.25:
            # International experts based in a programme country, often near a regional office.
            residence = rng.choice(_homes(rng.choice([g for g in CULTURES if g != INTERNATIONAL])))
        elif group != INTERNATIONAL and rng.random() < 0.12:
            residence = rng.choice(_homes(group))

        gender_roll = rng.random()
        female = gender_roll < 0.58
        gender: str | None = "female" if female else "male"
        if gender_roll > 0.96:
            gender = None  # not disclosed
        full_name, given, family = _name(rng, culture, female)
        years = max(3, min(30, round(rng.triangular(3, 30, 9))))
        caps, primary = _capabilities(rng, years)
        country_experience = _experience(rng, group, residence)
        status = pick(rng, EXPERT_MIX.statuses)
        # Rates follow seniority; international consultants charge more.
        rate = 220 + 18 * years + rng.gauss(0, 60) + (120 if group == INTERNATIONAL else 0)
        amount = int(max(250, min(900, round(rate / 10) * 10)))
        modality = pick(rng, EXPERT_MIX.modalities)
        phone = (
            "+" + str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(7, 11)))
        )
        experts.append(
            {
                "id": _uuid(rng),
                "full_name": full_name,
                "email": f"{slug(given)}.{slug(family)}+{index}@{EMAIL_DOMAIN}",
                "phone": phone,
                "nationalities": nationalities,
                "residence_country": residence,
                "gender": gender,
                "summary": _summary(rng, primary, years, caps, group, len(country_experience)),
                "years_experience": years,
                "daily_rate": {"amount": amount, "currency": "USD"},
                "modality": modality.value,
                "status": status.value,
                "capabilities": caps,
                "languages": _languages(rng, culture, home),
                "country_experience": country_experience,
                "vetting": _vetting(rng, status, today),
                "unavailability": _unavailability(rng, today),
            }
        )
    return experts
