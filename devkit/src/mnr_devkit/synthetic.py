"""Deterministic synthetic experts and requests, shaped like the roster feed and the requests API.

For the ranking benchmark and the matching tests: the same seed always yields the same
data. The mix aims at what the programme sees rather than at uniform noise — expertise
levels skewed towards working knowledge and practitioner, some capabilities much more common
than others, mother tongues by UNICEF region with English or French as a working language,
about a quarter of experts with declared unavailability and a few with bookings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Final

import numpy as np

from mnr_shared.reference import regions

SYNTHETIC_TODAY: Final = date(2027, 1, 4)  # a Monday; generators place calendars around it
# Far enough ahead that a single test record never meets the expiry of its safeguarding check.
VETTED_UNTIL: Final = date(2036, 12, 31)
CEFR: Final = ("A1", "A2", "B1", "B2", "C1", "C2")

# Share of the roster living in each UNICEF region (requests follow the same mix).
_REGION_SHARE: Final = {
    "EAPRO": 0.16,
    "ECARO": 0.12,
    "ESARO": 0.18,
    "LACRO": 0.14,
    "MENARO": 0.10,
    "ROSA": 0.12,
    "WCARO": 0.18,
}
# Mother tongues by region (with their weights) and the regional working language.
_MOTHER_TONGUES: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "EAPRO": (("zh", 0.25), ("id", 0.15), ("th", 0.12), ("vi", 0.12), ("fil", 0.12), ("km", 0.06),
              ("ms", 0.06), ("mn", 0.04), ("lo", 0.04), ("my", 0.04)),
    "ECARO": (("ru", 0.3), ("uk", 0.1), ("tr", 0.1), ("ro", 0.08), ("sq", 0.08), ("sr", 0.08),
              ("ka", 0.06), ("hy", 0.05), ("kk", 0.05), ("uz", 0.05), ("mk", 0.05)),
    "ESARO": (("sw", 0.3), ("en", 0.2), ("am", 0.12), ("pt", 0.1), ("so", 0.08), ("rw", 0.06),
              ("zu", 0.06), ("mg", 0.04), ("om", 0.04)),
    "LACRO": (("es", 0.7), ("pt", 0.22), ("ht", 0.04), ("en", 0.04)),
    "MENARO": (("ar", 0.8), ("fa", 0.1), ("tr", 0.05), ("fr", 0.05)),
    "ROSA": (("hi", 0.3), ("bn", 0.2), ("ur", 0.18), ("ne", 0.1), ("ps", 0.08), ("fa", 0.06),
             ("si", 0.04), ("ta", 0.04)),
    "WCARO": (("fr", 0.45), ("ha", 0.15), ("yo", 0.1), ("wo", 0.08), ("en", 0.12), ("ig", 0.06),
              ("ln", 0.04)),
}  # fmt: skip
_WORKING_LANGUAGE: Final = {
    "EAPRO": "en", "ECARO": "en", "ESARO": "en", "LACRO": "en", "MENARO": "en", "ROSA": "en", "WCARO": "fr",
}  # fmt: skip
# Regional spellings, so the index has to match `en-GB` against a request for `en`.
_VARIANTS: Final = {
    "en": ("en", "en", "en-GB", "en-US"),
    "fr": ("fr", "fr", "fr-CA"),
    "es": ("es", "es", "es-419"),
    "pt": ("pt", "pt-BR", "pt-PT"),
    "zh": ("zh", "zh-Hans"),
    "ar": ("ar", "ar-EG"),
}
# Relative frequency of MNR capabilities 1–21 on the roster: leadership (1), research (2),
# legislation (3), the child-protection workforce (9) and education programmes (13) are
# common; access to image databases (7) and industry takedown procedures (16) are rare.
_CAPABILITY_WEIGHT: Final = np.array(
    [3.0, 3.0, 3.5, 2.0, 1.5, 1.0, 0.6, 1.5, 3.0, 1.0, 1.5, 1.2, 2.5, 1.5, 0.8, 0.6, 0.8, 1.0, 1.0, 1.2, 1.0]
)
_LEVEL_SHARE: Final = (0.35, 0.35, 0.2, 0.1)  # expertise 1 … 4
_GIVEN: Final = (
    "Amina", "Juan", "Li", "Fatima", "Olga", "Kwame", "Priya", "Carlos", "Nadia", "Tomás", "Aisha",
    "Dmitri", "Grace", "Hassan", "Mei", "Samuel", "Leila", "Ivan", "Chipo", "Ana", "Rahul", "Sofia",
)  # fmt: skip
_FAMILY: Final = (
    "Okafor", "García", "Wang", "Haddad", "Petrova", "Mensah", "Sharma", "Silva", "Rahman", "Nguyen",
    "Mwangi", "Kovač", "Diallo", "Hussein", "Santos", "Ivanova", "Banda", "Pereira", "Khan", "Tanaka",
)  # fmt: skip


def _uuid_of(hi: int, lo: int) -> str:
    return str(uuid.UUID(int=(hi << 65 | lo << 1) & (2**128 - 1), version=4))


def _uuid(rng: np.random.Generator) -> str:
    hi, lo = rng.integers(0, 2**63, size=2, dtype=np.int64).tolist()
    return _uuid_of(hi, lo)


class _Weighted:
    """Draws from a fixed weighted list by one uniform number (cheaper than `choice(p=…)` per draw)."""

    def __init__(self, weighted: Sequence[tuple[str, float]]) -> None:
        self.names = [name for name, _ in weighted]
        weights = np.array([w for _, w in weighted])
        self.cumulative = (np.cumsum(weights) / weights.sum()).tolist()

    def __call__(self, u: float) -> str:
        for name, edge in zip(self.names, self.cumulative, strict=True):
            if u < edge:
                return name
        return self.names[-1]


def _pick(rng: np.random.Generator, weighted: Sequence[tuple[str, float]]) -> str:
    return _Weighted(weighted)(float(rng.random()))


def expert_projections(
    n: int, *, seed: int = 0, today: date = SYNTHETIC_TODAY, holds: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """`n` expert projections as the roster feed carries them.

    `holds` are requests (with `id`, `start_date`, `end_date`) whose window the first experts
    drawn with bookings hold, one request each — as the approval saga would — so ranking such
    a request meets an expert whose only conflict is the request's own booking.
    """
    rng = np.random.default_rng(seed)
    region_list = regions()
    codes = [r.code for r in region_list]
    members = {r.code: r.countries for r in region_list}
    every_country = [c for r in region_list for c in r.countries]
    mother_tongue = {code: _Weighted(_MOTHER_TONGUES[code]) for code in codes}
    share = np.array([_REGION_SHARE[c] for c in codes])
    home = rng.choice(len(codes), size=n, p=share / share.sum()).tolist()
    status = rng.choice(["active", "applicant", "inactive", "suspended"], size=n, p=[0.8, 0.08, 0.08, 0.04])
    modality = rng.choice(["remote", "in_country", "either"], size=n, p=[0.3, 0.2, 0.5])
    # Weighted sampling without replacement (Efraimidis–Spirakis): the largest u^(1/w) win.
    keys = rng.random((n, 21)) ** (1.0 / _CAPABILITY_WEIGHT)
    capability_order = (np.argsort(-keys, axis=1) + 1).tolist()
    capability_count = rng.integers(2, 9, size=n).tolist()
    levels = (rng.choice(4, size=(n, 21), p=_LEVEL_SHARE) + 1).tolist()
    working_level = (rng.choice(4, size=n, p=[0.15, 0.35, 0.3, 0.2]) + 2).tolist()
    years = rng.integers(1, 36, size=n).tolist()
    ids = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).tolist()
    unheld = list(reversed(holds))
    u = rng.random((n, 8)).tolist()  # independent uniforms for the per-expert choices below
    pick = rng.integers(0, 2**31, size=(n, 12)).tolist()  # and independent integers
    projections: list[dict[str, Any]] = []
    for i in range(n):
        ui, ri = u[i], pick[i]
        region = codes[home[i]]
        local = members[region]
        nationality = local[ri[0] % len(local)]
        nationalities = [nationality]
        if ui[0] < 0.08:
            nationalities.append(every_country[ri[1] % len(every_country)])
        residence = nationality if ui[1] < 0.8 else every_country[ri[2] % len(every_country)]
        experience: set[str] = {nationality} if ui[2] < 0.7 else set()
        for j in range(ri[3] % 7):
            pool = local if (ri[4 + j] >> 20) % 10 < 7 else every_country
            experience.add(pool[ri[4 + j] % len(pool)])
        languages = {mother_tongue[region](ui[3]): "C2"}
        working = _WORKING_LANGUAGE[region]
        if working not in languages and ui[4] < 0.75:
            languages[working] = CEFR[working_level[i]]
        if ui[5] < 0.2:
            languages.setdefault(("en", "fr", "es", "ar", "ru", "pt")[ri[11] % 6], CEFR[(ri[11] >> 8) % 6])
        row = levels[i]
        capabilities = [
            {"capability": c, "level": row[j]}
            for j, c in enumerate(capability_order[i][: capability_count[i]])
        ]
        spellings = [_VARIANTS.get(base, (base,)) for base in languages]
        projections.append(
            {
                "id": _uuid_of(*ids[i]),
                "full_name": f"{_GIVEN[ri[10] % len(_GIVEN)]} {_FAMILY[(ri[10] >> 8) % len(_FAMILY)]}",
                "status": str(status[i]),
                "modality": str(modality[i]),
                "nationalities": nationalities,
                "residence_country": residence,
                "country_experience": sorted(experience),
                "regions": [],  # the roster derives these from country_experience; the index does too
                "capabilities": capabilities,
                "languages": [
                    {"tag": variants[(ri[11] >> (12 + k)) % len(variants)], "level": level}
                    for k, (variants, level) in enumerate(zip(spellings, languages.values(), strict=True))
                ],
                "years_experience": years[i],
                # Checks run out over the next two years; about one in twenty has already.
                "vetting_valid_until": (today + timedelta(days=(ri[9] >> 8) % 760 - 30)).isoformat(),
                "unavailability": _unavailability(rng, today) if ui[6] < 0.25 else [],
                "bookings": _bookings(rng, today, unheld) if ui[7] < 0.1 else [],
                "version": 1,
                "updated_at": f"{today.isoformat()}T09:00:00+00:00",
            }
        )
    return projections


def _unavailability(rng: np.random.Generator, today: date) -> list[dict[str, str]]:
    periods = []
    for _ in range(int(rng.integers(1, 4))):
        start = today + timedelta(days=int(rng.integers(-60, 400)))
        end = start + timedelta(days=int(rng.integers(2, 45)))
        periods.append({"start": start.isoformat(), "end": end.isoformat()})
    return periods


def _bookings(rng: np.random.Generator, today: date, unheld: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """One or two consecutive bookings; the first holds the last of `unheld` while any remain."""
    bookings = []
    start = today + timedelta(days=int(rng.integers(-300, 200)))
    for number in range(int(rng.integers(1, 3))):
        end = start + timedelta(days=int(rng.integers(5, 60)))
        request_id = _uuid(rng)
        confirmed = end < today or rng.random() < 0.6
        if number == 0 and unheld:
            held = unheld.pop()
            request_id, start, end, confirmed = (
                str(held["id"]),
                date.fromisoformat(str(held["start_date"])),
                date.fromisoformat(str(held["end_date"])),
                False,
            )
        bookings.append(
            {
                "id": _uuid(rng),
                "start": start.isoformat(),
                "end": end.isoformat(),
                "status": "confirmed" if confirmed else "hold",
                "request_id": request_id,
            }
        )
        start = end + timedelta(days=int(rng.integers(1, 90)))  # one expert's bookings never overlap
    return bookings


def feed_items(projections: Iterable[Mapping[str, Any]], *, first_seq: int = 1) -> list[dict[str, Any]]:
    """Upsert feed items, one per projection, numbered from `first_seq`."""
    return [
        {"seq": first_seq + i, "expert_id": p["id"], "kind": "upsert", "expert": dict(p)}
        for i, p in enumerate(projections)
    ]


def request_bodies(k: int, *, seed: int = 0, today: date = SYNTHETIC_TODAY) -> list[dict[str, Any]]:
    """`k` assistance requests with ids, as the requests service returns them (the fields matching reads)."""
    rng = np.random.default_rng(seed)
    region_list = regions()
    share = np.array([_REGION_SHARE[r.code] for r in region_list])
    bodies: list[dict[str, Any]] = []
    for _ in range(k):
        region = region_list[int(rng.choice(len(region_list), p=share / share.sum()))]
        country = region.countries[int(rng.integers(len(region.countries)))]
        numbers = rng.choice(
            21, size=int(rng.integers(1, 6)), replace=False, p=_CAPABILITY_WEIGHT / _CAPABILITY_WEIGHT.sum()
        )
        required = int(rng.integers(1, min(3, len(numbers)) + 1))
        capabilities = [
            {
                "capability": int(c) + 1,
                "min_level": int(rng.choice(4, p=[0.2, 0.5, 0.25, 0.05])) + 1 if i < required
                else int(rng.choice(3, p=[0.3, 0.5, 0.2])) + 1,
                "importance": "required" if i < required else "desired",
            }
            for i, c in enumerate(numbers)
        ]  # fmt: skip
        languages: list[dict[str, str]] = []
        if rng.random() < 0.6:
            working = _WORKING_LANGUAGE[region.code]
            languages.append({"tag": working, "min_level": ("B1", "B2", "C1")[int(rng.integers(3))],
                              "importance": "required"})  # fmt: skip
        for _ in range(int(rng.integers(0, 3))):
            base = _pick(rng, _MOTHER_TONGUES[region.code])
            if all(lang["tag"] != base for lang in languages):
                languages.append({"tag": base, "min_level": ("B1", "B2")[int(rng.integers(2))],
                                  "importance": "desired"})  # fmt: skip
        start = today + timedelta(days=int(rng.integers(7, 180)))
        end = start + timedelta(days=int(rng.integers(14, 120)))
        working_days = int(np.busday_count(start, end + timedelta(days=1)))
        effort = int(rng.integers(3, max(4, min(40, working_days) + 1)))
        bodies.append(
            {
                "id": _uuid(rng),
                "country": country,
                "capabilities": capabilities,
                "languages": languages,
                "modality": str(rng.choice(["remote", "in_country", "either"], p=[0.35, 0.25, 0.4])),
                "start_date": start.isoformat(),
                "end_date": end.isoformat(),
                "effort_days": min(effort, working_days),
                "nationality_preference": str(
                    rng.choice(["any", "international", "national"], p=[0.85, 0.1, 0.05])
                ),
            }
        )
    return bodies


# --- single records for tests ------------------------------------------------------------------


def expert_uuid(number: int) -> str:
    """The UUID whose value is `number`: ids that sort like the numbers, for readable tests."""
    return str(uuid.UUID(int=number))


def projection(number: int = 1, **overrides: Any) -> dict[str, Any]:
    """One active, remote-or-on-site Kenyan expert with no calendar; `overrides` replace fields."""
    base: dict[str, Any] = {
        "id": expert_uuid(number),
        "full_name": f"Expert {number}",
        "status": "active",
        "modality": "either",
        "nationalities": ["KEN"],
        "residence_country": "KEN",
        "country_experience": ["KEN"],
        "regions": [],
        "capabilities": [{"capability": 1, "level": 3}],
        "languages": [{"tag": "en", "level": "C1"}],
        "years_experience": 10,
        "vetting_valid_until": VETTED_UNTIL.isoformat(),
        "unavailability": [],
        "bookings": [],
        "version": 1,
        "updated_at": f"{SYNTHETIC_TODAY.isoformat()}T09:00:00+00:00",
    }
    return base | overrides


def upsert_item(seq: int, expert: Mapping[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "expert_id": expert["id"], "kind": "upsert", "expert": dict(expert)}


def delete_item(seq: int, expert_id: str) -> dict[str, Any]:
    return {"seq": seq, "expert_id": expert_id, "kind": "delete", "expert": None}


def request_body(**overrides: Any) -> dict[str, Any]:
    """A request for capability 1 at level 2 in Kenya, in English, over four weeks from 2027-03-01."""
    base: dict[str, Any] = {
        "id": None,
        "country": "KEN",
        "capabilities": [{"capability": 1, "min_level": 2, "importance": "required"}],
        "languages": [{"tag": "en", "min_level": "B2", "importance": "required"}],
        "modality": "either",
        "start_date": "2027-03-01",
        "end_date": "2027-03-26",
        "effort_days": 10,
        "nationality_preference": "any",
    }
    return base | overrides
