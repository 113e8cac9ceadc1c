"""Dev-mode sign-in: OpenID Connect authorization code with PKCE, userinfo and end session.

`create_app` adds these routes only with `AUTH_DEV_MODE` on. A person picks who to be on the
sign-in page (`GET /authorize`): a built-in or personas-file person, or one they describe. The
page posts back to `/authorize`, which sends the browser to the client's registered redirect
URI with a single-use code; the client trades it at `/token` (grant `authorization_code`, its
PKCE verifier and its client secret) for an access token — the claims `/dev/token` gives — and
an ID token for itself. There are no passwords: this is a stand-in for a real OIDC provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jose import JWTError, jwt

from dev_issuer.authorization import (
    MAX_TOKEN,
    PKCE_VALUE,
    AuthorizeRequest,
    Params,
    Refused,
    UntrustedRedirect,
    check_authorize,
    redirect_uri_matches,
    s256,
    single,
    text,
    with_params,
)
from dev_issuer.config import IssuerSettings
from dev_issuer.personas import ROLE_TITLES, CustomPerson, Persona, PersonaSource

if TYPE_CHECKING:
    from dev_issuer.main import Issuer

CODE_TTL_SECONDS = 60
MAX_PENDING_CODES = 10_000
SCOPE = "openid profile"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# A CSP host-source cannot spell an IPv6 literal, so only these origins can go into form-action.
CSP_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?")


@dataclass(frozen=True)
class Grant:
    """What a code stands for, until it is traded at `/token`."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    claims: dict[str, Any]
    auth_time: int


class CodeStore:
    """Single-use authorization codes, in memory, each valid `ttl` seconds."""

    def __init__(
        self,
        *,
        ttl: float = CODE_TTL_SECONDS,
        max_codes: int = MAX_PENDING_CODES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.max_codes = max_codes
        self.clock = clock
        self._codes: dict[str, tuple[float, Grant]] = {}  # code → (expires at, grant), oldest first

    def issue(self, grant: Grant) -> str:
        self._prune()
        code = secrets.token_urlsafe(32)
        self._codes[code] = (self.clock() + self.ttl, grant)
        while len(self._codes) > self.max_codes:
            del self._codes[next(iter(self._codes))]
        return code

    def take(self, code: str) -> Grant | None:
        """The code's grant, once: the code is gone afterwards; None when unknown or expired."""
        found = self._codes.pop(code, None)
        if found is None or found[0] <= self.clock():
            return None
        return found[1]

    def _prune(self) -> None:
        now = self.clock()
        for code in [c for c, (expires, _) in self._codes.items() if expires <= now]:
            del self._codes[code]

    def __len__(self) -> int:
        return len(self._codes)


def oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> JSONResponse:
    """RFC 6749 §5.2 error body (the token endpoint speaks OAuth, not problem+json)."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


class Pages:
    """The HTML pages: autoescaped, their one stylesheet inline and pinned by its hash in a strict
    Content-Security-Policy (no scripts, no other resources, no framing)."""

    def __init__(self) -> None:
        folder = Path(__file__).parent / "templates"
        self.env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.stylesheet = (folder / "pages.css").read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(self.stylesheet.encode()).digest()).decode()
        self.style_source = f"'sha256-{digest}'"

    def render(
        self, name: str, *, status: int = 200, form_target: str | None = None, **context: Any
    ) -> HTMLResponse:
        # Chromium applies form-action to the redirect that answers a form post too, so a page
        # whose forms end at the client's redirect URI allows that origin as well.
        form_action = "'self'"
        if form_target is not None:
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(form_target))
            form_action = f"'self' {origin}" if CSP_ORIGIN.fullmatch(origin) else ""
        directives = [
            "default-src 'none'",
            f"style-src {self.style_source}",
            "base-uri 'none'",
            *([f"form-action {form_action}"] if form_action else []),
            "frame-ancestors 'none'",
        ]
        html = self.env.get_template(name).render(stylesheet=self.stylesheet, **context)
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                **NO_STORE,
                "Content-Security-Policy": "; ".join(directives),
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
            },
        )


class Login:
    """The sign-in flow's state (pending codes, the personas) and its endpoints."""

    def __init__(self, settings: IssuerSettings, issuer: Issuer) -> None:
        self.settings = settings
        self.issuer = issuer
        self.codes = CodeStore()
        self.personas = PersonaSource(settings.personas_file)
        self.pages = Pages()

    # --- /authorize ---------------------------------------------------------------------------

    async def show(self, request: Request) -> Response:
        try:
            ask = check_authorize(request.query_params, self.settings.clients)
        except UntrustedRedirect as untrusted:
            return self._untrusted(str(untrusted))
        except Refused as refused:
            return self._refused(refused)
        return self._sign_in_page(ask, self.personas.load(), CustomPerson())

    async def choose(self, request: Request) -> Response:
        form = await request.form()
        try:
            ask = check_authorize(form, self.settings.clients)
        except UntrustedRedirect as untrusted:
            return self._untrusted(str(untrusted))
        except Refused as refused:
            return self._refused(refused)
        personas = self.personas.load()
        chosen = text(form, "persona")
        persona: Persona | None
        if chosen:
            index = int(chosen) if re.fullmatch(r"[0-9]{1,4}", chosen) else len(personas)
            persona = personas[index] if index < len(personas) else None
            if persona is None:
                notice = "That person is no longer on the list. Choose again."
                return self._sign_in_page(ask, personas, CustomPerson(), status=400, notice=notice)
        else:
            custom = CustomPerson(
                role=text(form, "role"),
                offices=text(form, "offices"),
                expert_id=text(form, "expert_id"),
                name=text(form, "name"),
            )
            persona = custom.persona()
            if persona is None:
                return self._sign_in_page(ask, personas, custom, status=400)
        code = self.codes.issue(
            Grant(
                client_id=ask.client_id,
                redirect_uri=ask.redirect_uri,
                code_challenge=ask.code_challenge,
                nonce=ask.nonce,
                scope=ask.scope,
                claims=persona.claims(),
                auth_time=int(self.codes.clock()),
            )
        )
        target = with_params(
            ask.redirect_uri, {"code": code, "state": ask.state, "iss": self.settings.issuer}
        )
        return RedirectResponse(target, status_code=303, headers=NO_STORE)

    def _sign_in_page(
        self,
        ask: AuthorizeRequest,
        personas: list[Persona],
        custom: CustomPerson,
        *,
        status: int = 200,
        notice: str | None = None,
    ) -> HTMLResponse:
        return self.pages.render(
            "sign_in.html",
            status=status,
            form_target=ask.redirect_uri,
            client_id=ask.client_id,
            hidden=ask.hidden(),
            personas=list(enumerate(personas)),
            custom=custom,
            roles=list(ROLE_TITLES.items()),
            notice=notice,
        )

    def _untrusted(self, reason: str) -> HTMLResponse:
        return self.pages.render("error.html", status=400, reason=reason)

    def _refused(self, refused: Refused) -> Response:
        if refused.redirect_uri is None:
            return self._untrusted(refused.description)
        target = with_params(
            refused.redirect_uri,
            {
                "error": refused.error,
                "error_description": refused.description,
                "state": refused.state,
                "iss": self.settings.issuer,
            },
        )
        return RedirectResponse(target, status_code=303, headers=NO_STORE)

    # --- /token, grant authorization_code -----------------------------------------------------

    def exchange(self, form: Params, *, client_id: str) -> JSONResponse:
        """Trades a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6); a code once presented is spent,
        whatever the answer."""
        try:
            code = single(form, "code")
            redirect_uri = single(form, "redirect_uri")
            verifier = single(form, "code_verifier")
        except Refused as refused:
            return oauth_error("invalid_request", refused.description)
        if code is None:
            return oauth_error("invalid_request", "code is required")
        grant = self.codes.take(code)
        if grant is None:
            return oauth_error("invalid_grant", "the code is unknown, expired or already used")
        if grant.client_id != client_id:
            return oauth_error("invalid_grant", "the code was issued to another client")
        if redirect_uri != grant.redirect_uri:
            return oauth_error("invalid_grant", "redirect_uri differs from the one the code was issued for")
        if verifier is None or not PKCE_VALUE.fullmatch(verifier):
            return oauth_error("invalid_grant", "code_verifier must be 43 to 128 unreserved characters")
        if not hmac.compare_digest(s256(verifier), grant.code_challenge):
            return oauth_error("invalid_grant", "code_verifier does not match the code_challenge")
        ttl = self.settings.token_ttl_seconds
        access_token = self.issuer.sign(grant.claims, expires_in=ttl)
        identity = {**grant.claims, "aud": grant.client_id, "auth_time": grant.auth_time}
        if grant.nonce is not None:
            identity["nonce"] = grant.nonce
        id_token = self.issuer.sign(identity, expires_in=ttl)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "id_token": id_token,
                "scope": SCOPE,
            },
            headers=NO_STORE,
        )

    # --- /userinfo and /logout ----------------------------------------------------------------

    def verified(self, token: str, *, check_expiry: bool = True) -> dict[str, Any] | None:
        """The claims of a token this issuer signed (signature, iss and, unless told, exp), or None."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.issuer.key.public_jwk,
                algorithms=["RS256"],
                issuer=self.settings.issuer,
                options={
                    "verify_aud": False,
                    # python-jose checks every claim it is told to require, so exp is required
                    # only when it is checked.
                    "verify_exp": check_expiry,
                    "require_exp": check_expiry,
                    "require_sub": True,
                },
            )
        except JWTError:
            return None
        return claims

    async def userinfo(self, request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = self.verified(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if claims is None:
            return oauth_error(
                "invalid_token",
                "a valid bearer access token from this issuer is required",
                401,
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return JSONResponse(
            {
                "sub": claims["sub"],
                "name": claims.get("name"),
                "roles": claims.get("roles") or [],
                "offices": claims.get("offices") or [],
                "expert_id": claims.get("expert_id"),
            },
            headers=NO_STORE,
        )

    async def logout(self, request: Request) -> Response:
        params: Params = request.query_params if request.method == "GET" else await request.form()
        try:
            hint = single(params, "id_token_hint", max_length=MAX_TOKEN)
            back = single(params, "post_logout_redirect_uri")
            state = single(params, "state")
            client_id = single(params, "client_id")
        except Refused:
            return self._signed_out()
        if hint is not None:
            claims = self.verified(hint, check_expiry=False)
            if claims is None:
                return self._signed_out()
            audience = claims.get("aud")
            audiences = [audience] if isinstance(audience, str) else list(audience or [])
            if client_id is None and len(audiences) == 1:
                client_id = audiences[0]
            if client_id not in audiences:
                return self._signed_out()
        client = self.settings.clients.get(client_id) if client_id is not None else None
        if (
            back is not None
            and client is not None
            and redirect_uri_matches(client.post_logout_redirect_uris, back)
        ):
            return RedirectResponse(with_params(back, {"state": state}), status_code=303, headers=NO_STORE)
        return self._signed_out()

    def _signed_out(self) -> HTMLResponse:
        return self.pages.render("signed_out.html")


def add_login_routes(app: FastAPI, login: Login) -> None:
    """The sign-in routes: `/authorize` (GET page, POST choice), `/userinfo`, `/logout`."""
    tag = "sign-in (dev mode)"

    @app.get(
        "/authorize",
        tags=[tag],
        summary="Sign-in page (OIDC authorization endpoint)",
        response_class=HTMLResponse,
    )
    async def authorize_page(request: Request) -> Response:
        """Anyone. OIDC Core §3.1.2 with `response_type=code`, `scope` including `openid`, and
        PKCE (`code_challenge`, `code_challenge_method=S256`) required; `state` and `nonce` are
        carried through. An unknown `client_id` or a `redirect_uri` not registered for it is a
        400 page (never a redirect); any other fault goes back to `redirect_uri` with `error`,
        `error_description` and `state`. Otherwise a page to choose who to sign in as."""
        return await login.show(request)

    @app.post("/authorize", tags=[tag], summary="Sign in as the person chosen", response_class=HTMLResponse)
    async def authorize_choice(request: Request) -> Response:
        """The sign-in page's forms: the authorization request again, plus `persona` (an index
        into the listed people) or `role`, `offices`, `expert_id` and `name`. 303 to
        `redirect_uri` with a single-use `code` (valid 60 s) and `state`; a custom person with
        a fault is the page again (400) with the fault shown beside its field."""
        return await login.choose(request)

    async def userinfo(request: Request) -> JSONResponse:
        """A bearer access token from this issuer → `sub`, `name`, `roles`, `offices`,
        `expert_id`; 401 with `WWW-Authenticate: Bearer error="invalid_token"` otherwise."""
        return await login.userinfo(request)

    async def logout(request: Request) -> Response:
        """Anyone. Takes `id_token_hint` (verified, expiry ignored; its `aud` names the client),
        `client_id`, `post_logout_redirect_uri` and `state`. This issuer keeps no sign-in session
        of its own, so there is nothing to end here: it sends the browser back (303, with
        `state`) to a `post_logout_redirect_uri` registered for the client, and otherwise shows
        a "You are signed out" page."""
        return await login.logout(request)

    for method in ("GET", "POST"):  # both, as OIDC Core §5.3.1 and RP-Initiated Logout §2 ask
        app.add_api_route(
            "/userinfo",
            userinfo,
            methods=[method],
            tags=[tag],
            summary="Who the access token is for",
            operation_id=f"userinfo_{method.lower()}",
        )
        app.add_api_route(
            "/logout",
            logout,
            methods=[method],
            tags=[tag],
            summary="End session (OIDC RP-Initiated Logout 1.0)",
            response_class=HTMLResponse,
            operation_id=f"logout_{method.lower()}",
        )
