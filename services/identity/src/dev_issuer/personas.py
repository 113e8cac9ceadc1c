"""Who the dev-mode sign-in page offers: built-in people, a personas file, and a custom person.

The personas file (`AUTH_PERSONAS_FILE`) is a JSON list of
`{"label", "role", "offices", "expert_id", "name", "sub"}`; the demo loader writes one with
demo experts by name. It is read on every sign-in page, so it may appear after the issuer
starts; a missing file gives the built-in people only, a malformed one too (with one warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, model_validator

from mnr_shared.auth import Role
from mnr_shared.reference import ISO3

log = logging.getLogger("dev_issuer.personas")

MAX_FILE_PERSONAS = 20
MAX_OFFICES = 50
MAX_NAME = 200
ROLE_TITLES: dict[Role, str] = {
    Role.COUNTRY_OFFICE: "Country office",
    Role.PROGRAMME_DIVISION: "Programme Division",
    Role.EXPERT: "Expert",
    Role.ADMIN: "Administrator",
}
_iso3 = TypeAdapter(ISO3)


class Persona(BaseModel):
    """One person the sign-in page can sign in as; `claims()` is what their tokens carry."""

    label: str = Field(min_length=1, max_length=MAX_NAME)
    role: Role
    offices: list[ISO3] = Field(default_factory=list, max_length=MAX_OFFICES)
    expert_id: uuid.UUID | None = None
    name: str | None = Field(default=None, max_length=MAX_NAME)
    sub: str = Field(min_length=1, max_length=MAX_NAME)

    @model_validator(mode="after")
    def _role_needs(self) -> Persona:
        if self.role is Role.COUNTRY_OFFICE and not self.offices:
            raise ValueError("a country_office persona needs at least one ISO3 office")
        if self.role is Role.EXPERT and self.expert_id is None:
            raise ValueError("an expert persona needs an expert_id")
        return self

    def claims(self) -> dict[str, Any]:
        """sub, roles, offices, name and (when set) expert_id: the claims `/dev/token` gives."""
        claims: dict[str, Any] = {
            "sub": self.sub,
            "roles": [self.role.value],
            "offices": list(self.offices),
            "name": self.name or self.label,
        }
        if self.expert_id is not None:
            claims["expert_id"] = str(self.expert_id)
        return claims

    @property
    def summary(self) -> str:
        """The role and offices in a few words, e.g. `Country office · KEN`."""
        return " · ".join([ROLE_TITLES[self.role], *([", ".join(self.offices)] if self.offices else [])])


BUILT_IN: tuple[Persona, ...] = (
    Persona(label="Kenya Country Office", role=Role.COUNTRY_OFFICE, offices=["KEN"], sub="persona-co-ken"),
    Persona(label="Uganda Country Office", role=Role.COUNTRY_OFFICE, offices=["UGA"], sub="persona-co-uga"),
    Persona(label="Programme Division officer", role=Role.PROGRAMME_DIVISION, sub="persona-pd"),
    Persona(label="Administrator", role=Role.ADMIN, sub="persona-admin"),
)
_file_personas = TypeAdapter(list[dict[str, Any]])
UNREADABLE = (-1, -1)  # the file version warned about when the file cannot be read at all


class PersonaSource:
    """The built-in people followed by those of the personas file, read afresh on each call."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._warned: tuple[int, int] | None = None  # the (mtime, size) of the file last warned about

    def load(self) -> list[Persona]:
        return [*BUILT_IN, *self._from_file()]

    def _from_file(self) -> list[Persona]:
        if self.path is None:
            return []
        try:
            stat = self.path.stat()
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._warn_once(UNREADABLE, f"cannot read it: {exc}")
            return []
        version = (stat.st_mtime_ns, stat.st_size)
        try:
            entries = _file_personas.validate_python(json.loads(raw))
        except (ValueError, ValidationError):
            self._warn_once(version, "it is not a JSON list of objects")
            return []
        personas: list[Persona] = []
        refused = 0
        for entry in entries[:MAX_FILE_PERSONAS]:
            try:
                personas.append(Persona.model_validate(entry))
            except ValidationError:
                refused += 1
        if refused:
            self._warn_once(version, f"{refused} of its entries are not valid personas")
        return personas

    def _warn_once(self, version: tuple[int, int], problem: str) -> None:
        if version == self._warned:
            return
        self._warned = version
        log.warning("personas file ignored in part or whole: %s", problem, extra={"path": str(self.path)})


@dataclass
class CustomPerson:
    """The custom-person form as typed (kept to show again), and what is wrong with it."""

    role: str = ""
    offices: str = ""
    expert_id: str = ""
    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def persona(self) -> Persona | None:
        """The persona the form describes, or None with `errors` filled in per field."""
        self.errors = {}
        role = next((r for r in Role if r.value == self.role.strip()), None)
        if role is None:
            self.errors["role"] = "Choose one of the four roles."
        offices = self._offices()
        if role is Role.COUNTRY_OFFICE and not offices and "offices" not in self.errors:
            self.errors["offices"] = "A country office needs at least one office, for example KEN."
        expert_id = self._expert_id(required=role is Role.EXPERT)
        name = self.name.strip()
        if len(name) > MAX_NAME:
            self.errors["name"] = f"Use at most {MAX_NAME} characters."
        if self.errors or role is None:
            return None
        label = name or " ".join([ROLE_TITLES[role], *([f"({', '.join(offices)})"] if offices else [])])
        ident = str(expert_id) if expert_id else ""
        digest = hashlib.sha256(f"{role.value}|{','.join(offices)}|{ident}|{name}".encode()).hexdigest()
        return Persona(
            label=label,
            role=role,
            offices=offices,
            expert_id=expert_id,
            name=label,
            sub=f"custom-{digest[:16]}",
        )

    def _offices(self) -> list[str]:
        codes: list[str] = []
        wrong: list[str] = []
        for typed in re.split(r"[\s,;]+", self.offices.strip()):
            if not typed:
                continue
            try:
                code = _iso3.validate_python(typed)
            except ValidationError:
                wrong.append(typed)
                continue
            if code not in codes:
                codes.append(code)
        if wrong:
            listed = ", ".join(wrong[:5])
            self.errors["offices"] = f"Not ISO 3166-1 alpha-3 country codes: {listed}."
        elif len(codes) > MAX_OFFICES:
            self.errors["offices"] = f"Give at most {MAX_OFFICES} offices."
        return codes

    def _expert_id(self, *, required: bool) -> uuid.UUID | None:
        typed = self.expert_id.strip()
        if not typed:
            if required:
                self.errors["expert_id"] = "An expert needs their expert ID (a UUID from the roster)."
            return None
        try:
            return uuid.UUID(typed)
        except ValueError:
            self.errors["expert_id"] = (
                "An expert ID is a UUID, for example 6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11."
            )
            return None
