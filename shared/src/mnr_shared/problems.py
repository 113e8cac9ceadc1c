"""RFC 9457 problem+json: the error hierarchy services raise and the handlers that render it."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mnr_shared.observability import current_request_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:mnr:problem:"
# The members every problem document has (RFC 9457 §3.1, and our request id); `extra` adds others.
RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "request_id"})

log = logging.getLogger("mnr.problems")


class ProblemError(Exception):
    """An error a service raises on purpose; rendered as problem+json with its status."""

    status: int = 500
    slug: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        title: str | None = None,
        slug: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or title or HTTPStatus(self.status).phrase)
        self.detail = detail
        self.title = title or HTTPStatus(self.status).phrase
        self.slug = slug or self.slug
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str = "A valid bearer token is required.", **kw: Any) -> None:
        super().__init__(detail, **kw)
        self.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    status = 404


class Conflict(ProblemError):
    status = 409


class PreconditionFailed(ProblemError):
    status = 412


class UnprocessableContent(ProblemError):
    status = 422


class PreconditionRequired(ProblemError):
    status = 428


class BadGateway(ProblemError):
    status = 502


class ServiceUnavailable(ProblemError):
    status = 503


def problem_response(
    *,
    status: int,
    request: Request,
    title: str | None = None,
    detail: str | None = None,
    slug: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Render one problem document; `instance` is the request path, `request_id` ties it to logs."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{slug}" if slug else "about:blank",
        "title": title or _phrase(status),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body["instance"] = request.url.path
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    # Extension members never replace a standard one: `status` is the HTTP status, always.
    for name, value in (extra or {}).items():
        if name in RESERVED_MEMBERS:
            log.warning("problem extension member %r ignored: it would replace a standard member", name)
            continue
        body[name] = value
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors reduced to what a client needs: where and what, never input echoes of secrets."""
    out = []
    for err in errors:
        loc = [part for part in err.get("loc", ()) if isinstance(part, str | int)]
        out.append({"loc": loc, "msg": str(err.get("msg", "invalid value"))})
    return out


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        status=exc.status,
        request=request,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != _phrase(exc.status_code) else None
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405 and (allowed := _documented_methods(request)):
        headers["Allow"] = ", ".join(sorted(allowed))
    return problem_response(status=exc.status_code, request=request, detail=detail, headers=headers)


_TEMPLATE_PARAMETER = re.compile(r"\{[^/{}]+\}")
_HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})


def _documented_methods(request: Request, *, fixed_only: bool = False) -> set[str]:
    """The methods the app's OpenAPI document lists for the request's path, for `Allow`.

    Starlette's 405 names only the methods of the first route whose path matched, and FastAPI
    makes one route per method, so that `Allow` would hide the others. A fixed path
    (`/v1/experts/me`) is its own resource: a template (`/v1/experts/{expert_id}`) that also
    matches it does not add its methods there. Empty when the path is not documented.
    """
    openapi = getattr(request.app, "openapi", None)
    if openapi is None:
        return set()
    path = request.url.path
    fixed: set[str] = set()
    templated: set[str] = set()
    for template, operations in openapi().get("paths", {}).items():
        methods = {method.upper() for method in operations if method.upper() in _HTTP_METHODS}
        if template == path:
            fixed |= methods
        elif not fixed_only and "{" in template:
            parts = _TEMPLATE_PARAMETER.split(template)
            if re.fullmatch("[^/]+".join(re.escape(part) for part in parts), path):
                templated |= methods
    return fixed or templated


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fixed = _documented_methods(request, fixed_only=True)
    if fixed and request.method not in fixed:
        # `PATCH /v1/experts/me`: only `/v1/experts/{expert_id}` serves PATCH, and `me` is no id.
        # The request names the fixed resource, which does not serve this method.
        return problem_response(status=405, request=request, headers={"Allow": ", ".join(sorted(fixed))})
    errors = validation_errors(exc.errors())
    return problem_response(
        status=422,
        request=request,
        title="Unprocessable Content",
        detail="The request is not valid; see errors.",
        slug="validation",
        extra={"errors": errors},
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(
        status=500, request=request, detail="An unexpected error occurred; it has been logged."
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Every error a service can produce, 404/405/422/500 included, leaves as problem+json."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_unexpected)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Not Found"},
        "status": {"type": "integer", "example": 404},
        "detail": {"type": "string"},
        "instance": {"type": "string", "example": "/v1/experts/0b7c…"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"loc": {"type": "array", "items": {}}, "msg": {"type": "string"}},
            },
        },
    },
    "required": ["type", "title", "status"],
}


# What each status means on this API, for the OpenAPI document.
_MEANINGS: dict[int, str] = {
    400: "The body cannot be read (it is not UTF-8 text).",
    401: "The bearer token is missing, malformed, expired or not ours.",
    403: "The caller's role, scope or offices do not allow this.",
    404: "No such resource, or none this caller may see.",
    405: "The resource does not serve this method; `Allow` names those it does.",
    409: "The resource's state does not allow this.",
    412: "`If-Match` does not carry the resource's current ETag.",
    413: "The body is over this operation's size limit.",
    422: "A parameter or the body is not valid; `errors` names each problem.",
    428: "This write needs an `If-Match` header with the resource's current ETag.",
    429: "Too many attempts; `Retry-After` says when to try again.",
    502: "An upstream service answered wrongly.",
    503: "An upstream service cannot be reached.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json for the given statuses.

    Every operation documents 401, 403 and 422 (a router-level default); one that takes a body
    adds 400 and 413, and each its own 404, 409, 412, 428, ... as they apply.
    """
    return {
        status: {
            "description": " ".join(filter(None, (f"{_phrase(status)}.", _MEANINGS.get(status)))),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
