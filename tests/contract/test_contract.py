"""Every operation of every service answers as its published OpenAPI document says (schemathesis).

One run per service and caller (PD, admin): schemathesis's engine — what `st run` runs — drives the
service's in-process app through every phase (examples, coverage, fuzzing, stateful) with every
check on, few deterministic examples, and the seeded ids mixed into path parameters. The test
fails on any check failure or engine error and prints each distinct one with a curl to replay it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from schemathesis.engine import Status, StopReason, events, from_schema
from schemathesis.schemas import BaseSchema


class Contract(Protocol):
    """What the `contract` fixture hands over: a service's schema bound to its running app."""

    service: str
    role: str
    schema: BaseSchema
    known_issues: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """One distinct failure: where, which check, what it says, and a request that shows it."""

    phase: str
    operation: str
    check: str
    title: str
    message: str
    status: int | None
    curl: str

    def render(self) -> str:
        answered = f" (answered {self.status})" if self.status is not None else ""
        return (
            f"[{self.phase}] {self.operation} · {self.check}: {self.title}{answered}\n"
            f"    {self.message.strip()[:900]}\n    {self.curl.strip()[:900]}"
        )


@dataclass
class Outcome:
    findings: dict[tuple[str, str, str, str], Finding]
    errors: list[str]
    stop_reason: StopReason | None
    scenarios: int


def run(contract: Contract) -> Outcome:
    """Run every phase of schemathesis against the contract's app and collect what went wrong."""
    outcome = Outcome(findings={}, errors=[], stop_reason=None, scenarios=0)
    for event in from_schema(contract.schema).execute():
        if isinstance(event, events.ScenarioFinished):
            outcome.scenarios += 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    interaction = event.recorder.interactions.get(case_id)
                    response = interaction.response if interaction is not None else None
                    finding = Finding(
                        phase=str(event.phase.value),
                        operation=failure.operation or event.label or "?",
                        check=check.name,
                        title=failure.title,
                        message=failure.message,
                        status=response.status_code if response is not None else None,
                        curl=check.failure_info.code_sample,
                    )
                    key = (finding.operation, finding.check, finding.title, finding.message[:200])
                    outcome.findings.setdefault(key, finding)
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.title}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            outcome.stop_reason = event.stop_reason
    return outcome


def test_service_conforms_to_its_openapi_document(contract: Contract) -> None:
    started = time.monotonic()
    outcome = run(contract)
    elapsed = time.monotonic() - started
    print(
        f"\n{contract.service} as {contract.role}: {outcome.scenarios} scenarios in {elapsed:.1f} s, "
        f"{len(outcome.findings)} distinct failures, {len(outcome.errors)} errors"
    )
    report = "\n".join(finding.render() for finding in outcome.findings.values())
    assert not outcome.errors, "\n".join(outcome.errors)
    assert not outcome.findings, f"{len(outcome.findings)} contract failures:\n{report}"
    assert outcome.stop_reason == StopReason.COMPLETED, outcome.stop_reason
