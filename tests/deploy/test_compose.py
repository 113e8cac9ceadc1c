"""Static checks of the deploy files (compose, Dockerfile, start.sh, k8s) against the real code."""

from __future__ import annotations

import importlib
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import stat
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from dev_issuer.config import IssuerSettings
from mnr_shared.auth import AuthSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
START_SCRIPT = ROOT / "deploy" / "start.sh"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S_DIR = ROOT / "deploy" / "k8s"
# The image's WORKDIR: the repository layout is copied under it, so /app/x is the repository's x.
APP_ROOT = PurePosixPath("/app")
INITDB_DIR = PurePosixPath("/docker-entrypoint-initdb.d")
# deploy/k8s holds this one service as the example of the others.
K8S_SERVICE = "roster"

# Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"SECRET|PASSWORD")

S = TypeVar("S", bound=BaseSettings)


# --- the code: what each workspace service really is ----------------------------------------


@dataclass(frozen=True)
class WorkspaceService:
    """One `services/<name>` member, as its pyproject and its settings classes define it."""

    name: str
    package: str
    module: str
    settings: tuple[type[BaseSettings], ...]

    @property
    def own_settings(self) -> type[BaseSettings]:
        return self.settings[0]

    @property
    def has_database(self) -> bool:
        return "database_url" in self.own_settings.model_fields

    @property
    def env_names(self) -> set[str]:
        return {env_name(cls, field) for cls in self.settings for field in cls.model_fields}

    def env_var(self, field: str) -> str:
        return env_name(self.own_settings, field)


def env_prefix(cls: type[BaseSettings]) -> str:
    return cls.model_config.get("env_prefix") or ""


def env_name(cls: type[BaseSettings], field: str) -> str:
    return env_prefix(cls) + field.upper()


@cache
def workspace_services() -> dict[str, WorkspaceService]:
    """Every service directory: package from its pyproject, module from its wheel, settings."""
    found: dict[str, WorkspaceService] = {}
    for pyproject in sorted((ROOT / "services").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())
        packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        module = PurePosixPath(packages[0]).name
        config = importlib.import_module(f"{module}.config")
        own = [
            value
            for value in vars(config).values()
            if isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value.__module__ == config.__name__
        ]
        assert len(own) == 1, f"{module}.config should define one settings class, not {own}"
        # A service that builds AuthSettings reads the AUTH_ variables of token verification too.
        main = importlib.import_module(f"{module}.main")
        reads_auth = any(value is AuthSettings for value in vars(main).values())
        settings = (own[0], AuthSettings) if reads_auth else (own[0],)
        name = pyproject.parent.name
        found[name] = WorkspaceService(
            name=name, package=str(project["project"]["name"]), module=module, settings=settings
        )
    return found


def setting(settings: BaseSettings, field: str) -> Any:
    """A field of a settings instance whose class is only known at run time."""
    return settings.model_dump()[field]


def load_settings(cls: type[S], env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> S:
    """The settings `cls` reads from exactly `env`, whatever the test process's own environment."""
    for key in list(os.environ):
        if key.startswith(env_prefix(cls)):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return cls()


# --- docker-compose.yml -----------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    services = compose()["services"]
    assert isinstance(services, dict)
    return services


def app_service_names() -> list[str]:
    return sorted(name for name, spec in compose_services().items() if "build" in spec)


def build_arg(spec: Mapping[str, Any]) -> str:
    build = spec["build"]
    assert isinstance(build, dict), "build must be a mapping with context, dockerfile and args"
    return str(build.get("args", {}).get("SERVICE", ""))


def workspace_service(compose_name: str) -> WorkspaceService:
    arg = build_arg(compose_services()[compose_name])
    assert arg in workspace_services(), f"{compose_name}: SERVICE={arg!r} is no services/<name>"
    return workspace_services()[arg]


def is_database_service(compose_name: str) -> bool:
    # Lenient on purpose: an unknown SERVICE fails its own tests, not the collection of them all.
    service = workspace_services().get(build_arg(compose_services()[compose_name]))
    return service is not None and service.has_database


def identity_service_name() -> str:
    names = [
        n
        for n in app_service_names()
        if build_arg(compose_services()[n]) in workspace_services()
        and workspace_service(n).own_settings is IssuerSettings
    ]
    assert len(names) == 1, f"expected one identity issuer service, found {names}"
    return names[0]


def postgres_service_name() -> str:
    names = [
        n for n, spec in compose_services().items() if str(spec.get("image", "")).startswith("postgres:")
    ]
    assert len(names) == 1, f"expected one postgres service, found {names}"
    return names[0]


def raw_environment(spec: Mapping[str, Any]) -> dict[str, str]:
    """The environment as written (before interpolation); list or mapping syntax."""
    env = spec.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def placeholder(name: str) -> str:
    return "placeholder-" + name.lower().replace("_", "-")


def interpolate(value: str) -> str:
    """What compose would pass: defaults where given, a recognisable placeholder otherwise."""

    def replace(match: re.Match[str]) -> str:
        if match["op"] in {"-", ":-"}:
            return match["arg"]
        return placeholder(match["name"])

    return INTERPOLATION.sub(replace, value)


def environment(compose_name: str) -> dict[str, str]:
    return {
        key: interpolate(value) for key, value in raw_environment(compose_services()[compose_name]).items()
    }


def required_variables(value: str) -> set[str]:
    return {m["name"] for m in INTERPOLATION.finditer(value) if m["op"] == ":?"}


def is_required_variable(value: str) -> bool:
    match = INTERPOLATION.fullmatch(value)
    return match is not None and match["op"] == ":?"


def command(spec: Mapping[str, Any]) -> list[str]:
    value = spec.get("command", [])
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def depends_on(spec: Mapping[str, Any]) -> dict[str, str]:
    value = spec.get("depends_on", {})
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: str(dep.get("condition", "service_started")) for name, dep in value.items()}


def container_port(published: Any) -> int:
    if isinstance(published, dict):
        return int(published["target"])
    return int(str(published).split("/")[0].rsplit(":", 1)[-1])


def repo_path(container_path: str) -> Path:
    return ROOT / PurePosixPath(container_path).relative_to(APP_ROOT)


def database_urls() -> dict[str, str]:
    return {
        name: environment(name)[workspace_service(name).env_var("database_url")]
        for name in app_service_names()
        if is_database_service(name)
    }


# --- deploy/start.sh ---------------------------------------------------------------------------


@cache
def start_script_services() -> dict[str, tuple[str, str]]:
    """service -> (module, alembic ini) from the script's case statement."""
    pattern = re.compile(r"^\s*(\w+)\)\s+module=(\w+)\s+alembic_ini=(\S*)\s*;;", re.MULTILINE)
    return {m[1]: (m[2], m[3]) for m in pattern.finditer(START_SCRIPT.read_text())}


def shell_function(name: str) -> str:
    match = re.search(rf"^{name}\(\) \{{\n(.*?)^\}}", START_SCRIPT.read_text(), re.MULTILINE | re.DOTALL)
    assert match, f"start.sh has no {name}() function"
    return match[1]


# --- deploy/Dockerfile --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


@cache
def dockerfile() -> tuple[Instruction, ...]:
    """Instructions with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"
    return tuple(instructions)


def stages() -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in dockerfile():
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def final_stage() -> list[Instruction]:
    return stages()[-1]


def image_user() -> str:
    users = [i.args.split(":")[0] for i in final_stage() if i.keyword == "USER"]
    assert users, "the runtime stage never switches USER, so it runs as root"
    return users[-1]


def copy_sources(instruction: Instruction) -> list[str]:
    parts = [p for p in shlex.split(instruction.args) if not p.startswith("--")]
    return parts[:-1]


# --- Kubernetes ---------------------------------------------------------------------------------


@cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    objects: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return tuple(objects)


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r} in deploy/k8s, found {len(matches)}"
    return matches[0]


def pod_containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(containers, list)
    return containers


def container_env(container: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, entry) of each env entry, and of each key of each ConfigMap in envFrom."""
    for entry in container.get("env", []):
        yield entry["name"], entry
    for source in container.get("envFrom", []):
        config = k8s_object("ConfigMap", source["configMapRef"]["name"])
        for key, value in config["data"].items():
            yield key, {"name": key, "value": value}


# === the tests ===================================================================================


APP_SERVICES = app_service_names()
DATABASE_SERVICES = [n for n in APP_SERVICES if is_database_service(n)]


def test_compose_runs_every_workspace_service_once() -> None:
    args = sorted(build_arg(compose_services()[name]) for name in APP_SERVICES)
    assert args == sorted(workspace_services()), "each services/<name> needs one compose service"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_service_builds_the_shared_dockerfile_for_a_known_service(name: str) -> None:
    build = compose_services()[name]["build"]
    context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
    assert context == ROOT, "the Dockerfile copies uv.lock and the workspace from the repo root"
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
    assert build_arg(compose_services()[name]) in workspace_services()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_env_var_is_a_real_setting(name: str) -> None:
    unknown = set(environment(name)) - workspace_service(name).env_names
    assert not unknown, f"{name} sets variables no settings class reads: {sorted(unknown)}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_environment_is_accepted_by_the_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in workspace_service(name).settings:
        load_settings(cls, environment(name), monkeypatch)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_published_ports_are_the_port_the_service_listens_on(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = workspace_service(name)
    settings = load_settings(service.own_settings, environment(name), monkeypatch)
    ports = compose_services()[name].get("ports", [])
    assert ports, f"{name} publishes no port"
    assert {container_port(p) for p in ports} == {setting(settings, "port")}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_listen_on_all_container_interfaces(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings default to 127.0.0.1, which nothing outside the container can reach.
    settings = load_settings(workspace_service(name).own_settings, environment(name), monkeypatch)
    assert ipaddress.ip_address(setting(settings, "host")).is_unspecified


def test_secret_settings_come_only_from_required_variables() -> None:
    checked = 0
    for name, spec in compose_services().items():
        for key, value in raw_environment(spec).items():
            if SECRET_NAME.search(key):
                assert is_required_variable(value), f"{name}: {key} must be ${{VAR:?...}}"
                checked += 1
    assert checked >= len(DATABASE_SERVICES) + 1, "expected the client secrets and the password"


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_database_password_comes_from_a_required_variable(name: str) -> None:
    raw = raw_environment(compose_services()[name])[workspace_service(name).env_var("database_url")]
    password = make_url(interpolate(raw)).password
    assert password in {placeholder(v) for v in required_variables(raw)}, (
        f"{name}: the database password is written into the URL instead of ${{VAR:?...}}"
    )


def test_issuer_client_secrets_come_only_from_required_variables() -> None:
    raw = raw_environment(compose_services()[identity_service_name()])[env_name(IssuerSettings, "clients")]
    clients = json.loads(raw)
    assert clients, "AUTH_CLIENTS is empty"
    for client_id, client in clients.items():
        assert is_required_variable(client["secret"]), f"{client_id}'s secret is a literal"


def test_no_secret_variable_has_a_default_value() -> None:
    # A default would be a secret written into the file; `:?` makes compose refuse to start.
    uses = [m for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text()) if SECRET_NAME.search(m["name"])]
    assert uses
    assert all(m["op"] == ":?" for m in uses), [m[0] for m in uses if m["op"] != ":?"]


def test_env_example_lists_exactly_the_variables_compose_uses() -> None:
    used = {m["name"] for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text())}
    listed = {
        line.partition("=")[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert listed == used


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_each_service_presents_the_secret_the_issuer_holds_for_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = identity_service_name()
    issuer = load_settings(IssuerSettings, environment(identity), monkeypatch)
    service = load_settings(workspace_service(name).own_settings, environment(name), monkeypatch)
    client_id: str = setting(service, "client_id")
    assert client_id in issuer.clients, f"the issuer does not know {name}'s client {client_id!r}"
    # Placeholders are named after the variable, so equal values mean the same variable feeds both.
    assert issuer.clients[client_id].secret == setting(service, "client_secret")


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_services_trust_the_compose_issuer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = identity_service_name()
    issuer = load_settings(IssuerSettings, environment(identity), monkeypatch)
    service = load_settings(workspace_service(name).own_settings, environment(name), monkeypatch)
    # The API services verify access tokens (AUTH_ISSUER); the portal signs people in at its
    # OpenID Connect provider (PORTAL_OIDC_ISSUER) and checks the ID token's iss against it.
    if "oidc_issuer" in type(service).model_fields:
        trusted = setting(service, "oidc_issuer")
    else:
        trusted = load_settings(AuthSettings, environment(name), monkeypatch).issuer
    assert trusted == issuer.issuer, "tokens would carry an iss the service rejects"
    # The issuer URL must also be where the service can fetch the JWKS inside the network.
    url = urlsplit(issuer.issuer)
    assert (url.hostname, url.port) == (identity, issuer.port)


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_database_services_wait_for_healthy_postgres_and_identity(name: str) -> None:
    dependencies = depends_on(compose_services()[name])
    assert dependencies.get(postgres_service_name()) == "service_healthy"
    assert dependencies.get(identity_service_name()) in {"service_started", "service_healthy"}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_command_runs_the_start_script_for_its_own_service(name: str) -> None:
    argv = command(compose_services()[name])
    assert argv, f"{name} has no command"
    assert repo_path(argv[0]) == START_SCRIPT
    assert argv[1:] in ([build_arg(compose_services()[name])], [build_arg(compose_services()[name]), "run"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_start_script_runs_an_importable_module_and_an_existing_alembic_ini(name: str) -> None:
    service = workspace_service(name)
    module, alembic_ini = start_script_services()[service.name]
    assert module == service.module
    assert importlib.util.find_spec(module) is not None
    if service.has_database:
        assert alembic_ini, f"start.sh would serve {name} without migrating its database"
        assert (ROOT / alembic_ini).is_file()
        assert (ROOT / alembic_ini).parent == ROOT / "services" / service.name
        assert (ROOT / alembic_ini).parent.joinpath("migrations", "env.py").is_file()
    else:
        assert not alembic_ini


def test_start_script_knows_exactly_the_workspace_services() -> None:
    assert sorted(start_script_services()) == sorted(workspace_services())


def test_start_script_migrates_before_serving_the_module() -> None:
    text = START_SCRIPT.read_text()
    assert re.search(r"^\s*run\)\s*migrate;\s*serve\s*;;", text, re.MULTILINE)
    assert 'alembic -c "$alembic_ini" upgrade head' in shell_function("migrate")
    assert 'exec python -m "$module"' in shell_function("serve")


def test_start_script_healthcheck_asks_healthz_on_the_settings_port() -> None:
    body = shell_function("healthcheck")
    assert "/healthz" in body
    assert '.config").get_settings().port' in body


def test_start_script_is_executable_posix_sh() -> None:
    assert START_SCRIPT.read_text().startswith("#!/bin/sh\n")
    assert START_SCRIPT.stat().st_mode & stat.S_IXUSR
    result = subprocess.run(["sh", "-n", str(START_SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_healthchecks_use_the_start_script(name: str) -> None:
    test = compose_services()[name].get("healthcheck", {}).get("test", [])
    assert test[:1] == ["CMD"]
    assert repo_path(test[1]) == START_SCRIPT
    assert test[2:] == [build_arg(compose_services()[name]), "healthcheck"]


def test_postgres_init_script_creates_exactly_the_databases_in_use() -> None:
    postgres = compose_services()[postgres_service_name()]
    scripts = [
        ROOT / source
        for source, target, *_ in (str(v).split(":") for v in postgres.get("volumes", []))
        if PurePosixPath(target).parent == INITDB_DIR
    ]
    assert len(scripts) == 1, "mount one init script into /docker-entrypoint-initdb.d"
    created = re.findall(r"CREATE\s+DATABASE\s+\"?(\w+)\"?", scripts[0].read_text(), re.IGNORECASE)
    used = [str(make_url(url).database) for url in database_urls().values()]
    assert len(set(used)) == len(used), "each service needs a database of its own"
    assert sorted(created) == sorted(used)


@pytest.mark.parametrize("name", DATABASE_SERVICES)
def test_database_urls_point_at_the_compose_postgres(name: str) -> None:
    url = make_url(database_urls()[name])
    assert url.get_backend_name() == "postgresql"
    assert url.host == postgres_service_name()
    assert url.port == 5432
    postgres_env = raw_environment(compose_services()[postgres_service_name()])
    assert url.username == postgres_env.get("POSTGRES_USER", "postgres")


def test_postgres_is_checked_with_pg_isready_and_keeps_data_in_a_named_volume() -> None:
    postgres = compose_services()[postgres_service_name()]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert is_required_variable(raw_environment(postgres)["POSTGRES_PASSWORD"])
    data = [
        str(v).split(":")[0]
        for v in postgres["volumes"]
        if str(v).split(":")[1] == "/var/lib/postgresql/data"
    ]
    assert data
    assert data[0] in (compose().get("volumes") or {})


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    for spec in compose_services().values():
        for volume in spec.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"volume {source!r} is not declared"


def test_identity_signing_key_survives_restarts_in_a_writable_volume() -> None:
    identity = identity_service_name()
    key_file = PurePosixPath(environment(identity)[env_name(IssuerSettings, "signing_key_file")])
    targets = [PurePosixPath(str(v).split(":")[1]) for v in compose_services()[identity].get("volumes", [])]
    assert key_file.parent in targets, "the key would be lost with the container"
    # A new named volume takes the ownership of the image's directory: it must be the app user's.
    assert any(
        "chown" in i.args and str(key_file.parent) in i.args for i in final_stage() if i.keyword == "RUN"
    )


def test_dockerfile_declares_service_arg_in_every_stage_that_uses_it() -> None:
    using = [stage for stage in stages() if any("SERVICE" in i.args for i in stage if i.keyword != "ARG")]
    assert len(using) >= 2, "both the build and the runtime stage depend on SERVICE"
    for stage in using:
        assert any(i.keyword == "ARG" and i.args == "SERVICE" for i in stage), stage[0].args


def test_dockerfile_maps_each_service_to_its_workspace_package() -> None:
    mapping = dict(re.findall(r"(\w+)\)\s*package=([\w-]+)", DOCKERFILE.read_text()))
    assert mapping == {name: s.package for name, s in workspace_services().items()}


def test_dockerfile_uses_python_311_slim() -> None:
    bases = [i.args.split()[0] for i in dockerfile() if i.keyword == "FROM"]
    python_bases = [b for b in bases if not b.startswith("ghcr.io/astral-sh/uv")]
    assert python_bases
    assert set(python_bases) == {"python:3.11-slim"}


def test_dockerfile_syncs_locked_dependencies_before_copying_sources() -> None:
    instructions = list(dockerfile())
    syncs = [n for n, i in enumerate(instructions) if i.keyword == "RUN" and "uv sync" in i.args]
    assert len(syncs) == 2
    first, second = (instructions[n].args for n in syncs)
    for flag in ("--frozen", "--no-dev", "--no-install-workspace", "--package"):
        assert flag in first
    for flag in ("--frozen", "--no-dev", "--package"):
        assert flag in second
    assert "--no-install-workspace" not in second
    manifests = {"pyproject.toml", "uv.lock"}
    before = [
        src
        for i in instructions[: syncs[0]]
        if i.keyword == "COPY" and "--from" not in i.args
        for src in copy_sources(i)
    ]
    # Only manifests before the first sync: a code change must not invalidate the dependencies.
    assert all(PurePosixPath(src).name in manifests for src in before), before
    members = {"shared", *(f"services/{name}" for name in workspace_services())}
    copied = {str(PurePosixPath(src).parent) for src in before if src.endswith("pyproject.toml")}
    assert members <= copied, "uv needs every member's pyproject.toml to read the workspace"
    between = [
        src for i in instructions[syncs[0] : syncs[1]] if i.keyword == "COPY" for src in copy_sources(i)
    ]
    assert {"shared", "services"} <= set(between)


def test_dockerfile_runs_as_a_non_root_user() -> None:
    assert image_user() not in {"root", "0"}
    # Kubernetes' runAsNonRoot can verify a numeric USER only.
    assert image_user().isdigit()


def test_dockerfile_runs_from_app_with_the_venv_first_on_path() -> None:
    runtime = final_stage()
    assert [i.args for i in runtime if i.keyword == "WORKDIR"][-1] == str(APP_ROOT)
    env = " ".join(i.args for i in runtime if i.keyword == "ENV")
    assert "PATH=/app/.venv/bin:$PATH" in env


def test_dockerfile_ships_the_start_script_and_the_service_migrations() -> None:
    copies = [i for i in final_stage() if i.keyword == "COPY"]
    targets = {PurePosixPath(shlex.split(i.args)[-1]) for i in copies}
    assert APP_ROOT / "deploy" / "start.sh" in targets
    assert APP_ROOT / "services" / "${SERVICE}" in targets
    assert APP_ROOT / ".venv" in targets


def test_dockerfile_exposes_every_service_port_and_starts_the_script() -> None:
    exposed = {int(p.split("/")[0]) for i in final_stage() if i.keyword == "EXPOSE" for p in i.args.split()}
    defaults = {s.own_settings.model_fields["port"].default for s in workspace_services().values()}
    assert exposed == defaults
    cmd = [json.loads(i.args) for i in final_stage() if i.keyword == "CMD"]
    assert cmd
    assert repo_path(cmd[-1][0]) == START_SCRIPT
    # Without arguments start.sh serves $SERVICE, so the image must keep the build argument.
    env = " ".join(i.args for i in final_stage() if i.keyword == "ENV")
    assert len(cmd[-1]) > 1 or "SERVICE=${SERVICE}" in env
    health = [i.args for i in final_stage() if i.keyword == "HEALTHCHECK"]
    assert health
    assert "start.sh" in health[-1]
    assert "healthcheck" in health[-1]


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_copies() -> None:
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env"} <= ignored
    copied = {
        PurePosixPath(src).parts[0]
        for i in dockerfile()
        if i.keyword == "COPY" and "--from" not in i.args
        for src in copy_sources(i)
    }
    assert copied
    assert not copied & ignored


# --- Kubernetes example: the roster service ------------------------------------------------------


def test_k8s_env_vars_are_real_roster_settings() -> None:
    service = workspace_services()[K8S_SERVICE]
    for kind, name in (("Deployment", K8S_SERVICE), ("Job", f"{K8S_SERVICE}-migrate")):
        for container in pod_containers(k8s_object(kind, name)):
            unknown = {key for key, _ in container_env(container)} - service.env_names
            assert not unknown, f"{kind} {name} sets {sorted(unknown)}"


def test_k8s_secrets_come_from_secret_refs() -> None:
    service = workspace_services()[K8S_SERVICE]
    container = pod_containers(k8s_object("Deployment", K8S_SERVICE))[0]
    env = dict(container_env(container))
    for field in ("database_url", "client_secret"):
        assert "secretKeyRef" in env[service.env_var(field)].get("valueFrom", {}), field
    literal = [
        k
        for k, entry in env.items()
        if "value" in entry and (SECRET_NAME.search(k) or k == service.env_var("database_url"))
    ]
    assert not literal


def test_k8s_deployment_listens_and_is_probed_on_the_settings_port(monkeypatch: pytest.MonkeyPatch) -> None:
    service = workspace_services()[K8S_SERVICE]
    container = pod_containers(k8s_object("Deployment", K8S_SERVICE))[0]
    env = {key: entry.get("value", placeholder(key)) for key, entry in container_env(container)}
    settings = load_settings(service.own_settings, env, monkeypatch)
    assert ipaddress.ip_address(setting(settings, "host")).is_unspecified
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert list(ports.values()) == [setting(settings, "port")]
    probes = {kind: container[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert ports.get(probe["port"], probe["port"]) == setting(settings, "port")


def test_k8s_deployment_serves_and_the_job_migrates_with_the_same_image() -> None:
    deployment = pod_containers(k8s_object("Deployment", K8S_SERVICE))[0]
    job = pod_containers(k8s_object("Job", f"{K8S_SERVICE}-migrate"))[0]
    assert deployment["image"] == job["image"]
    assert repo_path(deployment["command"][0]) == START_SCRIPT
    assert deployment["command"][1:] == [K8S_SERVICE, "serve"]
    assert repo_path(job["command"][0]) == START_SCRIPT
    assert job["command"][1:] == [K8S_SERVICE, "migrate"]
    database = workspace_services()[K8S_SERVICE].env_var("database_url")
    assert (
        dict(container_env(job))[database]["valueFrom"]
        == dict(container_env(deployment))[database]["valueFrom"]
    )


def test_k8s_pods_run_as_the_image_user() -> None:
    for kind, name in (("Deployment", K8S_SERVICE), ("Job", f"{K8S_SERVICE}-migrate")):
        pod = k8s_object(kind, name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == image_user()


def test_k8s_service_routes_to_the_deployment_pods() -> None:
    service = k8s_object("Service", K8S_SERVICE)["spec"]
    deployment = k8s_object("Deployment", K8S_SERVICE)["spec"]
    labels = deployment["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert deployment["selector"]["matchLabels"].items() <= labels.items()
    port_names = {p["name"] for p in pod_containers(k8s_object("Deployment", K8S_SERVICE))[0]["ports"]}
    assert all(p["targetPort"] in port_names for p in service["ports"])
