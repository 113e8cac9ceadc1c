"""The four languages: catalogs complete and in step with the code, placeholders intact, the
21 MNR capabilities translated, locale formatting."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal_service.i18n import LANGUAGES, LOCALES, Formats, negotiate, translations
from portal_service.vocabulary import CAPABILITY, labeller

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "services" / "portal"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
# Capability names that are the same word in another language, checked by a translator.
SAME_WORD = {"fr": {"Leadership"}}
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]


def _ids(path: Path, locale: str | None = None) -> dict[object, object]:
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {message.id: message.string for message in catalog if message.id}


def test_the_template_is_in_step_with_the_code(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(PORTAL / "babel.cfg"),
            "-k",
            "N_",
            "--no-location",
            "--omit-header",
            "--sort-output",
            "-o",
            str(fresh),
            str(PORTAL / "src" / "portal_service"),
        ],
        check=True,
        capture_output=True,
    )
    committed = set(_ids(LOCALES / "messages.pot"))
    assert set(_ids(fresh)) == committed, (
        "strings changed: run the extract command in services/portal/babel.cfg"
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_string_is_translated_with_its_placeholders(lang: str) -> None:
    template = _ids(LOCALES / "messages.pot")
    translated = _ids(LOCALES / lang / "LC_MESSAGES" / "messages.po", lang)
    missing = [key for key in template if not translated.get(key)]
    assert missing == [], f"{lang}: untranslated {missing[:5]}"
    for key, value in translated.items():
        forms = value if isinstance(value, tuple) else (value,)
        ids = key if isinstance(key, tuple) else (key,)
        wanted = set(PLACEHOLDER.findall(" ".join(str(i) for i in ids)))
        for form in forms:
            assert form, (lang, key)
            got = set(PLACEHOLDER.findall(str(form)))
            # A plural form may leave out the number (Arabic "one"/"two" forms often do).
            assert got <= wanted, (lang, key, form)
            if not isinstance(key, tuple):
                assert got == wanted, (lang, key, form)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_21_capabilities_have_names_of_their_own(lang: str) -> None:
    label = labeller(translations(lang).gettext)
    names = [label("capability", number) for number in CAPABILITY]
    english = list(CAPABILITY.values())
    same = [
        name
        for name, original in zip(names, english, strict=True)
        if name == original and name not in SAME_WORD.get(lang, set())
    ]
    assert same == [], f"{lang}: not translated {same}"
    assert len(set(names)) == 21


def test_language_choice_order() -> None:
    assert negotiate("ar", "fr", "es") == "ar"
    assert negotiate(None, "fr", "es") == "fr"
    assert negotiate("xx", None, "es-MX,es;q=0.9") == "es"
    assert negotiate(None, None, "de-DE,de;q=0.9") == "en"


def test_dates_numbers_and_names_follow_the_locale() -> None:
    assert Formats("fr").day(date(2027, 3, 1)) == "1 mars 2027"
    assert Formats("en").number(12345) == "12,345"
    assert Formats("fr").country("KEN") == "Kenya"
    assert Formats("es").country("DEU") == "Alemania"
    assert Formats("ar").direction == "rtl"
    assert Formats("fr").language("sw") == "swahili"
