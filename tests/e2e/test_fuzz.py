"""Schemathesis against the running API, from its own OpenAPI document: no input gets a 5xx, and
every answer conforms to the document (status, content type, body, headers)."""

from __future__ import annotations

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import APIOperation, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.client import auth
from tests.conftest import Deployment
from tests.services import ADMIN_TOKEN

pytestmark = pytest.mark.fuzz

# Bounded: the whole group runs in a few minutes on two shared cores.
_EXAMPLES = 20
_SETTINGS = hypothesis.settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]
"""A body the JSON schema allows may still be refused (422): filegate checks paths (no '..', no
empty segment), sizes ('2GB') and durations ('2 days') beyond what a JSON schema can say."""
READINESS = "GET /health/ready"
"""Its 503 is an answer, not a failure: in the tests, no cleanup worker runs, so it is not ready."""
ENDLESS = {"GET /tickets/events"}
"""Authenticated, an event stream that does not end by itself."""


@pytest.fixture(scope="module")
def fuzzed(local_deployment: Deployment) -> Deployment:
    """The deployment with the files the document's examples name, so a generated request can
    also make a real ticket (and the stateful phase follow it)."""
    local_deployment.sources.put("reports/2023.pdf", b"%PDF-1.4 fuzz\n")
    local_deployment.sources.put("photos/a.jpg", b"\xff\xd8\xff" + b"j" * 64)
    return local_deployment


@pytest.fixture(scope="module")
def api_schema(fuzzed: Deployment) -> OpenApiSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.base_url}/openapi.json")


def _failure(operation: APIOperation, mode: GenerationMode, headers: dict[str, str]) -> str | None:
    """What went wrong with one operation's generated requests, or None."""
    excluded = [*EXCLUDED_CHECKS]
    if operation.label == READINESS:
        excluded.append(schemathesis.checks.not_a_server_error)

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @_SETTINGS
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, timeout=30, excluded_checks=excluded)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to make invalid: an operation without parameters, in negative mode
    except (Exception, FailureGroup) as exc:
        return f"{operation.label}: {exc}"
    return None


def _fuzz(schema: OpenApiSchema, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    """Each operation in turn; the failures, one line each (all of them, not just the first)."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if headers and operation.label in ENDLESS:
            continue
        failure = _failure(operation, mode, headers)
        if failure is not None:
            failures.append(failure)
    return failures


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("caller", ["app", "admin", "anonymous"])
def test_no_input_gets_a_server_error(
    api_schema: OpenApiSchema, fuzzed: Deployment, mode: GenerationMode, caller: str
) -> None:
    """As the tests' app (its API key), as the administrator (apps and users: random ids, so the
    tests' own app is never the one revoked) and with no credentials at all."""
    headers = {
        "app": auth(fuzzed.base_url),
        "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        "anonymous": {},
    }[caller]
    failures = _fuzz(api_schema, mode, headers)
    assert not failures, "\n\n".join(failures)


def test_following_the_links_of_a_new_ticket_gets_no_server_error(
    api_schema: OpenApiSchema, fuzzed: Deployment
) -> None:
    """The stateful phase: POST /download, then its ticket's status, result and cancel as the
    document's links lead, in generated orders, as the tests' app."""
    headers = auth(fuzzed.base_url)

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            meta = case.meta
            is_positive = meta is not None and meta.generation.mode.is_positive
            # Negative cases stay as generated: made valid here, their 202 would be a failure.
            if case.operation.label == "POST /download" and is_positive and isinstance(case.body, dict):
                # Files that exist, and none of the free-text fields (name, sizes, durations)
                # that a generated string almost never gets right: the ticket is made, and the
                # links have something to lead to. The options left are still generated.
                for free_text in ("name", "expires_in", "split_size"):
                    case.body.pop(free_text, None)
                case.body["paths"] = ["reports/2023.pdf", "photos/"]

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, object]:
            return {"headers": headers, "timeout": 30}

        def validate_response(self, response: object, case: schemathesis.Case, **kwargs: object) -> None:
            called.add(case.operation.label)
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

    called: set[str] = set()
    Workflow.run(settings=hypothesis.settings(_SETTINGS, max_examples=10, stateful_step_count=6))
    # The links were followed: the ticket's own operations were reached from the new ticket.
    assert {"POST /download", "GET /ticket/{ticket_id}/status"} <= called, called
