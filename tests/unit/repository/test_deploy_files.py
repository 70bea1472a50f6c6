"""compose.yaml, deploy/compose.env.example and the Dockerfile: what a deployment relies on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from filegate.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "compose.yaml"
EXAMPLE = ROOT / "deploy" / "compose.env.example"
DOCKERFILE = ROOT / "Dockerfile"

FILEGATE_SERVICES = ("api", "worker-downloads", "worker-cleanup", "beat", "flower")
SERVICES = ("minio", "minio-init", "redis", "rabbitmq", *FILEGATE_SERVICES)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_PASS$|BASIC_AUTH|REDISCLI_AUTH")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $${...} is literal.
REFERENCE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
PUBLISHED_PORT = re.compile(r"^\$\{[A-Z0-9_]+:-[0-9.]+\}:\$\{[A-Z0-9_]+:-\d+\}:\d+$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def example_variables() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in EXAMPLE.read_text().splitlines() if "=" in line)
    return {name.strip(): value for name, value in pairs if not name.lstrip().startswith("#")}


def filled_variables() -> dict[str, str]:
    """The example with every secret set, as an operator would fill it."""
    variables = example_variables()
    for name, value in variables.items():
        if SECRET_NAME.search(name) and not value:
            variables[name] = "user:" + "s3cret" * 6 if name == "FLOWER_BASIC_AUTH" else "s3cret" * 6
    return variables


def interpolate(value: object, variables: dict[str, str]) -> str:
    """Compose's interpolation of one value (the forms this file uses; no nesting)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        current = variables.get(name)
        missing = not current if op.startswith(":") else current is None
        if missing and op.endswith("?"):
            raise KeyError(arg or name)
        return arg if missing and op.endswith("-") else current or ""

    return REFERENCE.sub(substitute, str(value)).replace("$$", "$")


def references(text: str) -> Iterator[re.Match[str]]:
    return REFERENCE.finditer(text)


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return [str(part) for part in command] if isinstance(command, list) else str(command).split()


def test_every_service_of_the_deployment_is_defined(services: dict[str, dict[str, Any]]) -> None:
    assert set(SERVICES) <= set(services)


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert "version" not in compose


def test_each_worker_consumes_its_own_queue(services: dict[str, dict[str, Any]]) -> None:
    for service, queue in (("worker-downloads", "downloads"), ("worker-cleanup", "cleanup")):
        command = command_of(services[service])
        assert command[0] == "worker"
        assert command[command.index("-Q") + 1] == queue


def test_exactly_one_beat_runs(services: dict[str, dict[str, Any]]) -> None:
    beats = [name for name, service in services.items() if command_of(service)[:1] == ["beat"]]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    embedded = [name for name, service in services.items() if {"-B", "--beat"} & set(command_of(service))]
    assert embedded == []


def test_redis_keeps_an_append_only_file_on_a_volume(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    assert "--appendonly yes" in " ".join(command_of(redis))
    assert any(str(volume).endswith(":/data") for volume in redis["volumes"])


def test_every_published_port_comes_from_variables(services: dict[str, dict[str, Any]]) -> None:
    published = [(name, str(port)) for name, service in services.items() for port in service.get("ports", [])]
    assert published
    for name, port in published:
        assert PUBLISHED_PORT.match(port), f"{name} publishes {port!r}: address and port need variables"


def test_no_secret_is_written_in_the_file(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    text = COMPOSE.read_text()
    for match in references(text):
        if SECRET_NAME.search(match["name"]):
            required = (match["op"] or "").endswith("?")
            empty_default = (match["op"] or "").endswith("-") and not match["arg"]
            assert required or empty_default, f"{match[0]} gives a secret a default"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert not REFERENCE.sub("", str(value)), f"{name}: {key} holds a literal"
            # Credentials inside URLs come from secret variables too.
            shown = REFERENCE.sub(lambda m: f"<{m['name']}>", str(value))
            for userinfo in re.findall(r"://([^@/\s]*)@", shown):
                password = userinfo.partition(":")[2]
                assert re.fullmatch(r"<[A-Z0-9_]+>", password), f"{name}: {key} has a literal password"
                assert SECRET_NAME.search(password), f"{name}: {key} takes its password from {password}"


def test_services_wait_for_healthy_dependencies(services: dict[str, dict[str, Any]]) -> None:
    for name in FILEGATE_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["redis"]["condition"] == "service_healthy"
        assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    assert services["api"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency} unchecked"


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        ("api", "/health"),
        ("redis", "redis-cli ping"),
        ("rabbitmq", "rabbitmq-diagnostics -q ping"),
        ("minio", "/minio/health/live"),
    ],
)
def test_health_checks_ask_the_service_itself(
    services: dict[str, dict[str, Any]], service: str, probe: str
) -> None:
    assert probe in " ".join(str(part) for part in services[service]["healthcheck"]["test"])


def test_long_running_services_restart(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        expected = "no" if name == "minio-init" else "unless-stopped"
        assert service.get("restart") == expected, name


def test_services_listen_on_every_interface_inside_their_containers(
    services: dict[str, dict[str, Any]],
) -> None:
    assert "FILEGATE_HOST=0.0.0.0" in DOCKERFILE.read_text()
    assert services["flower"]["environment"]["FLOWER_ADDRESS"] == "0.0.0.0"
    assert "--address" in command_of(services["minio"])


def test_every_variable_is_listed_in_the_example() -> None:
    listed = set(example_variables())
    used = {match["name"] for match in references(COMPOSE.read_text())}
    assert used - listed == set()


def test_the_filegate_services_environment_is_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    variables = filled_variables()
    for name in FILEGATE_SERVICES:
        environment = {
            key: interpolate(value, variables) for key, value in services[name]["environment"].items()
        }
        unknown = {key for key in environment if key.startswith("FILEGATE_")} - {
            f"FILEGATE_{field.upper()}" for field in Settings.model_fields
        }
        assert unknown == set(), f"{name} sets variables filegate does not read"
        for key in list(os.environ):
            if key.startswith("FILEGATE_"):
                monkeypatch.delenv(key)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        assert settings.environment == "production"
        assert settings.effective_broker_url.startswith("amqp://")


def test_missing_secrets_stop_the_interpolation(services: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(KeyError, match="REDIS_PASSWORD"):
        interpolate(services["api"]["environment"]["FILEGATE_REDIS_URL"], example_variables())


def test_the_image_runs_filegate_as_a_user_without_dev_tools() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert "pip install --require-hashes -r requirements/run.txt" in text
    assert "pip install --no-deps ." in text and "dev.txt" not in text and "[dev]" not in text
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["filegate"]' in text and 'CMD ["api"]' in text


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def run_config(command: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    # Only the env file speaks: variables of the calling shell would override it.
    environment = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_docker_compose_accepts_the_file_once_secrets_are_set(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing; scripts/ensure-tools.sh should have installed it")
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    filled = tmp_path / "compose.env"
    filled.write_text("".join(f"{name}={value}\n" for name, value in filled_variables().items()))
    accepted = run_config(command, filled)
    assert accepted.returncode == 0, accepted.stderr
    refused = run_config(command, EXAMPLE)
    assert refused.returncode != 0
    assert "deploy/compose.env.example" in refused.stderr
