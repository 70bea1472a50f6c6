"""The OpenAPI document as a contract: valid, complete, one Error schema, offline /docs, and a
client generated from it that works against the running API."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.client import api_delete, api_get, api_post, auth, wait_final
from tests.conftest import Deployment

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def document(local_deployment: Deployment) -> dict[str, Any]:
    response = httpx.get(f"{local_deployment.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_operation_has_a_unique_id_a_summary_a_tag_and_who_may_call(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(ids)
    for method, path, operation in _operations(document):
        assert operation.get("summary"), (method, path)
        assert operation.get("tags"), (method, path)
        assert "security" in operation, (method, path)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session_cookie"]["in"] == "cookie"


def test_every_success_has_a_schema_and_every_error_is_the_error_schema(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for status, answer in operation["responses"].items():
            content = answer.get("content", {})
            if status.startswith("2") and status != "204" and method != "HEAD":
                assert content and all(media.get("schema") for media in content.values()), (
                    method,
                    path,
                    status,
                )
            if int(status) >= 400 and (path, status) != ("/health/ready", "503"):
                assert content == {"application/json": {"schema": {"$ref": ERROR_REF}}}, (
                    method,
                    path,
                    status,
                )
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_error_schema_names_what_the_handlers_send(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "detail"}
    assert {"field", "paths", "errors"} <= set(error["properties"])
    assert error["additionalProperties"] is True


def test_a_new_ticket_links_to_its_status_result_and_cancel(document: dict[str, Any]) -> None:
    links = document["paths"]["/download"]["post"]["responses"]["202"]["links"]
    assert {link["operationId"] for link in links.values()} == {
        "get_ticket_status",
        "get_ticket_result",
        "cancel_ticket",
    }


def test_links_answer_files_and_ranges(document: dict[str, Any]) -> None:
    for path in ("/files/{key}", "/sources/{path}"):
        answers = document["paths"][path]["get"]["responses"]
        assert "application/octet-stream" in answers["200"]["content"]
        assert "application/octet-stream" in answers["206"]["content"]
        assert {"416", "410", "403"} <= set(answers)


def test_a_validation_error_is_the_documented_error_body(local_deployment: Deployment) -> None:
    response = api_get(local_deployment.base_url, "/tickets", params={"limit": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["field"] == "limit"
    assert body["errors"][0]["field"] == "limit"


def test_an_unknown_route_answers_404_with_the_error_body(local_deployment: Deployment) -> None:
    response = httpx.get(f"{local_deployment.base_url}/no/such/route", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "/no/such/route" in response.json()["detail"]


def test_a_wrong_method_answers_405_with_the_error_body_and_allow(local_deployment: Deployment) -> None:
    response = httpx.put(f"{local_deployment.base_url}/download", json={}, timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    body = response.json()
    assert body["error"] == "method_not_allowed"
    assert "POST" in body["detail"]


def test_docs_work_offline(local_deployment: Deployment) -> None:
    base = local_deployment.base_url
    page = httpx.get(f"{base}/docs", timeout=10)
    assert page.status_code == 200
    referenced = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert referenced, page.text
    assert not re.search(r"https?://", page.text), "the docs page names an external host"
    assert {"/openapi.json", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(
        referenced
    )
    for url in referenced:
        assert httpx.get(f"{base}{url}", timeout=10).status_code == 200, url


GENERATOR = "openapi-python-client==0.29.1"
"""Run from PyPI in an environment of its own (uv's): it pins httpx below the version filegate uses."""


def _generate_client(document: dict[str, Any], folder: Path) -> None:
    source = folder / "openapi.json"
    source.write_text(json.dumps(document))
    tools = Path(sys.executable).parent
    command = [str(tools / "uv"), "tool", "run", "--from", GENERATOR, "openapi-python-client", "generate"]
    command += ["--path", str(source), "--meta", "none", "--output-path", str(folder / "filegate_generated")]
    # Its post-hooks format the code with ruff, which lives beside uv.
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_a_generated_client_makes_a_download_and_reads_its_state(
    document: dict[str, Any], local_deployment: Deployment, tmp_path: Path
) -> None:
    folder = local_deployment.folder()
    local_deployment.sources.put(f"{folder}/a.txt", b"generated client")
    _generate_client(document, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("filegate_generated")
        create = importlib.import_module("filegate_generated.api.tickets.create_download")
        status = importlib.import_module("filegate_generated.api.tickets.get_ticket_status")
        models = importlib.import_module("filegate_generated.models")
        token = auth(local_deployment.base_url)["Authorization"].removeprefix("Bearer ")
        client = client_module.AuthenticatedClient(base_url=local_deployment.base_url, token=token)
        with client:
            created = create.sync(client=client, body=models.DownloadRequest(paths=[f"{folder}/a.txt"]))
            assert isinstance(created, models.TicketCreated), created
            wait_final(local_deployment.base_url, created.ticket_id)
            state = status.sync(created.ticket_id, client=client, accept="application/json")
            assert isinstance(state, models.TicketState), state
            assert state.status == models.TicketStatus.READY
            assert state.file_count == 1
            missing = create.sync(client=client, body=models.DownloadRequest(paths=[f"{folder}/none"]))
            assert isinstance(missing, models.Error)
            assert missing.error == "not_found"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("filegate_generated")]:
            del sys.modules[name]
        shutil.rmtree(tmp_path / "filegate_generated", ignore_errors=True)


def _conforms(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The answer's body validates against the schema the document gives its status."""
    answer = document["paths"][path][method]["responses"][str(response.status_code)]
    schema = answer["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(response.json())
    ]
    assert not errors, (path, response.status_code, errors)


def test_real_answers_validate_against_the_document(deployment: Deployment, document: dict[str, Any]) -> None:
    """On both stores (S3 links, local links): the answers a client sees most, with every
    optional part present (a zip in several parts with its manifest, progress)."""
    base = deployment.base_url
    folder = deployment.folder()
    deployment.sources.put(f"{folder}/a.bin", bytes(range(256)) * 8)
    deployment.sources.put(f"{folder}/b.bin", bytes(range(255, -1, -1)) * 8)
    created = api_post(base, "/download", json={"paths": [f"{folder}/"], "split_size": "2KB"})
    _conforms(document, "/download", "post", created)
    ticket_id = created.json()["ticket_id"]
    wait_final(base, ticket_id)
    state = api_get(base, f"/ticket/{ticket_id}/status", headers={"Accept": "application/json"})
    _conforms(document, "/ticket/{ticket_id}/status", "get", state)
    result = api_get(base, f"/ticket/{ticket_id}/result")
    assert len(result.json()["parts"]) >= 2 and result.json()["manifest"] is not None
    _conforms(document, "/ticket/{ticket_id}/result", "get", result)
    for path in ("/tickets", "/auth/me", "/licence", "/health", f"/browse?path={folder}"):
        _conforms(document, path.partition("?")[0], "get", api_get(base, path))
    _conforms(document, "/health/ready", "get", httpx.get(f"{base}/health/ready", timeout=10))
    cancelled = api_delete(base, f"/ticket/{ticket_id}")
    _conforms(document, "/ticket/{ticket_id}", "delete", cancelled)
    _conforms(document, "/ticket/{ticket_id}/result", "get", api_get(base, "/ticket/nope/result"))
