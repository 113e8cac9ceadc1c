"""Bare Starlette and FastAPI apps serving one stored expert's JSON under roster's uvicorn settings."""

from __future__ import annotations

import argparse
import ast
import os
import sys
import uuid
from pathlib import Path
from typing import Any

USAGE = """\
The API benchmark's yardsticks: `GET /v1/experts/{expert_id}` answers the bytes of a real
expert fetched once from roster. The Starlette app sends the bytes as they are; the FastAPI
app parses them once into roster's own `ExpertRead` and returns that model, so every request
pays FastAPI's routing, path-parameter validation and response-model serialisation, as roster's
route does, but no authentication and no database. Both run under `uvicorn.run` with the
keyword arguments of roster's `__main__.py` (read from its source, so a change there reaches
the yardsticks too), on the host and port given here.

    python -m bench.bare_apps starlette --port 9101 --body-file expert.json
"""

ROOT = Path(__file__).resolve().parents[1]
SERVICE_MAIN = ROOT / "services" / "roster" / "src" / "roster_service" / "__main__.py"
PATH = "/v1/experts/{expert_id}"


def service_uvicorn_options(source: Path = SERVICE_MAIN) -> tuple[dict[str, Any], list[str]]:
    """The literal keyword arguments roster passes to `uvicorn.run` (but host and port), and notes.

    `log_level=settings.log_level` becomes ROSTER_LOG_LEVEL or `info` (its default); any other
    keyword that is not a literal is reported in the notes and left out.
    """
    tree = ast.parse(source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "run"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "uvicorn"
        ):
            options: dict[str, Any] = {}
            notes: list[str] = []
            for keyword in node.keywords:
                name = keyword.arg
                if name is None or name in {"host", "port"}:
                    continue
                if name == "log_level":
                    options[name] = os.environ.get("ROSTER_LOG_LEVEL", "info")
                    continue
                try:
                    options[name] = ast.literal_eval(keyword.value)
                except ValueError:
                    notes.append(f"{name}={ast.unparse(keyword.value)} is not a literal: left out")
            return options, notes
    return {}, [f"no uvicorn.run(...) call found in {source}: uvicorn defaults used"]


def starlette_app(body: bytes) -> Any:
    """Starlette, one route, the stored bytes."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def get_expert(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route(PATH, get_expert)])


def fastapi_app(body: bytes) -> Any:
    """FastAPI, one route with a UUID path parameter and roster's `ExpertRead` as response model."""
    from fastapi import FastAPI

    from roster_service.schemas import ExpertRead

    expert = ExpertRead.model_validate_json(body)
    app = FastAPI()

    @app.get(PATH, response_model=ExpertRead)
    async def get_expert(expert_id: uuid.UUID) -> ExpertRead:
        return expert

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=["starlette", "fastapi"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--body-file", type=Path, required=True, help="the JSON to serve")
    parser.add_argument("--show-options", action="store_true", help="print the uvicorn options and exit")
    args = parser.parse_args(argv)
    options, notes = service_uvicorn_options()
    for note in notes:
        print(f"bare_apps: {note}", file=sys.stderr)
    if args.show_options:
        print(options)
        return 0
    body = args.body_file.read_bytes()
    app = starlette_app(body) if args.kind == "starlette" else fastapi_app(body)

    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
