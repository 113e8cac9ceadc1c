"""Load the generated demo data into running services through their real HTTP APIs.

`make run` calls this once the services answer: experts go into roster (as the Programme
Division), requests are filed by their country offices and moved to their demo status through
the status machine — `matched`, `fulfilled` and `closed` ones through the real approval saga in
matching. It loads once: if roster already holds experts, it loads nothing.

Either way it then writes the personas file the dev issuer's sign-in page reads
(`AUTH_PERSONAS_FILE`, default `<demo>/personas.json`): a few demo experts by name, those with
an open offer first, so one can sign in as them.

    python deploy/load_demo.py --demo var/demo --issuer http://127.0.0.1:8000 \\
        --roster http://127.0.0.1:8001 --requests http://127.0.0.1:8002 --matching http://127.0.0.1:8003
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

# How each demo status is reached: (action, who) steps after filing; "saga" approves the top
# candidate in matching, "accept" has that expert accept the offer.
PATHS: dict[str, list[tuple[str, str]]] = {
    "draft": [],
    "submitted": [("submit", "office")],
    "in_review": [("submit", "office"), ("start_review", "pd")],
    "rejected": [("submit", "office"), ("start_review", "pd"), ("reject", "pd")],
    "withdrawn": [("submit", "office"), ("withdraw", "office")],
    "cancelled": [("submit", "office"), ("cancel", "pd")],
    "matched": [("submit", "office"), ("start_review", "pd"), ("saga", "pd")],
    "fulfilled": [("submit", "office"), ("start_review", "pd"), ("saga", "pd"), ("accept", "expert")],
    "closed": [
        ("submit", "office"),
        ("start_review", "pd"),
        ("saga", "pd"),
        ("accept", "expert"),
        ("close", "pd"),
    ],
}
MAX_PERSONAS = 4
NOTES = {
    "reject": "Outside the programme's scope this year.",
    "cancel": "Funding withdrawn.",
    "withdraw": "The ministry found national expertise.",
    "close": "Mission completed.",
}


def say(message: str) -> None:
    print(f"[demo-data] {message}", flush=True)


class Loader:
    def __init__(self, *, issuer: str, roster: str, requests: str, matching: str) -> None:
        self.http = httpx.Client(timeout=30)
        self.issuer, self.roster, self.requests, self.matching = issuer, roster, requests, matching
        self._tokens: dict[str, str] = {}

    def token(self, *roles: str, **claims: Any) -> dict[str, str]:
        key = json.dumps([roles, claims], sort_keys=True)
        if key not in self._tokens:
            response = self.http.post(f"{self.issuer}/dev/token", json={"roles": list(roles), **claims})
            response.raise_for_status()
            self._tokens[key] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    @property
    def pd(self) -> dict[str, str]:
        return self.token("programme_division", sub="demo-pd", name="Programme Division (demo)")

    def already_loaded(self) -> bool:
        response = self.http.get(f"{self.roster}/v1/experts", params={"limit": 1}, headers=self.pd)
        response.raise_for_status()
        return bool(response.json()["items"])

    def experts(self, records: list[dict[str, Any]]) -> None:
        self.expected = 0
        for n, record in enumerate(records, start=1):
            body = {k: v for k, v in record.items() if k not in {"id", "unavailability"}}
            created = self.http.post(
                f"{self.roster}/v1/experts",
                json=body,
                headers={**self.pd, "Idempotency-Key": f"demo-expert-{record['email']}"},
            )
            if created.status_code != 201:
                say(f"expert {record['email']} refused: {created.status_code} {created.text[:200]}")
                continue
            expert_id = created.json()["id"]
            self.expected += 1
            for period in record.get("unavailability", []):
                self.http.post(
                    f"{self.roster}/v1/experts/{expert_id}/unavailability", json=period, headers=self.pd
                )
            if n % 50 == 0 or n == len(records):
                say(f"experts: {n}/{len(records)}")

    def requests_(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            office = self.token(
                "country_office",
                sub=f"demo-co-{record['office'].lower()}",
                offices=[record["office"]],
                name=f"{record['office']} office",
            )
            body = {k: v for k, v in record.items() if k not in {"reference", "office", "status"}}
            created = self.http.post(f"{self.requests}/v1/requests", json=body, headers=office)
            if created.status_code != 201:
                say(f"request {record['title']!r} refused: {created.status_code} {created.text[:200]}")
                continue
            request = created.json()
            reached = self._walk(request, record["status"], office)
            say(f"request {request['reference']} {record['country']} → {reached}")

    def _walk(self, request: dict[str, Any], target: str, office: dict[str, str]) -> str:
        status = "draft"
        match: dict[str, Any] | None = None
        for action, who in PATHS.get(target, []):
            if action == "saga":
                match = self._approve_top(request)
                if match is None:
                    return status
                status = "matched"
            elif action == "accept":
                assert match is not None
                me = self.token(
                    "expert", sub=f"demo-expert-{match['expert_id']}", expert_id=match["expert_id"]
                )
                answered = self.http.post(f"{self.matching}/v1/matches/{match['id']}/accept", headers=me)
                if answered.status_code != 200:
                    return status
                status = "fulfilled"
            else:
                headers = office if who == "office" else self.pd
                payload = {"action": action, "note": NOTES.get(action)}
                moved = self.http.post(
                    f"{self.requests}/v1/requests/{request['id']}/transitions",
                    json={k: v for k, v in payload.items() if v},
                    headers=headers,
                )
                if moved.status_code != 200:
                    say(f"  {action} refused: {moved.status_code} {moved.text[:200]}")
                    return status
                status = moved.json()["status"]
        return status

    def _approve_top(self, request: dict[str, Any]) -> dict[str, Any] | None:
        url = f"{self.matching}/v1/requests/{request['id']}/candidates"
        for _ in range(60):  # the index follows the roster feed: wait until it has caught up
            shortlist = self.http.get(url, params={"limit": 5}, headers=self.pd)
            if shortlist.status_code == 200 and shortlist.json()["total"] >= self.expected:
                break
            time.sleep(0.5)
        for candidate in shortlist.json().get("items", []):
            approved = self.http.post(
                f"{self.matching}/v1/matches",
                headers=self.pd,
                json={
                    "request_id": request["id"],
                    "expert_id": candidate["expert_id"],
                    "note": "Demo data: top of the shortlist.",
                },
            )
            if approved.status_code in (201, 202):
                match: dict[str, Any] = approved.json()
                return match
        return None

    expected = 0

    def personas(self) -> list[dict[str, Any]]:
        """Up to MAX_PERSONAS demo experts to sign in as: those holding an open offer (newest
        first), then other active experts."""
        active = self.http.get(
            f"{self.roster}/v1/experts", params={"status": "active", "limit": 200}, headers=self.pd
        )
        active.raise_for_status()
        names = {expert["id"]: expert["full_name"] for expert in active.json()["items"]}
        offered = self.http.get(
            f"{self.matching}/v1/matches", params={"status": "offered", "limit": 50}, headers=self.pd
        )
        if offered.status_code != 200:
            say(f"open offers unavailable ({offered.status_code}); listing active experts only")
        matches = offered.json()["items"] if offered.status_code == 200 else []
        chosen: dict[str, str] = {}
        for match in matches:
            name = names.get(match["expert_id"]) or match.get("expert_name")
            if name and len(chosen) < MAX_PERSONAS:
                chosen.setdefault(match["expert_id"], name)
        for expert_id, name in names.items():
            if len(chosen) < MAX_PERSONAS:
                chosen.setdefault(expert_id, name)
        return [
            {
                "label": name,
                "role": "expert",
                "offices": [],
                "expert_id": expert_id,
                "name": name,
                "sub": f"demo-expert-{expert_id}",
            }
            for expert_id, name in chosen.items()
        ]


def write_personas(path: Path, personas: list[dict[str, Any]]) -> None:
    """Replace the personas file in one step, so the issuer never reads half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(personas, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--demo",
        type=Path,
        default=Path("var/demo"),
        help="folder with experts.json and requests.json (default var/demo)",
    )
    parser.add_argument("--issuer", default="http://127.0.0.1:8000")
    parser.add_argument("--roster", default="http://127.0.0.1:8001")
    parser.add_argument("--requests", default="http://127.0.0.1:8002")
    parser.add_argument("--matching", default="http://127.0.0.1:8003")
    parser.add_argument(
        "--personas",
        type=Path,
        default=None,
        help="where to write the demo experts the sign-in page offers (default <demo>/personas.json)",
    )
    args = parser.parse_args(argv)
    personas_file: Path = args.personas or args.demo / "personas.json"
    experts = json.loads((args.demo / "experts.json").read_text(encoding="utf-8"))
    requests = json.loads((args.demo / "requests.json").read_text(encoding="utf-8"))
    loader = Loader(issuer=args.issuer, roster=args.roster, requests=args.requests, matching=args.matching)
    if loader.already_loaded():
        say("roster already holds experts; demo data is loaded once, nothing more to load")
    else:
        started = time.monotonic()
        say(f"loading {len(experts)} experts and {len(requests)} requests through the APIs")
        loader.experts(experts)
        loader.requests_(requests)
        say(f"done in {time.monotonic() - started:.1f}s")
    try:
        personas = loader.personas()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        say(f"personas file not written: {exc}")
        return 0
    write_personas(personas_file, personas)
    say(f"sign-in page personas: {', '.join(p['label'] for p in personas) or 'none'} → {personas_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
