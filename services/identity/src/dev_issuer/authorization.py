"""The authorization request of the dev-mode sign-in: its checks (OIDC Core §3.1.2.1, PKCE with
S256 required) and where its answers may go (registered redirect URIs, RFC 8252 loopback rule)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import ImmutableMultiDict

from dev_issuer.config import ClientConfig

# RFC 7636 §4.1/§4.2: verifier and challenge are 43–128 characters of the unreserved set.
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
LOOPBACK = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(?::(\d{1,5}))?", re.IGNORECASE)
PRINTABLE = re.compile(r"[\x21-\x7e]+")
MAX_PARAM = 512
MAX_TOKEN = 16_384  # an ID token given back as a hint
Params = ImmutableMultiDict[str, Any]


def redirect_uri_matches(registered: Iterable[str], presented: str) -> bool:
    """Whether `presented` is one of the `registered` URIs: the very same string or, for an http
    loopback URI (127.0.0.1, localhost, [::1]), the same but for its port (RFC 8252 §7.3)."""
    registered = list(registered)
    if presented in registered:
        return True
    shape = _loopback_shape(presented)
    return shape is not None and any(_loopback_shape(uri) == shape for uri in registered)


def _loopback_shape(uri: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an http loopback URI without fragment or user info; else None."""
    if not PRINTABLE.fullmatch(uri) or not uri.startswith("http://") or "#" in uri:
        return None
    parts = urlsplit(uri)
    loopback = LOOPBACK.fullmatch(parts.netloc)
    if loopback is None:
        return None
    port = loopback.group(2)
    if port is not None and not 1 <= int(port) <= 65535:
        return None
    return loopback.group(1).lower(), parts.path, parts.query


def with_params(uri: str, params: dict[str, str | None]) -> str:
    """`uri` with `params` (those that are not None) added to the query it already has."""
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    base, _, fragment = uri.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}{extra}" if extra else base
    return f"{joined}#{fragment}" if fragment else joined


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding: the S256 code challenge (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class UntrustedRedirect(Exception):
    """The client or its redirect URI cannot be trusted: answered on a page, never redirected."""


class Refused(Exception):
    """An error for the client: sent to `redirect_uri` (once verified) with `state`, RFC 6749 §4.1.2.1."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri: str | None = None
        self.state: str | None = None


def single(params: Params, name: str, *, max_length: int = MAX_PARAM) -> str | None:
    """The one value of `name` (RFC 6749 §3.1: never repeated; an empty value is no value)."""
    values = params.getlist(name)
    if len(values) > 1:
        raise Refused("invalid_request", f"{name} is given more than once")
    if not values or values[0] == "":
        return None
    value = values[0]
    if not isinstance(value, str) or len(value) > max_length:
        raise Refused("invalid_request", f"{name} must be a text of at most {max_length} characters")
    return value


def text(params: Params, name: str) -> str:
    value = params.get(name)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str

    def hidden(self) -> list[tuple[str, str]]:
        """The request as the sign-in forms carry it back to `POST /authorize`."""
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        return [(name, value) for name, value in fields.items() if value is not None]


def check_authorize(params: Params, clients: dict[str, ClientConfig]) -> AuthorizeRequest:
    """The authorization request (OIDC Core §3.1.2.1; PKCE with S256 required). Raises
    `UntrustedRedirect` for an unknown client or a redirect URI not registered for it, else
    `Refused` carrying the redirect URI and state to answer to."""
    try:
        client_id = single(params, "client_id")
        redirect_uri = single(params, "redirect_uri")
    except Refused as refused:
        raise UntrustedRedirect(refused.description) from refused
    client = clients.get(client_id) if client_id is not None else None
    if client_id is None or client is None:
        raise UntrustedRedirect("The application asking you to sign in is not registered here.")
    if redirect_uri is None or not redirect_uri_matches(client.redirect_uris, redirect_uri):
        raise UntrustedRedirect(f"The return address is not registered for the application {client_id!r}.")
    state: str | None = None
    try:
        state = single(params, "state")
        return _check_rest(params, client_id, redirect_uri, state)
    except Refused as refused:
        refused.redirect_uri, refused.state = redirect_uri, state
        raise


def _check_rest(params: Params, client_id: str, redirect_uri: str, state: str | None) -> AuthorizeRequest:
    response_type = single(params, "response_type")
    if response_type is None:
        raise Refused("invalid_request", "response_type is required")
    if response_type != "code":
        raise Refused("unsupported_response_type", "only response_type=code is supported")
    scope = single(params, "scope")
    if scope is None or "openid" not in scope.split():
        raise Refused("invalid_scope", "scope must include openid")
    nonce = single(params, "nonce")
    challenge = single(params, "code_challenge")
    method = single(params, "code_challenge_method")
    if challenge is None:
        raise Refused("invalid_request", "code_challenge is required (PKCE with S256)")
    if method != "S256":
        raise Refused("invalid_request", "code_challenge_method must be S256")
    if not PKCE_VALUE.fullmatch(challenge):
        raise Refused("invalid_request", "code_challenge must be 43 to 128 unreserved characters")
    prompt = single(params, "prompt")
    if prompt is not None and "none" in prompt.split():
        raise Refused("login_required", "this issuer always asks who you are")
    return AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
    )
