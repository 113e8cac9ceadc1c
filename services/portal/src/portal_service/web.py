"""What every page shares: the language, the signed-in person, their API view, CSRF, rendering.

A page handler takes `Page` (anyone) or `SignedPage` (signed in; otherwise the browser is sent
through login and brought back to the same address). Forms that change something call
`await page.form()`, which refuses a missing or wrong CSRF token with 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData

from portal_service import vocabulary
from portal_service.config import Settings
from portal_service.i18n import LANG_COOKIE, LANGUAGES, NATIVE_NAMES, Formats, negotiate, translations
from portal_service.oidc import User
from portal_service.sessions import COOKIE, SessionStore, Signed
from portal_service.upstream import Api

TEMPLATES = Path(__file__).parent / "templates"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


class LoginRequired(Exception):
    """Send the browser through login, then back to `next`."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Forbidden(Exception):
    """A form without the session's CSRF token, or a page this role has no use for."""


def reference(value: object) -> Markup:
    """A request reference (`TA-2026-0042`) kept whole and left to right inside any sentence:
    it never breaks at its hyphens, nor reorders in Arabic."""
    return Markup('<bdi class="ref" dir="ltr">{}</bdi>').format(value)


@cache
def environment(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    gettext = translations(lang)
    env.install_gettext_translations(gettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["label"] = vocabulary.labeller(gettext.gettext)
    env.globals["fmt"] = Formats(lang)
    env.filters["ref"] = reference
    env.globals["LANGUAGES"] = [(code, NATIVE_NAMES[code]) for code in LANGUAGES]
    env.globals["CAPABILITIES"] = sorted(vocabulary.CAPABILITY)
    return env


def safe_next(path: str | None) -> str:
    """Only a path on this site: never `//elsewhere` or an absolute URL (an open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return "/"
    return path[:2000]


@dataclass
class PageContext:
    request: Request
    lang: str
    signed: Signed | None

    @property
    def settings(self) -> Settings:
        settings: Settings = self.request.app.state.settings
        return settings

    @property
    def user(self) -> User:
        if self.signed is None:
            raise LoginRequired(self.here)
        return self.signed.user

    @property
    def here(self) -> str:
        query = self.request.url.query
        return safe_next(self.request.url.path + (f"?{query}" if query else ""))

    @property
    def api(self) -> Api:
        if self.signed is None:
            raise LoginRequired(self.here)
        return Api(self.request.app.state.clients, self.signed.access_token, self.lang)

    def gettext(self, message: str) -> str:
        return translations(self.lang).gettext(message)

    def label(self, kind: str, value: object) -> str:
        return vocabulary.labeller(self.gettext)(kind, value)

    async def form(self) -> FormData:
        """The posted form, once its CSRF token matches this session's."""
        form = await self.request.form()
        if self.signed is None:
            # A form posted after the session ended: back to where it was posted from.
            raise LoginRequired(safe_next(_referer_path(self.request)))
        sent = str(form.get("csrf_token", ""))
        if not hmac.compare_digest(sent.encode(), self.signed.csrf_token.encode()):
            raise Forbidden()
        return form

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        env = environment(self.lang)
        html = env.get_template(template).render(
            lang=self.lang,
            dir=Formats(self.lang).direction,
            user=self.signed.user if self.signed else None,
            csrf_token=self.signed.csrf_token if self.signed else "",
            path=self.request.url.path,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        self.remember_language(response)
        return response

    def redirect(self, path: str, *, notice: str | None = None) -> RedirectResponse:
        """303 to a page of this site after a form, optionally with a notice slug it shows."""
        target = safe_next(path)
        if notice:
            target += ("&" if "?" in target else "?") + f"notice={quote(notice)}"
        return RedirectResponse(target, status_code=303)

    def remember_language(self, response: HTMLResponse | RedirectResponse) -> None:
        chosen = self.request.query_params.get("lang")
        if chosen in LANGUAGES and chosen != self.request.cookies.get(LANG_COOKIE):
            response.set_cookie(
                LANG_COOKIE,
                chosen,
                max_age=LANG_COOKIE_MAX_AGE,
                samesite="lax",
                secure=self.settings.secure_cookies,
            )


def _referer_path(request: Request) -> str:
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return referer.path + (f"?{referer.query}" if referer.query else "")


async def page_context(request: Request) -> PageContext:
    lang = negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    store: SessionStore = request.app.state.store
    signed = await store.load(request.cookies.get(COOKIE))
    if signed is not None and signed.token_expired:
        # The token lapsed: the session is worth nothing more; login brings the person back here.
        await store.end(signed.id)
        signed = None
    return PageContext(request=request, lang=lang, signed=signed)


async def signed_page(page: Annotated[PageContext, Depends(page_context)]) -> PageContext:
    if page.signed is None:
        if page.request.method == "GET":
            raise LoginRequired(page.here)
        raise LoginRequired(safe_next(_referer_path(page.request)))
    return page


Page = Annotated[PageContext, Depends(page_context)]
SignedPage = Annotated[PageContext, Depends(signed_page)]
