"""The request form: browser fields ⇄ the requests API body, rows of needs added and removed in
place, and the API's field errors put back beside the fields they name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

FIELDS = (
    "title",
    "description",
    "country",
    "start_date",
    "end_date",
    "effort_days",
    "priority",
    "modality",
    "nationality_preference",
)
CAPABILITY_KEYS = ("capability", "min_level", "importance")
LANGUAGE_KEYS = ("tag", "min_level", "importance")
MAX_ROWS = {"capabilities": 21, "languages": 10}
DEFAULTS = {"priority": "normal", "modality": "either", "nationality_preference": "any"}


def _int_or_text(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value


@dataclass
class RequestForm:
    """What the person typed, kept exactly, so a failed save loses nothing."""

    values: dict[str, str] = field(default_factory=lambda: dict(DEFAULTS))
    capabilities: list[dict[str, str]] = field(default_factory=list)
    languages: list[dict[str, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, country: str | None = None) -> RequestForm:
        form = cls()
        if country:
            form.values["country"] = country
        form.capabilities = [{"capability": "", "min_level": "2", "importance": "required"}]
        return form

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> RequestForm:
        form = cls(values={name: str(request.get(name) or "") for name in FIELDS})
        form.capabilities = [{k: str(need[k]) for k in CAPABILITY_KEYS} for need in request["capabilities"]]
        form.languages = [{k: str(need[k]) for k in LANGUAGE_KEYS} for need in request["languages"]]
        return form

    @classmethod
    def from_form(cls, data: FormData) -> RequestForm:
        form = cls(values={name: str(data.get(name, "")).strip() for name in FIELDS})
        form.capabilities = _rows(data, "capabilities", CAPABILITY_KEYS)
        form.languages = _rows(data, "languages", LANGUAGE_KEYS)
        return form

    def apply_row_action(self, action: str) -> bool:
        """`add:capabilities`, `remove:languages:2`…: change the rows; False if not a row action."""
        parts = action.split(":")
        if len(parts) < 2 or parts[1] not in MAX_ROWS or parts[0] not in ("add", "remove"):
            return False
        rows = self.capabilities if parts[1] == "capabilities" else self.languages
        if parts[0] == "add" and len(rows) < MAX_ROWS[parts[1]]:
            if parts[1] == "capabilities":
                rows.append({"capability": "", "min_level": "2", "importance": "required"})
            else:
                rows.append({"tag": "", "min_level": "B2", "importance": "required"})
        elif parts[0] == "remove" and len(parts) == 3 and parts[2].isdigit() and int(parts[2]) < len(rows):
            del rows[int(parts[2])]
        return True

    def body(self) -> dict[str, Any]:
        """The API body; blank fields are left out so the API names them as missing."""
        body: dict[str, Any] = {name: value for name, value in self.values.items() if value != ""}
        if "effort_days" in body:
            body["effort_days"] = _int_or_text(body["effort_days"])
        body["capabilities"] = [
            {
                "capability": _int_or_text(row["capability"]),
                "min_level": _int_or_text(row["min_level"]),
                "importance": row["importance"],
            }
            for row in self.capabilities
        ]
        body["languages"] = [dict(row) for row in self.languages]
        return body

    def search_body(self) -> dict[str, Any]:
        """What the "can this be filled?" search needs: the same body, minus rows not yet chosen."""
        body = self.body()
        body["capabilities"] = [row for row in body["capabilities"] if isinstance(row["capability"], int)]
        body["languages"] = [row for row in body["languages"] if row["tag"]]
        return body

    def error(self, name: str) -> str | None:
        return self.errors.get(name)


def _rows(data: FormData, prefix: str, keys: tuple[str, ...]) -> list[dict[str, str]]:
    indices = sorted(
        {
            int(name.split("-")[1])
            for name in data
            if name.startswith(f"{prefix}-") and name.split("-")[1].isdigit()
        }
    )
    rows = [{key: str(data.get(f"{prefix}-{i}-{key}", "")).strip() for key in keys} for i in indices]
    return rows[: MAX_ROWS[prefix]]
