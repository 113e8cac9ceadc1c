"""The request guard: a size limit on every body, and a token check before a token route reads one.

FastAPI reads and parses a request body before it runs any dependency, `authenticate` included,
so on its own a service parses a body of any size from a caller it is about to answer 401.
`build_app` installs `RequestGuard`, which wraps `receive`: when the app first asks for the body
(routing has chosen the route by then), the guard

- answers 401 problem+json, exactly as `mnr_shared.auth.authenticate` would, when the route
  depends on `authenticate` and the bearer token is missing, malformed or does not verify (the
  principal it verified is reused by the dependency, so a token is verified once);
- answers 413 problem+json when `Content-Length` is over the route's limit, and stops reading a
  body sent without one (chunked) as soon as it passes the limit.

Limits: `build_app(max_body_bytes=...)` sets the default, `DEFAULT_MAX_BODY_BYTES` (1 MiB). A
route (or a whole router) that takes larger bodies declares its own limit with FastAPI's
`max_body_size`, and says so in its description:

    @router.post("/experts/import", max_body_size=10 * 1024 * 1024, ...)

FastAPI enforces a declared limit as well; the guard turns its plain-text 413 into problem+json.
Routes that never read a body (GET, or a POST without one) are left to their dependencies.
"""

from __future__ import annotations

from typing import NoReturn

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mnr_shared.auth import authenticate, bearer_token, verify_once
from mnr_shared.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem_response

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class ContentTooLarge(ProblemError):
    status = 413
    slug = "content-too-large"


def content_too_large(limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"The request body is larger than {limit:,} bytes, the limit of this operation.",
        title="Content Too Large",
        extra={"max_body_bytes": limit},
    )


class _Refused(HTTPException):
    """Ends the app's read of a body the guard has already answered; the app's own answer is dropped."""


def _depends_on(dependant: Dependant, target: object) -> bool:
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is target:
            return True
        pending.extend(current.dependencies)
    return False


class RequestGuard:
    """ASGI middleware: body limits and the bearer check, applied before a body is read."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Route objects are not hashable; they live as long as the app, so their id is stable.
        self._token_routes: dict[int, tuple[BaseRoute, bool]] = {}

    def needs_token(self, route: BaseRoute) -> bool:
        """Whether the route's dependencies include `authenticate` (directly or through `require`)."""
        known = self._token_routes.get(id(route))
        if known is not None and known[0] is route:
            return known[1]
        needs = isinstance(route, APIRoute) and _depends_on(route.dependant, authenticate)
        self._token_routes[id(route)] = (route, needs)
        return needs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except _Refused:
            if not exchange.answered:
                raise


class _Exchange:
    """One request through the guard: what was read, and whether an answer went out."""

    def __init__(self, guard: RequestGuard, scope: Scope, receive: Receive, send: Send) -> None:
        self._guard = guard
        self._scope = scope
        self._receive = receive
        self._send = send
        self._checked = False
        self._received = 0
        self.started = False
        self.answered = False

    @property
    def limit(self) -> int:
        # A limit declared with FastAPI's `max_body_size` is in the scope once routing has run.
        declared = self._scope.get(MAX_BODY_SIZE_SCOPE_KEY)
        return declared if isinstance(declared, int) else self._guard.max_body_bytes

    async def receive(self) -> Message:
        if not self._checked and not self.started:
            self._checked = True
            await self._before_body()
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self.limit:
                await self._refuse(content_too_large(self.limit))
        return message

    async def _before_body(self) -> None:
        route = self._scope.get("route")
        request = Request(self._scope)
        if isinstance(route, BaseRoute) and self._guard.needs_token(route):
            try:
                token = bearer_token(request.headers.get("authorization"))
                if getattr(request.app.state, "verifier", None) is not None:
                    await verify_once(request, token)
            except ProblemError as problem:
                await self._refuse(problem)
        declared = Headers(scope=self._scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(content_too_large(self.limit))

    async def _refuse(self, problem: ProblemError) -> NoReturn:
        if not self.started:
            await self._answer(problem)
        raise _Refused(problem.status, problem.detail)

    async def _answer(self, problem: ProblemError) -> None:
        response = problem_response(
            status=problem.status,
            request=Request(self._scope),
            title=problem.title,
            detail=problem.detail,
            slug=problem.slug,
            headers=problem.headers,
            extra=problem.extra,
        )
        self.started = self.answered = True
        await response(self._scope, self._receive, self._send)

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            if message["status"] == 413 and not _is_problem(message):
                # FastAPI's own answer to a declared `max_body_size`: plain text, so answer for it.
                await self._answer(content_too_large(self.limit))
                return
            self.started = True
        await self._send(message)


def _is_problem(message: Message) -> bool:
    content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
    return content_type.startswith(PROBLEM_MEDIA_TYPE)
