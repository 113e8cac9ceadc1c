"""Generate deterministic synthetic demo data (experts and assistance requests) for the roster.

Every record is made up: names come from small per-region pools, e-mail addresses use the
example.org domain only, and phone numbers are random digits. The same seed, counts and
`--today` always give byte-identical files, so demo environments, screenshots and tests agree.

Output (in `--out`, default `var/demo`):

* `experts.json`: a JSON array of expert records in the shape of the roster API;
* `requests.json`: a JSON array of technical-assistance requests in the shape of the requests API;
* `manifest.json`: seed, `--today`, counts, generator version and the SHA-256 of both files.

The script is safe to run on every start: when the manifest already describes the requested
data it does nothing and says so, unless `--force` is given.

The tables the data is drawn from (name pools, languages, expertise, assignments, weights) are
the TOML files in `deploy/demo_data/`; `generate_experts` (`deploy/demo_data/experts.py`) and
`generate_requests` (`deploy/demo_data/requests.py`) draw the records from them, and this script
checks every record against the services' own create schemas before writing it.
`deploy/load_demo.py` posts the records to the roster and requests APIs. This is the single place
where demo data is generated: change the tables or those two functions (and bump
`GENERATOR_VERSION`) rather than writing records anywhere else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

# `python deploy/seed.py` puts deploy/ on the import path, but the generator is the package
# `deploy.demo_data`: the repository root has to be there too.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from deploy.demo_data.experts import generate_experts, slug
from deploy.demo_data.requests import generate_requests
from deploy.demo_data.tables import ASSIGNMENTS, INTERNATIONAL
from mnr_shared.reference import region_of, validate_country
from requests_service.models import RequestStatus
from requests_service.schemas import RequestCreate
from roster_service.profiles import VettingRules
from roster_service.schemas import ExpertCreate, UnavailabilityCreate

__all__ = ["ASSIGNMENTS", "GENERATOR_VERSION", "generate_experts", "generate_requests", "main", "slug"]

# Bump whenever the output for a given seed changes, so existing demo data is regenerated.
GENERATOR_VERSION = "2"  # 2: active experts' safeguarding checks are at most a year old
DEFAULT_SEED = 2026
DEFAULT_EXPERTS = 300
DEFAULT_REQUESTS = 20
DEFAULT_OUT = Path("var/demo")
# A fixed "today" keeps the output independent of the wall clock.
DEFAULT_TODAY = date(2026, 11, 28)

EXPERTS_FILE = "experts.json"
REQUESTS_FILE = "requests.json"
MANIFEST_FILE = "manifest.json"

Record = dict[str, Any]
# What `deploy/load_demo.py` leaves out of the body it posts (it posts unavailability separately).
EXPERT_EXTRAS = frozenset({"id", "unavailability"})
REQUEST_EXTRAS = frozenset({"reference", "office", "status"})


# --- validation against the services' schemas ------------------------------------------------


def validate_records(experts: Sequence[Record], requests: Sequence[Record], today: date) -> None:
    """Fail loudly if the tables produced a record the APIs would refuse, or silently rewrite.

    Records are checked with the services' own schemas, in the parts `deploy/load_demo.py` posts:
    an expert without `id` and `unavailability` against roster's `ExpertCreate` and each of its
    unavailability periods against `UnavailabilityCreate`; a request without `reference`,
    `office` and `status` against the requests service's `RequestCreate`, its office as a country
    code and its status as a `RequestStatus`. The schemas check dates against the wall clock;
    here the clock is `today`, so the same arguments always give the same verdict.
    """
    for expert in experts:
        try:
            _check_expert(expert, today)
        except ValueError as exc:
            exc.add_note(f"in the generated expert {expert.get('email')!r}")
            raise
    for request in requests:
        try:
            _check_request(request, today)
        except ValueError as exc:
            exc.add_note(f"in the generated request {request.get('reference')!r}")
            raise


def _day_or_none(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _check_expert(expert: Record, today: date) -> None:
    body = {key: value for key, value in expert.items() if key not in EXPERT_EXTRAS}
    vetting: dict[str, str | None] = body.pop("vetting")
    if late := [day for day in vetting.values() if day is not None and date.fromisoformat(day) > today]:
        raise ValueError(f"vetting dated after today ({today.isoformat()}): {late}")
    # Roster refuses checks dated after its own clock, so the schema sees the keys only.
    created = ExpertCreate.model_validate({**body, "vetting": dict.fromkeys(vetting)})
    if created.status == "active" and (
        problems := VettingRules().problems(
            references_checked_on=_day_or_none(vetting.get("references_checked_on")),
            safeguarding_check_on=_day_or_none(vetting.get("safeguarding_check_on")),
            on=today,
        )
    ):
        raise ValueError(f"an active expert the vetting gate refuses: {problems}")
    _as_sent(
        [*expert["nationalities"], expert["residence_country"], *expert["country_experience"]],
        [*created.nationalities, created.residence_country, *created.country_experience],
    )
    _as_sent([lang["tag"] for lang in expert["languages"]], [lang.tag for lang in created.languages])
    for period in expert["unavailability"]:
        UnavailabilityCreate.model_validate(period)


def _check_request(request: Record, today: date) -> None:
    body = {key: value for key, value in request.items() if key not in REQUEST_EXTRAS}
    if date.fromisoformat(body["start_date"]) < today:
        raise ValueError(f"start_date {body['start_date']} is before today ({today.isoformat()})")
    # The schema's own "not in the past" compares with the wall clock: checked against today above.
    created = RequestCreate.model_validate(body, context={"allow_past_start": True})
    _as_sent([request["country"], request["office"]], [created.country, validate_country(request["office"])])
    _as_sent([lang["tag"] for lang in request["languages"]], [lang.tag for lang in created.languages])
    RequestStatus(request["status"])


def _as_sent(generated: list[Any], validated: list[Any]) -> None:
    """The schema must take codes and tags as generated, not rewrite them (`EN` → `en`)."""
    if generated != validated:
        raise ValueError(f"not in their standard form: {generated} (standard: {validated})")


# --- output -------------------------------------------------------------------------------------


def dumps(records: object) -> bytes:
    return (json.dumps(records, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _write_atomically(path: Path, data: bytes) -> None:
    # A crash mid-write must not leave a half file that a later run mistakes for demo data.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _manifest(seed: int, today: date, n_experts: int, n_requests: int) -> dict[str, Any]:
    return {
        "generator": "mnr-seed",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "today": today.isoformat(),
        "counts": {"experts": n_experts, "requests": n_requests},
    }


def _existing(out: Path, wanted: dict[str, Any]) -> str:
    """'same' when out already holds exactly the wanted data, 'other' or 'none' otherwise."""
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "none"
    if not isinstance(manifest, dict):
        return "other"
    files = manifest.get("files", {})
    for name in (EXPERTS_FILE, REQUESTS_FILE):
        try:
            digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        except OSError:
            return "other"
        if not isinstance(files, dict) or files.get(name) != digest:
            return "other"
    same = all(manifest.get(key) == value for key, value in wanted.items())
    return "same" if same else "other"


def _summary_lines(experts: Sequence[Record], requests: Sequence[Record]) -> list[str]:
    def fmt(values: Iterable[str]) -> str:
        return ", ".join(f"{key} {count}" for key, count in sorted(Counter(values).items()))

    request_countries = sorted({r["country"] for r in requests})
    return [
        "experts by region of residence: "
        + fmt(region_of(e["residence_country"]) or INTERNATIONAL for e in experts),
        f"experts by status: {fmt(e['status'] for e in experts)}",
        f"requests by status: {fmt(r['status'] for r in requests)}",
        f"requests from {len(request_countries)} countries: {', '.join(request_countries)}",
    ]


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-28") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seed.py",
        description="Generate deterministic synthetic experts and assistance requests for demos.\n\n"
        "Writes experts.json, requests.json and manifest.json into --out. Does nothing when\n"
        "--out already holds the data for the same seed, counts and --today, so it is safe\n"
        "to run on every start; --force regenerates anyway.",
        epilog="examples:\n"
        "  python deploy/seed.py                    # 300 experts and 20 requests into var/demo\n"
        "  python deploy/seed.py --seed 7 --out var/demo-7\n"
        "  python deploy/seed.py --experts 50 --requests 5 --today 2027-03-01 --force\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"random seed; the same seed gives identical files (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--experts",
        type=_non_negative,
        default=DEFAULT_EXPERTS,
        help=f"number of experts (default {DEFAULT_EXPERTS})",
    )
    parser.add_argument(
        "--requests",
        type=_non_negative,
        default=DEFAULT_REQUESTS,
        help=f"number of assistance requests (default {DEFAULT_REQUESTS})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory, created if missing (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--today",
        type=_iso_date,
        default=DEFAULT_TODAY,
        help="date all generated dates are relative to (default "
        f"{DEFAULT_TODAY.isoformat()}); not the real date, so output "
        "stays reproducible",
    )
    parser.add_argument("--force", action="store_true", help="regenerate even if the output already exists")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out: Path = args.out
    seed: int = args.seed
    today: date = args.today
    wanted = _manifest(seed, today, args.experts, args.requests)
    state = _existing(out, wanted)
    if state == "same" and not args.force:
        print(
            f"seed: {out} already holds demo data for seed {seed} ({args.experts} experts, "
            f"{args.requests} requests); nothing to do (use --force to regenerate)"
        )
        return 0
    if state == "other":
        print(f"seed: replacing the demo data in {out} (other seed, counts or version, or edited)")

    print(
        f"seed: generating {args.experts} experts and {args.requests} requests "
        f"(seed {seed}, today {today.isoformat()})"
    )
    rng = random.Random(seed)
    experts = generate_experts(rng, args.experts, today)
    requests = generate_requests(rng, args.requests, today)
    validate_records(experts, requests, today)

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for name, records in ((EXPERTS_FILE, experts), (REQUESTS_FILE, requests)):
        data = dumps(records)
        _write_atomically(out / name, data)
        files[name] = hashlib.sha256(data).hexdigest()
        print(f"seed: wrote {out / name} ({len(records)} records)")
    # The manifest goes last: its presence means both data files are complete.
    _write_atomically(out / MANIFEST_FILE, dumps({**wanted, "files": files}))
    for line in _summary_lines(experts, requests):
        print(f"seed: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
