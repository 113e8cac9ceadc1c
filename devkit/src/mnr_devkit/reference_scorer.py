"""The per-expert reference scorer: the ranking rules of `matching_service.scoring`, one expert at a time.

`reference_rank` states the rules of the scoring module's docstring as directly as possible,
in plain Python over `ReferenceExpert`s built from feed projections. It reads the same tables
(`LEVEL_SCORE`, the region values, the policy's weights) and adds in the same order as the
vectorised `scoring.rank`, so the tests and the benchmark can hold `rank` to it down to exact
float equality of scores. Test and benchmark code only: it is never shipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from matching_service.encoding import (
    as_date,
    base_language,
    canonical_id,
    canonical_request_id,
    cefr_name,
    cefr_rank,
)
from matching_service.ranking import (
    COMPONENTS,
    DEFAULT_POLICY,
    CapabilityMatch,
    ComponentScore,
    LanguageMatch,
    Policy,
    RankedExpert,
    Ranking,
    RankRequest,
)
from matching_service.scoring import (
    AVAILABILITY_HEADROOM,
    LEVEL_SCORE,
    REASONS,
    RECENT_DAYS,
    REGION_REASONS,
    REGION_VALUES,
)
from mnr_shared.reference import region_of


@dataclass(frozen=True, slots=True)
class ReferenceExpert:
    """An expert projection as plain Python values, for `reference_rank`."""

    id: str
    id_int: int
    full_name: str | None
    status: str
    modality: str
    capabilities: dict[int, int]
    languages: dict[str, int]  # base language → best CEFR rank
    countries: frozenset[str]
    regions: frozenset[str]  # of the countries worked in, and any the roster lists
    home_regions: frozenset[str]  # of residence and nationalities
    nationalities: frozenset[str]
    vetted_until: date | None  # last day the safeguarding check is valid; None without one
    busy: tuple[tuple[date, date], ...]  # unavailability
    bookings: tuple[tuple[date, date, str, bool], ...]  # (start, end, request id, confirmed)

    @classmethod
    def from_projection(cls, p: Mapping[str, Any]) -> ReferenceExpert:
        capabilities: dict[int, int] = {}
        for c in p.get("capabilities") or ():
            capabilities[int(c["capability"])] = max(
                int(c["level"]), capabilities.get(int(c["capability"]), 0)
            )
        languages: dict[str, int] = {}
        for lang in p.get("languages") or ():
            base = base_language(lang["tag"])
            languages[base] = max(cefr_rank(lang["level"]), languages.get(base, 0))
        countries = frozenset(p.get("country_experience") or ())
        homes = [
            *(p.get("nationalities") or ()),
            *([p["residence_country"]] if p.get("residence_country") else []),
        ]
        return cls(
            id=canonical_id(p["id"]),
            id_int=int(canonical_id(p["id"]).replace("-", ""), 16),
            full_name=p.get("full_name"),
            status=p["status"],
            modality=p["modality"],
            capabilities=capabilities,
            languages=languages,
            countries=countries,
            regions=frozenset(r for r in [*map(region_of, countries), *(p.get("regions") or ())] if r),
            home_regions=frozenset(r for r in map(region_of, homes) if r),
            nationalities=frozenset(p.get("nationalities") or ()),
            vetted_until=as_date(p["vetting_valid_until"]) if p.get("vetting_valid_until") else None,
            busy=tuple((as_date(u["start"]), as_date(u["end"])) for u in p.get("unavailability") or ()),
            bookings=tuple(
                (
                    as_date(b["start"]),
                    as_date(b["end"]),
                    canonical_request_id(str(b["request_id"])),
                    b["status"] == "confirmed",
                )
                for b in p.get("bookings") or ()
            ),
        )


def reference_rank(
    experts: Sequence[ReferenceExpert],
    request: RankRequest,
    policy: Policy = DEFAULT_POLICY,
    limit: int = 50,
    *,
    as_of: date,
) -> Ranking:
    """The ranking computed expert by expert in plain Python: the rules stated as directly as possible."""
    days = [
        request.start_date + timedelta(days=d)
        for d in range((request.end_date - request.start_date).days + 1)
    ]
    workdays = [d for d in days if d.weekday() < 5]
    region = region_of(request.country)
    since = as_of - timedelta(days=RECENT_DAYS)
    excluded = dict.fromkeys(REASONS, 0)
    scored: list[tuple[float, int, int, RankedExpert]] = []
    for expert in experts:
        reason, free = _reference_reason(expert, request, workdays, as_of)
        if reason is not None:
            excluded[reason] += 1
            continue
        expertise_total, weight_total = 0.0, 0.0
        matched_caps: list[CapabilityMatch] = []
        missing_caps: list[CapabilityMatch] = []
        for need in request.capabilities:
            level = expert.capabilities.get(need.capability, 0)
            expertise_total += need.weight * LEVEL_SCORE[need.min_level][level]
            weight_total += need.weight
            match = CapabilityMatch(need.capability, need.min_level, level)
            (matched_caps if level >= need.min_level else missing_caps).append(match)
        expertise = expertise_total / weight_total if request.capabilities else 1.0
        matched_langs: list[LanguageMatch] = []
        missing_langs: list[LanguageMatch] = []
        desired = met = 0
        for lang in request.languages:
            level = expert.languages.get(lang.base, 0)
            match_lang = LanguageMatch(lang.tag, lang.level_name, cefr_name(level))
            (matched_langs if level >= lang.min_level else missing_langs).append(match_lang)
            if not lang.required:
                desired += 1
                met += level >= lang.min_level
        language = met / desired if desired else 1.0
        if request.country in expert.countries:
            region_reason = "country_experience"
        elif region is not None and region in expert.regions:
            region_reason = "region_experience"
        elif region is not None and region in expert.home_regions:
            region_reason = "residence_or_nationality"
        else:
            region_reason = "none"
        region_value = REGION_VALUES[REGION_REASONS.index(region_reason)]
        availability = min(1.0, free / (AVAILABILITY_HEADROOM * request.effort_days))
        values = {
            "expertise": expertise,
            "language": language,
            "region": region_value,
            "availability": availability,
        }
        score = (
            policy.expertise * expertise
            + policy.language * language
            + policy.region * region_value
            + policy.availability * availability
        )
        recent = sum(
            1 for _, e, rid, confirmed in expert.bookings if confirmed and e >= since and rid != request.id
        )
        weights = policy.weights()
        item = RankedExpert(
            expert_id=expert.id,
            full_name=expert.full_name,
            score=score,
            components={n: ComponentScore(values[n], weights[n], weights[n] * values[n]) for n in COMPONENTS},
            matched_capabilities=matched_caps,
            missing_capabilities=missing_caps,
            matched_languages=matched_langs,
            missing_languages=missing_langs,
            region_reason=region_reason,
            free_days=free,
            recent_assignments=recent,
        )
        scored.append((score, recent, expert.id_int, item))
    scored.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
    return Ranking(
        total=len(experts),
        eligible=len(scored),
        excluded=excluded,
        items=[item for *_, item in scored[: max(limit, 0)]],
    )


def _reference_reason(
    expert: ReferenceExpert, request: RankRequest, workdays: list[date], as_of: date
) -> tuple[str | None, int]:
    """The first filter the expert fails (None if none), and their free days once known (else 0)."""
    if expert.status != "active":
        return "not_active", 0
    if expert.vetted_until is None or expert.vetted_until < as_of:
        return "vetting_expired", 0
    for need in request.capabilities:
        if need.required and expert.capabilities.get(need.capability, 0) < need.min_level:
            return "missing_required_capability", 0
    for lang in request.languages:
        if lang.required and expert.languages.get(lang.base, 0) < lang.min_level:
            return "missing_required_language", 0
    spans = [*expert.busy, *((s, e) for s, e, rid, _ in expert.bookings if rid != request.id)]
    spans = [(s, e) for s, e in spans if s <= request.end_date and e >= request.start_date]
    free = sum(1 for d in workdays if not any(s <= d <= e for s, e in spans)) if spans else len(workdays)
    booked = any(
        s <= request.end_date and e >= request.start_date and rid != request.id
        for s, e, rid, _ in expert.bookings
    )
    if free < request.effort_days or booked:
        return "insufficient_availability", free
    if request.modality != "either" and expert.modality not in (request.modality, "either"):
        return "modality_incompatible", free
    national = request.country in expert.nationalities
    if (request.nationality_preference == "national" and not national) or (
        request.nationality_preference == "international" and national
    ):
        return "nationality_preference", free
    return None, free
