"""Walk the whole MNR Expert Roster path against a running system (`make run`), printing each step.

A country office files and submits a request; the Programme Division reviews it, reads the
explained shortlist and approves the top candidate; the expert sees the offer and accepts; the
request is fulfilled. Then a second request for the same dates shows the 409 with alternatives,
and last what the notifier sent: the emails in the dev inbox, and the webhooks a local receiver
got, each verified with its subscription's secret. Exits non-zero if any step does not answer
as it should.

    make demo        # or: python deploy/demo.py --issuer http://127.0.0.1:8000 ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook


class StepFailed(Exception):
    pass


class Receiver(BaseHTTPRequestHandler):
    """A local webhook receiver: keeps each POST's headers and body, answers 204."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Demo:
    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.http = httpx.Client(timeout=30)
        self.step = 0
        self.receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()

    def say(self, title: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {title}", flush=True)

    def token(self, *roles: str, **claims: Any) -> dict[str, str]:
        response = self.http.post(f"{self.urls['identity']}/dev/token", json={"roles": list(roles), **claims})
        self.expect(response, 200)
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    @staticmethod
    def expect(response: httpx.Response, *statuses: int) -> Any:
        if response.status_code not in statuses:
            raise StepFailed(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    def file_request(
        self, office: dict[str, str], pd: dict[str, str], title: str, start: date
    ) -> dict[str, Any]:
        body = {
            "country": "KEN",
            "title": title,
            "description": "Review Kenya's draft online child protection bill against the MNR "
            "legislation capability and advise the drafting committee.",
            "capabilities": [
                {"capability": 3, "min_level": 2, "importance": "required"},
                {"capability": 5, "min_level": 2, "importance": "desired"},
            ],
            "languages": [{"tag": "en", "min_level": "B2", "importance": "required"}],
            "modality": "either",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=27)).isoformat(),
            "effort_days": 10,
            "priority": "high",
            "nationality_preference": "any",
        }
        request = self.expect(
            self.http.post(f"{self.urls['requests']}/v1/requests", json=body, headers=office), 201
        )
        for action, who in (("submit", office), ("start_review", pd)):
            request = self.expect(
                self.http.post(
                    f"{self.urls['requests']}/v1/requests/{request['id']}/transitions",
                    json={"action": action},
                    headers=who,
                ),
                200,
            )
        return dict(request)

    def shortlist(self, request_id: str, pd: dict[str, str]) -> dict[str, Any]:
        for _ in range(40):
            response = self.http.get(
                f"{self.urls['matching']}/v1/requests/{request_id}/candidates",
                params={"limit": 5},
                headers=pd,
            )
            if response.status_code == 200 and response.json()["items"]:
                return dict(response.json())
            time.sleep(0.5)
        raise StepFailed(f"no candidates for the request: {response.text[:300]}")

    def run(self) -> None:
        office = self.token(
            "country_office", sub="demo-co-kenya", offices=["KEN"], name="UNICEF Kenya Country Office"
        )
        pd = self.token("programme_division", sub="demo-pd", name="Programme Division")
        admin = self.token("admin", sub="demo-admin")
        start = date.today() + timedelta(days=120)

        self.say("An integrator subscribes a local receiver to offers and answers")
        hook = f"http://127.0.0.1:{self.receiver.server_address[1]}/hook"
        subscription = self.expect(
            self.http.post(
                f"{self.urls['notifier']}/v1/subscriptions",
                json={"url": hook, "event_types": ["match.offered", "match.accepted"], "description": "demo"},
                headers=admin,
            ),
            201,
        )
        print(f"   subscription {subscription['id']} → {hook}")

        self.say("Kenya country office files a request and submits it; PD starts the review")
        request = self.file_request(office, pd, "Review draft OCSEA legislation", start)
        print(f"   {request['reference']} '{request['title']}' is {request['status']}")

        self.say("PD reads the explained shortlist")
        ranking = self.shortlist(request["id"], pd)
        print(
            f"   {ranking['eligible']} of {ranking['total']} experts eligible; excluded: "
            + ", ".join(f"{k} {v}" for k, v in ranking["excluded"].items() if v)
        )
        print_table(ranking["items"])

        top = ranking["items"][0]
        self.say(f"PD approves the top candidate, {top['full_name']}")
        match = self.expect(
            self.http.post(
                f"{self.urls['matching']}/v1/matches",
                json={
                    "request_id": request["id"],
                    "expert_id": top["expert_id"],
                    "note": "Top of the shortlist.",
                },
                headers=pd,
            ),
            201,
        )
        status = self.expect(
            self.http.get(f"{self.urls['requests']}/v1/requests/{request['id']}", headers=pd), 200
        )["status"]
        print(
            f"   match {match['id']} is {match['status']}; the request is {status}; "
            f"the dates {match['start_date']} → {match['end_date']} are held in roster"
        )

        self.say("The expert sees the offer and accepts it")
        expert = self.token(
            "expert", sub=f"demo-expert-{top['expert_id']}", expert_id=top["expert_id"], name=top["full_name"]
        )
        offers = self.expect(
            self.http.get(
                f"{self.urls['matching']}/v1/matches", params={"status": "offered"}, headers=expert
            ),
            200,
        )
        print(f"   {len(offers['items'])} open offer(s) for {top['full_name']}")
        accepted = self.expect(
            self.http.post(f"{self.urls['matching']}/v1/matches/{match['id']}/accept", headers=expert), 200
        )
        print(f"   match is {accepted['status']}")

        self.say("The request shows fulfilled")
        final = self.expect(
            self.http.get(f"{self.urls['requests']}/v1/requests/{request['id']}", headers=office), 200
        )
        if final["status"] != "fulfilled":
            raise StepFailed(f"the request is {final['status']}, not fulfilled")
        print(f"   {final['reference']} is {final['status']}")

        self.say("A second request for overlapping dates cannot book the same expert")
        second = self.file_request(office, pd, "Train prosecutors on the new law", start + timedelta(days=7))
        clash = self.http.post(
            f"{self.urls['matching']}/v1/matches",
            json={"request_id": second["id"], "expert_id": top["expert_id"]},
            headers=pd,
        )
        problem = self.expect(clash, 409)
        print(f"   409 {problem['title']}: {problem['detail']}")
        if problem.get("conflicting"):
            c = problem["conflicting"]
            print(f"   conflicting {c['kind']} {c['start']} → {c['end']}")
        print("   next best candidates:")
        print_table(problem.get("alternatives", []))
        self.say("What the notifier sent")
        self.show_notifications(request["reference"], subscription)
        self.http.delete(f"{self.urls['notifier']}/v1/subscriptions/{subscription['id']}", headers=admin)
        print("\nDemo complete: every step answered as it should.")

    def show_notifications(self, reference: str, subscription: dict[str, Any], timeout: float = 30) -> None:
        """The emails about `reference` in the dev inbox and the two webhooks, verified."""
        deadline = time.monotonic() + timeout
        mails: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            inbox = self.expect(self.http.get(f"{self.urls['mailbox']}/api/v1/messages"), 200)
            mails = [m for m in inbox if m["subject"].startswith(f"[{reference}]")]
            if len(mails) >= 3 and len(Receiver.received) >= 2:  # submitted, offer, accepted
                break
            time.sleep(0.5)
        else:
            raise StepFailed(f"after {timeout:.0f} s: {len(mails)} emails, {len(Receiver.received)} webhooks")
        print(f"   emails (the dev inbox, {self.urls['mailbox']}):")
        for mail in reversed(mails):
            print(f"     to {', '.join(mail['to'])}: {mail['subject']}")
        print("   webhooks received and verified:")
        for headers, body in Receiver.received:
            event = Webhook(subscription["secret"]).verify(body, headers)
            print(f"     {event['type']} about {event['data']['id']} (webhook-id {headers['webhook-id']})")
        print("   " + json.dumps(json.loads(Receiver.received[0][1]))[:200])


def print_table(items: list[dict[str, Any]]) -> None:
    print(
        f"   {'#':>2}  {'expert':<28} {'score':>5}  {'expertise':>9} {'language':>8} "
        f"{'region':>6} {'avail.':>6}  {'free days':>9}  region reason"
    )
    for n, item in enumerate(items, start=1):
        c = item["components"]
        print(
            f"   {n:>2}  {(item['full_name'] or '?')[:28]:<28} {item['score']:>5.3f}  "
            f"{c['expertise']['value']:>9.2f} {c['language']['value']:>8.2f} "
            f"{c['region']['value']:>6.2f} {c['availability']['value']:>6.2f}  "
            f"{item['free_days']:>9}  {item['region_reason']}"
        )


def main(argv: list[str] | None = None) -> int:
    def default(prefix: str, port: int) -> str:
        return f"http://127.0.0.1:{os.environ.get(f'{prefix}_PORT', port)}"

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--issuer", default=default("AUTH", 8000))
    parser.add_argument("--roster", default=default("ROSTER", 8001))
    parser.add_argument("--requests", default=default("REQUESTS", 8002))
    parser.add_argument("--matching", default=default("MATCHING", 8003))
    parser.add_argument("--notifier", default=default("NOTIFIER", 8005))
    parser.add_argument("--mailbox", default=default("MAILBOX_HTTP", 8025), help="the dev mail inbox")
    args = parser.parse_args(argv)
    demo = Demo(
        {
            "identity": args.issuer,
            "roster": args.roster,
            "requests": args.requests,
            "matching": args.matching,
            "notifier": args.notifier,
            "mailbox": args.mailbox,
        }
    )
    try:
        demo.run()
    except (StepFailed, httpx.HTTPError) as exc:
        print(f"\nDemo failed at step {demo.step}: {exc}", file=sys.stderr)
        print("Is `make run` running (and its demo data loaded)?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
