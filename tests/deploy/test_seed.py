"""The demo data generator: deterministic, realistic enough for demos, and valid for the APIs."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import json
import random
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mnr_shared.reference import CEFR, capabilities, normalize_language, region_of, regions, validate_country
from requests_service.schemas import RequestCreate
from roster_service.schemas import ExpertCreate, UnavailabilityCreate

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "seed.py"
TODAY = date(2026, 11, 28)
FILES = ("experts.json", "requests.json", "manifest.json")
CEFR_LEVELS = {level.value for level in CEFR}
REQUEST_STATUSES = {
    "draft",
    "submitted",
    "in_review",
    "matched",
    "fulfilled",
    "closed",
    "withdrawn",
    "rejected",
    "cancelled",
}
# Words in a request title and the MNR capability such a request cannot do without.
TITLE_NEEDS = {
    "legislation": 3,
    "victim identification": 7,
    "hotline": 12,
    "prosecutors": 5,
    "helpline": 11,
    "journalists": 20,
    "Terminology": 21,
    "prevention education": 13,
    "takedown": 16,
}


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mnr_demo_seed", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seed = _load()
# seed.py puts the repository root on the import path, so its generator package imports now.
tables = importlib.import_module("deploy.demo_data.tables")


def _run(out: Path, *args: str) -> None:
    assert seed.main(["--out", str(out), *args]) == 0


def _read(out: Path, name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((out / name).read_text(encoding="utf-8"))
    return records


def _weekdays(start: date, end: date) -> int:
    return sum(1 for n in range((end - start).days + 1) if (start + timedelta(n)).isoweekday() <= 5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    _run(out)
    return out


@pytest.fixture(scope="module")
def experts(demo: Path) -> list[dict[str, Any]]:
    return _read(demo, "experts.json")


@pytest.fixture(scope="module")
def requests(demo: Path) -> list[dict[str, Any]]:
    return _read(demo, "requests.json")


# --- determinism and idempotence ---------------------------------------------------------------


def test_same_seed_writes_byte_identical_files(demo: Path, tmp_path: Path) -> None:
    _run(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (demo / name).read_bytes(), name


def test_different_seed_writes_different_data(demo: Path, tmp_path: Path) -> None:
    _run(tmp_path, "--seed", "2027")
    assert (tmp_path / "experts.json").read_bytes() != (demo / "experts.json").read_bytes()
    assert (tmp_path / "requests.json").read_bytes() != (demo / "requests.json").read_bytes()


def _sample(rng_seed: int) -> tuple[Any, Any]:
    rng = random.Random(rng_seed)
    return seed.generate_experts(rng, 20, TODAY), seed.generate_requests(rng, 5, TODAY)


def test_generation_ignores_the_global_random_state() -> None:
    random.seed(1)
    first = _sample(5)
    random.seed(2)
    assert _sample(5) == first
    assert _sample(6) != first


def test_dates_follow_the_today_argument_not_the_clock() -> None:
    later = date(2031, 6, 2)
    experts = seed.generate_experts(random.Random(3), 60, later)
    requests = seed.generate_requests(random.Random(3), 10, later)
    vetting = [d for e in experts for d in e["vetting"].values() if d is not None]
    assert vetting
    assert all(date.fromisoformat(d) <= later for d in vetting)
    assert all(date.fromisoformat(r["start_date"]) > later for r in requests)
    assert all(r["reference"].startswith("TA-2031-") for r in requests)


def test_manifest_records_seed_today_counts_and_version(demo: Path) -> None:
    manifest = json.loads((demo / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 2026
    assert manifest["today"] == "2026-11-28"
    assert manifest["counts"] == {"experts": 300, "requests": 20}
    assert manifest["generator_version"] == seed.GENERATOR_VERSION


def test_files_are_pretty_utf8_json_with_sorted_keys(demo: Path) -> None:
    text = (demo / "experts.json").read_text(encoding="utf-8")
    first = json.loads(text)[0]
    assert text.startswith("[\n  {\n")
    assert list(first) == sorted(first)
    assert "\\u" not in text  # names with accents are written as UTF-8, not escaped


def test_second_run_without_force_leaves_files_untouched_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path, "--experts", "30", "--requests", "4")
    before = {name: ((tmp_path / name).read_bytes(), (tmp_path / name).stat().st_ino) for name in FILES}
    capsys.readouterr()
    _run(tmp_path, "--experts", "30", "--requests", "4")
    output = capsys.readouterr().out
    assert "nothing to do" in output
    assert "generating" not in output
    after = {name: ((tmp_path / name).read_bytes(), (tmp_path / name).stat().st_ino) for name in FILES}
    assert after == before


def test_force_rewrites_existing_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path, "--experts", "30", "--requests", "4")
    inode = (tmp_path / "experts.json").stat().st_ino
    capsys.readouterr()
    _run(tmp_path, "--experts", "30", "--requests", "4", "--force")
    assert "generating" in capsys.readouterr().out
    assert (tmp_path / "experts.json").stat().st_ino != inode


def test_other_seed_replaces_existing_output(tmp_path: Path) -> None:
    _run(tmp_path, "--experts", "30", "--requests", "4")
    _run(tmp_path, "--experts", "30", "--requests", "4", "--seed", "9")
    assert json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))["seed"] == 9


def test_edited_output_is_regenerated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path, "--experts", "30", "--requests", "4")
    original = (tmp_path / "experts.json").read_bytes()
    (tmp_path / "experts.json").write_text("[]\n", encoding="utf-8")
    capsys.readouterr()
    _run(tmp_path, "--experts", "30", "--requests", "4")
    assert "generating" in capsys.readouterr().out
    assert (tmp_path / "experts.json").read_bytes() == original


def test_run_prints_counts_per_region_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(tmp_path)
    output = capsys.readouterr().out
    assert re.search(r"experts by region of residence: .*ESARO \d+", output)
    assert re.search(r"experts by status: .*active \d+", output)
    assert re.search(r"requests by status: \w+ \d+", output)


def test_help_exits_zero_and_shows_examples() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--force" in result.stdout
    assert "examples:" in result.stdout


def test_invalid_today_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        seed.main(["--out", str(tmp_path), "--today", "28/11/2026"])
    assert exit_info.value.code == 2
    assert not (tmp_path / "manifest.json").exists()


# --- experts -------------------------------------------------------------------------------------


def test_about_300_experts_live_in_all_seven_regions_and_abroad(experts: list[dict[str, Any]]) -> None:
    assert len(experts) == 300
    by_region = Counter(region_of(e["residence_country"]) for e in experts)
    assert {r.code for r in regions()} <= set(by_region)
    assert all(by_region[r.code] >= 15 for r in regions()), by_region
    international = {e["nationalities"][0] for e in experts if region_of(e["nationalities"][0]) is None}
    assert len(international) >= 5, international


def test_experts_have_unique_ids_and_emails(experts: list[dict[str, Any]]) -> None:
    ids = [e["id"] for e in experts]
    emails = [e["email"] for e in experts]
    assert len(set(ids)) == len(ids)
    assert len(set(emails)) == len(emails)
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_emails_are_example_org_addresses_derived_from_the_name(experts: list[dict[str, Any]]) -> None:
    for expert in experts:
        match = re.fullmatch(r"([a-z-]+)\.([a-z-]+)\+(\d+)@example\.org", expert["email"])
        assert match, expert["email"]
        name = seed.slug(expert["full_name"])
        assert match[1] in name, (expert["email"], expert["full_name"])
        assert match[2] in name, (expert["email"], expert["full_name"])


def test_country_codes_are_valid_iso3(experts: list[dict[str, Any]]) -> None:
    for expert in experts:
        codes = [*expert["nationalities"], expert["residence_country"], *expert["country_experience"]]
        assert all(validate_country(code) == code for code in codes), codes
        assert 1 <= len(expert["country_experience"]) <= 6


def test_most_experts_work_in_their_own_region(experts: list[dict[str, Any]]) -> None:
    regional = [e for e in experts if region_of(e["residence_country"]) is not None]
    own = sum(
        region_of(c) == region_of(e["residence_country"]) for e in regional for c in e["country_experience"]
    )
    total = sum(len(e["country_experience"]) for e in regional)
    assert own / total > 0.6


def test_every_capability_occurs_with_levels_skewed_to_2_and_3(experts: list[dict[str, Any]]) -> None:
    numbers = Counter(c["capability"] for e in experts for c in e["capabilities"])
    levels = Counter(c["level"] for e in experts for c in e["capabilities"])
    assert set(numbers) == set(range(1, 22))
    assert set(levels) <= {1, 2, 3, 4}
    assert levels[2] > levels[4]
    assert levels[3] > levels[4]
    assert levels[2] > levels[1]
    assert levels[3] > levels[1]
    assert levels[4] > 0


def test_each_expert_has_two_to_seven_distinct_capabilities(experts: list[dict[str, Any]]) -> None:
    for expert in experts:
        numbers = [c["capability"] for c in expert["capabilities"]]
        assert 2 <= len(numbers) <= 7
        assert len(set(numbers)) == len(numbers)


def test_language_tags_are_normalised_and_everyone_has_a_c2(experts: list[dict[str, Any]]) -> None:
    for expert in experts:
        tags = [lang["tag"] for lang in expert["languages"]]
        assert all(normalize_language(tag) == tag for tag in tags), tags
        assert len(set(tags)) == len(tags)
        assert all(lang["level"] in CEFR_LEVELS for lang in expert["languages"])
        assert any(lang["level"] == "C2" for lang in expert["languages"]), expert["languages"]


def test_english_is_the_most_common_language(experts: list[dict[str, Any]]) -> None:
    spoken = Counter(lang["tag"] for e in experts for lang in e["languages"])
    assert spoken.most_common(1)[0][0] == "en"
    assert {"fr", "es", "ar", "ru", "pt", "sw"} <= set(spoken)


def test_expert_fields_are_within_the_domain_rules(experts: list[dict[str, Any]]) -> None:
    for expert in experts:
        assert expert["status"] in {"applicant", "active", "inactive", "suspended"}
        assert expert["modality"] in {"remote", "in_country", "either"}
        assert expert["gender"] in {"female", "male", None}
        assert expert["daily_rate"]["currency"] == "USD"
        assert 250 <= expert["daily_rate"]["amount"] <= 900
        assert 3 <= expert["years_experience"] <= 30
        assert re.fullmatch(r"\+\d{8,12}", expert["phone"]), expert["phone"]
        assert expert["full_name"]
        assert expert["summary"]


def test_four_in_five_experts_are_active_and_vetted(experts: list[dict[str, Any]]) -> None:
    statuses = Counter(e["status"] for e in experts)
    assert 0.7 <= statuses["active"] / len(experts) <= 0.9
    assert set(statuses) == {"applicant", "active", "inactive", "suspended"}
    for expert in experts:
        dates = expert["vetting"].values()
        assert all(d is None or date.fromisoformat(d) <= TODAY for d in dates)
        if expert["status"] == "active":
            assert None not in dates, expert["vetting"]


def test_about_a_quarter_have_ordered_unavailability_within_six_months(experts: list[dict[str, Any]]) -> None:
    blocked = [e for e in experts if e["unavailability"]]
    assert 0.15 <= len(blocked) / len(experts) <= 0.35
    for expert in blocked:
        periods = [
            (date.fromisoformat(p["start"]), date.fromisoformat(p["end"])) for p in expert["unavailability"]
        ]
        assert 1 <= len(periods) <= 3
        assert all(TODAY < start <= end <= TODAY + timedelta(days=183) for start, end in periods)
        assert all(a[1] < b[0] for a, b in itertools.pairwise(periods)), periods


# --- requests ------------------------------------------------------------------------------------


def _check_request(request: dict[str, Any], today: date) -> None:
    assert re.fullmatch(rf"TA-{today.year}-\d{{4}}", request["reference"])
    assert validate_country(request["country"]) == request["country"]
    assert validate_country(request["office"]) == request["office"]
    assert region_of(request["country"]) is not None
    assert request["title"]
    assert len(request["description"]) > 100
    start, end = date.fromisoformat(request["start_date"]), date.fromisoformat(request["end_date"])
    assert today < start < end
    assert timedelta(weeks=1) <= start - today <= timedelta(weeks=20)
    assert 2 <= -(-((end - start).days + 1) // 7) <= 12  # calendar weeks the window touches
    assert 1 <= request["effort_days"] <= _weekdays(start, end)
    assert request["modality"] in {"remote", "in_country", "either"}
    assert request["priority"] in {"low", "normal", "high", "urgent"}
    assert request["nationality_preference"] in {"any", "national", "international"}
    assert request["status"] in REQUEST_STATUSES


def test_every_request_is_valid(requests: list[dict[str, Any]]) -> None:
    assert len(requests) == 20
    assert len({r["reference"] for r in requests}) == len(requests)
    for request in requests:
        _check_request(request, TODAY)


@pytest.mark.parametrize("today", [date(2026, 11, 28), date(2027, 3, 1), date(2027, 8, 15)])
def test_requests_stay_valid_whatever_the_seed_and_weekday_of_today(today: date) -> None:
    for rng_seed in range(5):
        for request in seed.generate_requests(random.Random(rng_seed), 60, today):
            _check_request(request, today)


def test_every_request_needs_a_capability_and_valid_levels(requests: list[dict[str, Any]]) -> None:
    for request in requests:
        caps = request["capabilities"]
        assert any(c["importance"] == "required" for c in caps), caps
        assert all(1 <= c["capability"] <= 21 and 1 <= c["min_level"] <= 4 for c in caps)
        assert all(c["importance"] in {"required", "desired"} for c in caps)
        for language in request["languages"]:
            assert normalize_language(language["tag"]) == language["tag"]
            assert language["min_level"] in CEFR_LEVELS
            assert language["importance"] in {"required", "desired"}


def test_requests_require_the_capabilities_their_title_names() -> None:
    every_kind = seed.generate_requests(random.Random(0), len(seed.ASSIGNMENTS), TODAY)
    for words, capability in TITLE_NEEDS.items():
        matching = [r for r in every_kind if words in r["title"]]
        assert matching, words
        for request in matching:
            required = {c["capability"] for c in request["capabilities"] if c["importance"] == "required"}
            assert capability in required, (request["title"], required)


def test_requests_spread_over_countries_regions_and_statuses(requests: list[dict[str, Any]]) -> None:
    assert len({r["country"] for r in requests}) >= 10
    assert len({region_of(r["country"]) for r in requests}) >= 5
    assert len({r["status"] for r in requests}) >= 5


# --- data files ----------------------------------------------------------------------------------


def test_every_data_file_loads_through_its_loader() -> None:
    loaders = {
        "experts.toml": tables.load_expert_mix,
        "cultures.toml": tables.load_cultures,
        "expertise.toml": tables.load_expertise,
        "assignments.toml": tables.load_assignments,
        "requests.toml": tables.load_request_mix,
    }
    assert {path.name for path in (SCRIPT.parent / "demo_data").glob("*.toml")} == set(loaders)
    for name, loader in loaders.items():
        assert loader(), name
        assert (loader.__doc__ or "").startswith(name), name
    assert tables.load_cultures() == tables.CULTURES
    assert tables.load_assignments() == seed.ASSIGNMENTS


def test_data_files_cover_every_group_capability_and_domain() -> None:
    assert set(tables.CULTURES) == set(tables.EXPERT_MIX.groups)
    assert set(tables.EXPERT_MIX.groups) == {r.code for r in regions()} | {"international"}
    assert all(tables.CULTURES[group] for group in tables.CULTURES)
    assert set(tables.EXPERTISE.focus) == {c.number for c in capabilities()}
    assert set(tables.EXPERTISE.roles) == {c.domain_code for c in capabilities()}
    for assignment in seed.ASSIGNMENTS:
        assert "{country}" in assignment.description, assignment.title
        assert not set(assignment.required) & set(assignment.desired), assignment.title


@pytest.mark.parametrize(
    ("shape", "table"),
    [
        ("ExpertMix", {"groups": {"ESARO": 1}, "statuses": {"actve": 1}, "modalities": {"remote": 1}}),
        ("ExpertMix", {"groups": {"Europe": 1}, "statuses": {"active": 1}, "modalities": {"remote": 1}}),
        (
            "Culture",
            {"weight": 1, "female": ["A"], "male": ["B"], "surnames": ["C", "D"], "homes": {"XXX": []}},
        ),
        (
            "Culture",
            {"weight": 1, "female": ["A"], "male": ["B"], "surnames": ["C", "D"], "homes": {}, "mails": 1},
        ),
        ("Extra", {"chance": 1.5, "levels": ["B2"]}),
        ("Extra", {"chance": 0.5, "levels": ["B3"]}),
        ("Assignment", {"title": "T", "description": "D", "required": [22], "deliverables": "x"}),
        ("RequestCountry", {"working": "not a language"}),
    ],
)
def test_tables_are_checked_against_the_services_types(shape: str, table: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        getattr(tables, shape).model_validate(table)


# --- the services' own schemas -------------------------------------------------------------------


def test_every_expert_validates_against_the_roster_schemas(experts: list[dict[str, Any]]) -> None:
    for expert in experts:
        # The body deploy/load_demo.py posts, then each unavailability period.
        body = {k: v for k, v in expert.items() if k not in {"id", "unavailability"}}
        created = ExpertCreate.model_validate(body)
        assert created.email == expert["email"]
        assert [lang.tag for lang in created.languages] == [lang["tag"] for lang in expert["languages"]]
        for period in expert["unavailability"]:
            UnavailabilityCreate.model_validate(period)


def test_every_request_validates_against_the_requests_schema(requests: list[dict[str, Any]]) -> None:
    for request in requests:
        body = {k: v for k, v in request.items() if k not in {"reference", "office", "status"}}
        # The windows follow TODAY, which the wall clock leaves behind.
        created = RequestCreate.model_validate(body, context={"allow_past_start": True})
        assert created.country == request["country"]
        assert created.effort_days == request["effort_days"]


def test_validation_follows_today_not_the_wall_clock() -> None:
    for today in (date(2031, 6, 2), date(2020, 1, 6)):
        rng = random.Random(11)
        seed.validate_records(
            seed.generate_experts(rng, 40, today), seed.generate_requests(rng, 40, today), today
        )


REFUSED = "validation error"
REWRITTEN = "not in their standard form"


@pytest.mark.parametrize(
    ("kind", "field", "value", "error"),
    [
        ("expert", "languages", [{"tag": "EN", "level": "C2"}], REWRITTEN),
        ("expert", "residence_country", "ken", REWRITTEN),
        ("expert", "country_experience", ["KEN", "XXX"], REFUSED),
        ("expert", "daily_rate", {"amount": 450, "currency": "XYZ"}, REFUSED),
        ("expert", "vetting", {"references_checked_on": "2026-11-29"}, "vetting dated after today"),
        ("expert", "vetting", {"references_checked": "2026-11-20"}, REFUSED),
        ("expert", "unavailability", [{"start": "2027-01-10", "end": "2027-01-01"}], REFUSED),
        ("expert", "gender", "x" * 41, REFUSED),
        ("request", "office", "XXX", "not an ISO 3166-1 alpha-3"),
        ("request", "status", "archived", "not a valid RequestStatus"),
        ("request", "start_date", "2026-11-27", "before today"),
        ("request", "effort_days", 999, REFUSED),
        ("request", "languages", [{"tag": "FR", "min_level": "B2", "importance": "required"}], REWRITTEN),
        ("request", "capabilities", [{"capability": 3, "min_level": 2, "importance": "desired"}], REFUSED),
    ],
)
def test_records_the_apis_would_refuse_or_rewrite_are_an_error(
    kind: str, field: str, value: Any, error: str
) -> None:
    experts, requests = _sample(4)
    seed.validate_records(experts, requests, TODAY)
    (experts if kind == "expert" else requests)[0][field] = value
    with pytest.raises(ValueError, match=error):
        seed.validate_records(experts, requests, TODAY)
