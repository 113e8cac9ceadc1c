"""The dev issuer's sign-in (dev mode only): OIDC authorization code with PKCE, userinfo, logout."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt

from dev_issuer.authorization import redirect_uri_matches
from dev_issuer.config import ClientConfig, IssuerSettings
from dev_issuer.keys import generate_pem, signing_key_from_pem
from dev_issuer.main import create_app
from mnr_shared.testing import bearer, running

ISSUER = "http://identity.test"
CALLBACK = "http://127.0.0.1:8004/auth/callback"
PORTAL_AUTH = ("portal", "dev-secret-portal")
EXPERT_ID = "6f1c2f4e-2d7a-4f57-9c55-0d5e8e0b9a11"


@pytest.fixture
def issuer_settings(signing_key_file: Path) -> IssuerSettings:
    """The default dev clients (the portal among them), plus a second app with its own callback."""
    settings = IssuerSettings(issuer=ISSUER, dev_mode=True, signing_key_file=signing_key_file)
    settings.clients["other-app"] = ClientConfig(
        secret="dev-secret-other-app", redirect_uris=["https://other.example/callback"]
    )
    return settings


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(pkce: Pkce, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "portal",
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **overrides,
    }
    return {k: v for k, v in params.items() if v is not None}


class Page(HTMLParser):
    """What a test reads off an HTML page: headings, forms with their fields, labels, buttons."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang: str | None = None
        self.h1: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self.labels: dict[str, str] = {}  # for → text
        self.ids: dict[str, dict[str, str | None]] = {}
        self.scripts = 0
        self._text: list[str] | None = None
        self._open: tuple[str, dict[str, str | None]] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids[str(attributes["id"])] = {"tag": tag, **attributes}
        if tag == "html":
            self.lang = attributes.get("lang")
        elif tag == "script":
            self.scripts += 1
        elif tag == "form":
            self.forms.append({"attrs": attributes, "fields": {}, "buttons": []})
        elif tag in {"input", "select"} and self.forms and attributes.get("name"):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value") or ""
        elif tag in {"h1", "label", "button"}:
            self._text, self._open = [], (tag, attributes)

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is None or self._text is None or tag != self._open[0]:
            return
        text = " ".join("".join(self._text).split())
        if tag == "h1":
            self.h1.append(text)
        elif tag == "label":
            self.labels[str(self._open[1].get("for"))] = text
        elif tag == "button" and self.forms:
            self.forms[-1]["buttons"].append(text)
        self._text = self._open = None

    def form_with_button(self, text: str) -> dict[str, Any]:
        found = [form for form in self.forms if any(text in button for button in form["buttons"])]
        assert len(found) == 1, [form["buttons"] for form in self.forms]
        return found[0]


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


async def sign_in(
    client: httpx.AsyncClient, pkce: Pkce, *, button: str | None = None, **custom: str
) -> dict[str, str]:
    """Through the sign-in page: a persona's button, or the custom form. → the callback's query."""
    params = authorize_params(pkce)
    shown = await client.get("/authorize", params=params)
    assert shown.status_code == 200, shown.text
    page = Page(shown.text)
    if button is not None:
        form = dict(page.form_with_button(button)["fields"])
    else:
        form = {**page.form_with_button("Sign in")["fields"], **custom}
    chosen = await client.post("/authorize", data=form)
    assert chosen.status_code == 303, chosen.text
    location = chosen.headers["location"]
    assert location.startswith(f"{CALLBACK}?")
    return query_of(location)


async def exchange(
    client: httpx.AsyncClient,
    code: str,
    verifier: str,
    *,
    redirect_uri: str = CALLBACK,
    auth: tuple[str, str] | None = PORTAL_AUTH,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        form["code_verifier"] = verifier
    if auth is None:
        return await client.post("/token", data=form)
    return await client.post("/token", data=form, auth=auth)


async def public_key(client: httpx.AsyncClient) -> dict[str, Any]:
    keys: list[dict[str, Any]] = (await client.get("/.well-known/jwks.json")).json()["keys"]
    return keys[0]


# --- the redirect URI rule -------------------------------------------------------------------

REGISTERED = ["http://127.0.0.1:8004/auth/callback", "http://localhost:8004/auth/callback"]


@pytest.mark.parametrize(
    ("presented", "matches"),
    [
        ("http://127.0.0.1:8004/auth/callback", True),
        ("http://127.0.0.1:51234/auth/callback", True),  # RFC 8252 §7.3: any loopback port
        ("http://localhost:9000/auth/callback", True),
        ("http://LOCALHOST:9000/auth/callback", True),
        ("http://127.0.0.1/auth/callback", True),
        ("http://[::1]:8004/auth/callback", False),  # [::1] is not registered here
        ("https://127.0.0.1:9000/auth/callback", False),  # the port rule is for http only
        ("http://127.0.0.1:9000/auth/callback/", False),
        ("http://127.0.0.1:9000/auth/other", False),
        ("http://127.0.0.1:9000/auth/callback?next=/", False),
        ("http://127.0.0.1:9000/auth/callback#x", False),
        ("http://evil@127.0.0.1:9000/auth/callback", False),
        ("http://127.0.0.1.evil.example:9000/auth/callback", False),
        ("http://127.0.0.1:0/auth/callback", False),
        ("http://127.0.0.1:70000/auth/callback", False),
        ("http://127.0.0.1:9000/auth/\ncallback", False),
        ("http://example.org:8004/auth/callback", False),
        ("", False),
    ],
)
def test_redirect_uri_matches_exactly_or_on_any_loopback_port(presented: str, matches: bool) -> None:
    assert redirect_uri_matches(REGISTERED, presented) is matches


def test_redirect_uri_port_rule_covers_ipv6_loopback_and_never_other_hosts() -> None:
    assert redirect_uri_matches(["http://[::1]:8004/cb"], "http://[::1]:1234/cb")
    assert not redirect_uri_matches(["http://[::1]:8004/cb"], "http://127.0.0.1:8004/cb")
    assert not redirect_uri_matches(["http://portal.test/cb"], "http://portal.test:81/cb")
    assert redirect_uri_matches(["http://portal.test/cb"], "http://portal.test/cb")


# --- the whole flow --------------------------------------------------------------------------


async def test_persona_sign_in_gives_tokens_the_services_accept(
    issuer: httpx.AsyncClient, roster: httpx.AsyncClient
) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Kenya Country Office")
    assert callback["state"] == "state-123"
    assert callback["iss"] == ISSUER
    assert len(callback["code"]) >= 43

    answered = await exchange(issuer, callback["code"], pkce.verifier)

    assert answered.status_code == 200, answered.text
    assert answered.headers["cache-control"] == "no-store"
    body = answered.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile"
    assert body["expires_in"] > 0
    me = await roster.get("/v1/whoami", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["sub"] == "persona-co-ken"
    assert me.json()["roles"] == ["country_office"]
    assert me.json()["offices"] == ["KEN"]
    assert me.json()["client_id"] is None  # a person, not a service
    identity = jwt.decode(
        body["id_token"], await public_key(issuer), algorithms=["RS256"], audience="portal", issuer=ISSUER
    )
    assert identity["aud"] == "portal"
    assert identity["nonce"] == "nonce-456"
    assert identity["sub"] == "persona-co-ken"
    assert identity["name"] == "Kenya Country Office"
    assert identity["roles"] == ["country_office"]
    assert identity["offices"] == ["KEN"]
    assert "expert_id" not in identity
    assert identity["iat"] - 5 <= identity["auth_time"] <= identity["iat"]
    assert identity["exp"] > time.time()
    assert jwt.get_unverified_header(body["id_token"])["kid"] == (await public_key(issuer))["kid"]


async def test_custom_person_signs_in_with_form_client_credentials(
    issuer: httpx.AsyncClient, roster: httpx.AsyncClient
) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, role="expert", expert_id=EXPERT_ID, name="Amina Odhiambo")

    answered = await issuer.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": pkce.verifier,
            "client_id": "portal",
            "client_secret": "dev-secret-portal",
        },
    )

    assert answered.status_code == 200, answered.text
    me = (await roster.get("/v1/whoami", headers=bearer(answered.json()["access_token"]))).json()
    assert me["roles"] == ["expert"]
    assert me["expert_id"] == EXPERT_ID
    assert me["name"] == "Amina Odhiambo"
    assert re.fullmatch(r"custom-[0-9a-f]{16}", me["sub"])
    identity = jwt.get_unverified_claims(answered.json()["id_token"])
    assert identity["expert_id"] == EXPERT_ID
    assert identity["sub"] == me["sub"]


async def test_the_same_custom_person_keeps_one_sub(issuer: httpx.AsyncClient) -> None:
    subs = []
    for name in ("Kenya desk", "Kenya desk", "Uganda desk"):
        pkce = Pkce()
        callback = await sign_in(issuer, pkce, role="country_office", offices="ken", name=name)
        token = (await exchange(issuer, callback["code"], pkce.verifier)).json()["access_token"]
        subs.append(jwt.get_unverified_claims(token)["sub"])
    assert subs[0] == subs[1] != subs[2]


async def test_access_token_carries_what_dev_token_gives(issuer: httpx.AsyncClient) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, role="country_office", offices="ken, UGA", name="Two offices")
    token = (await exchange(issuer, callback["code"], pkce.verifier)).json()["access_token"]
    claims = jwt.get_unverified_claims(token)
    assert claims["offices"] == ["KEN", "UGA"]
    assert claims["roles"] == ["country_office"]
    assert claims["name"] == "Two offices"
    assert claims["iss"] == ISSUER
    assert set(claims["aud"]) == {"roster", "requests", "matching", "notifier"}
    assert "client_id" not in claims
    assert "scope" not in claims


# --- the code: PKCE, single use, expiry, its client -------------------------------------------


async def test_wrong_verifier_is_invalid_grant_and_spends_the_code(issuer: httpx.AsyncClient) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")

    wrong = await exchange(issuer, callback["code"], Pkce().verifier)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert wrong.headers["cache-control"] == "no-store"

    right = await exchange(issuer, callback["code"], pkce.verifier)
    assert right.status_code == 400
    assert right.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("verifier", ["", "short", "x" * 129, "a" * 42 + "!"])
async def test_malformed_or_missing_verifier_is_invalid_grant(
    issuer: httpx.AsyncClient, verifier: str
) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    answered = await exchange(issuer, callback["code"], verifier)
    assert answered.status_code == 400
    assert answered.json()["error"] == "invalid_grant"


async def test_a_code_works_once(issuer: httpx.AsyncClient) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    first = await exchange(issuer, callback["code"], pkce.verifier)
    assert first.status_code == 200
    again = await exchange(issuer, callback["code"], pkce.verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_an_expired_code_is_invalid_grant(issuer: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    codes = issuer_app.state.login.codes
    codes.clock = lambda: time.time() + 61  # a minute and a second later

    answered = await exchange(issuer, callback["code"], pkce.verifier)

    assert answered.status_code == 400
    assert answered.json()["error"] == "invalid_grant"
    assert len(codes) == 0


async def test_a_code_still_works_just_inside_its_minute(
    issuer: httpx.AsyncClient, issuer_app: FastAPI
) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    issuer_app.state.login.codes.clock = lambda: time.time() + 55
    assert (await exchange(issuer, callback["code"], pkce.verifier)).status_code == 200


async def test_a_code_is_only_for_its_client_and_its_redirect_uri(issuer: httpx.AsyncClient) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    other = await exchange(
        issuer, callback["code"], pkce.verifier, auth=("other-app", "dev-secret-other-app")
    )
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"

    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    moved = await exchange(
        issuer, callback["code"], pkce.verifier, redirect_uri="http://127.0.0.1:9999/auth/callback"
    )
    assert moved.status_code == 400
    assert moved.json()["error"] == "invalid_grant"


async def test_code_exchange_needs_client_authentication(issuer: httpx.AsyncClient) -> None:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, button="Administrator")
    anonymous = await exchange(issuer, callback["code"], pkce.verifier, auth=None)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    wrong = await exchange(issuer, callback["code"], pkce.verifier, auth=("portal", "not-the-secret"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    # A client that could not authenticate has not used the code.
    assert (await exchange(issuer, callback["code"], pkce.verifier)).status_code == 200


async def test_code_exchange_without_a_code_is_invalid_request(issuer: httpx.AsyncClient) -> None:
    answered = await issuer.post(
        "/token", data={"grant_type": "authorization_code", "redirect_uri": CALLBACK}, auth=PORTAL_AUTH
    )
    assert answered.status_code == 400
    assert answered.json()["error"] == "invalid_request"


# --- the authorization request ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "nobody"},
        {"client_id": None},
        {"redirect_uri": "https://evil.example/auth/callback"},
        {"redirect_uri": None},
        {"redirect_uri": "http://127.0.0.1:8004/auth/callback/../steal"},
        {"client_id": "other-app"},  # the portal's callback is not other-app's
        {"client_id": "matching-service"},  # a client with no redirect URIs at all
    ],
)
async def test_unknown_client_or_foreign_redirect_uri_is_a_400_page_not_a_redirect(
    issuer: httpx.AsyncClient, method: str, overrides: dict[str, str | None]
) -> None:
    params = authorize_params(Pkce(), **overrides)
    if method == "GET":
        response = await issuer.get("/authorize", params=params)
    else:
        response = await issuer.post("/authorize", data={**params, "persona": "0"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    page = Page(response.text)
    assert page.lang == "en"
    assert page.h1 == ["Cannot sign in"]
    assert "evil.example" not in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": None}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
    ],
)
async def test_other_faults_go_back_to_the_client_with_error_and_state(
    issuer: httpx.AsyncClient, method: str, overrides: dict[str, str | None], error: str
) -> None:
    params = authorize_params(Pkce(), **overrides)
    if method == "GET":
        response = await issuer.get("/authorize", params=params)
    else:
        response = await issuer.post("/authorize", data={**params, "persona": "0"})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{CALLBACK}?")
    answer = query_of(location)
    assert answer["error"] == error
    assert answer["error_description"]
    assert answer["state"] == "state-123"
    assert "code" not in answer


async def test_a_repeated_parameter_is_invalid_request(issuer: httpx.AsyncClient) -> None:
    params = httpx.QueryParams([*authorize_params(Pkce()).items(), ("scope", "openid")])
    response = await issuer.get("/authorize", params=params)
    assert response.status_code == 303
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_a_portal_on_another_loopback_port_signs_in(issuer: httpx.AsyncClient) -> None:
    pkce = Pkce()
    callback = "http://localhost:51234/auth/callback"
    params = authorize_params(pkce, redirect_uri=callback)
    shown = await issuer.get("/authorize", params=params)
    assert shown.status_code == 200
    assert "form-action 'self' http://localhost:51234" in shown.headers["content-security-policy"]
    form = Page(shown.text).form_with_button("Programme Division officer")["fields"]

    chosen = await issuer.post("/authorize", data=form)

    assert chosen.status_code == 303
    assert chosen.headers["location"].startswith(f"{callback}?")
    code = query_of(chosen.headers["location"])["code"]
    answered = await exchange(issuer, code, pkce.verifier, redirect_uri=callback)
    assert answered.status_code == 200
    assert jwt.get_unverified_claims(answered.json()["access_token"])["roles"] == ["programme_division"]


# --- the sign-in page ------------------------------------------------------------------------


async def test_sign_in_page_offers_the_personas_and_a_labelled_custom_form(issuer: httpx.AsyncClient) -> None:
    params = authorize_params(Pkce())
    shown = await issuer.get("/authorize", params=params)

    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("text/html")
    assert shown.headers["cache-control"] == "no-store"
    policy = shown.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self' http://127.0.0.1:8004" in policy
    assert "script-src" not in policy
    assert "default-src 'none'" in policy
    page = Page(shown.text)
    assert page.lang == "en"
    assert page.h1 == ["Sign in to MNR Expert Roster (development)"]
    assert "development sign-in" in shown.text
    assert page.scripts == 0
    assert not re.search(r"""(src|href)=["']https?://""", shown.text)
    for index, label in enumerate(
        ["Kenya Country Office", "Uganda Country Office", "Programme Division officer", "Administrator"]
    ):
        form = page.form_with_button(label)
        assert form["attrs"] == {"method": "post", "action": "/authorize"}
        assert form["fields"] == {**params, "persona": str(index)}
    assert "KEN" in page.form_with_button("Kenya Country Office")["buttons"][0]
    custom = page.form_with_button("Sign in")
    assert custom["buttons"] == ["Sign in"]
    assert set(custom["fields"]) == {*params, "role", "offices", "expert_id", "name"}
    assert {page.labels[name] for name in ("role", "offices", "expert_id", "name")} == {
        "Role",
        "Offices",
        "Expert ID",
        "Name",
    }
    assert page.ids["role"]["tag"] == "select"
    assert all(page.ids[name]["tag"] == "input" for name in ("offices", "expert_id", "name"))


async def test_page_escapes_what_the_client_sent(issuer: httpx.AsyncClient) -> None:
    shown = await issuer.get("/authorize", params=authorize_params(Pkce(), state='"><script>x</script>'))
    assert shown.status_code == 200
    assert "<script>" not in shown.text
    assert Page(shown.text).form_with_button("Administrator")["fields"]["state"] == '"><script>x</script>'


@pytest.mark.parametrize(
    ("typed", "field_in_error", "kept"),
    [
        ({"role": "country_office", "offices": "KEN, ZZZ", "name": "Desk"}, "offices", "KEN, ZZZ"),
        ({"role": "country_office", "offices": "", "name": "Desk"}, "offices", ""),
        ({"role": "expert", "expert_id": "", "name": "Amina"}, "expert_id", ""),
        ({"role": "expert", "expert_id": "not-a-uuid", "name": "Amina"}, "expert_id", "not-a-uuid"),
        ({"role": "superuser", "name": "Amina"}, "role", "superuser"),
        ({"role": "admin", "name": "x" * 201}, "name", "x" * 201),
    ],
)
async def test_custom_form_faults_show_beside_the_field_and_keep_the_input(
    issuer: httpx.AsyncClient, typed: dict[str, str], field_in_error: str, kept: str
) -> None:
    params = authorize_params(Pkce())
    answered = await issuer.post("/authorize", data={**params, **typed})

    assert answered.status_code == 400
    assert "location" not in answered.headers
    page = Page(answered.text)
    assert page.h1 == ["Sign in to MNR Expert Roster (development)"]
    field = page.ids[field_in_error]
    assert field["aria-invalid"] == "true"
    error_id = f"{field_in_error}-error"
    assert error_id in str(field["aria-describedby"]).split()
    assert error_id in page.ids
    custom = page.form_with_button("Sign in")["fields"]
    if field_in_error != "role":
        assert custom[field_in_error] == kept
    assert custom["name"] == typed["name"]
    assert {k: custom[k] for k in params} == params  # the authorization request is carried on


@pytest.mark.parametrize("persona", ["99", "-1", "one", "²", "9" * 5000])
async def test_an_unknown_persona_index_shows_the_page_again(issuer: httpx.AsyncClient, persona: str) -> None:
    answered = await issuer.post("/authorize", data={**authorize_params(Pkce()), "persona": persona})
    assert answered.status_code == 400
    assert "location" not in answered.headers
    assert "Choose again" in answered.text


# --- personas file ---------------------------------------------------------------------------


def _issuer_with_personas(signing_key_file: Path, personas: Path) -> FastAPI:
    return create_app(
        IssuerSettings(
            issuer=ISSUER, dev_mode=True, signing_key_file=signing_key_file, personas_file=personas
        )
    )


async def test_personas_file_adds_people_and_may_appear_after_start(
    signing_key_file: Path, tmp_path: Path
) -> None:
    personas = tmp_path / "personas.json"
    app = _issuer_with_personas(signing_key_file, personas)
    async with running(app, "identity.test") as client:
        params = authorize_params(Pkce())
        before = Page((await client.get("/authorize", params=params)).text)
        assert len(before.forms) == 5  # four people and the custom form

        personas.write_text(
            json.dumps(
                [
                    {
                        "label": "Amina Odhiambo",
                        "role": "expert",
                        "offices": [],
                        "expert_id": EXPERT_ID,
                        "name": "Amina Odhiambo",
                        "sub": f"demo-expert-{EXPERT_ID}",
                    }
                ]
            )
        )
        pkce = Pkce()
        shown = await client.get("/authorize", params=authorize_params(pkce))
        page = Page(shown.text)
        assert len(page.forms) == 6
        assert page.forms[4]["buttons"][0].startswith("Amina Odhiambo")  # after the built-in people
        chosen = await client.post("/authorize", data=page.form_with_button("Amina Odhiambo")["fields"])
        code = query_of(chosen.headers["location"])["code"]
        token = (await exchange(client, code, pkce.verifier)).json()["access_token"]
        claims = jwt.get_unverified_claims(token)
        assert claims["sub"] == f"demo-expert-{EXPERT_ID}"
        assert claims["expert_id"] == EXPERT_ID
        assert claims["roles"] == ["expert"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"label": "a dict, not a list"}',
        json.dumps([{"label": "An expert without an id", "role": "expert", "name": "X", "sub": "x"}]),
        json.dumps([{"label": "Nowhere office", "role": "country_office", "offices": ["ZZZ"], "sub": "z"}]),
    ],
)
async def test_a_malformed_personas_file_leaves_the_built_in_people_and_warns_once(
    signing_key_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    personas = tmp_path / "personas.json"
    personas.write_text(content)
    app = _issuer_with_personas(signing_key_file, personas)
    async with running(app, "identity.test") as client:
        with caplog.at_level(logging.WARNING, logger="dev_issuer.personas"):
            for _ in range(3):
                shown = await client.get("/authorize", params=authorize_params(Pkce()))
                assert shown.status_code == 200
                assert len(Page(shown.text).forms) == 5
    assert len([r for r in caplog.records if r.name == "dev_issuer.personas"]) == 1


# --- userinfo --------------------------------------------------------------------------------


async def _tokens(issuer: httpx.AsyncClient, **custom: str) -> dict[str, Any]:
    pkce = Pkce()
    callback = await sign_in(issuer, pkce, **custom)
    answered = await exchange(issuer, callback["code"], pkce.verifier)
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_userinfo_answers_who_the_access_token_is_for(issuer: httpx.AsyncClient, method: str) -> None:
    tokens = await _tokens(issuer, role="expert", expert_id=EXPERT_ID, name="Amina Odhiambo")
    answered = await issuer.request(method, "/userinfo", headers=bearer(tokens["access_token"]))
    assert answered.status_code == 200
    body = answered.json()
    assert body["name"] == "Amina Odhiambo"
    assert body["roles"] == ["expert"]
    assert body["offices"] == []
    assert body["expert_id"] == EXPERT_ID
    assert body["sub"].startswith("custom-")


def _foreign_token() -> str:
    key = signing_key_from_pem(generate_pem())
    claims = {"iss": ISSUER, "sub": "intruder", "exp": int(time.time()) + 60, "roles": ["admin"]}
    return str(jwt.encode(claims, key.signer, algorithm="RS256", headers={"kid": key.kid}))


@pytest.mark.parametrize("authorization", [None, "Bearer", "Basic abc", "Bearer not-a-jwt", "foreign"])
async def test_userinfo_without_a_valid_token_is_401(
    issuer: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {}
    if authorization == "foreign":
        headers = bearer(_foreign_token())
    elif authorization is not None:
        headers = {"Authorization": authorization}
    answered = await issuer.get("/userinfo", headers=headers)
    assert answered.status_code == 401
    assert answered.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_userinfo_refuses_an_expired_token(issuer: httpx.AsyncClient, issuer_app: FastAPI) -> None:
    expired = issuer_app.state.issuer.sign({"sub": "someone", "roles": ["admin"]}, expires_in=-10)
    answered = await issuer.get("/userinfo", headers=bearer(expired))
    assert answered.status_code == 401


# --- logout ----------------------------------------------------------------------------------


async def test_logout_returns_to_a_registered_uri_with_state(issuer: httpx.AsyncClient) -> None:
    tokens = await _tokens(issuer, button="Administrator")
    answered = await issuer.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:8004/",
            "state": "bye",
        },
    )
    assert answered.status_code == 303
    assert answered.headers["location"] == "http://127.0.0.1:8004/?state=bye"


async def test_logout_names_the_client_by_client_id_and_on_another_loopback_port(
    issuer: httpx.AsyncClient,
) -> None:
    answered = await issuer.get(
        "/logout", params={"client_id": "portal", "post_logout_redirect_uri": "http://localhost:5555/"}
    )
    assert answered.status_code == 303
    assert answered.headers["location"] == "http://localhost:5555/"


async def test_logout_accepts_an_expired_id_token_hint(
    issuer: httpx.AsyncClient, issuer_app: FastAPI
) -> None:
    hint = issuer_app.state.issuer.sign({"sub": "someone", "aud": "portal"}, expires_in=-3600)
    answered = await issuer.post(
        "/logout", data={"id_token_hint": hint, "post_logout_redirect_uri": "http://127.0.0.1:8004/"}
    )
    assert answered.status_code == 303


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"post_logout_redirect_uri": "http://127.0.0.1:8004/"},  # no client named
        {"client_id": "portal", "post_logout_redirect_uri": "https://evil.example/"},
        {"client_id": "portal", "post_logout_redirect_uri": "http://127.0.0.1:8004/elsewhere"},
        {"client_id": "nobody", "post_logout_redirect_uri": "http://127.0.0.1:8004/"},
        {"client_id": "other-app", "post_logout_redirect_uri": "http://127.0.0.1:8004/"},
        {"id_token_hint": "not-a-jwt", "post_logout_redirect_uri": "http://127.0.0.1:8004/"},
        {"id_token_hint": "foreign", "post_logout_redirect_uri": "http://127.0.0.1:8004/"},
        {
            "id_token_hint": "portal",
            "client_id": "other-app",
            "post_logout_redirect_uri": "http://127.0.0.1:8004/",
        },
    ],
)
async def test_logout_otherwise_shows_a_signed_out_page(
    issuer: httpx.AsyncClient, issuer_app: FastAPI, params: dict[str, str]
) -> None:
    if params.get("id_token_hint") == "foreign":
        params = {**params, "id_token_hint": _foreign_token()}
    elif params.get("id_token_hint") == "portal":
        params = {
            **params,
            "id_token_hint": issuer_app.state.issuer.sign({"sub": "s", "aud": "portal"}, expires_in=60),
        }
    answered = await issuer.get("/logout", params=params)
    assert answered.status_code == 200
    assert "location" not in answered.headers
    page = Page(answered.text)
    assert page.lang == "en"
    assert page.h1 == ["You are signed out"]


# --- discovery and dev mode ------------------------------------------------------------------


async def test_discovery_advertises_the_sign_in_in_dev_mode(issuer: httpx.AsyncClient) -> None:
    body = (await issuer.get("/.well-known/openid-configuration")).json()
    assert body["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert body["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert body["end_session_endpoint"] == f"{ISSUER}/logout"
    assert body["response_types_supported"] == ["code"]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["scopes_supported"] == ["openid", "profile"]
    assert body["claims_supported"] == ["sub", "name", "roles", "offices", "expert_id"]
    assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_sign_in_is_absent_without_dev_mode(signing_key_file: Path) -> None:
    clients = {
        "portal": ClientConfig(
            secret="a-real-secret-from-the-vault",
            redirect_uris=[CALLBACK],
            post_logout_redirect_uris=[CALLBACK],
        )
    }
    app = create_app(
        IssuerSettings(issuer=ISSUER, dev_mode=False, signing_key_file=signing_key_file, clients=clients)
    )
    async with running(app, "identity.test") as client:
        params = authorize_params(Pkce())
        assert (await client.get("/authorize", params=params)).status_code == 404
        assert (await client.post("/authorize", data={**params, "persona": "0"})).status_code == 404
        assert (await client.get("/userinfo")).status_code == 404
        assert (await client.get("/logout")).status_code == 404
        body = (await client.get("/.well-known/openid-configuration")).json()
        assert "authorization_endpoint" not in body
        assert "end_session_endpoint" not in body
        assert body["response_types_supported"] == ["token"]
        assert body["grant_types_supported"] == ["client_credentials"]
        answered = await client.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
            auth=("portal", "a-real-secret-from-the-vault"),
        )
        assert answered.status_code == 400
        assert answered.json()["error"] == "unsupported_grant_type"


def test_the_portal_is_a_default_dev_client() -> None:
    portal = IssuerSettings(signing_key_file=None).clients["portal"]
    assert portal.secret == "dev-secret-portal"
    assert portal.scopes == []
    assert portal.redirect_uris == [CALLBACK, "http://localhost:8004/auth/callback"]
    assert portal.post_logout_redirect_uris == ["http://127.0.0.1:8004/", "http://localhost:8004/"]


async def test_unexpected_uuid_forms_are_normalised(issuer: httpx.AsyncClient) -> None:
    tokens = await _tokens(issuer, role="expert", expert_id=EXPERT_ID.upper(), name="Upper")
    assert jwt.get_unverified_claims(tokens["access_token"])["expert_id"] == str(uuid.UUID(EXPERT_ID))
