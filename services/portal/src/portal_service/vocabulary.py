"""Words the portal shows for values the services send (statuses, priorities, reasons, the 21
MNR capabilities…), marked for translation. The catalogs translate them like any other string;
`label(kind, value)` looks one up."""

from __future__ import annotations

from collections.abc import Callable


def N_(message: str) -> str:
    """Marks a string for extraction; translated when shown, not here."""
    return message


STATUS = {
    "draft": N_("Draft"),
    "submitted": N_("Submitted"),
    "in_review": N_("In review"),
    "matched": N_("Matched"),
    "fulfilled": N_("Fulfilled"),
    "closed": N_("Closed"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "cancelled": N_("Cancelled"),
}
MATCH_STATUS = {
    "pending": N_("Being set up"),
    "offered": N_("Offered to the expert"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
    "failed": N_("Failed"),
}
PRIORITY = {"low": N_("Low"), "normal": N_("Normal"), "high": N_("High"), "urgent": N_("Urgent")}
MODALITY = {"remote": N_("Remote"), "in_country": N_("In country"), "either": N_("Remote or in country")}
NATIONALITY = {
    "any": N_("Any nationality"),
    "national": N_("A national of the country"),
    "international": N_("An international expert"),
}
IMPORTANCE = {"required": N_("Required"), "desired": N_("Desired")}
LEVEL = {
    "1": N_("Working knowledge"),
    "2": N_("Practitioner"),
    "3": N_("Advanced"),
    "4": N_("Leading expert"),
}
ROLE = {
    "country_office": N_("Country office"),
    "programme_division": N_("Programme Division"),
    "expert": N_("Expert"),
    "admin": N_("Administrator"),
    "service": N_("System"),
}
ACTION = {
    "submit": N_("Submitted"),
    "withdraw": N_("Withdrawn"),
    "start_review": N_("Review started"),
    "reject": N_("Rejected"),
    "match": N_("Matched with an expert"),
    "fulfil": N_("Expert confirmed"),
    "close": N_("Closed"),
    "cancel": N_("Cancelled"),
    "reopen": N_("Back in review"),
}
HISTORY = {"created": N_("Created as a draft"), "edited": N_("Edited")}
REASON = {
    "not_active": N_("Not active on the roster"),
    "vetting_expired": N_("Safeguarding vetting expired"),
    "missing_required_capability": N_("Lacks a required capability at the level asked"),
    "missing_required_language": N_("Lacks a required language at the level asked"),
    "insufficient_availability": N_("Not free for enough days in the window"),
    "modality_incompatible": N_("Cannot work in the modality asked"),
    "nationality_preference": N_("Does not fit the nationality preference"),
}
COMPONENT = {
    "expertise": N_("Expertise"),
    "language": N_("Language"),
    "region": N_("Region"),
    "availability": N_("Availability"),
}
REGION_REASON = {
    "country_experience": N_("Has worked in this country"),
    "region_experience": N_("Has worked in this region"),
    "residence_or_nationality": N_("Lives in or comes from the region"),
    "none": N_("No experience of the region"),
}
CAPABILITY = {
    1: N_("Leadership"),
    2: N_("Research, Analysis and Monitoring"),
    3: N_("Legislation"),
    4: N_("Dedicated Law Enforcement"),
    5: N_("Judiciary and Prosecutors"),
    6: N_("Offender Management Process"),
    7: N_("Access to Image Databases"),
    8: N_("End-to-End Support"),
    9: N_("Child Protection Workforce"),
    10: N_("Compensation, Remedies and Complaints Arrangements"),
    11: N_("Child Helpline"),
    12: N_("CSEA Hotline"),
    13: N_("Education Programme"),
    14: N_("Child Participation"),
    15: N_("Offender Support Systems"),
    16: N_("Takedown Procedures"),
    17: N_("CSEA Reporting"),
    18: N_("Innovative Solution Development"),
    19: N_("Corporate Social Responsibility"),
    20: N_("Ethical and Informed Media Reporting"),
    21: N_("Universal Terminology"),
}
DOMAIN = {
    "policy_governance": N_("Policy and Governance"),
    "criminal_justice": N_("Criminal Justice"),
    "victim": N_("Victim"),
    "societal": N_("Societal"),
    "industry": N_("Industry"),
    "media_communications": N_("Media and Communications"),
}
KINDS: dict[str, dict[str, str] | dict[int, str]] = {
    "status": STATUS,
    "match_status": MATCH_STATUS,
    "priority": PRIORITY,
    "modality": MODALITY,
    "nationality": NATIONALITY,
    "importance": IMPORTANCE,
    "level": LEVEL,
    "role": ROLE,
    "action": ACTION,
    "history": HISTORY,
    "reason": REASON,
    "component": COMPONENT,
    "region_reason": REGION_REASON,
    "capability": CAPABILITY,
    "domain": DOMAIN,
}


def labeller(gettext: Callable[[str], str]) -> Callable[[str, object], str]:
    def label(kind: str, value: object) -> str:
        table = KINDS[kind]
        key: object = int(str(value)) if kind == "capability" else str(value)
        english = table.get(key)  # type: ignore[call-overload]
        return gettext(english) if english else str(value)

    return label
