"""Property tests of the API against its own OpenAPI schema (schemathesis, in process).

Hypothesis generates requests from /api/v1/openapi.json, valid and invalid; every
answer must be a non-5xx, documented status with a body matching the schema.
Bounded by ``max_examples`` so the whole file runs in well under a minute.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from schemathesis.generation import GenerationMode
from web_support import web_settings

from papertide.web.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
EXAMPLES = 300 if os.environ.get("PAPERTIDE_ATTACK_LONG") == "1" else 30  # scripts/attack --long: soak size
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          unsupported_method, allow_header_conformance]
# A schema-valid request may still be refused for what no schema can say (a forged manage link,
# a search mode this site has no vectors for): 400 with another code. A 400 `bad_request` is a
# parameter the schema should have described, so it fails a positive case.
SEMANTIC_400 = {"bad_link", "mode_unavailable", "unknown_time_zone", "unknown_category"}


OPERATIONS = [("/api/v1/search", "GET"), ("/api/v1/trending", "GET"), ("/api/v1/papers/{paper_id}", "GET"),
              ("/api/v1/papers/{paper_id}/similar", "GET"), ("/api/v1/subscriptions", "POST"),
              ("/api/v1/subscriptions/{token}", "GET"), ("/api/v1/subscriptions/{token}", "PATCH"),
              ("/api/v1/subscriptions/{token}", "DELETE"), ("/api/v1/me/recommendations", "GET"),
              ("/api/v1/me/library", "GET"), ("/api/v1/me/library/{paper_id}", "PUT"),
              ("/api/v1/me/library/{paper_id}", "DELETE"), ("/api/v1/me/feedback/{paper_id}", "POST")]


@pytest.fixture(scope="module")
def api_schema(web_seed: dict):
    """The schema as the app serves it; requests go to the same app in process."""
    app = create_app(web_settings(web_seed["db"], web_cache_seconds=0))
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


def test_every_operation_is_covered(api_schema) -> None:
    found = {(op.ok().path, op.ok().method.upper()) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


# schemathesis' own pytest loader (from_fixture) does not run under pytest 9, so the
# Hypothesis test is written out: one per operation and generation mode.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_never_fails_on_generated_requests(api_schema, path: str, method: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method]

    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case) -> None:
        response = case.call_and_validate(checks=checks)
        if mode == GenerationMode.POSITIVE and response.status_code == 400:
            code = response.json()["error"]["code"]
            assert code in SEMANTIC_400, f"schema-valid request refused: {case.as_curl_command()} -> {response.text}"

    run()
