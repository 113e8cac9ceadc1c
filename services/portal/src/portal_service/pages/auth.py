"""Sign in (authorization code + PKCE at the OIDC provider), the callback, sign out."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from portal_service.oidc import LoginFailed, OIDCClient, new_login_secrets, user_from_claims
from portal_service.sessions import COOKIE, LOGIN_COOKIE, SessionStore
from portal_service.web import Page, safe_next

log = logging.getLogger("portal.auth")
router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login(page: Page, next: str = "/") -> Response:
    """Start a login: remember state, nonce and the PKCE verifier, then off to the provider. The
    state also goes into a short cookie, so a callback is accepted only in the browser that
    started it (no login CSRF)."""
    oidc: OIDCClient = page.request.app.state.oidc
    store: SessionStore = page.request.app.state.store
    state, nonce, verifier = new_login_secrets()
    await store.start_login(state=state, nonce=nonce, code_verifier=verifier, return_to=safe_next(next))
    url = await oidc.authorization_url(state=state, nonce=nonce, code_verifier=verifier, locale=page.lang)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        LOGIN_COOKIE,
        state,
        max_age=600,
        httponly=True,
        samesite="lax",
        secure=page.settings.secure_cookies,
        path="/auth",
    )
    return response


@router.get("/auth/callback")
async def callback(
    page: Page, code: str | None = None, state: str | None = None, error: str | None = None
) -> Response:
    store: SessionStore = page.request.app.state.store
    oidc: OIDCClient = page.request.app.state.oidc
    expected = page.request.cookies.get(LOGIN_COOKIE, "")
    if not state or not expected or not hmac.compare_digest(state.encode(), expected.encode()):
        return page.render("login_failed.html", status=400, reason="state")
    pending = await store.take_login(state)
    if pending is None:
        return page.render("login_failed.html", status=400, reason="expired")
    if error or not code:
        return page.render("login_failed.html", status=400, reason="refused", next=pending.return_to)
    try:
        tokens = await oidc.exchange(code=code, code_verifier=pending.code_verifier, nonce=pending.nonce)
    except LoginFailed as exc:
        log.warning("login failed", extra={"reason": str(exc)})
        return page.render("login_failed.html", status=400, reason="invalid", next=pending.return_to)
    user = user_from_claims(tokens.claims, page.settings)
    cookie_value = await store.create(user, tokens)
    response = RedirectResponse(safe_next(pending.return_to), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie_value,
        max_age=page.settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=page.settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/auth")
    log.info("signed in", extra={"sub": user.sub, "roles": list(user.roles)})
    return response


@router.post("/logout")
async def logout(page: Page) -> Response:
    """End the session here, then at the provider (which comes back to the home page)."""
    oidc: OIDCClient = page.request.app.state.oidc
    id_token = None
    if page.signed is not None:
        await page.form()  # CSRF: another site cannot sign a person out
        id_token = page.signed.id_token
        await page.request.app.state.store.end(page.signed.id)
    target = await oidc.end_session_url(
        id_token=id_token, post_logout_redirect_uri=f"{page.settings.base_url}/"
    )
    response = RedirectResponse(target or "/", status_code=303)
    response.delete_cookie(COOKIE)
    return response
