"""The portal's languages: English, French, Spanish and Arabic (right to left).

Catalogs are gettext `.po` files under `locales/`, compiled in memory at start (no build step,
no binary files in the repository). The language comes from `?lang=` (remembered in a cookie),
else the cookie, else `Accept-Language`, else English. Dates, numbers, country and language
names are formatted by Babel for the chosen locale.
"""

from __future__ import annotations

import gettext as gettext_module
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from io import BytesIO
from pathlib import Path

import pycountry
from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

LANGUAGES = ("en", "fr", "es", "ar")
DEFAULT = "en"
RTL = frozenset({"ar"})
LANG_COOKIE = "mnr_lang"
LOCALES = Path(__file__).parent / "locales"
# Each language names itself in the switcher.
NATIVE_NAMES = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية"}


@cache
def translations(lang: str) -> gettext_module.NullTranslations:
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not path.exists():
        return gettext_module.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for chosen in (query, cookie):
        if chosen in LANGUAGES:
            return str(chosen)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT


@dataclass(frozen=True)
class Formats:
    """Locale-aware formatting for one language."""

    lang: str

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.lang)

    @property
    def direction(self) -> str:
        return "rtl" if self.lang in RTL else "ltr"

    def day(self, value: date | str | None) -> str:
        if value is None or value == "":
            return ""
        day = date.fromisoformat(value[:10]) if isinstance(value, str) else value
        return format_date(day, format="medium", locale=self.lang)

    def moment(self, value: datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(when, format="medium", locale=self.lang)

    def number(self, value: float | int) -> str:
        return format_decimal(value, locale=self.lang)

    def percent(self, value: float) -> str:
        return format_percent(value, locale=self.lang)

    def country(self, iso3: str | None) -> str:
        if not iso3:
            return ""
        found = pycountry.countries.get(alpha_3=iso3)
        if found is None:
            return iso3
        return str(self.locale.territories.get(found.alpha_2) or found.name)

    def language(self, tag: str | None) -> str:
        if not tag:
            return ""
        primary = tag.split("-")[0]
        return str(self.locale.languages.get(tag) or self.locale.languages.get(primary) or tag)
